package deliver_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// arrivals notes when each request for each webhook-id arrived.
type arrivals struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func newArrivals() *arrivals { return &arrivals{at: map[string][]time.Time{}} }

// note records a request and returns its 1-based number for its id.
func (a *arrivals) note(r *http.Request) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := r.Header.Get(webhook.HeaderID)
	a.at[id] = append(a.at[id], time.Now())
	return len(a.at[id])
}

func (a *arrivals) of(id string) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.at[id]...)
}

// allDeadLetters reads the whole DLQ (to its end offsets now) and returns
// every dead letter, duplicates included.
func (e *env) allDeadLetters(t *testing.T) []record.DeadLetter {
	t.Helper()
	ends, err := kadm.NewClient(e.prod).ListEndOffsets(context.Background(), e.names.DLQ())
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	cl := e.c.Client(t, kgo.ConsumeTopics(e.names.DLQ()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []record.DeadLetter
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d dead letters", len(out), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			dl, err := record.DecodeDeadLetter(r.Value)
			if err != nil {
				t.Errorf("undecodable dead letter: %v", err)
			}
			out = append(out, dl)
		})
	}
	return out
}

// TestRetryTiersRideOutAnOutage: a receiver that fails the first attempt
// and three retry tiers, then recovers, gets every delivery under one
// webhook-id and nothing is dead-lettered; each attempt comes no earlier
// than its tier's delay (less the jitter) after the one before. A receiver
// that never recovers is dead-lettered exhausted once, with every attempt
// counted.
func TestRetryTiersRideOutAnOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	schedule := []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, 900 * time.Millisecond, 1200 * time.Millisecond}
	const failures = 4 // the first attempt and tiers 1-3
	arr := newArrivals()
	back := newFleet(t, "back", 3, func(r *http.Request, _ []byte) int {
		if arr.note(r) <= failures {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}, nil)
	never := newFleet(t, "never", 1, func(*http.Request, []byte) int { return http.StatusInternalServerError }, nil)
	e.putSubs(t, append(back.subs, never.subs...)...)
	back.produce(t, e, 10)
	never.produce(t, e, 3)
	cfg := e.config(t)
	cfg.RetrySchedule = schedule
	cfg.Retries = -1 // no quick retries: one attempt per tier
	e.start(t, cfg)

	waitFor(t, 60*time.Second, "every delivery after the outage", func() bool { return back.missing() == 0 })
	dlq := e.deadLetters(t, 3, 60*time.Second)
	e.waitCommitted(t, cfg.Group, 30*time.Second)
	if d, total := back.totals(); d != 30 || total != 30 {
		t.Errorf("%d deliveries in %d successful requests, want 30 once each", d, total)
	}
	for _, s := range back.subs {
		for _, d := range back.dels[s.ID] {
			if dl, ok := dlq[d.ID]; ok {
				t.Errorf("%s dead-lettered (%s) though its receiver came back", d.ID, dl.Reason)
			}
			at := arr.of(d.ID) // webhook-id is the delivery id on every attempt
			if len(at) != failures+1 {
				t.Errorf("%s: %d requests under its webhook-id, want %d", d.ID, len(at), failures+1)
				continue
			}
			for k := 1; k < len(at); k++ {
				gap, base := at[k].Sub(at[k-1]), schedule[k-1]
				// Never before due; the upper bound only catches a tier
				// that was skipped or waited for twice.
				if lo, hi := time.Duration(0.8*float64(base))-20*time.Millisecond, 2*base+2*time.Second; gap < lo || gap > hi {
					t.Errorf("%s: attempt %d came %s after attempt %d; tier %d is %s ±20%%", d.ID, k+1, gap, k, k, base)
				}
			}
		}
	}
	// Exhausted: dead-lettered once each, with every attempt counted.
	count := map[string]int{}
	for _, dl := range e.allDeadLetters(t) {
		if dl.Delivery == nil {
			t.Fatalf("dead letter without its delivery: %+v", dl)
		}
		count[dl.Delivery.ID]++
		if dl.Reason != record.ReasonExhausted || dl.Attempts != 1+len(schedule) || dl.Delivery.Tier != len(schedule) {
			t.Errorf("dead letter %s: reason %s, %d attempts, tier %d; want exhausted, %d, %d",
				dl.Delivery.ID, dl.Reason, dl.Attempts, dl.Delivery.Tier, 1+len(schedule), len(schedule))
		}
	}
	for _, d := range never.dels[never.subs[0].ID] {
		if count[d.ID] != 1 {
			t.Errorf("%s dead-lettered %d times, want once", d.ID, count[d.ID])
		}
	}
	if len(count) != 3 {
		t.Errorf("dead letters for %d deliveries, want 3", len(count))
	}
}

