package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
)

// TestOutputsGolden pins the table, JSON and YAML outputs of subs get
// (with the breaker row) and dlq ls on fixed records. The per-test topic
// prefix is written back as the default one.
func TestOutputsGolden(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
	sub := record.Subscription{ID: "sub_golden", URL: "https://hooks.example.com/in?token=[redacted-in-output]",
		EventTypes: []string{"payment.*"}, Secrets: []record.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		Format: record.FormatStandard, RateLimit: 5, MaxInFlight: 10, State: record.StatePaused, StateReason: "maintenance",
		CreatedAt: at, UpdatedAt: at, Revision: 3, Headers: map[string]string{"X-Team": "billing"}}
	sub.Normalize()
	st := record.EndpointStatus{SubscriptionID: sub.ID, Breaker: record.BreakerOpen, Since: at.Add(time.Minute)}
	subRec, err := sub.Record(f.names.Subscriptions())
	if err != nil {
		t.Fatal(err)
	}
	stRec, err := st.Record(f.names.EndpointStatus())
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Event{ID: "evt_1", Source: "/golden", Type: "payment.succeeded", SpecVersion: event.SpecVersion,
		Time: at, DataContentType: event.ContentTypeJSON, Data: []byte(`{"amount":7}`)}
	del := record.NewDelivery(ev, sub.ID, at)
	del.Attempt = 8
	f.produce(t, subRec, stRec, f.dispatchDL(t, &del, record.ReasonExhausted, at.Add(time.Hour)))

	normalize := func(s string) string { return strings.ReplaceAll(s, f.names.Prefix, topic.DefaultPrefix) }
	for _, o := range []string{"table", "json", "yaml"} {
		golden(t, "subs-get."+o+".golden", normalize(f.ok(t, "subs", "get", sub.ID, "-o", o)))
		golden(t, "dlq-ls."+o+".golden", normalize(f.ok(t, "dlq", "ls", "-o", o)))
	}
}
