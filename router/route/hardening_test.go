package route_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/hookline/hookline/router/route"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestValidateOwnTopics: an explicit source list may not name any topic
// of Hookline's own (a retry tier, a table), and the start offset is
// earliest or latest.
func TestValidateOwnTopics(t *testing.T) {
	t.Parallel()
	names := topic.Default()
	for _, tc := range []struct {
		name string
		cfg  route.Config
		ok   bool
	}{
		{"retry topic", route.Config{TransactionalID: "x", Topics: names, Sources: []string{"events", names.Retry(2)}}, false},
		{"event types", route.Config{TransactionalID: "x", Topics: names, Sources: []string{names.EventTypes()}}, false},
		{"idempotency", route.Config{TransactionalID: "x", Topics: names, Sources: []string{names.Idempotency()}}, false},
		{"endpoint status", route.Config{TransactionalID: "x", Topics: names, Sources: []string{names.EndpointStatus()}}, false},
		{"another prefix's retry topic", route.Config{TransactionalID: "x", Topics: names, Sources: []string{"other.retry.1"}}, true},
		{"latest", route.Config{TransactionalID: "x", StartOffset: route.StartLatest}, true},
		{"bad start offset", route.Config{TransactionalID: "x", StartOffset: "newest"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// gatedTable is a subscription table that notes whether the Router read
// its subscriptions before WaitReady returned.
type gatedTable struct {
	*subtable.Table
	waiting   chan struct{} // closed when WaitReady is called
	early     chan struct{} // closed if All is called before WaitReady returned
	ready     atomic.Bool
	onceWait  sync.Once
	onceEarly sync.Once
}

func (g *gatedTable) WaitReady(ctx context.Context) error {
	g.onceWait.Do(func() { close(g.waiting) })
	err := g.Table.WaitReady(ctx)
	g.ready.Store(err == nil)
	return err
}

func (g *gatedTable) All() []*record.Subscription {
	if !g.ready.Load() {
		g.onceEarly.Do(func() { close(g.early) })
	}
	return g.Table.All()
}

// TestWaitsForSubscriptionTable starts a router whose subscription table
// has not loaded (it is not even running) while events wait in the
// source topic: the router must not route before the table has caught
// up, or those events would match nothing and be dropped. Once the table
// runs, every event is delivered exactly once.
func TestWaitsForSubscriptionTable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2)
	h.putSubs(t, routetest.Sub("all", "", "*"))
	want := map[string]string{}
	for i := range 5 {
		e := routetest.Payment(fmt.Sprintf("e%d", i), 1)
		routetest.Produce(t, h.cl, routetest.Binary(h.source, e))
		want[record.DeliveryID(e.Source, e.ID, "all")] = e.ID
	}
	table := &gatedTable{Table: subtable.New(h.c.Opts(), h.names.Subscriptions()), waiting: make(chan struct{}), early: make(chan struct{})}
	cfg := h.config(t)
	counts := newCounter()
	r, err := route.New(cfg, table, route.WithLogger(testLogger(t)), route.WithRecorder(counts))
	if err != nil {
		t.Fatal(err)
	}
	runT(t, "router", r.Run)
	select {
	case <-table.waiting:
	case <-table.early:
		t.Fatal("the router read the subscriptions before the table had loaded")
	case <-time.After(60 * time.Second):
		t.Fatal("the router neither waited for the table nor routed")
	}
	runT(t, "subscription table", table.Run)
	routetest.WaitCaught(t, h.c, cfg.Group, h.source, 60*time.Second)
	select {
	case <-table.early:
		t.Error("the router read the subscriptions before the table had loaded")
	default:
	}
	routetest.CheckExactlyOnce(t, h.deliveries(t), want)
	if s := counts.snapshot(); s.unmatched != 0 {
		t.Errorf("%d events matched nothing: routed against a table still loading", s.unmatched)
	}
}

// TestStartOffsetLatest: a new group with StartOffset latest routes only
// what is written after it joined, not the events already retained
// (which the default, earliest, routes: TestFanOut).
func TestStartOffsetLatest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	h.putSubs(t, routetest.Sub("all", "", "*"))
	old := routetest.Payment("before", 1)
	routetest.Produce(t, h.cl, routetest.Binary(h.source, old))
	cfg := h.config(t)
	cfg.StartOffset = route.StartLatest
	counts := newCounter()
	h.start(t, cfg, route.WithRecorder(counts))
	// The router reads from the end once it has the partition: probe
	// until one event written after that is routed.
	want := map[string]string{}
	n := 0
	routetest.Eventually(t, 60*time.Second, "an event written after the join to be routed", func() bool {
		if counts.snapshot().events > 0 {
			return true
		}
		e := routetest.Payment(fmt.Sprintf("after%d", n), 1)
		n++
		routetest.Produce(t, h.cl, routetest.Binary(h.source, e))
		want[record.DeliveryID(e.Source, e.ID, "all")] = e.ID
		return false
	})
	routetest.WaitCaught(t, h.c, cfg.Group, h.source, 60*time.Second)
	got := h.deliveries(t)
	if got[record.DeliveryID(old.Source, old.ID, "all")] != 0 {
		t.Errorf("the event written before the group existed was routed with StartOffset latest")
	}
	// Probes written before the join are skipped too; each one routed is
	// routed once.
	routed := 0
	for id, c := range got {
		if _, ok := want[id]; !ok || c != 1 {
			t.Errorf("delivery %s committed %d times (want: one of the probes, once)", id, c)
		}
		routed++
	}
	if routed == 0 {
		t.Error("nothing routed")
	}
}

// TestStartRefusesSmallTopicLimit: a deliveries topic that accepts
// smaller records than MaxRecordBytes would fail every transaction that
// holds a large delivery, forever. Run refuses to start, naming the topic
// and both limits, before routing anything.
func TestStartRefusesSmallTopicLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	h.putSubs(t, routetest.Sub("all", "", "*"))
	routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment("e1", 1)))
	cfg := h.config(t)
	small := topic.New(kafkatest.Name(t, "small") + ".")
	cfg.Topics = small
	h.c.CreateTopics(t,
		topic.Spec{Name: small.Deliveries(), Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"max.message.bytes": "100000"}},
		topic.Spec{Name: small.DLQ(), Partitions: 1, ReplicationFactor: 1})
	counts := newCounter()
	r, err := route.New(cfg, h.table, route.WithLogger(testLogger(t)), route.WithRecorder(counts))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	err = r.Run(ctx)
	if !errors.Is(err, route.ErrConfig) || !strings.Contains(err.Error(), small.Deliveries()) || !strings.Contains(err.Error(), "100000") {
		t.Fatalf("Run = %v, want ErrConfig naming %s and its limit 100000", err, small.Deliveries())
	}
	if s := counts.snapshot(); s.commits+s.aborts != 0 {
		t.Errorf("%d transactions before refusing", s.commits+s.aborts)
	}
}

