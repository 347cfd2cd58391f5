package deliver_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRateLimit: a subscription limited to 5 requests a second gets its 50
// deliveries over at least 9 s (a burst of 5, then one every 200 ms),
// while a subscription on the same partition gets all of its own
// deliveries before the limited one is half done.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	limited := newFleet(t, "limited", 1, nil, func(s *record.Subscription) { s.RateLimit = 5 })
	other := newFleet(t, "other", 1, nil, nil)
	e.putSubs(t, append(limited.subs, other.subs...)...)
	limited.produce(t, e, 50) // first on the partition
	other.produce(t, e, 100)
	cfg := e.config(t)
	e.start(t, cfg)

	rl := limited.recv[limited.subs[0].ID]
	var halfway time.Time
	waitFor(t, 60*time.Second, "half the limited deliveries", func() bool {
		if n, _ := rl.count(); n >= 25 {
			halfway = time.Now()
			return true
		}
		return false
	})
	if other.missing() != 0 {
		t.Errorf("the other subscription still missed %d deliveries when the limited one was half done: it was slowed", other.missing())
	}
	_, otherLast := other.recv[other.subs[0].ID].span()
	waitFor(t, 60*time.Second, "every limited delivery", func() bool { return limited.missing() == 0 })
	first, last := rl.span()
	if span := last.Sub(first); span < 9*time.Second-50*time.Millisecond {
		t.Errorf("50 deliveries at 5/s arrived over %s, want at least 9s", span)
	}
	if d, total := rl.count(); d != 50 || total != 50 {
		t.Errorf("%d limited deliveries in %d requests, want 50 once each", d, total)
	}
	t.Logf("limited: 50 over %s; other: all 100 %s before the limited one was half done",
		last.Sub(first).Round(time.Millisecond), halfway.Sub(otherLast).Round(time.Millisecond))
}

// TestCircuitBreaker: an endpoint that answers 500 opens its breaker after
// 3 failures; while open it gets only probes, one per open period, as its
// deliveries move through the retry tiers without requests. Once it
// answers 2xx a probe closes the breaker and every delivery arrives.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	var failedAt []time.Time
	flaky := newFleet(t, "flaky", 1, func(*http.Request, []byte) int {
		if down.Load() {
			mu.Lock()
			failedAt = append(failedAt, time.Now())
			mu.Unlock()
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}, func(s *record.Subscription) { s.MaxInFlight = 1 }) // one request in flight when it opens, at most
	e.putSubs(t, flaky.subs...)
	flaky.produce(t, e, 20)
	cfg := e.config(t)
	cfg.Retries = -1
	cfg.BreakerFailures = 3
	cfg.BreakerOpen = time.Second
	cfg.RetrySchedule = []time.Duration{500 * time.Millisecond, 2 * time.Second, 4 * time.Second, 6 * time.Second}
	r := e.start(t, cfg)

	waitFor(t, 30*time.Second, "the breaker open", func() bool {
		bs := r.d.Stats().Breakers
		return len(bs) == 1 && bs[0].Subscription == flaky.subs[0].ID && bs[0].State == "open"
	})
	openedAt := time.Now()
	mu.Lock()
	atOpen := len(failedAt) // 3, or a few more already in flight when it opened
	mu.Unlock()
	time.Sleep(3 * time.Second) // the outage goes on; probes are counted below
	mu.Lock()
	probes := len(failedAt) - atOpen
	mu.Unlock()
	down.Store(false)
	outage := time.Since(openedAt)
	waitFor(t, 60*time.Second, "every delivery after the endpoint recovered", func() bool { return flaky.missing() == 0 })
	// While open: one probe per open period (1s), no more (plus the one
	// request that may have been in flight when it opened).
	if maxProbes := int(outage/cfg.BreakerOpen) + 2; probes > maxProbes {
		t.Errorf("the failing endpoint got %d requests in %s with its breaker open, want at most %d probes (one per open period)", probes, outage, maxProbes)
	}
	if atOpen < 3 || atOpen > 4 {
		t.Errorf("%d failed requests opened the breaker, want 3 (or 4 with one in flight)", atOpen)
	}
	waitFor(t, 30*time.Second, "the breaker closed", func() bool { return len(r.d.Stats().Breakers) == 0 })
	// Each change is written to the endpoint-status topic, for hookctl.
	var states []string
	cl := e.c.Client(t, kgo.ConsumeTopics(e.names.EndpointStatus()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	waitFor(t, 30*time.Second, "the breaker's states in the endpoint-status topic", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			st, err := record.DecodeEndpointStatus(r.Value)
			if err != nil || st.SubscriptionID != flaky.subs[0].ID {
				t.Errorf("endpoint status %s: %+v %v", r.Value, st, err)
				return
			}
			states = append(states, st.Breaker)
		})
		return len(states) > 0 && states[len(states)-1] == record.BreakerClosed
	})
	if states[0] != record.BreakerOpen {
		t.Errorf("breaker states written %v, want open first and closed last", states)
	}
	if got := e.deadLetters(t, 1, time.Second); len(got) != 0 {
		t.Errorf("%d dead letters, want none", len(got))
	}
	t.Logf("20 deliveries: %d failed requests opened the breaker, then %d probes in %s", atOpen, probes, outage.Round(time.Millisecond))
}

