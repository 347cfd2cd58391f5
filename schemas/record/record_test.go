package record_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/internal/golden"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Fixed times keep golden files stable: tests never read the clock.
var (
	t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	t1 = t0.Add(5 * time.Second)
	t2 = t0.Add(5*time.Minute + 5*time.Second)
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_QUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJD"
	subID   = "sub_shop_orders"
)

func fixedEvent() event.Event {
	return event.Event{
		ID:              "evt_01JQ3Z8K4M",
		Source:          "https://payments.example.com/gateway",
		Type:            "payment.succeeded",
		SpecVersion:     event.SpecVersion,
		Time:            t0,
		DataContentType: event.ContentTypeJSON,
		Extensions:      map[string]string{"partitionkey": "cus_42"},
		Data:            []byte(`{"payment_id":"pay_9f8e","amount":49.99,"currency":"USD"}`),
	}
}

func fixedDelivery() record.Delivery {
	d := record.NewDelivery(fixedEvent(), subID, t0)
	d.Attempt = 2
	d.NotBefore = t2
	d.FirstAttemptAt = t1
	return d
}

func fixedSubscription() record.Subscription {
	expires := t0.Add(24 * time.Hour)
	return record.Subscription{
		V:             record.Version,
		ID:            subID,
		URL:           "https://hooks.example.com/webhook",
		EventTypes:    []string{"payment.*", "payment_success"},
		Filter:        "data.amount > 10.0",
		Secrets:       []record.Secret{{Key: secretB}, {Key: secretA, ExpiresAt: &expires}},
		Format:        record.FormatStandard,
		RateLimit:     20,
		MaxInFlight:   10,
		Ordered:       true,
		TimeoutMillis: 5000,
		Headers:       map[string]string{"X-Shop": "acme"},
		State:         record.StateActive,
		CreatedAt:     t0,
		UpdatedAt:     t1,
		Metadata:      map[string]string{"team": "payments"},
		Revision:      3,
	}
}

// recordText renders a Kafka record for a golden file.
func recordText(r *kgo.Record) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "topic: %s\nkey: %s\n", r.Topic, r.Key)
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "header %s: %s\n", h.Key, h.Value)
	}
	fmt.Fprintf(&b, "value: %s\n", r.Value)
	return b.Bytes()
}

// mustRecord returns a function that unwraps an encoder's result, failing
// t on an error: mustRecord(t)(d.Record(topic)).
func mustRecord(t *testing.T) func(*kgo.Record, error) *kgo.Record {
	t.Helper()
	return func(rec *kgo.Record, err error) *kgo.Record {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
}

func TestGolden(t *testing.T) {
	dispatchDelivery := fixedDelivery()
	sub := fixedSubscription()
	routeDL := record.DeadLetter{
		Raw: record.RawOf(&kgo.Record{
			Key: []byte("cus_42"), Value: []byte(`{"amount":49.99}`),
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}},
		}),
		Stage:     record.StageRoute,
		Reason:    record.ReasonInvalidEvent,
		LastError: "event: plain mode: type: missing required attribute",
		FailedAt:  t0,
		Source:    record.Provenance{Topic: "events", Partition: 3, Offset: 1042},
	}
	dispatchDL := record.DeadLetter{
		Delivery:   &dispatchDelivery,
		Stage:      record.StageDispatch,
		Reason:     record.ReasonExhausted,
		LastStatus: 503,
		LastError:  "503 Service Unavailable",
		Attempts:   8,
		FailedAt:   t2,
		Source:     record.Provenance{Topic: "hookline.retry.7", Partition: 5, Offset: 77},
	}
	attempt := record.Attempt{
		DeliveryID:     dispatchDelivery.ID,
		SubscriptionID: subID,
		EventID:        dispatchDelivery.Event.ID,
		Attempt:        3,
		Status:         503,
		LatencyMillis:  120.5,
		Error:          "503 Service Unavailable",
		Result:         "retry",
		At:             t2,
	}
	status := record.EndpointStatus{SubscriptionID: subID, Breaker: record.BreakerOpen, Since: t2}
	eventType := record.EventType{Name: "payment_success", Description: "A payment went through.",
		Schema:  json.RawMessage(`{"type":"object","required":["amount"],"properties":{"amount":{"type":"number"}}}`),
		Example: json.RawMessage(`{"amount":49.99,"customer":"jane@example.com"}`), Deprecated: true,
		CreatedAt: t0, UpdatedAt: t1, Revision: 2}
	answer := record.Idempotency{Key: record.IdempotencyKey("scope", "order-42"),
		RequestHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Status: 202,
		Body: json.RawMessage(`{"ids":["0195a1b2-c3d4-8e5f-a6b7-c8d9e0f1a2b3"]}`), CreatedAt: t1}
	// A fresh delivery of an event the ingest API accepted.
	accepted := record.NewDelivery(fixedEvent(), subID, t0)
	accepted.AcceptedAt = t0.Add(-3 * time.Millisecond)
	replay := fixedDelivery()
	replay.ReplayOf = "hookline.dlq/0/12"
	replay.Attempt = 0
	replay.NotBefore = time.Time{}

	tests := []struct {
		name   string
		rec    func() (*kgo.Record, error)
		decode func([]byte) (any, error)
	}{
		{"subscription", func() (*kgo.Record, error) { return sub.Record("hookline.subscriptions") },
			func(b []byte) (any, error) { return record.DecodeSubscription(b) }},
		{"delivery", func() (*kgo.Record, error) { return dispatchDelivery.Record("hookline.retry.2") },
			func(b []byte) (any, error) { return record.DecodeDelivery(b) }},
		{"delivery-accepted", func() (*kgo.Record, error) { return accepted.Record("hookline.deliveries") },
			func(b []byte) (any, error) { return record.DecodeDelivery(b) }},
		{"delivery-replay", func() (*kgo.Record, error) { return replay.Record("hookline.deliveries") },
			func(b []byte) (any, error) { return record.DecodeDelivery(b) }},
		{"dead-letter-route", func() (*kgo.Record, error) { return routeDL.Record("hookline.dlq") },
			func(b []byte) (any, error) { return record.DecodeDeadLetter(b) }},
		{"dead-letter-dispatch", func() (*kgo.Record, error) { return dispatchDL.Record("hookline.dlq") },
			func(b []byte) (any, error) { return record.DecodeDeadLetter(b) }},
		{"attempt", func() (*kgo.Record, error) { return attempt.Record("hookline.attempts") },
			func(b []byte) (any, error) { return record.DecodeAttempt(b) }},
		{"endpoint-status", func() (*kgo.Record, error) { return status.Record("hookline.endpoint-status") },
			func(b []byte) (any, error) { return record.DecodeEndpointStatus(b) }},
		{"event-type", func() (*kgo.Record, error) { return eventType.Record("hookline.event-types") },
			func(b []byte) (any, error) { return record.DecodeEventType(b) }},
		{"idempotency", func() (*kgo.Record, error) { return answer.Record("hookline.idempotency") },
			func(b []byte) (any, error) { return record.DecodeIdempotency(b) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := mustRecord(t)(tt.rec())
			golden.Assert(t, tt.name+".golden", recordText(rec))
			if got := record.HeaderValue(rec, header.Version); got != "1" {
				t.Errorf("%s header = %q, want 1", header.Version, got)
			}
			// The value decodes, and encodes back to the same bytes.
			v, err := tt.decode(rec.Value)
			if err != nil {
				t.Fatalf("decoding the golden value: %v", err)
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, rec.Value) {
				t.Fatalf("re-encoded value differs:\n got %s\nwant %s", again, rec.Value)
			}
		})
	}
}

