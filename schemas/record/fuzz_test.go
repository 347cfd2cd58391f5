package record_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fuzzDecoder checks one decoder: it never panics, fails only with a typed
// *record.DecodeError of its kind, and whatever it accepts encodes to a
// record that decodes again to the same value (compared by its encoding,
// which is canonical: times in one zone, maps sorted).
func fuzzDecoder[T any](f *testing.F, kind string, seeds [][]byte, decode func([]byte) (T, error), encode func(*T) (*kgo.Record, error)) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decode(b)
		if err != nil {
			var de *record.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, not *record.DecodeError", err, err)
			}
			if de.Kind != kind {
				t.Fatalf("DecodeError.Kind = %q, want %q", de.Kind, kind)
			}
			if !errors.Is(err, record.ErrMalformed) && !errors.Is(err, record.ErrUnsupportedVersion) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrUnsupportedVersion", err)
			}
			return
		}
		first, err := encode(&v)
		if err != nil {
			t.Fatalf("encoding a decoded %s: %v", kind, err)
		}
		again, err := decode(first.Value)
		if err != nil {
			t.Fatalf("re-decoding %s: %v\nvalue %s", kind, err, first.Value)
		}
		second, err := encode(&again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Value, second.Value) || !bytes.Equal(first.Key, second.Key) {
			t.Fatalf("%s does not round-trip:\n%s\n%s", kind, first.Value, second.Value)
		}
		if len(first.Headers) != len(second.Headers) {
			t.Fatalf("headers differ: %v, %v", first.Headers, second.Headers)
		}
		for i := range first.Headers {
			if first.Headers[i].Key != second.Headers[i].Key || !bytes.Equal(first.Headers[i].Value, second.Headers[i].Value) {
				t.Fatalf("header %d differs: %v, %v", i, first.Headers[i], second.Headers[i])
			}
		}
	})
}

// seedValue returns a function that unwraps an encoder's result to the
// record's value, failing f on an error: seedValue(f)(d.Record(topic)).
func seedValue(f *testing.F) func(*kgo.Record, error) []byte {
	return func(rec *kgo.Record, err error) []byte {
		f.Helper()
		if err != nil {
			f.Fatal(err)
		}
		return rec.Value
	}
}

func FuzzDecodeDelivery(f *testing.F) {
	d := fixedDelivery()
	d.ReplayOf = "hookline.dlq/0/1"
	fuzzDecoder(f, "delivery", [][]byte{
		seedValue(f)(d.Record("t")),
		[]byte(`{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"eyJhIjogMX0=","x":"y"}}`),
		[]byte(`{"v":1,"id":"d","subscription_id":"s","attempt":-1,"not_before":"2025-01-01T00:00:00+01:00","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/plain","data":"hi"}}`),
		[]byte(`{"v":1}`),
	}, record.DecodeDelivery, func(d *record.Delivery) (*kgo.Record, error) { return d.Record("t") })
}

func FuzzDecodeDeadLetter(f *testing.F) {
	d := fixedDelivery()
	dl := record.DeadLetter{Delivery: &d, Stage: record.StageDispatch, Reason: record.ReasonExhausted, LastStatus: 500, Attempts: 8, FailedAt: t2}
	route := record.DeadLetter{Raw: &record.RawRecord{Key: []byte("k"), Value: []byte("\x00\xff"), Headers: map[string]string{"a": "b"}},
		Stage: record.StageRoute, Reason: record.ReasonInvalidEvent, FailedAt: t0, Source: record.Provenance{Topic: "events", Partition: 1, Offset: 2}}
	fuzzDecoder(f, "dead-letter", [][]byte{
		seedValue(f)(dl.Record("t")),
		seedValue(f)(route.Record("t")),
		[]byte(`{"v":1,"stage":"route","reason":"x","delivery":{"event":{}}}`),
		[]byte(`{"v":1,"stage":"s","reason":"r","failed_at":"0000-01-01T00:00:00+01:00"}`),
	}, record.DecodeDeadLetter, func(d *record.DeadLetter) (*kgo.Record, error) { return d.Record("t") })
}