// TestStuckLoopNotReady: the broker refuses every produce with an error
// no retry fixes (a topic policy), while it answers everything else. The router keeps aborting and retrying the
// batch, and Check must say it is not ready (reads still succeed, so the
// outage check alone says ready); once the broker accepts again, the
// batch commits exactly once and Check is nil. It controls the broker's
// answers, so it runs its own kfake cluster even when KAFKA_BROKERS names
// a real one.
func TestStuckLoopNotReady(t *testing.T) {
	t.Parallel()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()}
	names, source := c.Hookline(t, 1, 1)
	var refuse atomic.Bool
	kc.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		preq := req.(*kmsg.ProduceRequest)
		if !refuse.Load() {
			return nil, nil, false
		}
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range preq.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.PolicyViolation.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	table := subtable.New(c.Opts(), names.Subscriptions())
	runT(t, "subscription table", table.Run)
	cl := c.Client(t)
	routetest.PutSubs(t, cl, names.Subscriptions(), routetest.Sub("all", "", "*"))
	e := routetest.Payment("e1", 1)
	routetest.Produce(t, cl, routetest.Binary(source, e))
	routetest.Eventually(t, 30*time.Second, "the subscription in the table", func() bool { _, ok := table.Get("all"); return ok })
	refuse.Store(true) // from now on only the router produces

	counts := newCounter()
	cfg := route.Config{ClientOpts: c.Opts(), Sources: []string{source}, Group: kafkatest.Name(t, "router"),
		TransactionalID: kafkatest.Name(t, "txn"), Topics: names, SessionTimeout: 6 * time.Second,
		MaxRetryBackoff: 200 * time.Millisecond}
	r, err := route.New(cfg, table, route.WithLogger(testLogger(t)), route.WithRecorder(counts))
	if err != nil {
		t.Fatal(err)
	}
	runT(t, "router", r.Run)
	routetest.Eventually(t, 60*time.Second, "Check to report the failing loop", func() bool {
		return errors.Is(r.Check(), route.ErrUnavailable)
	})
	if s := counts.snapshot(); s.aborts < 5 || s.commits != 0 {
		t.Errorf("%d aborts and %d commits while refused, want at least 5 aborts and none committed", s.aborts, s.commits)
	}
	if err := r.Check(); !strings.Contains(err.Error(), "POLICY_VIOLATION") {
		t.Errorf("Check = %v, want the cause named", err)
	}
	refuse.Store(false)
	routetest.Eventually(t, 60*time.Second, "the batch to commit", func() bool { return counts.snapshot().commits > 0 })
	if err := r.Check(); err != nil {
		t.Errorf("Check after a commit: %v", err)
	}
	routetest.WaitCaught(t, c, cfg.Group, source, 60*time.Second)
	routetest.CheckExactlyOnce(t, routetest.CountDeliveries(t, c, names.Deliveries()), map[string]string{record.DeliveryID(e.Source, e.ID, "all"): e.ID})
}

