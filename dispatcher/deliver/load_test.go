package deliver_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/dispatcher/deliver"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
)

var formats = []string{record.FormatStandard, record.FormatCloudEventsStructure, record.FormatCloudEventsBinary, record.FormatRaw}

// fleet is a set of subscriptions, each with its own receiver, and the
// deliveries produced for them.
type fleet struct {
	subs []record.Subscription
	recv map[string]*receiver
	dels map[string][]record.Delivery
}

// newFleet creates n subscriptions named prefix-i with their receivers.
// Every third subscription is mid-rotation: it signs with two secrets
// and its receiver knows only the new one. Formats rotate.
func newFleet(t testing.TB, prefix string, n int, respond func(r *http.Request, body []byte) int, tweak func(*record.Subscription)) *fleet {
	t.Helper()
	f := &fleet{recv: map[string]*receiver{}, dels: map[string][]record.Delivery{}}
	for i := range n {
		sub := newSub(t, fmt.Sprintf("%s-%02d", prefix, i), "")
		sub.Format = formats[i%len(formats)]
		known := sub.Secrets[0].Key
		if i%3 == 0 {
			later := time.Now().Add(time.Hour)
			newer := newSecret(t)
			sub.Secrets = []record.Secret{{Key: sub.Secrets[0].Key, ExpiresAt: &later}, {Key: newer}}
			known = newer
		}
		if tweak != nil {
			tweak(&sub)
		}
		rc := newReceiver(t, []string{known}, respond)
		sub.URL = rc.srv.URL + "/webhook"
		f.subs = append(f.subs, sub)
		f.recv[sub.ID] = rc
	}
	return f
}

// produce writes perSub deliveries for every subscription, interleaved.
func (f *fleet) produce(t testing.TB, e *env, perSub int) {
	t.Helper()
	var all []record.Delivery
	for i := range perSub {
		for _, s := range f.subs {
			d := newDelivery(s.ID, i)
			f.dels[s.ID] = append(f.dels[s.ID], d)
			all = append(all, d)
		}
	}
	e.produce(t, all...)
}

// missing returns how many deliveries have not arrived yet.
func (f *fleet) missing() int {
	n := 0
	for id, rc := range f.recv {
		n += len(rc.missing(ids(f.dels[id])))
	}
	return n
}

func (f *fleet) totals() (distinct, total int) {
	for _, rc := range f.recv {
		d, t := rc.count()
		distinct += d
		total += t
	}
	return distinct, total
}

// rate returns deliveries per second from the first to the last arrival
// over the whole fleet.
func (f *fleet) rate() (float64, time.Duration) {
	var first, last time.Time
	n := 0
	for _, rc := range f.recv {
		a, b := rc.span()
		if a.IsZero() {
			continue
		}
		if first.IsZero() || a.Before(first) {
			first = a
		}
		if b.After(last) {
			last = b
		}
		d, _ := rc.count()
		n += d
	}
	span := last.Sub(first)
	if span <= 0 {
		return 0, 0
	}
	return float64(n) / span.Seconds(), span
}

// TestThousandsOfDeliveries sends 3000 deliveries to 20 receivers in all
// four formats; every receiver verifies every signature (schemas/webhook),
// none is lost, and without crashes none is duplicated.
func TestThousandsOfDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 6)
	f := newFleet(t, "load", 20, nil, nil)
	e.putSubs(t, f.subs...)
	f.produce(t, e, 150)
	cfg := e.config(t)
	start := time.Now()
	e.start(t, cfg)
	waitFor(t, 120*time.Second, "3000 deliveries", func() bool { return f.missing() == 0 })
	elapsed := time.Since(start)
	e.waitCommitted(t, cfg.Group, 30*time.Second)
	distinct, total := f.totals()
	if distinct != 3000 || total != 3000 {
		t.Errorf("%d distinct deliveries in %d requests, want 3000 and no duplicates", distinct, total)
	}
	rate, span := f.rate()
	t.Logf("3000 deliveries to 20 receivers: %.0f deliveries/s over %s (%s including group join)", rate, span.Round(time.Millisecond), elapsed.Round(time.Millisecond))
}