func FuzzDecodeAttempt(f *testing.F) {
	a := record.Attempt{DeliveryID: "msg_1", SubscriptionID: "s", EventID: "e", Attempt: 1, Status: 200, LatencyMillis: 1.5, Result: "success", At: t0}
	fuzzDecoder(f, "attempt", [][]byte{
		seedValue(f)(a.Record("t")),
		[]byte(`{"v":1,"latency_ms":-0,"at":"2025-01-01T00:00:00.123456789-07:00"}`),
		[]byte(`{"v":1,"latency_ms":1e308}`),
	}, record.DecodeAttempt, func(a *record.Attempt) (*kgo.Record, error) { return a.Record("t") })
}

func FuzzDecodeEndpointStatus(f *testing.F) {
	s := record.EndpointStatus{SubscriptionID: "s", Breaker: record.BreakerHalfOpen, Since: t0}
	fuzzDecoder(f, "endpoint-status", [][]byte{
		seedValue(f)(s.Record("t")),
		[]byte(`{"v":1,"subscription_id":"s","breaker":"open"}`),
	}, record.DecodeEndpointStatus, func(s *record.EndpointStatus) (*kgo.Record, error) { return s.Record("t") })
}

func FuzzDecodeEventType(f *testing.F) {
	et := record.EventType{Name: "order.created", Schema: []byte(`{"type":"object"}`), Example: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0, Revision: 1}
	fuzzDecoder(f, "event-type", [][]byte{
		seedValue(f)(et.Record("t")),
		[]byte(`{"v":1,"name":"x","schema":true}`),
		[]byte(`{"v":1,"name":""}`),
	}, record.DecodeEventType, func(t *record.EventType) (*kgo.Record, error) { return t.Record("t") })
}

func FuzzDecodeIdempotency(f *testing.F) {
	i := record.Idempotency{Key: record.IdempotencyKey("s", "k"), RequestHash: "ab", Status: 202, Body: []byte(`{"ids":["a"]}`), CreatedAt: t0}
	fuzzDecoder(f, "idempotency", [][]byte{
		seedValue(f)(i.Record("t")),
		[]byte(`{"v":1,"key":"k","request_hash":"h","status":422,"body":{ "error" : {} }}`),
		[]byte(`{"v":1,"key":"k","request_hash":"h","status":202,"body":null}`),
		[]byte(`{"v":1,"key":"k","request_hash":"h","status":99,"body":{}}`),
	}, record.DecodeIdempotency, func(i *record.Idempotency) (*kgo.Record, error) { return i.Record("t") })
}

func TestIdempotencyKey(t *testing.T) {
	a := record.IdempotencyKey("scope", "k")
	for _, other := range [][2]string{{"scope", "k2"}, {"other", "k"}, {"", "scopek"}, {"scopek", ""}} {
		if record.IdempotencyKey(other[0], other[1]) == a {
			t.Errorf("IdempotencyKey%q collides with (scope, k)", other)
		}
	}
	if a != record.IdempotencyKey("scope", "k") || len(a) != 64 {
		t.Errorf("IdempotencyKey = %q, want 64 stable hex digits", a)
	}
}

func FuzzDecodeSubscription(f *testing.F) {
	s := fixedSubscription()
	fuzzDecoder(f, "subscription", [][]byte{
		seedValue(f)(s.Record("t")),
		[]byte(`{"v":1,"id":"s"}`),
		[]byte(`{"v":1,"id":"s","secrets":[{"key":"x","expires_at":null}],"headers":{},"metadata":null,"max_in_flight":-3}`),
	}, record.DecodeSubscription, func(s *record.Subscription) (*kgo.Record, error) { return s.Record("t") })
}
