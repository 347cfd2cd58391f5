package route

import (
	"testing"
	"time"
)

// TestCadence: the rate estimate follows a steady rate, recognises a burst
// after a quiet spell within a few transactions, and batchWait picks
// BusyBatchWait from BusyRate on.
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

	r := &Router{cfg: Config{BatchWait: 5 * time.Millisecond, BusyBatchWait: 20 * time.Millisecond, BusyRate: 1000}}
	for _, c := range []struct {
		rate float64
		want time.Duration
	}{{0, 5 * time.Millisecond}, {999, 5 * time.Millisecond}, {1000, 20 * time.Millisecond}, {3000, 20 * time.Millisecond}} {
		if got := r.batchWait(c.rate); got != c.want {
			t.Errorf("batchWait(%v) = %v, want %v", c.rate, got, c.want)
		}
	}
	r.cfg.BusyBatchWait = -1
	if got := r.batchWait(3000); got != 5*time.Millisecond {
		t.Errorf("BusyBatchWait off: batchWait(3000) = %v, want BatchWait", got)
	}
	r.cfg.BatchWait, r.cfg.BusyBatchWait = -1, 20*time.Millisecond
	if got := r.batchWait(3000); got > 0 {
		t.Errorf("no wait at all (BatchWait -1): batchWait(3000) = %v, want none", got)
	}
}