// TestRetryAfterHoldsNoSlot: four endpoints answer 429 with Retry-After:
// 2 while a healthy one shares their partition and a global cap of four
// requests. The Retry-After is honoured (no second attempt within 2 s),
// and the healthy endpoint gets all its deliveries while the limited ones
// wait: waiting holds no request slot. A dispatcher that slept on
// Retry-After inside its slots would starve the healthy endpoint for the
// whole wait.
func TestRetryAfterHoldsNoSlot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	arr := newArrivals()
	limited := newFleet(t, "limited", 4, func(r *http.Request, _ []byte) int {
		if arr.note(r) == 1 {
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	}, nil)
	for _, rc := range limited.recv {
		inner := rc.srv.Config.Handler
		rc.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "2")
			inner.ServeHTTP(w, r)
		})
	}
	healthy := newFleet(t, "healthy", 1, nil, nil)
	e.putSubs(t, append(limited.subs, healthy.subs...)...)
	limited.produce(t, e, 10) // first on the partition
	healthy.produce(t, e, 200)
	cfg := e.config(t)
	cfg.MaxConcurrency = 4
	// A tier at least as long as the Retry-After (it is clamped to the
	// last tier's delay).
	cfg.RetrySchedule = []time.Duration{200 * time.Millisecond, 2 * time.Second, 3 * time.Second}
	e.start(t, cfg)

	waitFor(t, 60*time.Second, "every delivery", func() bool { return limited.missing()+healthy.missing() == 0 })
	_, healthyDone := healthy.recv[healthy.subs[0].ID].span()
	var firstRetry time.Time
	for _, s := range limited.subs {
		for _, d := range limited.dels[s.ID] {
			at := arr.of(d.ID)
			if len(at) != 2 {
				t.Errorf("%s: %d requests, want a 429 then a 2xx", d.ID, len(at))
				continue
			}
			if gap := at[1].Sub(at[0]); gap < 2*time.Second-20*time.Millisecond {
				t.Errorf("%s: retried %s after a Retry-After of 2s", d.ID, gap)
			}
			if firstRetry.IsZero() || at[1].Before(firstRetry) {
				firstRetry = at[1]
			}
		}
	}
	if !healthyDone.Before(firstRetry) {
		t.Errorf("the healthy endpoint got its last delivery %s after the limited endpoints' first retry: it waited behind their Retry-After",
			healthyDone.Sub(firstRetry))
	}
	if got := e.deadLetters(t, 1, time.Second); len(got) != 0 {
		t.Errorf("%d dead letters, want none", len(got))
	}
}

