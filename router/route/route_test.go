package route_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/hookline/hookline/router/route"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFanOut routes N events over M overlapping subscriptions and checks
// the deliveries topic holds exactly the expected deliveries, each once.
func TestFanOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	subs := routetest.FanOutSubs()
	for _, s := range subs {
		h.putSubs(t, s.Sub)
	}
	events := routetest.GenEvents(rand.New(rand.NewPCG(1, 2)), h.source, 600)
	recs := make([]*kgo.Record, len(events))
	for i, e := range events {
		recs[i] = e.Rec
	}
	// Half before the router starts, half while it runs.
	routetest.Produce(t, h.cl, recs[:300]...)
	cfg := h.config(t)
	cfg.MaxPollRecords = 97 // many transactions
	counts := newCounter()
	h.start(t, cfg, route.WithRecorder(counts))
	routetest.Produce(t, h.cl, recs[300:]...)
	routetest.WaitCaught(t, h.c, cfg.Group, h.source, 60*time.Second)

	want := routetest.Expect(events, subs)
	routetest.CheckExactlyOnce(t, h.deliveries(t), want)
	s := counts.snapshot()
	if s.events != len(events) || s.deliveries != len(want) || len(s.deadLetters) != 0 {
		t.Errorf("recorded %d events, %d deliveries, dead letters %v; want %d, %d, none", s.events, s.deliveries, s.deadLetters, len(events), len(want))
	}
	if s.filterErrors["compile"]+s.filterErrors["eval"] != 0 {
		t.Errorf("filter errors %v, want none", s.filterErrors)
	}
	t.Logf("%d events, %d deliveries in %d transactions", len(events), len(want), s.commits)
}

// TestSubscriptionChanges checks that adding, changing, pausing and
// deleting subscriptions applies to later events without a restart.
func TestSubscriptionChanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2)
	cfg := h.config(t)
	counts := newCounter()
	h.start(t, cfg, route.WithRecorder(counts))

	want := map[string]string{}
	routed := 0
	send := func(e event.Event, to ...string) {
		t.Helper()
		routetest.Produce(t, h.cl, routetest.Binary(h.source, e))
		for _, s := range to {
			want[record.DeliveryID(e.Source, e.ID, s)] = e.ID + " -> " + s
		}
		// Wait for the router to route it, so later changes come after.
		routed++
		routetest.Eventually(t, 30*time.Second, "event "+e.ID+" routed", func() bool { return counts.snapshot().events >= routed })
	}
	at := routetest.Epoch
	version := func(s *record.Subscription) *record.Subscription {
		at = at.Add(time.Second)
		s.UpdatedAt = at
		return s
	}

	a := version(routetest.Sub("a", "", "payment.*"))
	h.putSubs(t, a)
	send(routetest.Payment("e1", 10), "a")

	b := version(routetest.Sub("b", "", "order.*"))
	h.putSubs(t, b) // add
	send(routetest.Order("e2", "paid"), "b")

	a = version(routetest.Sub("a", "", "order.*"))
	h.putSubs(t, a) // change pattern
	send(routetest.Payment("e3", 10))
	send(routetest.Order("e4", "paid"), "a", "b")

	b = version(routetest.Sub("b", `data.status == "shipped"`, "order.*"))
	h.putSubs(t, b) // change filter
	send(routetest.Order("e5", "paid"), "a")
	send(routetest.Order("e6", "shipped"), "a", "b")

	a.State = record.StatePaused
	h.putSubs(t, version(a)) // pause
	// Paused: still fanned out (the dispatcher parks its deliveries).
	send(routetest.Order("e7", "shipped"), "a", "b")

	h.deleteSub(t, "b") // delete
	send(routetest.Order("e8", "shipped"), "a")

	a.State = record.StateActive
	h.putSubs(t, version(a)) // resume
	send(routetest.Order("e9", "shipped"), "a")

	b = version(routetest.Sub("b", "data.amount >", "payment.*"))
	h.putSubs(t, b) // a filter that does not compile
	send(routetest.Payment("e10", 5))
	if got := counts.snapshot().filterErrors["compile"]; got != 1 {
		t.Errorf("compile filter errors = %d, want 1", got)
	}

	routetest.CheckExactlyOnce(t, h.deliveries(t), want)
}

