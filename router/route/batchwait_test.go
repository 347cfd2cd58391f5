package route_test

import (
	"testing"
	"time"

	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/hookline/hookline/router/route"
)

// TestBatchWait: a transaction's batch has a time bound as well as a size
// bound. The first event after a quiet spell is routed at once; an event
// that follows within BatchWait of that transaction's start waits for the
// time bound (here a timer the test fires) and then commits without
// waiting for the size bound; a batch that reaches the size bound commits
// without waiting for the time bound.
func TestBatchWait(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	h.putSubs(t, routetest.Sub("all", "", "*"))
	cfg := h.config(t)
	cfg.BatchWait = time.Hour // only the test's timer ends a wait
	cfg.MaxPollRecords = 3
	timers := make(chan chan time.Time, 16)
	after := func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		timers <- c
		return c
	}
	rec := newCounter()
	h.start(t, cfg, route.WithRecorder(rec), route.WithAfter(after))
	committed := func(commits, events int) func() bool {
		return func() bool { s := rec.snapshot(); return s.commits == commits && s.events == events }
	}

	routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment("first", 1)))
	routetest.Eventually(t, 30*time.Second, "the first event committed", committed(1, 1))
	if n := len(timers); n != 0 {
		t.Fatalf("the first event waited for the time bound (%d timers)", n)
	}

	routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment("trickle", 1)))
	var timer chan time.Time
	select {
	case timer = <-timers:
	case <-time.After(30 * time.Second):
		t.Fatalf("an event within BatchWait of the last transaction did not wait for the time bound; %+v", rec.snapshot())
	}
	// The router holds the event until the bound passes: nothing of it
	// is committed yet.
	if s := rec.snapshot(); s.commits != 1 {
		t.Fatalf("committed %d transactions before the time bound passed, want 1", s.commits)
	}
	if got := len(routetest.ReadCommitted(t, h.c, h.names.Deliveries())); got != 1 {
		t.Fatalf("%d deliveries committed before the time bound passed, want 1", got)
	}
	timer <- time.Now()
	routetest.Eventually(t, 30*time.Second, "the trickled event committed once the time bound passed", committed(2, 2))

	// Three events fill a batch: it commits though no timer fires.
	routetest.Produce(t, h.cl,
		routetest.Binary(h.source, routetest.Payment("full-1", 1)),
		routetest.Binary(h.source, routetest.Payment("full-2", 1)),
		routetest.Binary(h.source, routetest.Payment("full-3", 1)))
	routetest.Eventually(t, 30*time.Second, "a full batch committed without its time bound", committed(3, 5))
	if got := len(routetest.ReadCommitted(t, h.c, h.names.Deliveries())); got != 5 {
		t.Fatalf("%d deliveries committed, want 5", got)
	}
}