// TestPauseHolds: with a window of 20, 1000 deliveries of a paused
// subscription are parked outside the window, so an active subscription
// on the same partition gets all of its deliveries, and the partition is
// committed to its end, while the pause lasts. After resume every parked
// delivery arrives, once. (Order after a pause: TestSubscriptionStates.)
func TestPauseHolds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	paused := newFleet(t, "paused", 1, nil, func(s *record.Subscription) {
		s.State, s.StateReason = record.StatePaused, "maintenance"
	})
	other := newFleet(t, "other", 1, nil, nil)
	e.putSubs(t, append(paused.subs, other.subs...)...)
	paused.produce(t, e, 1000) // first on the partition
	other.produce(t, e, 100)
	cfg := e.config(t)
	cfg.Window = 20
	cfg.RetrySchedule = []time.Duration{time.Second, 2 * time.Second}
	e.start(t, cfg)

	start := time.Now()
	waitFor(t, 60*time.Second, "the other subscription's deliveries during the pause", func() bool { return other.missing() == 0 })
	t.Logf("other subscription: all 100 after %s", time.Since(start).Round(time.Millisecond))
	e.waitCommitted(t, cfg.Group, 60*time.Second)
	t.Logf("deliveries topic committed to its end after %s", time.Since(start).Round(time.Millisecond))
	if d, _ := paused.totals(); d != 0 {
		t.Fatalf("the paused subscription received %d deliveries", d)
	}
	sub := paused.subs[0]
	sub.State, sub.StateReason, sub.UpdatedAt = record.StateActive, "", time.Now().UTC()
	e.putSubs(t, sub)
	resumed := time.Now()
	waitFor(t, 60*time.Second, "the parked deliveries after resume", func() bool { return paused.missing() == 0 })
	t.Logf("1000 parked deliveries %s after resume", time.Since(resumed).Round(time.Millisecond))
	rc := paused.recv[sub.ID]
	if d, total := rc.count(); d != 1000 || total != 1000 {
		t.Errorf("%d parked deliveries in %d requests, want 1000 once each", d, total)
	}
	if got := e.deadLetters(t, 1, time.Second); len(got) != 0 {
		t.Errorf("%d dead letters, want none", len(got))
	}
}