// TestHeadOfLineIsolation runs the same 10 good receivers (20 ms each)
// twice with 16 HTTP slots in all: alone, and sharing their partitions
// with a receiver that hangs past its 1 s timeout (2 in flight) and one
// that always answers 500 (12 in flight, each spending most of its time in
// the backoff between quick retries). The good receivers must keep at
// least half their throughput: the failing subscription gives its slots
// back while it backs off, so they lose only what the hanging one holds
// and the failing one's short requests take. A dispatcher that held its
// slot while sleeping would leave them 2 of the 16.
func TestHeadOfLineIsolation(t *testing.T) {
	t.Parallel()
	const perGood, perHang, perFail = 100, 10, 60
	run := func(t *testing.T, withBad bool) (rate float64, span time.Duration) {
		e := newEnv(t, 2)
		slow := func(*http.Request, []byte) int { time.Sleep(20 * time.Millisecond); return http.StatusNoContent }
		good := newFleet(t, "good", 10, slow, nil)
		var bad *fleet
		subs := good.subs
		if withBad {
			hang := func(r *http.Request, _ []byte) int { <-r.Context().Done(); return 0 }
			bad = newFleet(t, "hang", 1, hang, func(s *record.Subscription) { s.TimeoutMillis = 1000; s.MaxInFlight = 2 })
			fail := newFleet(t, "fail", 1, func(*http.Request, []byte) int { return 500 }, func(s *record.Subscription) { s.MaxInFlight = 12 })
			bad.subs = append(bad.subs, fail.subs...)
			bad.recv[fail.subs[0].ID] = fail.recv[fail.subs[0].ID]
			maps.Copy(bad.dels, fail.dels)
			subs = append(subs, bad.subs...)
		}
		e.putSubs(t, subs...)
		if withBad {
			// The bad deliveries go first, at the head of their partitions.
			for _, s := range bad.subs {
				n := perFail
				if strings.HasPrefix(s.ID, "hang") {
					n = perHang
				}
				var dels []record.Delivery
				for i := range n {
					dels = append(dels, newDelivery(s.ID, i))
				}
				bad.dels[s.ID] = dels
				e.produce(t, dels...)
			}
		}
		good.produce(t, e, perGood)
		if withBad {
			sharesPartition(t, e, good, bad)
		}
		cfg := e.config(t)
		cfg.MaxConcurrency = 16
		// Quick retries back off 200-400 ms: most of a failing delivery's
		// time is spent waiting, which must not hold a slot.
		cfg.RetryWaitMin, cfg.RetryWaitMax = 200*time.Millisecond, 400*time.Millisecond
		e.start(t, cfg)
		waitFor(t, 120*time.Second, "every good delivery", func() bool { return good.missing() == 0 })
		rate, span = good.rate()
		if withBad {
			dlq := e.deadLetters(t, perHang+perFail, 120*time.Second)
			for _, s := range bad.subs {
				for _, d := range bad.dels[s.ID] {
					if dl, ok := dlq[d.ID]; !ok || dl.Reason != record.ReasonExhausted || dl.Attempts != exhaustedAttempts {
						t.Errorf("%s: dead letter %v %q after %d attempts, want exhausted after %d", s.ID, ok, dl.Reason, dl.Attempts, exhaustedAttempts)
					}
				}
			}
			e.waitCommitted(t, cfg.Group, 30*time.Second)
		}
		return rate, span
	}
	var baseRate, badRate float64
	var baseSpan, badSpan time.Duration
	t.Run("alone", func(t *testing.T) { baseRate, baseSpan = run(t, false) })
	t.Run("with bad receivers", func(t *testing.T) { badRate, badSpan = run(t, true) })
	t.Logf("good receivers (10 x %d deliveries, 20 ms, 16 slots): %.0f deliveries/s over %s alone; %.0f deliveries/s over %s beside a hanging (1s timeout) and a failing (500) receiver",
		perGood, baseRate, baseSpan.Round(time.Millisecond), badRate, badSpan.Round(time.Millisecond))
	if badRate < baseRate/2 {
		t.Errorf("beside the bad receivers the good ones got %.0f deliveries/s, below half of %.0f alone: the bad ones starved them of slots", badRate, baseRate)
	}
}

// sharesPartition checks that every bad subscription's deliveries share a
// partition with some good subscription's, so the test is about
// head-of-line blocking within a partition.
func sharesPartition(t *testing.T, e *env, good, bad *fleet) {
	t.Helper()
	part := func(id string) int32 { return partitionOf(t, e, id, 2) }
	goodParts := map[int32]bool{}
	for _, s := range good.subs {
		goodParts[part(s.ID)] = true
	}
	for _, s := range bad.subs {
		if !goodParts[part(s.ID)] {
			t.Fatalf("bad subscription %s has a partition to itself", s.ID)
		}
	}
}