// TestPoisonEvents checks that bad input, and a filter that fails on an
// event, go to the DLQ with the right reason while the valid events
// around them are delivered.
func TestPoisonEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	// The 2 MiB event needs a source topic (and producer) that take it.
	// One partition, so that source offsets index the cases.
	h.source = h.c.Topic(t, 1, map[string]string{"max.message.bytes": "4194304"})
	big := h.c.Client(t, kgo.ProducerBatchMaxBytes(4<<20))
	h.putSubs(t,
		routetest.Sub("all", "", "*"),
		routetest.Sub("erring", "data.no.such.field == 1", "payment.succeeded"),
	)
	cfg := h.config(t)
	cfg.RejectUnknownTypes = true
	counts := newCounter()
	h.start(t, cfg, route.WithRecorder(counts))

	textPlain := routetest.Plain(h.source, "bad_ct", 1)
	textPlain.Headers = []kgo.RecordHeader{{Key: "content-type", Value: []byte("text/plain")}}
	random := make([]byte, 512)
	for i := range random {
		random[i] = byte(rand.IntN(256))
	}
	random[0] = 0xff // never valid JSON
	huge := append([]byte(`{"type":"payment_success","amount":1,"customer":"c","pad":"`), bytes.Repeat([]byte("x"), 2<<20)...)
	huge = append(huge, `"}`...)
	cases := []struct {
		rec    *kgo.Record
		reason string // "" for a valid event
		field  string // last_error names it
	}{
		{routetest.Binary(h.source, routetest.Payment("ok1", 10)), "", ""},
		{&kgo.Record{Topic: h.source, Key: []byte("rnd"), Value: random}, record.ReasonInvalidEvent, "JSON"},
		{routetest.Plain(h.source, "ok2", 20), "", ""},
		{textPlain, record.ReasonInvalidEvent, "content-type"},
		{routetest.Binary(h.source, routetest.Payment("neg", -1)), record.ReasonSchemaViolation, "/amount"},
		{routetest.Structured(h.source, routetest.Order("bad_status", "teleported")), record.ReasonSchemaViolation, "/status"},
		{routetest.Binary(h.source, routetest.PaymentFailed("unknown", 1)), record.ReasonUnknownType, "payment.failed"},
		{&kgo.Record{Topic: h.source, Key: []byte("huge"), Value: huge}, record.ReasonTooLarge, "too large"},
		{routetest.Structured(h.source, routetest.Order("ok3", "shipped")), "", ""},
	}
	wantDeliveries := map[string]string{}
	// The erring filter fails on ok1, a payment.succeeded without that
	// field: ok1 is delivered to "all" and dead-lettered for "erring".
	wantDead := map[string]int{record.ReasonFilterError: 1}
	for _, tc := range cases {
		routetest.Produce(t, big, tc.rec)
		if tc.reason == "" {
			ev, err := event.Decode(tc.rec, 0)
			if err != nil {
				t.Fatal(err)
			}
			wantDeliveries[record.DeliveryID(ev.Source, ev.ID, "all")] = ev.ID
		} else {
			wantDead[tc.reason]++
		}
	}
	routetest.WaitCaught(t, h.c, cfg.Group, h.source, 60*time.Second)

	routetest.CheckExactlyOnce(t, h.deliveries(t), wantDeliveries)
	dead := routetest.ReadCommitted(t, h.c, h.names.DLQ())
	if want := len(cases) - len(wantDeliveries) + 1; len(dead) != want {
		t.Fatalf("%d dead letters, want %d", len(dead), want)
	}
	byOffset := map[int64]record.DeadLetter{}
	var filterDead []record.DeadLetter
	for _, r := range dead {
		dl, err := record.DecodeDeadLetter(r.Value)
		if err != nil {
			t.Fatalf("dead letter does not decode: %v", err)
		}
		if dl.Reason == record.ReasonFilterError {
			filterDead = append(filterDead, dl)
			if string(r.Key) != "erring" {
				t.Errorf("filter_error dead letter keyed %q, want the subscription id", r.Key)
			}
			continue
		}
		byOffset[dl.Source.Offset] = dl
	}
	if len(filterDead) != 1 {
		t.Fatalf("%d filter_error dead letters, want 1", len(filterDead))
	}
	if dl := filterDead[0]; dl.Stage != record.StageRoute || dl.Source.Offset != 0 || dl.Source.Topic != h.source ||
		dl.Delivery == nil || dl.Delivery.SubscriptionID != "erring" || dl.Delivery.ID != record.DeliveryID("/payments", "ok1", "erring") ||
		dl.Delivery.Event.ID != "ok1" || !strings.Contains(dl.LastError, "data.no.such.field") {
		t.Errorf("filter_error dead letter %+v, want ok1's delivery to erring from offset 0", dl)
	}
	for i, tc := range cases {
		if tc.reason == "" {
			continue
		}
		dl, ok := byOffset[int64(i)]
		if !ok {
			t.Errorf("no dead letter for source offset %d (%s)", i, tc.reason)
			continue
		}
		if dl.Reason != tc.reason || dl.Stage != record.StageRoute || dl.Source.Topic != h.source {
			t.Errorf("offset %d: dead letter %s/%s from %v, want route/%s", i, dl.Stage, dl.Reason, dl.Source, tc.reason)
		}
		if !strings.Contains(dl.LastError, tc.field) {
			t.Errorf("offset %d: last_error %q does not name %q", i, dl.LastError, tc.field)
		}
		if dl.Raw == nil || !bytes.HasPrefix(tc.rec.Value, dl.Raw.Value) || len(dl.Raw.Value) == 0 {
			t.Errorf("offset %d: raw value not kept", i)
		}
	}
	s := counts.snapshot()
	for reason, n := range wantDead {
		if s.deadLetters[reason] != n {
			t.Errorf("recorded %d %s dead letters, want %d", s.deadLetters[reason], reason, n)
		}
	}
	// The erring filter saw ok1 (a payment.succeeded without that field).
	if s.filterErrors["eval"] != 1 {
		t.Errorf("eval filter errors = %d, want 1", s.filterErrors["eval"])
	}
}