// suppressCounter is a counter that also sums suppressed filter_error
// dead letters.
type suppressCounter struct {
	*counter
	suppressed atomic.Int64
}

func (c *suppressCounter) Committed(b *route.Batch, took time.Duration) {
	c.suppressed.Add(int64(b.FilterDeadLettersSuppressed))
	c.counter.Committed(b, took)
}

// TestFilterDeadLettersBounded: a filter that fails on every event
// dead-letters one event per subscription per interval, not one per
// event; the rest are counted. After the interval another one is
// dead-lettered. Events still reach the subscriptions whose filters work.
func TestFilterDeadLettersBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2)
	h.putSubs(t, routetest.Sub("all", "", "*"), routetest.Sub("erring", "data.no.such.field == 1", "payment.*"))
	var clock atomic.Int64
	clock.Store(routetest.Epoch.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	cfg := h.config(t)
	counts := &suppressCounter{counter: newCounter()}
	h.start(t, cfg, route.WithRecorder(counts), route.WithClock(now))
	want := map[string]string{}
	send := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			e := routetest.Payment(id, 1)
			routetest.Produce(t, h.cl, routetest.Binary(h.source, e))
			want[record.DeliveryID(e.Source, e.ID, "all")] = e.ID
		}
		routetest.WaitCaught(t, h.c, cfg.Group, h.source, 60*time.Second)
	}
	filterDeadLetters := func() int {
		n := 0
		for _, r := range routetest.ReadCommitted(t, h.c, h.names.DLQ()) {
			dl, err := record.DecodeDeadLetter(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if dl.Reason == record.ReasonFilterError && string(r.Key) == "erring" {
				n++
			}
		}
		return n
	}
	send("e1", "e2", "e3", "e4", "e5")
	if n := filterDeadLetters(); n != 1 {
		t.Errorf("%d filter_error dead letters for 5 failing events within a minute, want 1", n)
	}
	if s := counts.snapshot(); s.filterErrors["eval"] != 5 || s.deadLetters[record.ReasonFilterError] != 1 || counts.suppressed.Load() != 4 {
		t.Errorf("eval errors %d, filter_error dead letters %d, suppressed %d; want 5, 1, 4",
			s.filterErrors["eval"], s.deadLetters[record.ReasonFilterError], counts.suppressed.Load())
	}
	clock.Add(int64(route.DefaultFilterDeadLetterInterval))
	send("e6", "e7")
	if n := filterDeadLetters(); n != 2 {
		t.Errorf("%d filter_error dead letters after the interval passed, want 2", n)
	}
	routetest.CheckExactlyOnce(t, h.deliveries(t), want)
}
