package deliver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/dispatcher/deliver"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestDeliversSignsAndCommits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	sub := newSub(t, "sub-a", "")
	sub.Headers = map[string]string{"X-Tenant": "acme"}
	var mu sync.Mutex
	headers := map[string]http.Header{}
	rc := newReceiver(t, []string{sub.Secrets[0].Key}, func(r *http.Request, _ []byte) int {
		mu.Lock()
		headers[r.Header.Get(webhook.HeaderID)] = r.Header.Clone()
		mu.Unlock()
		return http.StatusOK
	})
	sub.URL = rc.srv.URL + "/hook?token=secret"
	e.putSubs(t, sub)
	var dels []record.Delivery
	for i := range 50 {
		dels = append(dels, newDelivery(sub.ID, i))
	}
	e.produce(t, dels...)
	cfg := e.config(t)
	cfg.UserAgent = "Hookline/test"
	e.start(t, cfg)
	waitFor(t, 60*time.Second, "all deliveries", func() bool { return len(rc.missing(ids(dels))) == 0 })
	e.waitCommitted(t, cfg.Group, 30*time.Second)
	if _, total := rc.count(); total != len(dels) {
		t.Errorf("received %d requests for %d deliveries: duplicates without a crash", total, len(dels))
	}
	mu.Lock()
	defer mu.Unlock()
	h := headers[dels[0].ID]
	for k, want := range map[string]string{
		"User-Agent": "Hookline/test", "X-Tenant": "acme", "Content-Type": "application/json",
		webhook.HeaderID: dels[0].ID,
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
}