// TestGoneDisables: 410 Gone dead-letters endpoint_gone and disables the
// subscription in the table; its later deliveries are dead-lettered
// endpoint_disabled without a request.
func TestGoneDisables(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	var mu sync.Mutex
	requests := 0
	gone := newFleet(t, "gone", 1, func(*http.Request, []byte) int {
		mu.Lock()
		defer mu.Unlock()
		requests++
		return http.StatusGone
	}, func(s *record.Subscription) { s.Ordered = true })
	e.putSubs(t, gone.subs...)
	sub := gone.subs[0]
	first := newDelivery(sub.ID, 0)
	e.produce(t, first)
	cfg := e.config(t)
	e.start(t, cfg)

	dl := e.deadLetters(t, 1, 30*time.Second)[first.ID]
	if dl.Reason != record.ReasonEndpointGone || dl.LastStatus != http.StatusGone || dl.Attempts != 1 {
		t.Fatalf("dead letter %+v, want endpoint_gone after one 410", dl)
	}
	waitFor(t, 30*time.Second, "the subscription disabled", func() bool {
		s, ok := e.table.Get(sub.ID)
		return ok && s.State == record.StateDisabled
	})
	if s, _ := e.table.Get(sub.ID); !strings.Contains(s.StateReason, "endpoint_gone") || s.URL != sub.URL || len(s.Secrets) != len(sub.Secrets) ||
		s.Revision != sub.Revision+1 {
		t.Errorf("disabled subscription %+v: want reason endpoint_gone and the rest unchanged", s.Redacted())
	}
	later := newDelivery(sub.ID, 1)
	e.produce(t, later)
	if dl := e.deadLetters(t, 2, 30*time.Second)[later.ID]; dl.Reason != record.ReasonEndpointDisabled {
		t.Errorf("delivery after the 410: dead letter %+v, want endpoint_disabled", dl)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 1 {
		t.Errorf("the endpoint got %d requests, want only the one that answered 410", requests)
	}
}

// TestOversizedDeadLetterFits: a dead letter larger than the DLQ's
// max.message.bytes is cut to fit and flagged, and the partition moves on
// past it: whether the limit is known when the dispatcher starts (it cuts
// before producing) or lowered while it runs (Kafka refuses the record and
// it cuts until Kafka takes it).
func TestOversizedDeadLetterFits(t *testing.T) {
	t.Parallel()
	for _, lowered := range []bool{false, true} {
		name := map[bool]string{false: "limit known at start", true: "limit lowered while running"}[lowered]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 1)
			const limit = 16 << 10
			setLimit := func() { setMaxMessageBytes(t, e, e.names.DLQ(), limit) }
			rejected := newFleet(t, "rejected", 1, func(*http.Request, []byte) int { return http.StatusBadRequest }, nil)
			e.putSubs(t, rejected.subs...)
			if !lowered {
				setLimit()
			}
			cfg := e.config(t)
			e.start(t, cfg)
			if lowered {
				// A first dead letter, so the dispatcher runs and the DLQ
				// partition has a producer before the limit changes.
				warm := newDelivery(rejected.subs[0].ID, 9)
				e.produce(t, warm)
				e.deadLetters(t, 1, 30*time.Second)
				setLimit()
			}
			big := newDelivery(rejected.subs[0].ID, 0)
			// Random bytes, so compression cannot make it fit.
			blob := make([]byte, 30<<10)
			_, _ = rand.Read(blob)
			big.Event.Data = []byte(`{"blob":"` + base64.StdEncoding.EncodeToString(blob) + `"}`)
			small := newDelivery(rejected.subs[0].ID, 1)
			e.produce(t, big, small)

			want := 2 + map[bool]int{true: 1}[lowered]
			dlq := e.deadLetters(t, want, 30*time.Second)
			dl, ok := dlq[""] // cut to its raw form: no decoded delivery left
			if !ok || dl.Raw == nil || !dl.Raw.Truncated || dl.Reason != record.ReasonRejected ||
				!strings.Contains(dl.LastError, "truncated") || dl.Source.Offset != int64(want-2) {
				t.Errorf("oversized dead letter %+v: want a truncated raw record with reason rejected and its source", dl)
			}
			if dl.Raw != nil && len(dl.Raw.Value) >= limit {
				t.Errorf("kept %d raw bytes, over the DLQ limit %d", len(dl.Raw.Value), limit)
			}
			if dl := dlq[small.ID]; dl.Reason != record.ReasonRejected || dl.Delivery == nil {
				t.Errorf("the record after it: dead letter %+v, want it whole", dl)
			}
			e.waitCommitted(t, cfg.Group, 30*time.Second)
		})
	}
}

// TestUnknownSubscriptionWaitsForTable: a delivery for a subscription the
// table does not have yet (it lags behind the router's) is parked, not
// dead-lettered as deleted, and delivered once the table has it. One
// routed before the grace is dead-lettered subscription_deleted.
func TestUnknownSubscriptionWaitsForTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	late := newFleet(t, "late", 1, nil, nil)
	fresh := newDelivery(late.subs[0].ID, 0)
	old := newDelivery("long-gone", 0)
	old.RoutedAt = time.Now().Add(-time.Hour)
	e.produce(t, fresh, old)
	cfg := e.config(t)
	cfg.UnknownGrace = time.Minute
	e.start(t, cfg)

	if dl := e.deadLetters(t, 1, 30*time.Second)[old.ID]; dl.Reason != record.ReasonSubscriptionDeleted {
		t.Fatalf("delivery routed an hour ago for an unknown subscription: dead letter %+v, want subscription_deleted", dl)
	}
	e.waitCommitted(t, cfg.Group, 30*time.Second) // the fresh one is parked, not held
	e.putSubs(t, late.subs...)
	waitFor(t, 30*time.Second, "the delivery once the table has its subscription", func() bool { return late.missing() == 0 })
	if got := e.deadLetters(t, 2, time.Second); len(got) != 1 {
		t.Errorf("%d dead letters, want only the old one", len(got))
	}
}

