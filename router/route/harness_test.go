package route_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/hookline/hookline/router/route"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// counter is a Recorder that keeps totals, for tests to wait on.
type counter struct {
	mu           sync.Mutex
	events       int
	deliveries   int
	unmatched    int
	deadLetters  map[string]int
	filterErrors map[string]int
	commits      int
	aborts       int
	largest      int // the most events one transaction carried
}

func newCounter() *counter {
	return &counter{deadLetters: map[string]int{}, filterErrors: map[string]int{}}
}

func (c *counter) Committed(b *route.Batch, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commits++
	events := 0
	for _, n := range b.Events {
		events += n
	}
	c.events += events
	c.largest = max(c.largest, events)
	c.deliveries += b.Deliveries
	c.unmatched += b.Unmatched
	for k, n := range b.DeadLetters {
		c.deadLetters[k] += n
	}
	for k, n := range b.FilterErrors {
		c.filterErrors[k] += n
	}
}

func (c *counter) Aborted(time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborts++
}

func (c *counter) Lag(string, int32, int64) {}
func (c *counter) Subscriptions(int)        {}

type snapshot struct {
	events, deliveries, unmatched, commits, aborts int
	deadLetters, filterErrors                      map[string]int
	largest                                        int
}

func (c *counter) snapshot() snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return snapshot{c.events, c.deliveries, c.unmatched, c.commits, c.aborts, maps.Clone(c.deadLetters), maps.Clone(c.filterErrors), c.largest}
}

// harness is a Kafka broker with Hookline's topics, a subscription table
// and the clients a router test needs.
type harness struct {
	c      *kafkatest.Cluster
	names  topic.Names
	source string
	table  *subtable.Table
	cl     *kgo.Client
}

func newHarness(t testing.TB, partitions int32) *harness {
	t.Helper()
	c := kafkatest.New(t)
	names, source := c.Hookline(t, partitions, 1)
	h := &harness{c: c, names: names, source: source, cl: c.Client(t)}
	h.table = subtable.New(c.Opts(), names.Subscriptions())
	runT(t, "subscription table", h.table.Run)
	return h
}

// runT runs fn until the test ends, then stops it and requires a nil
// error.
func runT(t testing.TB, name string, fn func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// config returns a router config for the harness, unique to the test.
func (h *harness) config(t testing.TB) route.Config {
	return route.Config{
		ClientOpts:      h.c.Opts(),
		Sources:         []string{h.source},
		Group:           kafkatest.Name(t, "router"),
		TransactionalID: kafkatest.Name(t, "txn"),
		Topics:          h.names,
		SessionTimeout:  6 * time.Second,
	}
}

// start runs a router of cfg until the test ends or stop is called.
func (h *harness) start(t testing.TB, cfg route.Config, opts ...route.Option) (stop func()) {
	t.Helper()
	opts = append([]route.Option{route.WithLogger(testLogger(t))}, opts...)
	r, err := route.New(cfg, h.table, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return runT(t, "router", r.Run)
}

func testLogger(t testing.TB) *zap.Logger {
	if testing.Verbose() {
		return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	}
	return zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
}

// putSubs writes subscriptions and waits until the table has them.
func (h *harness) putSubs(t testing.TB, subs ...*record.Subscription) {
	t.Helper()
	routetest.PutSubs(t, h.cl, h.names.Subscriptions(), subs...)
	for _, s := range subs {
		routetest.Eventually(t, 30*time.Second, "subscription "+s.ID+" in the table", func() bool {
			got, ok := h.table.Get(s.ID)
			return ok && got.UpdatedAt.Equal(s.UpdatedAt) && got.State == s.State && got.Filter == s.Filter
		})
	}
}

// deleteSub writes a tombstone and waits until the table drops id.
func (h *harness) deleteSub(t testing.TB, id string) {
	t.Helper()
	routetest.Produce(t, h.cl, record.Tombstone(h.names.Subscriptions(), id))
	routetest.Eventually(t, 30*time.Second, "subscription "+id+" deleted", func() bool {
		_, ok := h.table.Get(id)
		return !ok
	})
}

// deliveries counts the committed deliveries by delivery id.
func (h *harness) deliveries(t testing.TB) map[string]int {
	t.Helper()
	return routetest.CountDeliveries(t, h.c, h.names.Deliveries())
}
