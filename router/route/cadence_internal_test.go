package route

import (
	"testing"
	"time"
)

// TestCadence: the rate estimate follows a steady rate, recognises a burst
// after a quiet spell within a few transactions, and batchWait picks
// BusyBatchWait from BusyRate on, settling (Router.settle) unless the
// wait would fill the batch.
func TestCadence(t *testing.T) {
	var steady cadence
	for range 50 {
		steady.observe(1, 5*time.Millisecond)
	}
	if r := steady.rate(); r < 199 || r > 201 {
		t.Errorf("one event every 5 ms: rate %.1f/s, want 200", r)
	}

	var burst cadence
	burst.observe(1, time.Minute) // a quiet spell, counted as a second
	n := 0
	for burst.rate() < 1000 {
		burst.observe(15, 5*time.Millisecond) // 3,000 events/s
		if n++; n > 20 {
			t.Fatalf("a 3,000/s burst after a quiet spell still measures %.0f/s after %d transactions", burst.rate(), n)
		}
	}
	if n < 2 {
		t.Errorf("one transaction of a burst outweighed a quiet spell (%d)", n)
	}
	for range 50 {
		burst.observe(15, 5*time.Millisecond)
	}
	if r := burst.rate(); r < 2990 || r > 3010 {
		t.Errorf("15 events every 5 ms: rate %.1f/s, want 3000", r)
	}

	var none cadence
	if r := none.rate(); r != 0 {
		t.Errorf("no transactions: rate %v, want 0", r)
	}

	// 1,000 records fill a batch: at 20 ms, 50,000 events/s would.
	r := &Router{cfg: Config{BatchWait: 5 * time.Millisecond, BusyBatchWait: 20 * time.Millisecond, BusyRate: 1000, MaxPollRecords: 1000}}
	for _, c := range []struct {
		rate   float64
		want   time.Duration
		settle bool
	}{
		{0, 5 * time.Millisecond, false},
		{999, 5 * time.Millisecond, false},
		{1000, 20 * time.Millisecond, true},
		{3000, 20 * time.Millisecond, true},
		{49000, 20 * time.Millisecond, true},
		{50000, 20 * time.Millisecond, false}, // the wait would fill the batch: poll
	} {
		if got, settle := r.batchWait(c.rate); got != c.want || settle != c.settle {
			t.Errorf("batchWait(%v) = %v, settle %v; want %v, settle %v", c.rate, got, settle, c.want, c.settle)
		}
	}
	r.cfg.BusyBatchWait = -1
	if got, settle := r.batchWait(3000); got != 5*time.Millisecond || settle {
		t.Errorf("BusyBatchWait off: batchWait(3000) = %v, settle %v; want BatchWait, no settling", got, settle)
	}
	r.cfg.BatchWait, r.cfg.BusyBatchWait = -1, 20*time.Millisecond
	if got, settle := r.batchWait(3000); got > 0 || settle {
		t.Errorf("no wait at all (BatchWait -1): batchWait(3000) = %v, settle %v; want none", got, settle)
	}
}