// TestOutcomes sends to endpoints answering each kind of failure and
// checks the dead letters and attempt records.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	type tcase struct {
		id           string
		respond      func(n int) int // status for the n-th request (1-based)
		retryAfter   string
		reason       string // "" when delivered
		wantAttempts int
		wantStatus   int
		// wantQuick is how many attempts are followed by a quick retry
		// (the rest before the last are handed off to a retry tier).
		wantQuick int
	}
	cases := []tcase{
		{id: "ok", respond: func(int) int { return 200 }, wantAttempts: 1},
		{id: "flaky", respond: func(n int) int { return map[bool]int{true: 503, false: 200}[n < 3] }, wantAttempts: 3, wantQuick: 2},
		// Quick retries, then a retry tier that succeeds.
		{id: "flaky-longer", respond: func(n int) int { return map[bool]int{true: 503, false: 200}[n < 5] }, wantAttempts: 5, wantQuick: 2},
		{id: "gone", respond: func(int) int { return 410 }, reason: record.ReasonEndpointGone, wantAttempts: 1, wantStatus: 410},
		{id: "bad-request", respond: func(int) int { return 400 }, reason: record.ReasonRejected, wantAttempts: 1, wantStatus: 400},
		{id: "redirect", respond: func(int) int { return 301 }, reason: record.ReasonRejected, wantAttempts: 1, wantStatus: 301},
		{id: "down", respond: func(int) int { return 500 }, reason: record.ReasonExhausted, wantAttempts: exhaustedAttempts, wantStatus: 500, wantQuick: 2},
		// Retry-After skips the quick retries: the next attempt comes
		// from a retry tier.
		{id: "limited", respond: func(n int) int { return map[bool]int{true: 429, false: 200}[n < 2] }, retryAfter: "1", wantAttempts: 2},
		{id: "timeout", respond: func(int) int { return 408 }, reason: record.ReasonExhausted, wantAttempts: exhaustedAttempts, wantStatus: 408, wantQuick: 2},
	}
	var subs []record.Subscription
	var dels []record.Delivery
	var mu sync.Mutex
	arrivals := map[string]int{}
	for _, c := range cases {
		sub := newSub(t, c.id, "")
		var n int
		rc := newReceiver(t, []string{sub.Secrets[0].Key}, func(*http.Request, []byte) int {
			mu.Lock()
			n++
			arrivals[c.id]++
			k := n
			mu.Unlock()
			return c.respond(k)
		})
		if c.retryAfter != "" {
			inner := rc.srv.Config.Handler
			rc.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", c.retryAfter)
				inner.ServeHTTP(w, r)
			})
		}
		sub.URL = rc.srv.URL
		subs = append(subs, sub)
		dels = append(dels, newDelivery(sub.ID, 0))
	}
	e.putSubs(t, subs...)
	e.produce(t, dels...)
	// An undecodable record on the deliveries topic.
	if err := e.prod.ProduceSync(context.Background(), &kgo.Record{Topic: e.names.Deliveries(), Key: []byte("junk"), Value: []byte("not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t)
	cfg.RetryAfterMax = 5 * time.Second
	e.start(t, cfg)

	wantDLQ := 1 // the junk record
	for _, c := range cases {
		if c.reason != "" {
			wantDLQ++
		}
	}
	dlq := e.deadLetters(t, wantDLQ, 60*time.Second)
	// An exhausted delivery is dead-lettered from the last retry tier.
	wantSource := func(reason string) string {
		if reason == record.ReasonExhausted {
			return e.names.Retry(len(testSchedule))
		}
		return e.names.Deliveries()
	}
	for i, c := range cases {
		dl, ok := dlq[dels[i].ID]
		switch {
		case c.reason == "" && ok:
			t.Errorf("%s: dead-lettered (%s) but should be delivered", c.id, dl.Reason)
		case c.reason == "":
		case !ok:
			t.Errorf("%s: no dead letter", c.id)
		case dl.Reason != c.reason || dl.LastStatus != c.wantStatus || dl.Attempts != c.wantAttempts || dl.Stage != record.StageDispatch:
			t.Errorf("%s: dead letter reason %q status %d attempts %d stage %s; want %q %d %d dispatch",
				c.id, dl.Reason, dl.LastStatus, dl.Attempts, dl.Stage, c.reason, c.wantStatus, c.wantAttempts)
		case dl.Delivery == nil || dl.Delivery.ID != dels[i].ID || dl.Source.Topic != wantSource(c.reason):
			t.Errorf("%s: dead letter lacks the delivery or its source: %+v", c.id, dl)
		}
	}
	junk, ok := dlq[""]
	if !ok || junk.Reason != record.ReasonInvalidRecord || junk.Raw == nil || string(junk.Raw.Value) != "not json" {
		t.Errorf("junk record: dead letter %+v, want invalid_record with the raw value", junk)
	}
	e.waitCommitted(t, cfg.Group, 30*time.Second)

	mu.Lock()
	for _, c := range cases {
		if got := arrivals[c.id]; got != c.wantAttempts {
			t.Errorf("%s: endpoint saw %d requests, want %d", c.id, got, c.wantAttempts)
		}
	}
	// How long a Retry-After makes the retry wait is checked on the
	// virtual clock (internal/post TestTimingOnVirtualClock).
	mu.Unlock()

	total := 0
	for _, c := range cases {
		total += c.wantAttempts
	}
	atts := e.attempts(t, total, 30*time.Second)
	byDel := map[string][]record.Attempt{}
	for _, a := range atts {
		byDel[a.DeliveryID] = append(byDel[a.DeliveryID], a)
	}
	for i, c := range cases {
		as := byDel[dels[i].ID]
		if len(as) != c.wantAttempts {
			t.Errorf("%s: %d attempt records, want %d", c.id, len(as), c.wantAttempts)
			continue
		}
		last := as[len(as)-1]
		wantResult := deliver.ResultFailed
		if c.reason == "" {
			wantResult = deliver.ResultSuccess
		}
		if last.Result != wantResult || last.Attempt != c.wantAttempts || last.SubscriptionID != c.id {
			t.Errorf("%s: last attempt record %+v, want result %s attempt %d", c.id, last, wantResult, c.wantAttempts)
		}
		for k, a := range as[:len(as)-1] {
			want := deliver.ResultFailed // handed off to a retry tier
			if k < c.wantQuick {
				want = deliver.ResultRetry
			}
			if a.Result != want {
				t.Errorf("%s: attempt %d %+v, want result %s", c.id, k+1, a, want)
			}
		}
	}
}

// TestSubscriptionStates covers deleted, disabled and paused
// subscriptions: the first two are dead-lettered, the paused one's
// deliveries are parked in the retry path (so the partition commits past
// them) and delivered, in order, once it resumes.
func TestSubscriptionStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	active := newSub(t, "active", "")
	paused := newSub(t, "paused", "")
	disabled := newSub(t, "disabled", "")
	deleted := newSub(t, "deleted", "")
	ra := newReceiver(t, []string{active.Secrets[0].Key}, nil)
	rp := newReceiver(t, []string{paused.Secrets[0].Key}, nil)
	rx := newReceiver(t, []string{disabled.Secrets[0].Key}, nil)
	active.URL, paused.URL, disabled.URL, deleted.URL = ra.srv.URL, rp.srv.URL, rx.srv.URL, rx.srv.URL
	paused.State, paused.StateReason = record.StatePaused, "maintenance"
	paused.Ordered = true // parked deliveries then keep their order
	disabled.State, disabled.StateReason = record.StateDisabled, "too many failures"
	e.putSubs(t, active, paused, disabled, deleted)
	e.deleteSub(t, deleted.ID)

	// One partition: the paused deliveries come first, then the rest.
	var pausedDels, activeDels []record.Delivery
	for i := range 200 {
		pausedDels = append(pausedDels, newDelivery(paused.ID, i))
	}
	for i := range 20 {
		activeDels = append(activeDels, newDelivery(active.ID, i))
	}
	e.produce(t, pausedDels...)
	gone := newDelivery(deleted.ID, 0)
	gone.RoutedAt = time.Now().Add(-time.Hour) // long past the table's grace
	e.produce(t, newDelivery(disabled.ID, 0), gone)
	e.produce(t, activeDels...)
	cfg := e.config(t)
	cfg.Window = 20 // parking and coming round take many windows
	r := e.start(t, cfg)

	dlq := e.deadLetters(t, 2, 60*time.Second)
	if dl := dlq[newDelivery(disabled.ID, 0).ID]; dl.Reason != record.ReasonEndpointDisabled || !strings.Contains(dl.LastError, "too many failures") {
		t.Errorf("disabled: dead letter %+v", dl)
	}
	if dl := dlq[gone.ID]; dl.Reason != record.ReasonSubscriptionDeleted {
		t.Errorf("deleted: dead letter %+v", dl)
	}
	waitFor(t, 30*time.Second, "active deliveries", func() bool { return len(ra.missing(ids(activeDels))) == 0 })
	// The paused deliveries do not hold the partition: it is committed to
	// its end while they wait in the retry path.
	e.waitCommitted(t, cfg.Group, 30*time.Second)
	// They come back every first-tier delay and are parked again.
	waitFor(t, 30*time.Second, "paused deliveries parked again", func() bool { return retryOneEnd(t, e) >= 3*int64(len(pausedDels)) })
	if n, _ := rp.count(); n != 0 {
		t.Fatalf("paused subscription received %d deliveries", n)
	}
	if got := e.deadLetters(t, 3, time.Second); len(got) != 2 {
		t.Fatalf("%d dead letters, want only the 2 of the disabled and deleted subscriptions", len(got))
	}
	// The parked-deliveries gauge counts them while they wait.
	waitFor(t, 30*time.Second, "the paused deliveries counted as parked", func() bool { return r.d.Stats().Parked == len(pausedDels) })
	resumed := paused
	resumed.State, resumed.StateReason, resumed.UpdatedAt = record.StateActive, "", time.Now().UTC()
	e.putSubs(t, resumed)
	waitFor(t, 30*time.Second, "parked deliveries after resume", func() bool { return len(rp.missing(ids(pausedDels))) == 0 })
	// Parked deliveries keep their order, and each arrives once.
	if got, want := rp.accepted(), ids(pausedDels); !slices.Equal(got, want) {
		t.Errorf("paused deliveries arrived as %v, want %v", got, want)
	}
	if n := r.d.Stats().Parked; n != 0 {
		t.Errorf("%d deliveries still counted as parked after all arrived", n)
	}
}

// TestOrderedAndMaxInFlight checks the per-subscription limits: an
// ordered subscription gets one request at a time, in offset order; an
// unordered one never more than its max in-flight.
func TestOrderedAndMaxInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	ordered := newSub(t, "ordered", "")
	ordered.Ordered = true
	limited := newSub(t, "limited", "")
	limited.MaxInFlight = 3
	slow := func(*http.Request, []byte) int { time.Sleep(5 * time.Millisecond); return 200 }
	ro := newReceiver(t, []string{ordered.Secrets[0].Key}, slow)
	rl := newReceiver(t, []string{limited.Secrets[0].Key}, slow)
	ordered.URL, limited.URL = ro.srv.URL, rl.srv.URL
	e.putSubs(t, ordered, limited)
	var od, ld []record.Delivery
	for i := range 60 {
		od = append(od, newDelivery(ordered.ID, i))
		ld = append(ld, newDelivery(limited.ID, i))
	}
	mixed := make([]record.Delivery, 0, 120)
	for i := range od {
		mixed = append(mixed, od[i], ld[i])
	}
	e.produce(t, mixed...)
	e.start(t, e.config(t))
	waitFor(t, 60*time.Second, "all deliveries", func() bool {
		return len(ro.missing(ids(od))) == 0 && len(rl.missing(ids(ld))) == 0
	})
	if m := ro.maxSeen.Load(); m != 1 {
		t.Errorf("ordered subscription saw %d concurrent requests", m)
	}
	if got := ro.accepted(); !slices.Equal(got, ids(od)) {
		t.Errorf("ordered subscription received out of order")
	}
	if m := rl.maxSeen.Load(); m > 3 || m < 2 {
		t.Errorf("max in-flight 3 subscription saw %d concurrent requests", m)
	}
}

