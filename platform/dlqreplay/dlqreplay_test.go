package dlqreplay_test

import (
	"testing"
	"time"

	"github.com/hookline/hookline/platform/dlqreplay"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestName pins the names: hookctl and the API derive them alike, and a
// change would orphan every replay's progress.
func TestName(t *testing.T) {
	for sel, want := range map[string]string{
		"all":                                 "hookline-replay-5ef5ef0364b6",
		"subscription=a reason=exhausted,rej": "hookline-replay-6be55dd7c7b8",
	} {
		if got := dlqreplay.Name(sel); got != want {
			t.Errorf("Name(%q) = %s, want %s", sel, got, want)
		}
	}
}

func TestRecord(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := event.Event{ID: "e1", Source: "/s", Type: "t", SpecVersion: event.SpecVersion, Time: at,
		DataContentType: event.ContentTypeJSON, Data: []byte(`{}`)}
	del := record.NewDelivery(ev, "sub", at)
	del.Attempt, del.Tier, del.NotBefore, del.FirstAttemptAt, del.ParkedAt = 8, 2, at, at, at
	src := &kgo.Record{Topic: "hookline.dlq", Partition: 1, Offset: 42}
	raw := &record.RawRecord{Key: []byte("k"), Value: []byte(`{"x":1}`), Headers: map[string]string{"b": "2", "a": "1", header.ReplayOf: "old"}}
	routeDL := func(reason string, r *record.RawRecord) *record.DeadLetter {
		return &record.DeadLetter{Stage: record.StageRoute, Reason: reason, Raw: r, Source: record.Provenance{Topic: "events", Partition: 0, Offset: 7}}
	}

	rec, skipped, err := dlqreplay.Record(src, &record.DeadLetter{Delivery: &del, Stage: record.StageDispatch}, "hookline.deliveries", false)
	if err != nil || skipped || rec == nil || rec.Topic != "hookline.deliveries" {
		t.Fatalf("dispatch dead letter: %v %v %v", rec, skipped, err)
	}
	got, err := record.DecodeDelivery(rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != del.ID || got.Attempt != 0 || got.Tier != 0 || !got.NotBefore.IsZero() || !got.ParkedAt.IsZero() ||
		!got.FirstAttemptAt.IsZero() || got.ReplayOf != "hookline.dlq/1/42" {
		t.Errorf("replayed delivery %+v: want the same id, a fresh schedule and replay_of hookline.dlq/1/42", got)
	}

	if rec, skipped, _ := dlqreplay.Record(src, routeDL(record.ReasonInvalidEvent, raw), "d", false); rec != nil || !skipped {
		t.Errorf("route dead letter without includeRoute: %v %v, want skipped", rec, skipped)
	}
	rec, _, err = dlqreplay.Record(src, routeDL(record.ReasonInvalidEvent, raw), "d", true)
	if err != nil || rec == nil || rec.Topic != "events" || string(rec.Value) != `{"x":1}` || len(rec.Headers) != 3 ||
		rec.Headers[0].Key != "a" || rec.Headers[1].Key != "b" || rec.Headers[2].Key != header.ReplayOf || string(rec.Headers[2].Value) != "hookline.dlq/1/42" {
		t.Errorf("route dead letter: %+v %v", rec, err)
	}
	for name, dl := range map[string]*record.DeadLetter{
		"too large":    routeDL(record.ReasonTooLarge, raw),
		"truncated":    routeDL(record.ReasonInvalidEvent, &record.RawRecord{Value: []byte("x"), Truncated: true}),
		"no value":     routeDL(record.ReasonInvalidEvent, &record.RawRecord{}),
		"no raw":       routeDL(record.ReasonInvalidEvent, nil),
		"no delivery":  {Stage: record.StageDispatch},
		"delivery, no": {Delivery: &record.Delivery{}, Stage: record.StageDispatch},
	} {
		if rec, skipped, err := dlqreplay.Record(src, dl, "d", true); rec != nil || skipped || err != nil {
			t.Errorf("%s: %v %v %v, want nothing to replay", name, rec, skipped, err)
		}
	}
}