func TestDeliveryID(t *testing.T) {
	a := record.DeliveryID("/payments", "evt_1", "sub_a")
	if a != record.DeliveryID("/payments", "evt_1", "sub_a") {
		t.Fatal("DeliveryID is not deterministic")
	}
	if !regexp.MustCompile(`^msg_[0-9a-f]{32}$`).MatchString(a) {
		t.Fatalf("DeliveryID = %q, want msg_ and 32 hex digits", a)
	}
	// Receivers deduplicate on this id across replays, so it must never
	// change: pin it.
	golden.Assert(t, "delivery-id.golden", []byte(a+"\n"))

	seen := map[string][3]string{}
	for _, triple := range [][3]string{
		{"/payments", "evt_1", "sub_a"}, {"/payments", "evt_1", "sub_b"}, {"/payments", "evt_2", "sub_a"},
		// One id from two sources is two events (CloudEvents identity).
		{"/orders", "evt_1", "sub_a"}, {"", "evt_1", "sub_a"},
		{"/payments", "evt_1sub_a", ""}, {"/payments", "", "evt_1sub_a"}, {"/paymentsevt_1", "", "sub_a"},
		{"/payments", "evt_1s", "ub_a"}, {"", "", ""}, {"\x00", "", ""}, {"", "\x00", ""},
	} {
		id := record.DeliveryID(triple[0], triple[1], triple[2])
		if prev, ok := seen[id]; ok {
			t.Fatalf("DeliveryID%q = DeliveryID%q = %s", triple, prev, id)
		}
		seen[id] = triple
	}
	ev := fixedEvent()
	if d := record.NewDelivery(ev, subID, t0); d.ID != record.DeliveryID(ev.Source, ev.ID, subID) {
		t.Fatalf("NewDelivery id %q is not DeliveryID", d.ID)
	}
}

