package record

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAppendAttemptFields fails when Attempt's members change: appendAttempt
// writes them by hand and must be updated with them.
func TestAppendAttemptFields(t *testing.T) {
	var got []string
	at := reflect.TypeFor[Attempt]()
	for i := range at.NumField() {
		got = append(got, at.Field(i).Tag.Get("json"))
	}
	want := []string{"v", "delivery_id", "subscription_id", "event_id", "attempt", "status,omitempty",
		"latency_ms", "error,omitempty", "result", "at"}
	if !slices.Equal(got, want) {
		t.Fatalf("Attempt's JSON members are %q; appendAttempt writes %q: update it (and this list)", got, want)
	}
}

// TestAppendAttemptIsEncodingJSON checks appendAttempt against
// encoding/json, and that it leaves what it cannot write alone.
func TestAppendAttemptIsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	base := Attempt{V: 1, DeliveryID: "msg_1", SubscriptionID: "sub", EventID: "evt", Attempt: 2, Status: 503,
		LatencyMillis: 12.345, Error: "post: HTTP 503 Service Unavailable", Result: "retry", At: at}
	for _, tt := range []struct {
		name   string
		change func(*Attempt)
		fast   bool
	}{
		{"full", func(*Attempt) {}, true},
		{"success", func(a *Attempt) { a.Status, a.Error, a.Result = 204, "", "success" }, true},
		{"no response", func(a *Attempt) { a.Status = 0 }, true},
		{"zero latency", func(a *Attempt) { a.LatencyMillis = 0 }, true},
		{"whole latency", func(a *Attempt) { a.LatencyMillis = 120 }, true},
		{"large latency", func(a *Attempt) { a.LatencyMillis = 123456789.125 }, true},
		{"negative", func(a *Attempt) { a.Attempt, a.LatencyMillis = -1, -0.5 }, true},
		{"zone", func(a *Attempt) { a.At = at.In(time.FixedZone("x", 2*3600)) }, true},
		{"zero time", func(a *Attempt) { a.At = time.Time{} }, true},
		{"tiny latency", func(a *Attempt) { a.LatencyMillis = 1e-7 }, false},
		{"huge latency", func(a *Attempt) { a.LatencyMillis = 1e22 }, false},
		{"quoted error", func(a *Attempt) { a.Error = `Post "http://x/": EOF` }, false},
		{"html", func(a *Attempt) { a.EventID = "<e>" }, false},
		{"unicode", func(a *Attempt) { a.SubscriptionID = "sübscription" }, false},
		{"year 10000", func(a *Attempt) { a.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			tt.change(&a)
			got, ok := appendAttempt(nil, &a)
			if ok != tt.fast {
				t.Fatalf("appendAttempt ok = %v, want %v", ok, tt.fast)
			}
			want, wantErr := json.Marshal(&a)
			if ok && (wantErr != nil || !bytes.Equal(got, want)) {
				t.Fatalf("appendAttempt wrote\n%s\nencoding/json\n%s (%v)", got, want, wantErr)
			}
			// Record writes the same either way.
			r, err := a.Record("t")
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("Record error %v, encoding/json's %v", err, wantErr)
			}
			if err == nil && !bytes.Equal(r.Value, want) {
				t.Fatalf("Record value\n%s\nwant\n%s", r.Value, want)
			}
		})
	}
}

// FuzzAppendAttempt checks appendAttempt against encoding/json.
func FuzzAppendAttempt(f *testing.F) {
	f.Add("msg_1", "sub", "evt", "post: HTTP 500", "failed", 3, 500, 12.5, int64(1767225600), int64(5))
	f.Add("", "", "", "", "", 0, 0, 0.0, int64(0), int64(0))
	f.Add("a<b", "s\"", "é", "x\\y", "\x01", -1, -1, math.Inf(1), int64(-62135596800), int64(999999999))
	f.Fuzz(func(t *testing.T, id, sub, evt, errText, result string, n, status int, lat float64, sec, nsec int64) {
		a := Attempt{V: 1, DeliveryID: id, SubscriptionID: sub, EventID: evt, Attempt: n, Status: status,
			LatencyMillis: lat, Error: errText, Result: result, At: time.Unix(sec, nsec).UTC()}
		got, ok := appendAttempt(nil, &a)
		if !ok {
			return
		}
		want, err := json.Marshal(&a)
		if err != nil {
			t.Fatalf("appendAttempt wrote what encoding/json refuses (%v): %s", err, got)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("appendAttempt wrote\n%s\nencoding/json\n%s", got, want)
		}
	})
}

// BenchmarkAttemptRecord measures building one attempt record.
//
//	go test -run '^$' -bench BenchmarkAttemptRecord -benchmem ./record/
func BenchmarkAttemptRecord(b *testing.B) {
	a := Attempt{DeliveryID: "msg_395ad561a76b1d4ecfa505f5e8cb4dd4", SubscriptionID: "sub_shop_orders", EventID: "evt_" + strings.Repeat("x", 20),
		Attempt: 1, Status: 204, LatencyMillis: 1.234, Result: "success", At: time.Now().UTC()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Record("hookline.attempts"); err != nil {
			b.Fatal(err)
		}
	}
}
