package cli_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMoreOutputsGolden pins the table, JSON and YAML outputs of topics
// ls, topics describe, dlq show, dlq stats, dlq replay (dry run and the
// summary of a run), subs ls, types ls and types get on fixed records. It
// runs on kfake even when KAFKA_BROKERS is set, so broker ids and topic
// configs are the same on every machine; the per-test topic prefix is
// written back as the default one.
func TestMoreOutputsGolden(t *testing.T) {
	// A broker of its own, so the topics can have their default names.
	c := kafkatest.NewKfake(t)
	names := topic.Default()
	source := names.Prefix + "events"
	c.CreateTopics(t, names.Specs(topic.SpecOpts{Partitions: 2, RetryLevels: 2, Sources: []string{source}})...)
	f := &fixture{c: c, names: names, source: source, env: map[string]string{"HOOKLINE_BROKERS": strings.Join(c.Brokers, ",")}}
	at := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)

	sub := record.Subscription{ID: "sub_golden", URL: "https://hooks.example.com/in", EventTypes: []string{"payment.*"},
		Secrets: []record.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, Format: record.FormatStandard,
		CreatedAt: at, UpdatedAt: at, Revision: 2}
	sub.Normalize()
	other := record.Subscription{ID: "sub_other", URL: "https://crm.example.com/hook", EventTypes: []string{"order.*", "payment.succeeded"},
		Secrets: []record.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, Format: record.FormatRaw,
		State: record.StateDisabled, StateReason: "failing", CreatedAt: at, UpdatedAt: at.Add(time.Hour), Revision: 5}
	other.Normalize()
	et := record.EventType{Name: "payment.succeeded", Description: "A payment was captured.",
		Schema:  []byte(`{"type":"object","required":["amount"],"properties":{"amount":{"type":"number"}}}`),
		Example: []byte(`{"amount":7}`), CreatedAt: at, UpdatedAt: at, Revision: 1}
	var recs []*kgo.Record
	for _, s := range []*record.Subscription{&sub, &other} {
		r, err := s.Record(names.Subscriptions())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	etRec, err := et.Record(names.EventTypes())
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, etRec)
	for i, id := range []string{"evt_1", "evt_2"} {
		ev := event.Event{ID: id, Source: "/golden", Type: "payment.succeeded", SpecVersion: event.SpecVersion,
			Time: at, DataContentType: event.ContentTypeJSON, Data: []byte(`{"amount":7}`)}
		d := record.NewDelivery(ev, sub.ID, at)
		d.Attempt = 8
		recs = append(recs, f.dispatchDL(t, &d, record.ReasonExhausted, at.Add(time.Duration(i+1)*time.Hour)))
	}
	for _, r := range recs {
		r.Timestamp = at
	}
	f.produce(t, recs...)
	first := f.readAll(t, names.DLQ())[0] // both are keyed by sub_golden: one partition
	position := fmt.Sprintf("%d/%d", first.Partition, first.Offset)

	read := []struct {
		name string
		args []string
	}{
		{"topics-ls", []string{"topics", "ls"}},
		{"topics-describe", []string{"topics", "describe", "deliveries", "dlq"}},
		{"dlq-show", []string{"dlq", "show", position}},
		{"dlq-stats", []string{"dlq", "stats"}},
		{"subs-ls", []string{"subs", "ls"}},
		{"types-ls", []string{"types", "ls"}},
		{"types-get", []string{"types", "get", et.Name}},
	}
	for _, o := range []string{"table", "json", "yaml"} {
		for _, tc := range read {
			golden(t, tc.name+"."+o+".golden", f.ok(t, append(tc.args, "-o", o)...))
		}
		// A dry run lists what a replay would send and writes nothing.
		golden(t, "dlq-replay-dry-run."+o+".golden",
			f.ok(t, "dlq", "replay", "--subscription", sub.ID, "--dry-run", "--name", "golden", "-o", o))
	}
	// A run's summary, once per format: each run under a name of its own,
	// so each replays the same two dead letters.
	for _, o := range []string{"table", "json", "yaml"} {
		out := f.ok(t, "dlq", "replay", "--subscription", sub.ID, "--yes", "--force", "--name", "golden-"+o, "-o", o)
		golden(t, "dlq-replay."+o+".golden", strings.ReplaceAll(out, "golden-"+o, "golden"))
	}
	if n := len(f.readAll(t, names.Deliveries())); n != 6 {
		t.Errorf("%d deliveries after three replays of two dead letters, want 6", n)
	}
}
