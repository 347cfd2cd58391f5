package deliver

import (
	"context"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestOffsetsGoingBackwardsRebuildTheWindow: when a partition's records
// come again from a lower offset (its log truncated, or its topic deleted
// and created again), the dispatcher does not skip them as a bug: it
// fences the partition's state, so nothing of the old log is committed,
// and starts a new window from the new records.
func TestOffsetsGoingBackwardsRebuildTheWindow(t *testing.T) {
	c := kafkatest.New(t)
	names, _ := c.Hookline(t, 1, 1)
	cfg := Config{Topics: names, RetrySchedule: []time.Duration{time.Second}}
	d, err := New(cfg, subtable.New(c.Opts(), names.Subscriptions()), c.Opts())
	if err != nil {
		t.Fatal(err)
	}
	// The dispatcher's own state, driven by hand: no job is started
	// (draining), so the window keeps what it admits.
	d.cl = c.Client(t)
	d.work = context.Background()
	d.draining = true
	d.onAssigned(context.Background(), d.cl, map[string][]int32{names.Deliveries(): {0}})

	fetch := func(offsets ...int64) {
		fp := kgo.FetchTopicPartition{Topic: names.Deliveries()}
		fp.Partition = 0
		var jobs []*job
		for i, off := range offsets {
			del := record.Delivery{ID: "del-" + string(rune('a'+i)), SubscriptionID: "sub"}
			r, err := del.Record(names.Deliveries())
			if err != nil {
				t.Fatal(err)
			}
			r.Offset, r.Partition, r.LeaderEpoch = off, 0, 0
			fp.Records = append(fp.Records, r)
			jobs = append(jobs, newLazyJob(r))
		}
		fp.HighWatermark = offsets[len(offsets)-1] + 1
		d.admit(d.work, fp, jobs)
	}
	current := func() *partition {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.parts[tp{names.Deliveries(), 0}]
	}

	fetch(100, 101, 102)
	old := current()
	if n := old.win.Len(); n != 3 {
		t.Fatalf("window holds %d records, want 3", n)
	}
	// The log starts over at offset 5.
	fetch(5, 6)
	deadline := time.Now().Add(10 * time.Second)
	for current() == old {
		if time.Now().After(deadline) {
			t.Fatal("the partition was not rebuilt after its offsets went backwards")
		}
		time.Sleep(5 * time.Millisecond) // rebuild runs in its own goroutine
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.parts[tp{names.Deliveries(), 0}]
	if !old.fenced {
		t.Error("the old window is not fenced: a commit of its mark (103) could still land")
	}
	if n := p.win.Len(); n != 2 || p.first != 5 {
		t.Errorf("new window holds %d records from offset %d, want 2 from 5", n, p.first)
	}
	if len(p.held) != 0 || len(old.held) != 0 {
		t.Errorf("records still held: %d in the new window, %d in the old", len(p.held), len(old.held))
	}
	// The new window commits from the new log.
	for _, off := range []int64{5, 6} {
		p.win.Done(off)
	}
	if m, ok := p.win.Mark(); !ok || m.Offset != 7 {
		t.Errorf("mark %+v (%v), want offset 7", m, ok)
	}
}