// gate holds webhook requests once a number of distinct deliveries were
// accepted, until the test lets more through. Redeliveries of accepted
// ones pass at once.
type gate struct {
	mu       sync.Mutex
	allowed  int
	accepted map[string]bool
	opened   chan struct{} // closed and replaced when allowed grows
}

func newGate(allowed int) *gate {
	return &gate{allowed: allowed, accepted: map[string]bool{}, opened: make(chan struct{})}
}

// pass blocks until the request may be accepted (true) or its context
// ends (false).
func (g *gate) pass(r *http.Request) bool {
	id := r.Header.Get(webhook.HeaderID)
	for {
		g.mu.Lock()
		if g.accepted[id] || len(g.accepted) < g.allowed {
			g.accepted[id] = true
			g.mu.Unlock()
			return true
		}
		ch := g.opened
		g.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			return false
		}
	}
}

func (g *gate) open(allowed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allowed = allowed
	close(g.opened)
	g.opened = make(chan struct{})
}

// TestRebalanceWithWorkInFlight: a second dispatcher joins while requests
// are in flight (held by the receivers), and leaves again while others
// are; every delivery is received or dead-lettered, none skipped.
func TestRebalanceWithWorkInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 6)
	g := newGate(1000)
	respond := func(r *http.Request, _ []byte) int {
		if !g.pass(r) {
			return 0
		}
		return 200
	}
	f := newFleet(t, "rb", 20, respond, func(s *record.Subscription) { s.TimeoutMillis = 60_000; s.MaxInFlight = 5 })
	e.putSubs(t, f.subs...)
	f.produce(t, e, 150)
	cfg := e.config(t)
	cfg.RevokeGrace = 300 * time.Millisecond
	a := e.start(t, cfg)

	inFlight := func() int {
		n := 0
		for _, rc := range f.recv {
			n += int(rc.inflight.Load())
		}
		return n
	}
	waitFor(t, 60*time.Second, "1000 deliveries and requests held", func() bool {
		d, _ := f.totals()
		return d >= 1000 && inFlight() > 0
	})
	t.Logf("B joins with %d requests in flight", inFlight())
	bcfg := cfg
	bcfg.DrainTimeout = time.Second // its held requests are cancelled when it leaves
	b := e.start(t, bcfg)
	waitFor(t, 60*time.Second, "B owning partitions", func() bool { return len(b.mainPartitions()) > 0 })
	t.Logf("after the join: A owns %d deliveries partitions, B %d", len(a.mainPartitions()), len(b.mainPartitions()))

	g.open(2000)
	waitFor(t, 60*time.Second, "2000 deliveries and requests held", func() bool {
		d, _ := f.totals()
		return d >= 2000 && inFlight() > 0
	})
	t.Logf("B leaves with %d requests in flight", inFlight())
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "A owning every partition", func() bool { return len(a.mainPartitions()) == 6 })

	g.open(1 << 30)
	waitFor(t, 120*time.Second, "every delivery received or dead-lettered", func() bool { return f.missing() == 0 })
	e.waitCommitted(t, cfg.Group, 30*time.Second)
	distinct, total := f.totals()
	t.Logf("3000 deliveries across a join and a leave: %d received, %d requests (%d redelivered after the rebalances)", distinct, total, total-distinct)
	if distinct != 3000 {
		t.Errorf("%d of 3000 deliveries received", distinct)
	}
}

