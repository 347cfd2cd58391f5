package e2e_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kcatEvent is a binary-mode CloudEvent exactly as kcat writes one with
// -H ce_specversion=1.0 -H ce_id=... -H ce_source=... -H ce_type=...
// -H content-type=application/json: those five headers and the data.
func kcatEvent(topic, id, source, typ, data string) *kgo.Record {
	return &kgo.Record{Topic: topic, Value: []byte(data), Headers: []kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_id", Value: []byte(id)},
		{Key: "ce_source", Value: []byte(source)},
		{Key: "ce_type", Value: []byte(typ)},
		{Key: "content-type", Value: []byte("application/json")},
	}}
}

// TestCatalogueKcatAndIdentity registers the seed's payment_success in the
// catalogue, then produces straight to the source topic with franz-go: two
// kcat-style binary CloudEvents with one id from two sources (data without
// "type"), the seed's plain JSON, and a payment_success whose data breaks
// the schema. The three valid events reach the subscriber, the two
// CloudEvents under two webhook-ids; the invalid one is dead-lettered as
// a schema violation.
func TestCatalogueKcatAndIdentity(t *testing.T) {
	s := startStack(t)
	ex, ok := registry.LookupExample("payment_success")
	if !ok {
		t.Fatal("no payment_success example")
	}
	et := record.EventType{Name: ex.Name, Description: ex.Description, Schema: ex.Schema, Example: ex.Data,
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(), Revision: 1}
	rec, err := et.Record(s.names.EventTypes())
	if err != nil {
		t.Fatal(err)
	}
	cl := s.c.Client(t)
	if err := cl.ProduceSync(t.Context(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}

	recv := newReceiver(t, 200)
	subID, sec := s.subscribe(t, recv.srv.URL+"/webhook", []string{"payment_success"}, "raw")
	recv.setSecret(t, sec)

	carol := `{"amount":7,"customer":"carol"}`
	if err := cl.ProduceSync(t.Context(),
		kcatEvent(s.source, "pay-1", "/gateway/eu", "payment_success", carol),
		kcatEvent(s.source, "pay-1", "/gateway/us", "payment_success", carol),
		&kgo.Record{Topic: s.source, Value: []byte(`{"type":"payment_success","id":"seed-1","amount":49.99,"customer":"jane@example.com"}`)},
		kcatEvent(s.source, "pay-bad", "/gateway/eu", "payment_success", `{"amount":"lots"}`),
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 90*time.Second, "three deliveries at the receiver", func() bool { return recv.count() == 3 })
	recv.mu.Lock()
	ids := map[string]bool{}
	for id, body := range recv.got {
		ids[id] = true
		if string(body) == carol {
			ids["carol"] = true
		}
	}
	bad := recv.bad
	recv.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("bad signatures: %v", bad)
	}
	if !ids["carol"] {
		t.Fatalf("the kcat event's data did not arrive as sent: %v", ids)
	}
	for _, src := range []string{"/gateway/eu", "/gateway/us"} {
		if id := record.DeliveryID(src, "pay-1", subID); !ids[id] {
			t.Errorf("no delivery of pay-1 from %s under webhook-id %s; got %v", src, id, ids)
		}
	}
	dls := s.deadLetters(t, 1)
	if dl := dls[0]; dl.Reason != record.ReasonSchemaViolation || dl.Stage != record.StageRoute {
		b, _ := json.Marshal(dl)
		t.Fatalf("dead letter %s, want a route-stage schema_violation of pay-bad", b)
	}
}
