package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
)

func TestSend(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Errors first: they must write nothing.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "--data", "{}"}, "--type is required"},
		{[]string{"send", "--type", "x", "--data", "{nope"}, "not JSON"},
		{[]string{"send", "--plain", "--type", "x", "--data", `{"type":"x"}`}, "--plain"},
		{[]string{"send", "--plain", "--data", `{"amount":1}`}, "type"},
		{[]string{"send", "--plain", "--data", `[1,2]`}, "plain JSON event"},
	} {
		if err := f.fail(t, append(tt.args, "--topic", f.source)...); !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
	out := f.ok(t, "send", "--topic", f.source, "--type", "payment.succeeded", "--data", `{"payment_id":"p1","amount":42}`,
		"--subject", "order-1", "--source", "urn:shop", "-o", "json")
	var sent struct {
		ID        string `json:"id"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}
	if err := json.Unmarshal([]byte(out), &sent); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	idOnly := strings.TrimSpace(f.ok(t, "send", "--topic", f.source, "--type", "order.status_changed", "--id", "evt-fixed"))
	if idOnly != "evt-fixed" {
		t.Fatalf("table send printed %q, want the event id", idOnly)
	}
	plain := strings.TrimSpace(f.ok(t, "send", "--topic", f.source, "--plain", "--data", `{"type":"payment_success","orderId":"o1"}`))

	recs := f.readAll(t, f.source)
	if len(recs) != 3 {
		t.Fatalf("%d records in the source topic, want 3", len(recs))
	}
	byID := map[string]event.Event{}
	for _, r := range recs {
		e, err := event.Decode(r, 0)
		if err != nil {
			t.Fatal(err)
		}
		byID[e.ID] = e
		if e.ID == sent.ID && (string(r.Key) != "order-1" || r.Partition != sent.Partition || r.Offset != sent.Offset ||
			record.HeaderValue(r, "ce_type") != "payment.succeeded") {
			t.Errorf("binary event record: key %q at %d/%d, headers %v", r.Key, r.Partition, r.Offset, r.Headers)
		}
	}
	e := byID[sent.ID]
	if e.Type != "payment.succeeded" || e.Subject != "order-1" || e.Source != "urn:shop" ||
		string(e.Data) != `{"payment_id":"p1","amount":42}` || e.Time.IsZero() {
		t.Fatalf("sent event = %+v", e)
	}
	if _, ok := byID["evt-fixed"]; !ok {
		t.Fatalf("no event with the given id: %v", byID)
	}
	if p, ok := byID[plain]; !ok || p.Type != "payment_success" || string(p.Data) != `{"type":"payment_success","orderId":"o1"}` {
		t.Fatalf("plain event %q not found as printed: %v", plain, byID)
	}
}