// TestPayloadFormats delivers one event in each format and checks what
// the receiver gets, including the seed's Express listener reading a raw
// payment_success event.
func TestPayloadFormats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	seed := event.Event{ID: "evt_seed", Source: "kafka://events", Type: "payment_success", SpecVersion: event.SpecVersion,
		DataContentType: event.ContentTypeJSON, Time: time.Now().UTC(),
		Data: []byte(`{ "type": "payment_success", "amount": 99.99, "customer": "Jane Doe" }`)}
	type got struct {
		h    http.Header
		body []byte
	}
	var mu sync.Mutex
	bodies := map[string]got{}
	var subs []record.Subscription
	for _, f := range []string{record.FormatStandard, record.FormatCloudEventsStructure, record.FormatCloudEventsBinary, record.FormatRaw} {
		sub := newSub(t, "fmt-"+f, "")
		sub.Format = f
		rc := newReceiver(t, []string{sub.Secrets[0].Key}, func(r *http.Request, body []byte) int {
			mu.Lock()
			bodies[f] = got{r.Header.Clone(), body}
			mu.Unlock()
			return 200
		})
		sub.URL = rc.srv.URL
		subs = append(subs, sub)
	}
	e.putSubs(t, subs...)
	for _, s := range subs {
		e.produce(t, record.NewDelivery(seed, s.ID, time.Now()))
	}
	e.start(t, e.config(t))
	waitFor(t, 60*time.Second, "a delivery in each format", func() bool { mu.Lock(); defer mu.Unlock(); return len(bodies) == 4 })
	mu.Lock()
	defer mu.Unlock()

	// The seed's listener: express.json() then event.type, event.amount,
	// event.customer.
	raw := bodies[record.FormatRaw]
	if string(raw.body) != string(seed.Data) {
		t.Errorf("raw body %q, want the produced bytes %q", raw.body, seed.Data)
	}
	var listener struct {
		Type     string  `json:"type"`
		Amount   float64 `json:"amount"`
		Customer string  `json:"customer"`
	}
	mustJSON(t, raw.body, &listener)
	if raw.h.Get("Content-Type") != "application/json" || listener.Type != "payment_success" || listener.Amount != 99.99 || listener.Customer != "Jane Doe" {
		t.Errorf("seed listener reads %+v (Content-Type %q)", listener, raw.h.Get("Content-Type"))
	}

	var std struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	mustJSON(t, bodies[record.FormatStandard].body, &std)
	if std.Type != "payment_success" || !std.Timestamp.Equal(seed.Time) || !strings.Contains(string(std.Data), `"customer":"Jane Doe"`) {
		t.Errorf("standard body %s", bodies[record.FormatStandard].body)
	}

	st := bodies[record.FormatCloudEventsStructure]
	ev, err := event.DecodeStructured(st.body)
	if err != nil || ev.ID != seed.ID || ev.Type != seed.Type || st.h.Get("Content-Type") != event.ContentTypeStructured {
		t.Errorf("structured: %v %+v %q", err, ev, st.h.Get("Content-Type"))
	}

	bin := bodies[record.FormatCloudEventsBinary]
	if bin.h.Get("ce-id") != seed.ID || bin.h.Get("ce-type") != seed.Type || bin.h.Get("ce-specversion") != "1.0" || string(bin.body) != string(seed.Data) {
		t.Errorf("binary: headers %v body %s", bin.h, bin.body)
	}
}