// TestRetryTopicsBeyondSchedule: records left in a retry topic past a
// shortened schedule (written when it was longer) are still consumed:
// each gets one attempt, then is exhausted.
func TestRetryTopicsBeyondSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	ok := newFleet(t, "ok", 1, nil, nil)
	down := newFleet(t, "down", 1, func(*http.Request, []byte) int { return http.StatusInternalServerError }, nil)
	e.putSubs(t, append(ok.subs, down.subs...)...)
	var recs []*kgo.Record
	for _, f := range []*fleet{ok, down} {
		d := newDelivery(f.subs[0].ID, 0)
		f.dels[f.subs[0].ID] = []record.Delivery{d}
		d.Tier, d.Attempt, d.NotBefore = retryTiers, 5, time.Now()
		r, err := d.Record(e.names.Retry(retryTiers))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := e.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t)
	cfg.RetrySchedule = testSchedule[:2] // shorter than the topics
	e.start(t, cfg)

	waitFor(t, 30*time.Second, "the delivery left in the last retry topic", func() bool { return ok.missing() == 0 })
	dl := e.deadLetters(t, 1, 30*time.Second)[down.dels[down.subs[0].ID][0].ID]
	if dl.Reason != record.ReasonExhausted || dl.Attempts != 5+1 {
		t.Errorf("dead letter %+v, want exhausted after 6 attempts (5 before, one now)", dl)
	}
}

// TestGoneAfterURLChange: a 410 from the URL a subscription had when the
// request was sent does not disable it once its URL has changed.
func TestGoneAfterURLChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	old := newFleet(t, "moving", 1, func(*http.Request, []byte) int {
		arrived <- struct{}{}
		<-release
		return http.StatusGone
	}, nil)
	sub := old.subs[0]
	e.putSubs(t, sub)
	e.produce(t, newDelivery(sub.ID, 0))
	cfg := e.config(t)
	e.start(t, cfg)

	<-arrived
	moved := sub
	moved.URL, moved.UpdatedAt = old.recv[sub.ID].srv.URL+"/new", time.Now().UTC()
	e.putSubs(t, moved)
	close(release)
	if dl := e.deadLetters(t, 1, 30*time.Second)[newDelivery(sub.ID, 0).ID]; dl.Reason != record.ReasonEndpointGone {
		t.Fatalf("dead letter %+v, want endpoint_gone", dl)
	}
	e.waitCommitted(t, cfg.Group, 30*time.Second) // past the verdict and any disabling
	marker := newSub(t, "marker", "http://127.0.0.1:1/")
	e.putSubs(t, marker) // written after anything the dispatcher wrote
	if s, _ := e.table.Get(sub.ID); s.State != record.StateActive || s.URL != moved.URL {
		t.Errorf("subscription after a 410 from its old URL: state %s url %s, want active at the new URL", s.State, s.URL)
	}
}

// TestOrderedParkedWhileUnknown: a delivery routed before the table has
// its new ordered subscription is parked, and one routed after waits
// behind it: they arrive in order.
func TestOrderedParkedWhileUnknown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	f := newFleet(t, "fresh", 1, nil, func(s *record.Subscription) { s.Ordered = true })
	sub := f.subs[0]
	x, y := newDelivery(sub.ID, 0), newDelivery(sub.ID, 1)
	f.dels[sub.ID] = []record.Delivery{x, y}
	e.produce(t, x)
	cfg := e.config(t)
	cfg.UnknownGrace = time.Minute
	cfg.RetrySchedule = []time.Duration{time.Second}
	e.start(t, cfg)

	waitFor(t, 30*time.Second, "the first delivery parked", func() bool { return retryOneEnd(t, e) >= 1 })
	e.putSubs(t, sub)
	e.produce(t, y)
	waitFor(t, 30*time.Second, "both deliveries", func() bool { return f.missing() == 0 })
	if got := f.recv[sub.ID].accepted(); len(got) != 2 || got[0] != x.ID || got[1] != y.ID {
		t.Errorf("arrived as %v, want [%s %s]", got, x.ID, y.ID)
	}
}
