package route_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

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

// bufferedHook reports each record franz-go has fetched and holds for a
// poll.
type bufferedHook chan string

func (h bufferedHook) OnFetchRecordBuffered(r *kgo.Record) {
	select {
	case h <- string(r.Key):
	default: // never block the client; the test reads every key it needs
	}
}

// TestBatchCatchesUp: events that reach Kafka while a transaction is open
// join one batch. franz-go fetches the first of them at once and holds it
// for the next poll; those produced after that fetch stay at the broker
// until a poll takes the held fetch. The next batch begins later than
// BatchWait after the previous one, but because the router was behind it
// takes in the following fetch too, so the three events share one
// transaction instead of two.
func TestBatchCatchesUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	h.putSubs(t, routetest.Sub("all", "", "*"))
	cfg := h.config(t)
	cfg.BatchWait = time.Nanosecond // every batch begins after the time bound
	buffered := make(bufferedHook, 64)
	cfg.ClientOpts = append(cfg.ClientOpts, kgo.WithHooks(buffered))
	timers := make(chan chan time.Time, 16)
	after := func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		timers <- c
		return c
	}
	hold := &holdingValidator{inner: defaultRegistry(t), entered: make(chan struct{}), release: make(chan struct{})}
	rec := newCounter()
	h.start(t, cfg, route.WithRecorder(rec), route.WithAfter(after), route.WithValidator(hold))
	committed := func(commits, events int) func() bool {
		return func() bool { s := rec.snapshot(); return s.commits == commits && s.events == events }
	}
	fetched := func(want string) {
		t.Helper()
		for {
			select {
			case k := <-buffered:
				if k == want {
					return
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("event %s was not fetched", want)
			}
		}
	}

	hold.arm()
	routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment("open", 1)))
	select {
	case <-hold.entered: // the first transaction is open
	case <-time.After(30 * time.Second):
		t.Fatal("the router began no transaction")
	}
	routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment("held", 1)))
	fetched("held")
	routetest.Produce(t, h.cl,
		routetest.Binary(h.source, routetest.Payment("later-1", 1)),
		routetest.Binary(h.source, routetest.Payment("later-2", 1)))
	close(hold.release)
	routetest.Eventually(t, 30*time.Second, "the three events committed in one transaction after the first", committed(2, 4))
	if got := len(routetest.ReadCommitted(t, h.c, h.names.Deliveries())); got != 4 {
		t.Fatalf("%d deliveries committed, want 4", got)
	}
}

// TestBusyBatchWait: once events arrive at BusyRate or more, BusyBatchWait
// takes BatchWait's place as the time bound of a batch; below it, batches
// keep BatchWait. BatchWait here is so short that a batch never waits for
// it, BusyBatchWait so long that only the test's timer ends it.
func TestBusyBatchWait(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		busyRate float64
		waits    bool
	}{
		{"busy", 1e-9, true},   // any rate the router measures
		{"quiet", 1e12, false}, // no rate it can measure
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, 1)
			h.putSubs(t, routetest.Sub("all", "", "*"))
			cfg := h.config(t)
			cfg.BatchWait = time.Nanosecond
			cfg.BusyBatchWait = time.Hour
			cfg.BusyRate = c.busyRate
			// A busy bound (the hour) waits for the test; any other (the
			// nanosecond's catch-up) ends at once.
			busy := make(chan time.Duration, 16)
			fire := make(chan time.Time, 16)
			after := func(d time.Duration) <-chan time.Time {
				if d >= 30*time.Minute {
					busy <- d
					return fire
				}
				now := make(chan time.Time, 1)
				now <- time.Now()
				return now
			}
			rec := newCounter()
			h.start(t, cfg, route.WithRecorder(rec), route.WithAfter(after))
			committed := func(commits, events int) func() bool {
				return func() bool { s := rec.snapshot(); return s.commits == commits && s.events == events }
			}
			// Two transactions give the router its first measure of
			// the rate (records over the time between their starts).
			for i, key := range []string{"first", "second"} {
				routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment(key, 1)))
				routetest.Eventually(t, 30*time.Second, key+" event committed", committed(i+1, i+1))
			}
			routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment("third", 1)))
			if !c.waits {
				routetest.Eventually(t, 30*time.Second, "the third event committed at once", committed(3, 3))
				if n := len(busy); n != 0 {
					t.Fatalf("below BusyRate a batch waited for BusyBatchWait (%d times)", n)
				}
				return
			}
			select {
			case <-busy:
			case <-time.After(30 * time.Second):
				t.Fatalf("at --busy-rate the third event did not wait for BusyBatchWait; %+v", rec.snapshot())
			}
			if s := rec.snapshot(); s.commits != 2 {
				t.Fatalf("committed %d transactions before the busy time bound passed, want 2", s.commits)
			}
			fire <- time.Now()
			routetest.Eventually(t, 30*time.Second, "the third event committed once the busy time bound passed", committed(3, 3))
		})
	}
}

// fetchReads counts the fetch responses the router's client read.
type fetchReads struct{ n atomic.Int64 }

