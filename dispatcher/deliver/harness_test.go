package deliver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/dispatcher/deliver"
	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// env is a Kafka cluster with Hookline topics, a producer and a running
// subscription table.
type env struct {
	c     *kafkatest.Cluster
	names topic.Names
	prod  *kgo.Client
	table *subtable.Table

	started int // dispatchers started, to name their loggers
	// kopts are added to the cluster's client options of the
	// dispatchers start makes.
	kopts []kgo.Opt
}

func newEnv(t testing.TB, partitions int32) *env {
	t.Helper()
	return newEnvOn(t, kafkatest.New(t), partitions)
}

// newEnvOn is newEnv on broker c.
func newEnvOn(t testing.TB, c *kafkatest.Cluster, partitions int32) *env {
	t.Helper()
	names, _ := c.Hookline(t, partitions, retryTiers)
	e := &env{c: c, names: names, prod: c.Client(t, kgo.ProducerLinger(5*time.Millisecond))}
	e.table = subtable.New(c.Opts(), names.Subscriptions())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = e.table.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return e
}

// retryTiers is how many retry topics a test env has.
const retryTiers = 4

// testSchedule is the short retry schedule of config: fewer tiers than
// retry topics, as a deployment may have.
var testSchedule = []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}

// config returns a dispatcher config for tests: the env's topics, a
// unique group, loopback allowed, quick retries, a short retry schedule
// and quick commits.
func (e *env) config(t testing.TB) deliver.Config {
	return deliver.Config{
		Topics:         e.names,
		Group:          kafkatest.Name(t, "dispatcher"),
		AllowCIDRs:     loopback,
		RetryWaitMin:   20 * time.Millisecond,
		RetryWaitMax:   100 * time.Millisecond,
		CommitInterval: 100 * time.Millisecond,
		RetrySchedule:  testSchedule,
		UnknownGrace:   300 * time.Millisecond,
		// Breakers and auto-disable have tests of their own; elsewhere
		// every failure is a request.
		BreakerFailures: -1,
		DisableAfter:    -1,
		DrainTimeout:    10 * time.Second,
		SessionTimeout:  10 * time.Second,
	}
}

// running is a dispatcher started by start.
type running struct {
	d    *deliver.Dispatcher
	stop func() error // cancels Run and returns its error
}

func (e *env) start(t testing.TB, cfg deliver.Config, opts ...deliver.Opt) *running {
	t.Helper()
	e.started++
	name := fmt.Sprintf("dispatcher-%d", e.started)
	opts = append([]deliver.Opt{deliver.WithLogger(zaptest.NewLogger(t, zaptest.Level(testLogLevel())).Named(name))}, opts...)
	d, err := deliver.New(cfg, e.table, append(e.c.Opts(), e.kopts...), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(60 * time.Second):
				runErr = fmt.Errorf("Run hung: it did not return within 60s of cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("dispatcher Run: %v", err)
		}
	})
	return &running{d: d, stop: stop}
}

// mainPartitions returns the stats of the deliveries topic's partitions
// (tier 0), leaving the retry topics' out.
func (r *running) mainPartitions() []deliver.PartitionStats {
	var out []deliver.PartitionStats
	for _, p := range r.d.Stats().Partitions {
		if p.Tier == 0 {
			out = append(out, p)
		}
	}
	return out
}

// exhaustedAttempts is how many attempts a delivery that always fails
// gets with the test config: one and two quick retries, then one per
// retry tier.
var exhaustedAttempts = 3 + len(testSchedule)

func newSecret(t testing.TB) string {
	t.Helper()
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s.Encode()
}

// newSub returns an active subscription to url with a fresh secret.
func newSub(t testing.TB, id, url string) record.Subscription {
	s := record.Subscription{ID: id, URL: url, EventTypes: []string{"*"}, Secrets: []record.Secret{{Key: newSecret(t)}}}
	s.Normalize()
	return s
}