// TestAutoDisable: a subscription whose endpoint fails for --disable-after
// without a success is disabled with reason failing, and its later
// deliveries are dead-lettered endpoint_disabled. Resumed, with its dead
// letters replayed, everything arrives.
func TestAutoDisable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	var down atomic.Bool
	down.Store(true)
	failing := newFleet(t, "failing", 1, func(*http.Request, []byte) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}, nil)
	e.putSubs(t, failing.subs...)
	failing.produce(t, e, 10)
	cfg := e.config(t)
	cfg.Retries = -1
	cfg.DisableAfter = time.Second
	cfg.RetrySchedule = []time.Duration{400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond}
	e.start(t, cfg)

	id := failing.subs[0].ID
	waitFor(t, 30*time.Second, "the subscription disabled", func() bool {
		s, ok := e.table.Get(id)
		return ok && s.State == record.StateDisabled
	})
	if s, _ := e.table.Get(id); s.StateReason == "" || s.StateReason[:len("failing")] != "failing" {
		t.Errorf("disabled with reason %q, want failing", s.StateReason)
	}
	dlq := e.deadLetters(t, 10, 30*time.Second)
	if len(dlq) != 10 {
		t.Fatalf("%d of 10 deliveries dead-lettered", len(dlq))
	}
	reasons := map[string]int{}
	for _, dl := range dlq {
		reasons[dl.Reason]++
	}
	if reasons[record.ReasonEndpointDisabled] == 0 {
		t.Errorf("dead letters by reason %v: none endpoint_disabled", reasons)
	}

	// Resume, then replay as hookctl dlq replay does: the same delivery,
	// the schedule from the start.
	down.Store(false)
	s, _ := e.table.Get(id)
	s.State, s.StateReason, s.UpdatedAt = record.StateActive, "", time.Now().UTC()
	e.putSubs(t, s)
	var recs []*kgo.Record
	for _, dl := range dlq {
		d := *dl.Delivery
		d.Attempt, d.Tier, d.NotBefore, d.ParkedAt, d.FirstAttemptAt = 0, 0, time.Time{}, time.Time{}, time.Time{}
		d.RoutedAt = time.Now().UTC()
		r, err := d.Record(e.names.Deliveries())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := e.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every delivery after resume and replay", func() bool { return failing.missing() == 0 })
	t.Logf("dead letters before the replay, by reason: %v", reasons)
}

// retryOneEnd returns how many records the first retry tier holds: what
// was parked or retried there.
func retryOneEnd(t testing.TB, e *env) int64 {
	t.Helper()
	ls, err := kadm.NewClient(e.prod).ListEndOffsets(context.Background(), e.names.Retry(1))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ls.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// arrivedBefore returns how many of deep's deliveries arrived before
// other's last one.
func arrivedBefore(deep, other *receiver) int {
	_, last := other.span()
	deep.mu.Lock()
	defer deep.mu.Unlock()
	n := 0
	for _, at := range deep.times {
		if at.Before(last) {
			n++
		}
	}
	return n
}

// TestBacklogFairShare: 10,000 deliveries queued for one subscription do
// not hold up 100 for another on the same partition behind them. The
// backlog fits the windows (records are cheap to hold; only the sending
// is slow), so the other subscription's records are read at once, wait
// for nothing but their own requests, and nothing is parked: a backlog
// the windows can hold costs no trip through the retry path.
func TestBacklogFairShare(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 deliveries; skipped with -short")
	}
	t.Parallel()
	e := newEnv(t, 1)
	// A 20 ms endpoint: the deep subscription's 10,000 at 50 in flight
	// take 200 round trips; the small one's 100 at 10 in flight take 10.
	slow := func(*http.Request, []byte) int { time.Sleep(20 * time.Millisecond); return http.StatusNoContent }
	deep := newFleet(t, "deep", 1, slow, func(s *record.Subscription) { s.MaxInFlight = 50 })
	small := newFleet(t, "small", 1, slow, func(s *record.Subscription) { s.MaxInFlight = 10 })
	e.putSubs(t, append(deep.subs, small.subs...)...)
	deep.produce(t, e, 10_000) // all ahead of the small one's
	small.produce(t, e, 100)
	cfg := e.config(t)
	cfg.RetrySchedule = []time.Duration{time.Second}
	cfg.WindowBytes = 32 << 20 // the whole backlog fits
	start := time.Now()
	e.start(t, cfg)

	waitFor(t, 120*time.Second, "the small subscription's deliveries", func() bool { return small.missing() == 0 })
	smallDone := time.Since(start)
	// In the small one's 10 round trips the deep one makes 50 requests
	// per round trip: about 500 before the small one's last. Reading
	// 10,100 records takes a few more; waiting behind the backlog (sent
	// or parked first) is thousands.
	before := arrivedBefore(deep.recv[deep.subs[0].ID], small.recv[small.subs[0].ID])
	if before > 2000 {
		t.Errorf("the deep subscription got %d deliveries before the small one's last: the small one waited behind its backlog", before)
	}
	waitFor(t, 300*time.Second, "the deep subscription's backlog", func() bool { return deep.missing() == 0 })
	if n := retryOneEnd(t, e); n != 0 {
		t.Errorf("%d deliveries went through the retry path; a backlog that fits the windows should not", n)
	}
	sf, _ := small.recv[small.subs[0].ID].span()
	df, _ := deep.recv[deep.subs[0].ID].span()
	t.Logf("small: 100 done after %s (first after %s; deep's first after %s), %d deep deliveries before its last; deep: 10,000 done after %s",
		smallDone.Round(time.Millisecond), sf.Sub(start).Round(time.Millisecond), df.Sub(start).Round(time.Millisecond), before, time.Since(start).Round(time.Millisecond))
}

