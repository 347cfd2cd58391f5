package cli_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// attemptRecord returns the record of an attempt stamped at ts.
func (f *fixture) attemptRecord(t *testing.T, a record.Attempt, ts time.Time) *kgo.Record {
	t.Helper()
	r, err := a.Record(f.names.Attempts())
	if err != nil {
		t.Fatal(err)
	}
	r.Timestamp = ts
	return r
}

func TestAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	d1 := record.DeliveryID("/payments", "evt_1", "billing")
	d2 := record.DeliveryID("/payments", "evt_1", "crm")
	d3 := record.DeliveryID("/payments", "evt_2", "billing")
	at := func(delivery, sub, ev string, n, status int, ms float64, errText, result string, when time.Time) record.Attempt {
		return record.Attempt{DeliveryID: delivery, SubscriptionID: sub, EventID: ev, Attempt: n, Status: status,
			LatencyMillis: ms, Error: errText, Result: result, At: when}
	}
	attempts := []record.Attempt{
		at(d1, "billing", "evt_1", 1, 500, 120.4, "HTTP 500", "retry", t0),
		at(d1, "billing", "evt_1", 2, 0, 10000, "timeout after 10s", "retry", t0.Add(5*time.Second)),
		at(d1, "billing", "evt_1", 3, 200, 85, "", "success", t0.Add(5*time.Minute)),
		at(d2, "crm", "evt_1", 1, 410, 40, "HTTP 410 Gone", "failed", t0.Add(time.Second)),
		at(d3, "billing", "evt_2", 1, 200, 12, "", "success", t0.Add(3*time.Hour)),
	}
	var recs []*kgo.Record
	for _, a := range attempts {
		recs = append(recs, f.attemptRecord(t, a, a.At))
	}
	// A record whose value says 04:00 but whose timestamp says a day
	// earlier: --since seeks by timestamp, so it stays unread.
	trap := at(d3, "billing", "evt_2", 9, 500, 1, "trap", "retry", t0.Add(time.Hour))
	f.produce(t, f.attemptRecord(t, trap, t0.Add(-24*time.Hour)))
	f.produce(t, recs...)

	type row struct {
		DeliveryID string `json:"delivery_id"`
		Attempt    int    `json:"attempt"`
		Result     string `json:"result"`
	}
	list := func(args ...string) []row {
		t.Helper()
		var rows []row
		out := f.ok(t, append([]string{"attempts", "-o", "json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return rows
	}
	tests := []struct {
		name string
		args []string
		want []row
	}{
		{"event and endpoint", []string{"--event-id", "evt_1", "--subscription", "billing"},
			[]row{{d1, 1, "retry"}, {d1, 2, "retry"}, {d1, 3, "success"}}},
		{"delivery", []string{"--delivery-id", d2}, []row{{d2, 1, "failed"}}},
		{"event", []string{"--event-id", "evt_1", "--result", "failed,success"}, []row{{d2, 1, "failed"}, {d1, 3, "success"}}},
		{"since seeks", []string{"--since", t0.Add(30 * time.Minute).Format(time.RFC3339)}, []row{{d3, 1, "success"}}},
		{"until", []string{"--until", t0.Add(2 * time.Second).Format(time.RFC3339), "--subscription", "billing"}, []row{{d1, 1, "retry"}}},
		{"window", []string{"--since", t0.Add(time.Second).Format(time.RFC3339), "--until", t0.Add(time.Hour).Format(time.RFC3339)},
			[]row{{d2, 1, "failed"}, {d1, 2, "retry"}, {d1, 3, "success"}}},
		{"limit keeps the last", []string{"--subscription", "billing", "--since", t0.Add(-time.Minute).Format(time.RFC3339), "--limit", "1"}, []row{{d3, 1, "success"}}},
		{"nothing", []string{"--event-id", "evt_nope"}, []row{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := list(tt.args...)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
			}
		})
	}

	// Golden outputs of the support question: what happened to evt_1 at
	// billing?
	for _, o := range []string{"table", "json", "yaml"} {
		out := f.ok(t, "attempts", "--event-id", "evt_1", "--subscription", "billing", "-o", o)
		golden(t, "attempts."+o+".golden", out)
	}
	if err := f.fail(t, "attempts", "--result", "maybe"); !strings.Contains(err.Error(), "--result") {
		t.Fatalf("bad --result: %v", err)
	}
}