// TestGracefulShutdownDrains stops the dispatcher while requests are in
// flight: they finish, their offsets are committed, and a new dispatcher
// delivers the rest.
func TestGracefulShutdownDrains(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	sub := newSub(t, "slow", "")
	sub.MaxInFlight = 5
	started := make(chan struct{}, 1000)
	rc := newReceiver(t, []string{sub.Secrets[0].Key}, func(*http.Request, []byte) int {
		started <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		return 200
	})
	sub.URL = rc.srv.URL
	e.putSubs(t, sub)
	var dels []record.Delivery
	for i := range 40 {
		dels = append(dels, newDelivery(sub.ID, i))
	}
	e.produce(t, dels...)
	cfg := e.config(t)
	r := e.start(t, cfg)
	<-started
	// stop returns Run's error, or fails as hung after a generous guard.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	n, _ := rc.count()
	if n == 0 {
		t.Fatal("no request in flight finished during the drain")
	}
	var sum int64
	for _, o := range e.committed(t, cfg.Group) {
		sum += max(o, 0)
	}
	switch {
	case sum < int64(n):
		t.Errorf("committed %d offsets after %d deliveries finished before shutdown", sum, n)
	case sum > int64(n):
		t.Errorf("committed %d offsets, past the %d deliveries that were made", sum, n)
	}
	e.start(t, cfg)
	waitFor(t, 60*time.Second, "the rest after a restart", func() bool { return len(rc.missing(ids(dels))) == 0 })
	if _, total := rc.count(); total != len(dels) {
		t.Errorf("%d requests for %d deliveries across a graceful restart", total, len(dels))
	}
}