func (f *fetchReads) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 1 && err == nil { // Fetch
		f.n.Add(1)
	}
}

// busyHarness starts a router whose busy wait (busyWait, longer than a
// second) is only ever ended by the test (fire), busy from its first measure of the rate on, with a real
// catch-up bound after the wait (BatchWait, 200 ms). busy receives a
// value each time a batch begins a busy wait. Two transactions give the
// router its first measure of the rate; quiet spaces them so that the
// rate measured is about one event a second.
func busyHarness(t *testing.T, busyWait time.Duration, maxPoll int, quiet time.Duration, hooks ...kgo.Hook) (h *harness, rec *counter, busy chan struct{}, fire chan time.Time) {
	t.Helper()
	h = newHarness(t, 1)
	h.putSubs(t, routetest.Sub("all", "", "*"))
	cfg := h.config(t)
	cfg.BatchWait = 200 * time.Millisecond
	cfg.BusyBatchWait = busyWait
	cfg.BusyRate = 1e-9
	cfg.MaxPollRecords = maxPoll
	for _, hk := range hooks {
		cfg.ClientOpts = append(cfg.ClientOpts, kgo.WithHooks(hk))
	}
	busy, fire = make(chan struct{}, 16), make(chan time.Time, 1)
	after := func(d time.Duration) <-chan time.Time {
		if d > busyWait/2 {
			busy <- struct{}{}
			return fire
		}
		return time.After(d)
	}
	rec = newCounter()
	h.start(t, cfg, route.WithRecorder(rec), route.WithAfter(after))
	for i, key := range []string{"first", "second"} {
		if i > 0 {
			time.Sleep(quiet)
		}
		routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment(key, 1)))
		routetest.Eventually(t, 30*time.Second, key+" event committed", committedN(rec, i+1, i+1))
	}
	return h, rec, busy, fire
}

func committedN(rec *counter, commits, events int) func() bool {
	return func() bool { s := rec.snapshot(); return s.commits == commits && s.events == events }
}

// lateEvents produces n events, each alone, 20 ms apart.
func lateEvents(t *testing.T, h *harness, n int) {
	t.Helper()
	for i := range n {
		time.Sleep(20 * time.Millisecond)
		routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment(fmt.Sprintf("late-%d", i), 1)))
	}
}

func waitBusy(t *testing.T, busy chan struct{}, rec *counter) {
	t.Helper()
	select {
	case <-busy:
	case <-time.After(30 * time.Second):
		t.Fatalf("the third event did not wait for BusyBatchWait; %+v", rec.snapshot())
	}
}

// TestBusyBatchSettles: during a busy wait the router does not fetch each
// event as it arrives; the events settle at the broker and the batch takes
// them at the end, all in one transaction.
func TestBusyBatchSettles(t *testing.T) {
	t.Parallel()
	fetches := &fetchReads{}
	// The router settles only when the wait is not expected to fill the
	// batch: an hour at the rate it measures here must not.
	h, rec, busy, fire := busyHarness(t, time.Hour, 1<<30, 0, fetches)
	routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment("third", 1)))
	waitBusy(t, busy, rec)
	before := fetches.n.Load()
	lateEvents(t, h, 5) // polling would fetch each alone
	time.Sleep(50 * time.Millisecond)
	// The one fetch the client had sent when the wait began returns with
	// the first of them; nothing more is fetched until the wait ends.
	if during := fetches.n.Load() - before; during > 2 {
		t.Errorf("the router read %d fetch responses while the busy wait lasted, want at most 2: it fetched events as they arrived", during)
	}
	if s := rec.snapshot(); s.commits != 2 {
		t.Fatalf("committed %d transactions before the busy time bound passed, want 2", s.commits)
	}
	fire <- time.Now()
	routetest.Eventually(t, 30*time.Second, "the six events committed in one transaction", committedN(rec, 3, 8))
}

// TestBusyBatchSettlesFull: a settled batch still holds at most
// MaxPollRecords; the rest go in the next transaction.
func TestBusyBatchSettlesFull(t *testing.T) {
	t.Parallel()
	// A second between the first two events: the router measures one
	// event a second, so a 2 s wait is expected to bring 2 and a batch of
	// 3 settles.
	h, rec, busy, fire := busyHarness(t, 2*time.Second, 3, 1100*time.Millisecond)
	routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment("third", 1)))
	waitBusy(t, busy, rec)
	lateEvents(t, h, 5)
	time.Sleep(50 * time.Millisecond)
	fire <- time.Now()
	routetest.Eventually(t, 30*time.Second, "the six events committed", func() bool { return rec.snapshot().events == 8 })
	if s := rec.snapshot(); s.largest > 3 {
		t.Fatalf("a transaction carried %d events, more than MaxPollRecords (3); %+v", s.largest, s)
	}
	if s := rec.snapshot(); s.commits < 4 {
		t.Fatalf("six events in %d transactions after the first two, want at least 2 of at most 3", s.commits-2)
	}
}
