package route_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/hookline/hookline/router/route"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// faults is the router's dialer: while down, every connection it made is
// closed and new dials are refused, as if the broker were gone. The broker
// itself (kfake) keeps running, so the test's own clients are unaffected.
type faults struct {
	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	cuts  atomic.Int32
}

func (f *faults) dial(ctx context.Context, network, host string) (net.Conn, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused (test outage)")}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused (test outage)")}
	}
	f.conns[c] = struct{}{}
	return c, nil
}

// cut starts an outage of d: it closes every connection now.
func (f *faults) cut(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = true
	f.cuts.Add(1)
	for c := range f.conns {
		c.Close()
	}
	clear(f.conns)
	time.AfterFunc(d, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.down = false
	})
}

// TestRidesOutOutage routes events while Kafka fails in the ways a broker
// restart makes it fail, and checks that Run never ends and that every
// event is routed exactly once (read_committed):
//   - the connection breaks while an EndTxn commit is in flight, after the
//     broker committed: the commit's outcome is unknown to the router, and
//     routing the batch again from the offsets it remembers would
//     duplicate it;
//   - the broker is unreachable for a while (dial errors);
//   - the coordinator answers NOT_COORDINATOR and
//     COORDINATOR_LOAD_IN_PROGRESS to TxnOffsetCommit and EndTxn;
//   - a produce fails, aborting the transaction.
func TestRidesOutOutage(t *testing.T) {
	t.Parallel()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()}
	names, source := c.Hookline(t, 3, 1)
	h := &harness{c: c, names: names, source: source, cl: c.Client(t)}
	h.table = subtable.New(c.Opts(), names.Subscriptions())
	runT(t, "subscription table", h.table.Run)
	subs := routetest.FanOutSubs()
	for _, s := range subs {
		h.putSubs(t, s.Sub)
	}

	f := &faults{conns: map[net.Conn]struct{}{}}
	var (
		unconfirmed atomic.Int32 // EndTxn commits whose reply was cut off
		notCoord    atomic.Int32
		loading     atomic.Int32
		produceErrs atomic.Int32
	)
	// Every third commit loses its reply (the broker commits, the router
	// sees its connection break), up to three times.
	var commits atomic.Int32
	kc.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if r := req.(*kmsg.EndTxnRequest); r.Commit && commits.Add(1)%3 == 0 && unconfirmed.Load() < 3 {
			unconfirmed.Add(1)
			f.cut(time.Second)
		}
		return nil, nil, false
	})
	kc.ControlKey(int16(kmsg.TxnOffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		n := notCoord.Add(1)
		if n > 4 || n%2 == 0 {
			return nil, nil, false
		}
		r := req.(*kmsg.TxnOffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotCoordinator.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	kc.ControlKey(int16(kmsg.FindCoordinator), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if loading.Add(1) > 3 {
			return nil, nil, false
		}
		r := req.(*kmsg.FindCoordinatorRequest)
		resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		for _, k := range r.CoordinatorKeys {
			sc := kmsg.NewFindCoordinatorResponseCoordinator()
			sc.Key = k
			sc.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			sc.NodeID = -1
			resp.Coordinators = append(resp.Coordinators, sc)
		}
		return resp, nil, true
	})
	// The router's second and fifth produce requests fail with a
	// non-retryable error: their transactions abort and their batches are
	// routed again.
	var produces atomic.Int32
	kc.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		r := req.(*kmsg.ProduceRequest)
		if r.TransactionID == nil {
			return nil, nil, false
		}
		if n := produces.Add(1); n != 2 && n != 5 {
			return nil, nil, false
		}
		produceErrs.Add(1)
		resp := r.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.InvalidRecord.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})

	cfg := h.config(t)
	cfg.ClientOpts = append(c.Opts(), kgo.Dialer(f.dial), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	cfg.MaxPollRecords = 50 // many transactions
	cfg.MaxRetryBackoff = 200 * time.Millisecond
	counts := newCounter()
	r, err := route.New(cfg, h.table, route.WithLogger(testLogger(t)), route.WithRecorder(counts))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	events := routetest.GenEvents(rand.New(rand.NewPCG(3, 4)), h.source, 600)
	want := routetest.Expect(events, subs)
	for i := 0; i < len(events); i += 100 {
		for _, e := range events[i : i+100] {
			routetest.Produce(t, h.cl, e.Rec)
		}
		if i == 300 {
			f.cut(2 * time.Second) // a plain outage mid-stream
		}
	}
	caught := make(chan struct{})
	go func() {
		defer close(caught)
		routetest.WaitCaught(t, c, cfg.Group, h.source, 90*time.Second)
	}()
	select {
	case err := <-done:
		t.Fatalf("Run ended during the outage: %v", err)
	case <-caught:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	routetest.CheckExactlyOnce(t, h.deliveries(t), want)
	s := counts.snapshot()
	t.Logf("faults: %d cuts, %d unconfirmed commits, %d TxnOffsetCommit NOT_COORDINATOR, %d coordinator loads, %d failed produces; %d commits, %d aborts",
		f.cuts.Load(), unconfirmed.Load(), min(notCoord.Load(), 4), min(loading.Load(), 3), produceErrs.Load(), s.commits, s.aborts)
	if unconfirmed.Load() == 0 || produceErrs.Load() != 2 || s.aborts < 2 {
		t.Errorf("the faults did not happen (%d unconfirmed commits, %d failed produces, %d aborts); the test proves nothing",
			unconfirmed.Load(), produceErrs.Load(), s.aborts)
	}
	if r.Check() != nil {
		t.Errorf("Check after recovery: %v", r.Check())
	}
}

// TestRidesOutTransactionTimeout keeps the broker away for longer than the
// transaction timeout while a transaction is open: the broker aborts it and
// bumps the producer epoch, and the router's next request for it is
// answered as if a newer instance had fenced it. The router must start a
// new session rather than end, and still route every event exactly once.
func TestRidesOutTransactionTimeout(t *testing.T) {
	t.Parallel()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()}
	names, source := c.Hookline(t, 3, 1)
	h := &harness{c: c, names: names, source: source, cl: c.Client(t)}
	h.table = subtable.New(c.Opts(), names.Subscriptions())
	runT(t, "subscription table", h.table.Run)
	subs := routetest.FanOutSubs()
	for _, s := range subs {
		h.putSubs(t, s.Sub)
	}

	f := &faults{conns: map[net.Conn]struct{}{}}
	var cut atomic.Bool
	// The first transactional produce reaches the broker (the partition
	// joins the transaction there), then the broker vanishes for three
	// transaction timeouts.
	kc.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if r := req.(*kmsg.ProduceRequest); r.TransactionID != nil && cut.CompareAndSwap(false, true) {
			f.cut(4500 * time.Millisecond)
		}
		return nil, nil, false
	})

	cfg := h.config(t)
	cfg.ClientOpts = append(c.Opts(), kgo.Dialer(f.dial), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	cfg.TransactionTimeout = 1500 * time.Millisecond
	cfg.MaxRetryBackoff = 200 * time.Millisecond
	counts := newCounter()
	r, err := route.New(cfg, h.table, route.WithLogger(testLogger(t)), route.WithRecorder(counts))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	events := routetest.GenEvents(rand.New(rand.NewPCG(5, 6)), h.source, 200)
	for _, e := range events {
		routetest.Produce(t, h.cl, e.Rec)
	}
	caught := make(chan struct{})
	go func() {
		defer close(caught)
		routetest.WaitCaught(t, c, cfg.Group, h.source, 60*time.Second)
	}()
	select {
	case err := <-done:
		t.Fatalf("Run ended: %v", err)
	case <-caught:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !cut.Load() {
		t.Fatal("the outage did not happen; the test proves nothing")
	}
	routetest.CheckExactlyOnce(t, h.deliveries(t), routetest.Expect(events, subs))
}

// TestFencedByNewerInstanceIsFatal starts a second router with the first
// one's transactional id: the first one's next transaction is fenced, and
// its Run ends with ErrFenced instead of retrying.
func TestFencedByNewerInstanceIsFatal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	subs := routetest.FanOutSubs()
	for _, s := range subs {
		h.putSubs(t, s.Sub)
	}
	cfg := h.config(t)
	cfg.MaxPollRecords = 10
	counts := newCounter()
	first, err := route.New(cfg, h.table, route.WithLogger(testLogger(t).Named("first")), route.WithRecorder(counts))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	events := routetest.GenEvents(rand.New(rand.NewPCG(7, 8)), h.source, 400)
	routetest.Produce(t, h.cl, events[0].Rec)
	routetest.Eventually(t, 30*time.Second, "the first router to commit", func() bool { return counts.snapshot().commits > 0 })

	h.start(t, cfg, route.WithLogger(testLogger(t).Named("newer"))) // the newer instance
	for _, e := range events[1:] {
		select {
		case err := <-done:
			if !errors.Is(err, route.ErrFenced) {
				t.Fatalf("first router ended with %v, want ErrFenced", err)
			}
			return
		default:
		}
		routetest.Produce(t, h.cl, e.Rec)
	}
	select {
	case err := <-done:
		if !errors.Is(err, route.ErrFenced) {
			t.Fatalf("first router ended with %v, want ErrFenced", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first router kept running after a newer instance took its transactional id")
	}
}