// TestDrainDeadline: a request that outlives DrainTimeout is cancelled,
// not committed, and delivered again by the next dispatcher.
func TestDrainDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	sub := newSub(t, "hang", "")
	sub.TimeoutMillis = 60_000
	var hang sync.Once
	held := make(chan context.Context, 1) // the held request's context
	release := make(chan struct{})
	rc := newReceiver(t, []string{sub.Secrets[0].Key}, func(r *http.Request, _ []byte) int {
		first := false
		hang.Do(func() { first = true })
		if first {
			held <- r.Context()
			<-release // holds the request until the test lets go
			return 0
		}
		return 200
	})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let) // runs before the server's Close, which waits for handlers
	sub.URL = rc.srv.URL
	e.putSubs(t, sub)
	del := newDelivery(sub.ID, 0)
	e.produce(t, del)
	cfg := e.config(t)
	cfg.DrainTimeout = 300 * time.Millisecond
	r := e.start(t, cfg)
	reqCtx := <-held
	// The receiver still holds the request: Run returns anyway (stop
	// fails as hung otherwise), because the drain deadline passed.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	// The dispatcher abandoned the request: the receiver sees it cancelled
	// (the connection closed) while it is still holding it.
	select {
	case <-reqCtx.Done():
	case <-time.After(time.Minute): // a hang guard, not a speed bound
		t.Fatal("hung: the held request was never cancelled by the dispatcher")
	}
	if got := e.committed(t, cfg.Group)[0]; got > 0 {
		t.Errorf("committed offset %d past a cancelled request", got)
	}
	if n, _ := rc.count(); n != 0 {
		t.Errorf("%d deliveries accepted before the restart, want none", n)
	}
	let()
	e.start(t, cfg)
	waitFor(t, 30*time.Second, "redelivery", func() bool { return len(rc.missing([]string{del.ID})) == 0 })
}

