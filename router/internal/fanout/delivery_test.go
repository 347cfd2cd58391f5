package fanout

import (
	"bytes"
	"testing"
	"time"

	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// checkSameRecord fails unless the encoder's record of ev to sub is the
// one record.NewDelivery(...).Record produces, byte for byte.
func checkSameRecord(t *testing.T, ev event.Event, sub string, now, accepted time.Time) {
	t.Helper()
	d := record.NewDelivery(ev, sub, now)
	d.AcceptedAt = accepted
	want, wantErr := d.Record("deliveries")
	enc, err := newDeliveryEncoder("deliveries", &ev, now, accepted)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("encoder error %v, record error %v", err, wantErr)
	}
	if err != nil {
		return
	}
	got := enc.record(sub)
	if got.Topic != want.Topic || !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) {
		t.Fatalf("value\n got %s\nwant %s", got.Value, want.Value)
	}
	if len(got.Headers) != len(want.Headers) {
		t.Fatalf("headers %v, want %v", got.Headers, want.Headers)
	}
	for i := range got.Headers {
		if got.Headers[i].Key != want.Headers[i].Key || !bytes.Equal(got.Headers[i].Value, want.Headers[i].Value) {
			t.Fatalf("header %d = %s: %q, want %s: %q", i, got.Headers[i].Key, got.Headers[i].Value, want.Headers[i].Key, want.Headers[i].Value)
		}
	}
}

func TestDeliveryEncoderMatchesRecord(t *testing.T) {
	t.Parallel()
	withExt := routetest.Order("ord<&>", "shipped")
	withExt.Extensions = map[string]string{"tenant": "acme", "traceparent": "00-abc-def-01"}
	withExt.Subject = "orders/1"
	withExt.DataSchema = "https://hookline.dev/schemas/order.status_changed/v1"
	text := routetest.PaymentFailed("txt", 1)
	text.DataContentType, text.Data = "text/plain", []byte("plain <text> \xff")
	spaced := routetest.PaymentFailed("sp", 1)
	spaced.Data = []byte("{ \"amount\" : 1 }\n")
	reserved := routetest.PaymentFailed("res", 1)
	reserved.Extensions = map[string]string{"data": "x"}
	noTime := routetest.Payment("nt", 1)
	noTime.Time = time.Time{}
	for _, ev := range []event.Event{routetest.Payment("p1", 12.5), withExt, text, spaced, reserved, noTime} {
		for _, now := range []time.Time{routetest.Epoch, time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), {}} {
			checkSameRecord(t, ev, "sub-1", now, time.Time{})
			checkSameRecord(t, ev, `sub "quoted" <&>`, now, time.Time{})
			checkSameRecord(t, ev, "sub-1", now, time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC))
		}
	}
}

func FuzzDeliveryEncoder(f *testing.F) {
	f.Add([]byte(`{"a":1}`), "application/json", "evt-1", "sub-1", "tenant", "acme", int64(0))
	f.Add([]byte("\x00\xff"), "application/octet-stream", "e<>", "s&", "data", "x", int64(1e18))
	f.Fuzz(func(t *testing.T, data []byte, ct, id, sub, extKey, extVal string, nanos int64) {
		ev, err := event.Decode(&kgo.Record{Topic: "t", Value: data, Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte(id)},
			{Key: "ce_source", Value: []byte("s")}, {Key: "ce_type", Value: []byte("x.y")},
			{Key: "content-type", Value: []byte(ct)}, {Key: "ce_" + extKey, Value: []byte(extVal)},
		}}, 0)
		if err != nil {
			return
		}
		checkSameRecord(t, ev, sub, time.Unix(0, nanos), time.Unix(0, nanos/3).UTC())
	})
}