// TestSSRFGuard sends to loopback, private, link-local/metadata and IPv6
// loopback addresses, to localhost and to names a test resolver maps to
// private and loopback addresses. Without an allow-list all are refused
// before connecting and dead-lettered with reason refused; allowing
// 127.0.0.0/8 lets only the IPv4 loopback ones through.
func TestSSRFGuard(t *testing.T) {
	t.Parallel()
	sub := newSub(t, "x", "")
	rc := newReceiver(t, []string{sub.Secrets[0].Key}, nil)
	_, port, _ := net.SplitHostPort(rc.srv.Listener.Addr().String())
	// A test resolver for two made-up names; others (localhost) go to the
	// system resolver, which answers localhost from /etc/hosts.
	lookup := deliver.WithLookup(func(ctx context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "private.test":
			return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
		case "loopback.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	})
	targets := []struct {
		id, url string
		class   string // the refusal's class without an allow-list
		allowed bool   // delivered when 127.0.0.0/8 is allowed
	}{
		{"loopback", rc.srv.URL, "loopback", true},
		{"private", "http://10.0.0.1:" + port + "/", "private", false},
		{"metadata", "http://169.254.169.254/latest/meta-data/", "cloud-metadata", false},
		{"link-local", "http://169.254.10.10:" + port + "/", "link-local", false},
		{"ipv6-loopback", "http://[::1]:" + port + "/", "loopback", false},
		{"cgnat", "http://100.64.0.1:" + port + "/", "shared-address-space", false},
		{"localhost", "http://localhost:" + port + "/", "loopback", true},
		{"private-name", "http://private.test:" + port + "/", "private", false},
		{"loopback-name", "http://loopback.test:" + port + "/", "loopback", true},
	}
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow-loopback=%v", allow), func(t *testing.T) {
			e := newEnv(t, 1)
			var subs []record.Subscription
			var dels []record.Delivery
			for _, tg := range targets {
				s := sub
				s.ID, s.URL = tg.id, tg.url
				subs = append(subs, s)
				dels = append(dels, newDelivery(s.ID, 0))
			}
			e.putSubs(t, subs...)
			e.produce(t, dels...)
			before, _ := rc.count()
			cfg := e.config(t)
			cfg.AllowCIDRs = nil
			if allow {
				cfg.AllowCIDRs = loopback
			}
			e.start(t, cfg, lookup)
			wantDLQ := 0
			for _, tg := range targets {
				if !allow || !tg.allowed {
					wantDLQ++
				}
			}
			dlq := e.deadLetters(t, wantDLQ, 60*time.Second)
			delivered := 0
			for i, tg := range targets {
				dl, ok := dlq[dels[i].ID]
				if allow && tg.allowed {
					if ok {
						t.Errorf("%s: dead-lettered (%s: %s) though allow-listed", tg.id, dl.Reason, dl.LastError)
					}
					delivered++
					continue
				}
				if !ok || dl.Reason != record.ReasonRefused || dl.Attempts != 1 ||
					!strings.Contains(dl.LastError, tg.class+" address") || !strings.Contains(dl.LastError, "ssrf: refusing") {
					t.Errorf("%s: dead letter %v reason %q attempts %d error %q; want refused (%s) after 1 attempt", tg.id, ok, dl.Reason, dl.Attempts, dl.LastError, tg.class)
				}
			}
			waitFor(t, 30*time.Second, "allowed deliveries", func() bool { n, _ := rc.count(); return n-before == delivered })
			e.waitCommitted(t, cfg.Group, 30*time.Second)
		})
	}
}

// TestWindowBoundsMemory produces 500 deliveries to one partition with a
// window of 50 and a receiver that holds every request: the dispatcher
// takes exactly 50 records, pauses fetching, and resumes once released.
func TestWindowBoundsMemory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	g := newGate(0)
	var held, peak atomic.Int32 // requests held across all receivers
	f := newFleet(t, "win", 4, func(r *http.Request, _ []byte) int {
		n := held.Add(1)
		defer held.Add(-1)
		for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
		}
		if !g.pass(r) {
			return 0
		}
		return 200
	}, func(s *record.Subscription) { s.MaxInFlight = 100; s.TimeoutMillis = 60_000 })
	e.putSubs(t, f.subs...)
	f.produce(t, e, 125)
	cfg := e.config(t)
	cfg.Window = 50
	cfg.MaxPollRecords = 500
	r := e.start(t, cfg)
	waitFor(t, 60*time.Second, "a full window", func() bool {
		ps := r.mainPartitions()
		return len(ps) == 1 && ps[0].Paused && held.Load() == 50
	})
	if ps := r.mainPartitions()[0]; ps.Window != 50 || ps.Pending != 50 {
		t.Errorf("window %d pending %d, want 50 of 50", ps.Window, ps.Pending)
	}
	// Let the records through 20 at a time; the window never holds more.
	for allowed := 20; ; allowed += 20 {
		g.open(allowed)
		for _, ps := range r.d.Stats().Partitions {
			if ps.Window > 50 {
				t.Fatalf("window holds %d records, size 50", ps.Window)
			}
		}
		if f.missing() == 0 {
			break
		}
		waitFor(t, 30*time.Second, "progress", func() bool { d, _ := f.totals(); return d >= min(allowed, 500) })
	}
	if p := peak.Load(); p > 50 {
		t.Errorf("receivers held up to %d concurrent requests with a window of 50", p)
	}
	e.waitCommitted(t, cfg.Group, 30*time.Second)
	if d, total := f.totals(); d != 500 || total != 500 {
		t.Errorf("%d deliveries in %d requests, want 500 once each", d, total)
	}
}