// TestNoSecretsInLogs runs deliveries, failing and succeeding, to URLs
// with credentials and a token, with debug logging: no log line, attempt
// record or dead letter carries a secret, a signature, the password or
// the token.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	core, logs := observer.New(zap.DebugLevel)
	ok := newSub(t, "ok", "")
	bad := newSub(t, "bad", "")
	var mu sync.Mutex
	var sigs []string
	rok := newReceiver(t, []string{ok.Secrets[0].Key}, func(r *http.Request, _ []byte) int {
		mu.Lock()
		sigs = append(sigs, r.Header.Get(webhook.HeaderSignature))
		mu.Unlock()
		return 200
	})
	rbad := newReceiver(t, []string{bad.Secrets[0].Key}, func(*http.Request, []byte) int { return 500 })
	withCreds := func(u string) string {
		return strings.Replace(u, "http://", "http://admin:pw-s3cret@", 1) + "/hook?token=tok-s3cret"
	}
	// down's endpoint refuses connections: net/http errors quote the URL.
	down := newSub(t, "down", "")
	rdown := newReceiver(t, []string{down.Secrets[0].Key}, nil)
	rdown.srv.Close()
	ok.URL, bad.URL, down.URL = withCreds(rok.srv.URL), withCreds(rbad.srv.URL), withCreds(rdown.srv.URL)
	e.putSubs(t, ok, bad, down)
	e.produce(t, newDelivery(ok.ID, 0), newDelivery(bad.ID, 0), newDelivery(down.ID, 0))
	cfg := e.config(t)
	e.start(t, cfg, deliver.WithLogger(zap.New(core)))
	dlq := e.deadLetters(t, 2, 60*time.Second)
	atts := e.attempts(t, 7, 30*time.Second)
	e.waitCommitted(t, cfg.Group, 30*time.Second)

	leaks := []string{"s3cret", "whsec_", ok.Secrets[0].Key[6:], bad.Secrets[0].Key[6:], down.Secrets[0].Key[6:]}
	mu.Lock()
	for _, s := range sigs {
		leaks = append(leaks, s, strings.TrimPrefix(s, "v1,"))
	}
	mu.Unlock()
	var texts []string
	for _, entry := range logs.All() {
		b, _ := json.Marshal(entry.ContextMap())
		texts = append(texts, entry.Message+" "+string(b))
	}
	for _, dl := range dlq {
		b, _ := json.Marshal(dl)
		texts = append(texts, string(b))
	}
	for _, a := range atts {
		b, _ := json.Marshal(a)
		texts = append(texts, string(b))
	}
	if len(logs.All()) < 7 || len(atts) < 7 || len(dlq) != 2 {
		t.Fatalf("%d log entries, %d attempts, %d dead letters: too few to check", len(logs.All()), len(atts), len(dlq))
	}
	for _, text := range texts {
		for _, leak := range leaks {
			if leak != "" && strings.Contains(text, leak) {
				t.Errorf("%q leaks %q", text, leak)
			}
		}
	}
}