// TestShutdownLeavesGroup checks that Run returns nil when its context
// ends and leaves the group, so partitions move on at once.
func TestShutdownLeavesGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2)
	h.putSubs(t, routetest.Sub("all", "", "*"))
	cfg := h.config(t)
	counts := newCounter()
	stop := h.start(t, cfg, route.WithRecorder(counts))
	routetest.Produce(t, h.cl, routetest.Binary(h.source, routetest.Payment("e1", 1)))
	routetest.WaitCaught(t, h.c, cfg.Group, h.source, 30*time.Second)
	adm := h.c.Admin(t)
	members := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gs, err := adm.DescribeGroups(ctx, cfg.Group)
		if err != nil {
			t.Fatal(err)
		}
		return len(gs[cfg.Group].Members)
	}
	if n := members(); n != 1 {
		t.Fatalf("group has %d members while running, want 1", n)
	}
	stop() // fails the test if Run returns an error
	if n := members(); n != 0 {
		t.Errorf("group has %d members after shutdown, want 0", n)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  route.Config
		ok   bool
	}{
		{"defaults", route.Config{TransactionalID: "x"}, true},
		{"no transactional id", route.Config{}, false},
		{"source is the deliveries topic", route.Config{TransactionalID: "x", Sources: []string{"deliveries"}}, false},
		{"bad regex", route.Config{TransactionalID: "x", Sources: []string{"("}, SourceRegex: true}, false},
		{"regex", route.Config{TransactionalID: "x", Sources: []string{"^events\\..*"}, SourceRegex: true}, true},
		{"tiny record limit", route.Config{TransactionalID: "x", MaxRecordBytes: 10}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestRebalanceExactlyOnce routes a stream of events while members join
// and leave the group, each rebalance revoking partitions in the middle of
// transactions: every delivery must still be committed exactly once. The
// first join is made to land inside a transaction of member 1 (its routing
// is held until member 2 has committed the partitions it took over), and
// that transaction must be aborted: committing it would duplicate what
// member 2 routed.
func TestRebalanceExactlyOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 6)
	subs := routetest.FanOutSubs()
	for _, s := range subs {
		h.putSubs(t, s.Sub)
	}
	events := routetest.GenEvents(rand.New(rand.NewPCG(3, 4)), h.source, 2000)
	produced := make(chan error, 1)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(events); i += 20 {
			batch := make([]*kgo.Record, 0, 20)
			for _, e := range events[i:min(i+20, len(events))] {
				batch = append(batch, e.Rec)
			}
			if err := h.cl.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
				produced <- err
				return
			}
			<-tick.C
		}
		produced <- nil
	}()

	cfg := h.config(t)
	cfg.MaxPollRecords = 50
	member := func(n int, opts ...route.Option) (stop func(), c *counter) {
		c = newCounter()
		mcfg := cfg
		mcfg.TransactionalID = fmt.Sprintf("%s-%d", cfg.TransactionalID, n)
		return h.start(t, mcfg, append(opts, route.WithRecorder(c))...), c
	}
	progressed := func(c *counter, what string) {
		t.Helper()
		base := c.snapshot().commits
		routetest.Eventually(t, 60*time.Second, what, func() bool { return c.snapshot().commits > base })
	}
	hold := &holdingValidator{inner: defaultRegistry(t), entered: make(chan struct{}), release: make(chan struct{})}
	stop1, c1 := member(1, route.WithValidator(hold))
	progressed(c1, "member 1 to commit")
	hold.arm() // member 1's next transaction stops in the middle of routing
	select {
	case <-hold.entered:
	case <-time.After(60 * time.Second):
		t.Fatal("member 1 began no transaction")
	}
	abortsBefore := c1.snapshot().aborts
	_, c2 := member(2) // joins: member 1 gives up partitions mid-transaction
	progressed(c2, "member 2 to commit")
	close(hold.release)
	routetest.Eventually(t, 60*time.Second, "member 1's transaction to be aborted by the rebalance", func() bool {
		return c1.snapshot().aborts > abortsBefore
	})
	stop1() // leaves: member 2 takes them back
	_, c3 := member(3)
	progressed(c3, "member 3 to commit")
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	routetest.WaitCaught(t, h.c, cfg.Group, h.source, 60*time.Second)
	routetest.CheckExactlyOnce(t, h.deliveries(t), routetest.Expect(events, subs))
	var aborts int
	for _, c := range []*counter{c1, c2, c3} {
		aborts += c.snapshot().aborts
	}
	t.Logf("%d events routed by 3 members; %d transactions aborted by rebalances", len(events), aborts)
}