// TestBacklogDeeperThanWindows: when a backlog is deeper than the windows'
// bytes hold, the deliveries of its lane beyond LaneBacklog are parked in
// the retry path, so the records behind it in the partition (another
// subscription's) are still read and sent early; everything arrives.
func TestBacklogDeeperThanWindows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	slow := func(*http.Request, []byte) int { time.Sleep(20 * time.Millisecond); return http.StatusNoContent }
	deep := newFleet(t, "deep", 1, slow, func(s *record.Subscription) { s.MaxInFlight = 20 })
	small := newFleet(t, "small", 1, slow, func(s *record.Subscription) { s.MaxInFlight = 10 })
	e.putSubs(t, append(deep.subs, small.subs...)...)
	deep.produce(t, e, 6000)
	small.produce(t, e, 50)
	cfg := e.config(t)
	cfg.RetrySchedule = []time.Duration{time.Second}
	// Room for about 300 of these records: a twentieth of the backlog.
	r, err := deep.dels[deep.subs[0].ID][0].Record(e.names.Deliveries())
	if err != nil {
		t.Fatal(err)
	}
	cfg.WindowBytes = 300 * int64(len(r.Key)+len(r.Value))
	cfg.LaneBacklog = 100
	e.start(t, cfg)

	waitFor(t, 120*time.Second, "the small subscription's deliveries", func() bool { return small.missing() == 0 })
	before := arrivedBefore(deep.recv[deep.subs[0].ID], small.recv[small.subs[0].ID])
	// Without parking, the small one's records are read only once the
	// deep one's have been sent down to the last window's worth: 5,700.
	// Parking reads on at the producer's pace.
	if before > 4000 {
		t.Errorf("the deep subscription got %d deliveries before the small one's last: its backlog held the partition", before)
	}
	if n := retryOneEnd(t, e); n == 0 {
		t.Error("nothing was parked, yet the backlog is twenty times what the windows hold")
	}
	waitFor(t, 300*time.Second, "the deep subscription's backlog", func() bool { return deep.missing() == 0 })
	t.Logf("%d deep deliveries before the small one's last; %d records through the retry path", before, retryOneEnd(t, e))
}

// fetchCount counts the records a client reads from one topic
// (kgo.HookFetchBatchRead).
type fetchCount struct {
	topic string
	n     atomic.Int64
}

func (c *fetchCount) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, _ int32, m kgo.FetchBatchMetrics) {
	if topic == c.topic {
		c.n.Add(int64(m.NumRecords))
	}
}

// TestBacklogReadOnce: a backlog many times what the windows' bytes hold
// is fetched from Kafka about once. The records the client has fetched
// for a partition that is starved for bytes stay buffered until there is
// room: pausing the partition would make franz-go drop them and fetch
// (and decompress) them again, several times over for a deep backlog.
func TestBacklogReadOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	f := newFleet(t, "once", 8, func(*http.Request, []byte) int { return http.StatusNoContent }, nil)
	e.putSubs(t, f.subs...)
	const perSub = 500
	f.produce(t, e, perSub)
	n := int64(len(f.subs) * perSub)
	fetched := &fetchCount{topic: e.names.Deliveries()}
	e.kopts = []kgo.Opt{kgo.WithHooks(fetched)}
	cfg := e.config(t)
	r, err := f.dels[f.subs[0].ID][0].Record(e.names.Deliveries())
	if err != nil {
		t.Fatal(err)
	}
	// Room for about 100 records, a fortieth of the backlog; no lane is
	// deep enough to be parked.
	cfg.WindowBytes = 100 * int64(len(r.Key)+len(r.Value))
	cfg.LaneBacklog = 1 << 20
	cfg.MaxPollRecords = 50
	e.start(t, cfg)

	waitFor(t, 120*time.Second, "the backlog", func() bool { return f.missing() == 0 })
	if got := fetched.n.Load(); got > n+n/2 {
		t.Errorf("fetched %d records for a backlog of %d: %.1f times each", got, n, float64(got)/float64(n))
	} else {
		t.Logf("fetched %d records for a backlog of %d", got, n)
	}
	if d, total := f.totals(); d != int(n) || total != int(n) {
		t.Errorf("%d deliveries in %d requests, want %d once each", d, total, n)
	}
}