// TestDeliveryKeepsDataBytes checks the promise of the raw payload format:
// event data comes out of a delivery record exactly as it went in.
func TestDeliveryKeepsDataBytes(t *testing.T) {
	for _, data := range []string{
		`{"type":"payment_success","amount":49.99,"customer":"jane@example.com"}`,
		"{\n  \"type\": \"payment_success\",\n  \"amount\": 49.99\n}\n",
		`{"note":"<b>fish & chips</b>"}`,
		`null`,
	} {
		t.Run(data, func(t *testing.T) {
			e := fixedEvent()
			e.Data = []byte(data)
			d := record.NewDelivery(e, subID, t0)
			rec := mustRecord(t)(d.Record("hookline.deliveries"))
			back, err := record.DecodeDelivery(rec.Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(back.Event.Data) != data {
				t.Fatalf("data = %q, want %q", back.Event.Data, data)
			}
			dl := record.DeadLetter{Delivery: &d, Stage: record.StageDispatch, Reason: record.ReasonRejected, FailedAt: t0}
			rec = mustRecord(t)(dl.Record("hookline.dlq"))
			backDL, err := record.DecodeDeadLetter(rec.Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(backDL.Delivery.Event.Data) != data {
				t.Fatalf("dead-letter data = %q, want %q", backDL.Delivery.Event.Data, data)
			}
		})
	}
}

func TestDeadLetterKey(t *testing.T) {
	d := fixedDelivery()
	noSub := fixedDelivery()
	noSub.SubscriptionID = ""
	src := record.Provenance{Topic: "events", Partition: 1, Offset: 2}
	tests := []struct {
		name string
		dl   record.DeadLetter
		want string
	}{
		{"dispatch", record.DeadLetter{Delivery: &d, Source: src}, subID},
		{"route with event", record.DeadLetter{Delivery: &noSub, Source: src}, noSub.Event.ID},
		{"route raw", record.DeadLetter{Raw: &record.RawRecord{}, Source: src}, event.RecordID("events", 1, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.dl.Key(); got != tt.want {
				t.Fatalf("Key = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	decoders := map[string]func([]byte) error{
		header.KindDelivery:     func(b []byte) error { _, err := record.DecodeDelivery(b); return err },
		header.KindDeadLetter:   func(b []byte) error { _, err := record.DecodeDeadLetter(b); return err },
		header.KindAttempt:      func(b []byte) error { _, err := record.DecodeAttempt(b); return err },
		header.KindSubscription: func(b []byte) error { _, err := record.DecodeSubscription(b); return err },
	}
	common := []struct {
		name  string
		value string
		want  error
	}{
		{"empty", "", record.ErrMalformed},
		{"blank", " \n", record.ErrMalformed},
		{"not JSON", "delivery", record.ErrMalformed},
		{"null", "null", record.ErrMalformed},
		{"array", "[]", record.ErrMalformed},
		{"truncated", `{"v":1`, record.ErrMalformed},
		{"trailing brace", `{"v":2}}`, record.ErrMalformed},
		{"trailing data", `{"v":2} {}`, record.ErrMalformed},
		{"wrong type", `{"v":"1"}`, record.ErrMalformed},
		{"no version", `{}`, record.ErrUnsupportedVersion},
		{"future version", `{"v":2}`, record.ErrUnsupportedVersion},
	}
	for kind, decode := range decoders {
		for _, tt := range common {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				assertDecodeError(t, decode([]byte(tt.value)), kind, tt.want)
			})
		}
	}
	specific := []struct {
		name  string
		kind  string
		value string
	}{
		{"delivery without id", header.KindDelivery, `{"v":1,"subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t"}}`},
		{"delivery without subscription", header.KindDelivery, `{"v":1,"id":"d","event":{"specversion":"1.0","id":"1","source":"/s","type":"t"}}`},
		{"delivery without event", header.KindDelivery, `{"v":1,"id":"d","subscription_id":"s"}`},
		{"delivery with invalid event", header.KindDelivery, `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"noon"}}`},
		{"dead letter without stage", header.KindDeadLetter, `{"v":1,"reason":"exhausted"}`},
		{"dead letter without reason", header.KindDeadLetter, `{"v":1,"stage":"route"}`},
		{"subscription without id", header.KindSubscription, `{"v":1,"url":"https://example.com"}`},
	}
	for _, tt := range specific {
		t.Run(tt.name, func(t *testing.T) {
			assertDecodeError(t, decoders[tt.kind]([]byte(tt.value)), tt.kind, record.ErrMalformed)
		})
	}
}

func assertDecodeError(t *testing.T, err error, kind string, want error) {
	t.Helper()
	var de *record.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want *record.DecodeError", err, err)
	}
	if de.Kind != kind {
		t.Errorf("Kind = %q, want %q", de.Kind, kind)
	}
	if !errors.Is(err, want) {
		t.Errorf("err = %v, want errors.Is %v", err, want)
	}
}

func TestDecodeDeliveryKeepsEventError(t *testing.T) {
	_, err := record.DecodeDelivery([]byte(`{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"noon"}}`))
	var ee *event.DecodeError
	if !errors.As(err, &ee) || ee.Field != "time" {
		t.Fatalf("err = %v, want it to wrap the event's *DecodeError for time", err)
	}
}

func TestTombstone(t *testing.T) {
	r := record.Tombstone("hookline.subscriptions", subID)
	if r.Value != nil || string(r.Key) != subID || r.Topic != "hookline.subscriptions" {
		t.Fatalf("Tombstone = %+v", r)
	}
}