// holdingValidator validates with inner; once armed, the next call blocks
// until release is closed, holding its transaction open.
type holdingValidator struct {
	inner   route.Validator
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (v *holdingValidator) arm() { v.armed.Store(true) }

func (v *holdingValidator) Validate(eventType string, version int, data []byte) error {
	if v.armed.CompareAndSwap(true, false) {
		close(v.entered)
		<-v.release
	}
	return v.inner.Validate(eventType, version, data)
}

func defaultRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	reg, err := registry.Default()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestRegexSources consumes every topic under the Hookline prefix by
// regular expression: events from two source topics are routed, and the
// router's own topics (deliveries, DLQ, subscriptions...) are never
// consumed, though the pattern matches them.
func TestRegexSources(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2)
	more := h.names.Prefix + "more-events"
	h.c.CreateTopics(t, topic.Spec{Name: more, Partitions: 2, ReplicationFactor: 1})
	h.putSubs(t, routetest.Sub("all", "", "*"))
	cfg := h.config(t)
	cfg.SourceRegex = true
	cfg.Sources = []string{"^" + regexp.QuoteMeta(h.names.Prefix) + ".*"}
	counts := newCounter()
	h.start(t, cfg, route.WithRecorder(counts))
	want := map[string]string{}
	for i, src := range []string{h.source, more, h.source, more} {
		e := routetest.Payment(fmt.Sprintf("e%d", i), 1)
		routetest.Produce(t, h.cl, routetest.Binary(src, e))
		want[record.DeliveryID(e.Source, e.ID, "all")] = e.ID
	}
	routetest.WaitCaught(t, h.c, cfg.Group, h.source, 60*time.Second)
	routetest.WaitCaught(t, h.c, cfg.Group, more, 60*time.Second)
	routetest.CheckExactlyOnce(t, h.deliveries(t), want)
	if s := counts.snapshot(); s.events != len(want) || len(s.deadLetters) != 0 {
		t.Errorf("consumed %d records with dead letters %v, want %d events and none: the router read its own topics", s.events, s.deadLetters, len(want))
	}
}

