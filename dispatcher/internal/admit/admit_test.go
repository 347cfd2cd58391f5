package admit

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := New(Config{BreakerFailures: -1}, nil)
		l := Limits{RateLimit: 5} // burst 5, then one every 200ms
		var waits []time.Duration
		deferred := 0
		for range 12 {
			v := g.Admit("s", l)
			switch v.Kind {
			case Send:
				waits = append(waits, v.Wait)
				v.Done(Success)
			case Defer:
				deferred++
				if v.Reason != ReasonRateLimited || !v.At.After(time.Now().Add(time.Second)) {
					t.Errorf("deferred %+v, want rate_limited beyond the 1s wait", v)
				}
			}
		}
		// 5 at once, then 200ms apart up to the 1s most a delivery waits.
		want := []time.Duration{0, 0, 0, 0, 0, 200 * time.Millisecond, 400 * time.Millisecond,
			600 * time.Millisecond, 800 * time.Millisecond, time.Second}
		if !slices.Equal(waits, want) || deferred != 2 {
			t.Errorf("waits %v and %d deferred, want %v and 2", waits, deferred, want)
		}
		// A deferred reservation is given back: after 2s, 10 tokens' worth
		// have accrued, but the bucket holds at most 5.
		time.Sleep(3 * time.Second)
		if v := g.Admit("s", l); v.Kind != Send || v.Wait != 0 {
			t.Errorf("after the bucket refilled: %+v", v)
		}
		// Unlimited when the limit is removed.
		for range 100 {
			if v := g.Admit("s", Limits{}); v.Kind != Send || v.Wait != 0 {
				t.Fatalf("unlimited: %+v", v)
			}
		}
	})
}

func TestBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var changes []string
		g := New(Config{BreakerFailures: 3, BreakerOpen: 10 * time.Second, DisableAfter: -1,
			OnBreaker: func(sub, state string, _ time.Time) {
				mu.Lock()
				changes = append(changes, sub+":"+state)
				mu.Unlock()
			}}, nil)
		send := func(res Result) Kind {
			v := g.Admit("s", Limits{})
			if v.Kind == Send {
				v.Done(res)
			}
			return v.Kind
		}
		// Excluded results (4xx, 429) do not count.
		for range 10 {
			if send(Excluded) != Send {
				t.Fatal("excluded results opened the breaker")
			}
		}
		for i := range 3 {
			if k := send(Failure); k != Send {
				t.Fatalf("failure %d deferred before the breaker should open", i+1)
			}
		}
		if k := send(Success); k != Defer {
			t.Fatal("breaker not open after 3 consecutive failures")
		}
		if bs := g.Breakers(); len(bs) != 1 || bs[0] != (Breaker{"s", "open"}) {
			t.Errorf("breakers %v, want s open", bs)
		}
		time.Sleep(10*time.Second + time.Millisecond)
		// Half-open: one probe; a second delivery meanwhile is deferred.
		probe := g.Admit("s", Limits{})
		if probe.Kind != Send {
			t.Fatal("no probe after the open period")
		}
		if k := send(Success); k != Defer {
			t.Error("a second request went through while the probe was out")
		}
		probe.Done(Failure) // the probe fails: open again
		if k := send(Success); k != Defer {
			t.Error("breaker not open again after a failed probe")
		}
		time.Sleep(10*time.Second + time.Millisecond)
		g.Admit("s", Limits{}).Done(Success) // the probe succeeds: closed
		if k := send(Success); k != Send || len(g.Breakers()) != 0 {
			t.Errorf("breaker not closed after a successful probe: %v", g.Breakers())
		}
		mu.Lock()
		defer mu.Unlock()
		want := []string{"s:open", "s:half-open", "s:open", "s:half-open", "s:closed"}
		if !slices.Equal(changes, want) {
			t.Errorf("state changes %v, want %v", changes, want)
		}
	})
}

func TestBreakerOverrides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := New(Config{BreakerFailures: 3, DisableAfter: -1}, nil)
		off := Limits{BreakerFailures: -1}
		for range 20 {
			v := g.Admit("off", off)
			if v.Kind != Send {
				t.Fatal("a breaker turned off by the subscription opened")
			}
			v.Done(Failure)
		}
		one := Limits{BreakerFailures: 1, BreakerOpen: time.Second}
		g.Admit("one", one).Done(Failure)
		if g.Admit("one", one).Kind != Defer {
			t.Fatal("breaker_failures 1 did not open after one failure")
		}
		time.Sleep(time.Second + time.Millisecond)
		if g.Admit("one", one).Kind != Send {
			t.Error("breaker_open_ms 1000 did not half-open after a second")
		}
	})
}

func TestFailingClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := New(Config{BreakerFailures: 2, BreakerOpen: time.Minute, DisableAfter: time.Hour}, nil)
		fail := func() bool {
			v := g.Admit("s", Limits{})
			if v.Kind != Send {
				return g.Deferred("s")
			}
			return v.Done(Failure)
		}
		if fail() {
			t.Fatal("disabled at the first failure")
		}
		time.Sleep(30 * time.Minute)
		v := g.Admit("s", Limits{})
		if v.Done(Success) {
			t.Fatal("disabled on a success")
		}
		// The clock starts again at the next failure.
		fail()
		time.Sleep(59 * time.Minute)
		if fail() {
			t.Fatal("disabled before an hour of failures")
		}
		time.Sleep(2 * time.Minute)
		// The breaker is open now: deferred deliveries keep the clock.
		if !fail() {
			t.Fatal("not disabled after an hour of failures with no success")
		}
		if fail() {
			t.Error("asked to disable twice")
		}
	})
}
