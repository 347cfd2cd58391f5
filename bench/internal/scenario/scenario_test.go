package scenario

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The ids land evenly on the partitions as Kafka's default partitioner
// places keys, so each dispatcher of a group gets an even share.
func TestSpreadIDs(t *testing.T) {
	ids := spreadIDs("bench-x", 100, 8)
	if len(ids) != 100 {
		t.Fatalf("%d ids", len(ids))
	}
	part := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	count := map[int]int{}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("id %s twice", id)
		}
		seen[id] = true
		count[part.Partition(&kgo.Record{Key: []byte(id)}, 8)]++
	}
	for p := range 8 {
		if c := count[p]; c < 12 || c > 13 {
			t.Errorf("partition %d has %d of 100 ids, want 12 or 13", p, c)
		}
	}
}

// breakdown orders stages by their median offset and measures each step
// and the whole path per event.
func TestBreakdown(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var points []map[string]time.Time
	for i := range 100 {
		d := time.Duration(i) * time.Millisecond
		points = append(points, map[string]time.Time{
			ptSent:                   t0,
			"routed":                 t0.Add(5*time.Millisecond + d),
			ptAccepted:               t0.Add(2 * time.Millisecond),
			ptReceived:               t0.Add(10*time.Millisecond + d),
			"delivery header x-late": t0.Add(20*time.Millisecond + d), // after the arrival
		})
	}
	runs, _ := breakdown(points)
	want := []string{ptSent + " → " + ptAccepted, ptAccepted + " → routed", "routed → " + ptReceived,
		ptReceived + " → delivery header x-late", "end to end: " + ptSent + " → " + ptReceived}
	if len(runs) != len(want) {
		t.Fatalf("%d steps, want %d: %+v", len(runs), len(want), runs)
	}
	for i, w := range want {
		if runs[i].Name != w {
			t.Errorf("step %d is %q, want %q", i, runs[i].Name, w)
		}
	}
	if got := runs[2].Metrics["p50_ms"]; got != 5 {
		t.Errorf("routed → received p50 = %v ms, want 5", got)
	}
	e2e := runs[len(runs)-1].Metrics
	if e2e["p50_ms"] != 59 || e2e["p99_ms"] != 108 || e2e["max_ms"] != 109 || e2e["count"] != 100 {
		t.Errorf("end to end %v, want p50 59, p99 108, max 109 over 100", e2e)
	}
}