// putSubs writes subscriptions and waits until the table has them.
func (e *env) putSubs(t testing.TB, subs ...record.Subscription) {
	t.Helper()
	for i := range subs {
		r, err := subs[i].Record(e.names.Subscriptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.prod.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "subscription table update", func() bool {
		for _, s := range subs {
			got, ok := e.table.Get(s.ID)
			if !ok || got.UpdatedAt != s.UpdatedAt || got.State != s.State || got.URL != s.URL {
				return false
			}
		}
		return true
	})
}

func (e *env) deleteSub(t testing.TB, id string) {
	t.Helper()
	if err := e.prod.ProduceSync(context.Background(), record.Tombstone(e.names.Subscriptions(), id)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "subscription deletion", func() bool { _, ok := e.table.Get(id); return !ok })
}

// newDelivery returns a delivery of a fresh JSON event to sub.
func newDelivery(sub string, n int) record.Delivery {
	e := event.Event{
		ID: fmt.Sprintf("evt-%s-%d", sub, n), Source: "test", Type: "test.event", SpecVersion: event.SpecVersion,
		Time: time.Now().UTC(), DataContentType: event.ContentTypeJSON,
		Data: fmt.Appendf(nil, `{"sub":%q,"n":%d}`, sub, n),
	}
	return record.NewDelivery(e, sub, time.Now())
}

// produce writes deliveries to the deliveries topic.
func (e *env) produce(t testing.TB, dels ...record.Delivery) {
	t.Helper()
	recs := make([]*kgo.Record, len(dels))
	for i := range dels {
		r, err := dels[i].Record(e.names.Deliveries())
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = r
	}
	if err := e.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// deadLetters reads the DLQ until want records (or more) arrived or the
// deadline passed, and returns them by delivery id.
func (e *env) deadLetters(t testing.TB, want int, timeout time.Duration) map[string]record.DeadLetter {
	t.Helper()
	cl := e.c.Client(t, kgo.ConsumeTopics(e.names.DLQ()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	out := map[string]record.DeadLetter{}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			dl, err := record.DecodeDeadLetter(r.Value)
			if err != nil {
				t.Errorf("undecodable dead letter: %v", err)
				return
			}
			id := record.HeaderValue(r, "hookline-delivery-id")
			if dl.Delivery != nil {
				id = dl.Delivery.ID
			}
			out[id] = dl
		})
	}
	return out
}

// attempts reads attempt records until want arrived or the deadline passed.
func (e *env) attempts(t testing.TB, want int, timeout time.Duration) []record.Attempt {
	t.Helper()
	cl := e.c.Client(t, kgo.ConsumeTopics(e.names.Attempts()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []record.Attempt
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			a, err := record.DecodeAttempt(r.Value)
			if err != nil {
				t.Errorf("undecodable attempt: %v", err)
				return
			}
			out = append(out, a)
		})
	}
	return out
}

// committed returns the group's committed offsets on the deliveries topic.
func (e *env) committed(t testing.TB, group string) map[int32]int64 {
	t.Helper()
	os, err := kadm.NewClient(e.prod).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == e.names.Deliveries() {
			out[o.Partition] = o.At
		}
	})
	return out
}

// ends returns the end offsets of the deliveries topic.
func (e *env) ends(t testing.TB) map[int32]int64 {
	t.Helper()
	ls, err := kadm.NewClient(e.prod).ListEndOffsets(context.Background(), e.names.Deliveries())
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ls.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// waitCommitted waits until the group has committed every partition to
// its end.
func (e *env) waitCommitted(t testing.TB, group string, timeout time.Duration) {
	t.Helper()
	ends := e.ends(t)
	waitFor(t, timeout, "commits up to the end offsets", func() bool {
		got := e.committed(t, group)
		for p, end := range ends {
			if end > 0 && got[p] != end {
				return false
			}
		}
		return true
	})
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not waiting "a bit"
	}
}

// receiver is a webhook endpoint that verifies every signature and notes
// the deliveries it accepts (2xx) by webhook-id.
type receiver struct {
	t        testing.TB
	srv      *httptest.Server
	verifier *webhook.Verifier
	// respond returns the status to answer; nil always answers 204. A
	// status of 0 writes nothing (the handler gave up).
	respond func(r *http.Request, body []byte) int

	mu       sync.Mutex
	got      map[string]int
	order    []string
	first    time.Time
	last     time.Time
	times    []time.Time // of each acceptance, in order
	inflight atomic.Int32
	maxSeen  atomic.Int32
}

func newReceiver(t testing.TB, secrets []string, respond func(r *http.Request, body []byte) int) *receiver {
	t.Helper()
	v, err := webhook.NewVerifier(secrets)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, verifier: v, respond: respond, got: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	n := rc.inflight.Add(1)
	defer rc.inflight.Add(-1)
	for m := rc.maxSeen.Load(); n > m && !rc.maxSeen.CompareAndSwap(m, n); m = rc.maxSeen.Load() {
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if err := rc.verifier.Verify(r.Header, body); err != nil {
		rc.t.Errorf("receiver %s: signature: %v", rc.srv.URL, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	status := http.StatusNoContent
	if rc.respond != nil {
		status = rc.respond(r, body)
	}
	if status == 0 {
		return
	}
	if status >= 200 && status < 300 {
		rc.note(r.Header.Get(webhook.HeaderID))
	}
	w.WriteHeader(status)
}

func (rc *receiver) note(id string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	now := time.Now()
	if rc.first.IsZero() {
		rc.first = now
	}
	rc.last = now
	rc.times = append(rc.times, now)
	rc.got[id]++
	rc.order = append(rc.order, id)
}

// count returns how many distinct deliveries were accepted, and how many
// in all (duplicates included).
func (rc *receiver) count() (distinct, total int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got), len(rc.order)
}

// missing returns the ids in want the receiver has not accepted.
func (rc *receiver) missing(want []string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, id := range want {
		if rc.got[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// accepted returns the accepted ids in arrival order.
func (rc *receiver) accepted() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.order)
}

// span returns the first and last acceptance times.
func (rc *receiver) span() (first, last time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.first, rc.last
}

func ids(dels []record.Delivery) []string {
	out := make([]string, len(dels))
	for i, d := range dels {
		out[i] = d.ID
	}
	return out
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

// testLogLevel is Info, or Debug when HOOKLINE_TEST_DEBUG is set.
func testLogLevel() zapcore.Level {
	if os.Getenv("HOOKLINE_TEST_DEBUG") != "" {
		return zap.DebugLevel
	}
	return zap.InfoLevel
}