// TestRecoversFromProduceErrors starts a router whose deliveries topic does
// not exist yet: its transactions abort and it retries with a backoff,
// without consuming past the events, and once the topic appears every
// delivery is committed exactly once.
func TestRecoversFromProduceErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2)
	h.putSubs(t, routetest.Sub("all", "", "*"))
	cfg := h.config(t)
	late := topic.New(kafkatest.Name(t, "late") + ".")
	cfg.Topics = late
	counts := newCounter()
	h.start(t, cfg, route.WithRecorder(counts))
	want := map[string]string{}
	for i := range 5 {
		e := routetest.Payment(fmt.Sprintf("e%d", i), 1)
		routetest.Produce(t, h.cl, routetest.Binary(h.source, e))
		want[record.DeliveryID(e.Source, e.ID, "all")] = e.ID
	}
	routetest.Eventually(t, 60*time.Second, "a transaction to abort", func() bool { return counts.snapshot().aborts > 0 })
	if s := counts.snapshot(); s.events != 0 {
		t.Fatalf("%d events committed without a deliveries topic", s.events)
	}
	h.c.CreateTopics(t,
		topic.Spec{Name: late.Deliveries(), Partitions: 2, ReplicationFactor: 1},
		topic.Spec{Name: late.DLQ(), Partitions: 1, ReplicationFactor: 1})
	routetest.WaitCaught(t, h.c, cfg.Group, h.source, 60*time.Second)
	routetest.CheckExactlyOnce(t, routetest.CountDeliveries(t, h.c, late.Deliveries()), want)
}

// TestIdentityIsSourceAndID routes two events that share an id but come
// from different sources: they are two events (CloudEvents identity is
// (source, id)), so each subscription gets two deliveries with two ids.
func TestIdentityIsSourceAndID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	h.putSubs(t, routetest.Sub("all", "", "*"))
	cfg := h.config(t)
	h.start(t, cfg)
	a := routetest.Payment("same-id", 1)
	b := routetest.Payment("same-id", 2)
	b.Source = "/refunds"
	routetest.Produce(t, h.cl, routetest.Binary(h.source, a), routetest.Binary(h.source, b))
	routetest.WaitCaught(t, h.c, cfg.Group, h.source, 60*time.Second)
	idA, idB := record.DeliveryID(a.Source, a.ID, "all"), record.DeliveryID(b.Source, b.ID, "all")
	if idA == idB {
		t.Fatalf("one delivery id %s for two sources", idA)
	}
	routetest.CheckExactlyOnce(t, h.deliveries(t), map[string]string{idA: "/payments same-id", idB: "/refunds same-id"})
}
