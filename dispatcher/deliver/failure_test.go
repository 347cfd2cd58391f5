package deliver_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/dispatcher/deliver"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// failures counts the produces the dispatcher reports refused, per topic.
type failures struct {
	*latencies
	mu      sync.Mutex
	refused map[string]int
}

func newFailures() *failures {
	return &failures{latencies: &latencies{}, refused: map[string]int{}}
}

func (f *failures) ProduceFailed(topic string) {
	f.mu.Lock()
	f.refused[topic]++
	f.mu.Unlock()
}

func (f *failures) refusedOn(topic string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused[topic]
}

// setMaxMessageBytes sets a topic's max.message.bytes.
func setMaxMessageBytes(t *testing.T, e *env, topic string, n int) {
	t.Helper()
	v := strconv.Itoa(n)
	res, err := kadm.NewClient(e.prod).AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, topic)
	if err == nil {
		_, err = res.On(topic, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// rejectedBehindRefusingDLQ produces deliveries that are dead-lettered at
// once (their endpoint answers 400) after making the DLQ refuse every
// record (max.message.bytes below a bare dead letter), as a mistaken
// config change would while dispatchers run. It returns them and their
// partition of the deliveries topic (of partitions).
func rejectedBehindRefusingDLQ(t *testing.T, e *env, rejected *fleet, n int, partitions int) ([]record.Delivery, int32) {
	t.Helper()
	setMaxMessageBytes(t, e, e.names.DLQ(), 64)
	var dels []record.Delivery
	for i := range n {
		dels = append(dels, newDelivery(rejected.subs[0].ID, i))
	}
	e.produce(t, dels...)
	return dels, partitionOf(t, e, rejected.subs[0].ID, partitions)
}

// checkDeadLettered waits for a dead letter, reason rejected, of each of
// the first n records of partition p of the deliveries topic. They are
// told apart by their source: cut to fit a DLQ that refused them, they
// may keep nothing else.
func checkDeadLettered(t *testing.T, e *env, p int32, n int) {
	t.Helper()
	cl := e.c.Client(t, kgo.ConsumeTopics(e.names.DLQ()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int64]record.DeadLetter{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(got) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			dl, err := record.DecodeDeadLetter(r.Value)
			if err != nil {
				t.Errorf("undecodable dead letter: %v", err)
				return
			}
			if dl.Source.Topic == e.names.Deliveries() && dl.Source.Partition == p {
				got[dl.Source.Offset] = dl
			}
		})
	}
	for off := range int64(n) {
		if dl, ok := got[off]; !ok || dl.Reason != record.ReasonRejected {
			t.Errorf("record %d/%d: dead letter %v (reason %q), want one with reason rejected", p, off, ok, dl.Reason)
		}
	}
}

// newRejected returns a subscription whose endpoint answers 400: its
// deliveries are dead-lettered at once.
func newRejected(t *testing.T) *fleet {
	return newFleet(t, "rejected", 1, func(*http.Request, []byte) int { return http.StatusBadRequest }, nil)
}

// partitionOf returns the partition of the deliveries topic (of
// partitions) that subscription id's records go to, by the producer's
// partitioner.
func partitionOf(t testing.TB, e *env, id string, partitions int) int32 {
	t.Helper()
	d := newDelivery(id, 0)
	r, err := d.Record(e.names.Deliveries())
	if err != nil {
		t.Fatal(err)
	}
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic(e.names.Deliveries()).Partition(r, partitions))
}

// checkNothingCommitted fails the test if the group committed any offset
// of partition p of the deliveries topic: nothing may be committed past a
// record whose dead letter is not durable.
func checkNothingCommitted(t *testing.T, e *env, group string, p int32) {
	t.Helper()
	if at, ok := e.committed(t, group)[p]; ok && at > 0 {
		t.Fatalf("partition %d committed to %d while its first record's dead letter was refused", p, at)
	}
}

// TestDeadLetterProduceFails: a DLQ that refuses dead letters holds their
// records, counted as failed produces: nothing is committed past them
// while commits of other work go on, and once the DLQ takes them (its
// limit raised) they land and the partition is committed to its end.
func TestDeadLetterProduceFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	rejected := newRejected(t)
	// A healthy subscription on the other partition, whose commits go on.
	var healthy *fleet
	for i := 0; healthy == nil; i++ {
		f := newFleet(t, "healthy-"+strconv.Itoa(i), 1, nil, nil)
		if partitionOf(t, e, f.subs[0].ID, 2) != partitionOf(t, e, rejected.subs[0].ID, 2) {
			healthy = f
		}
	}
	e.putSubs(t, append(rejected.subs, healthy.subs...)...)
	f := newFailures()
	cfg := e.config(t)
	e.start(t, cfg, deliver.WithRecorder(f))
	dels, blocked := rejectedBehindRefusingDLQ(t, e, rejected, 3, 2)

	waitFor(t, 30*time.Second, "a refused dead letter", func() bool { return f.refusedOn(e.names.DLQ()) > 0 })
	// Work after the refusal, committed on the other partition: had the
	// dispatcher moved past the refused record, the same commits would
	// have carried its partition past it.
	healthy.produce(t, e, 5)
	waitFor(t, 30*time.Second, "the healthy deliveries", func() bool { return healthy.missing() == 0 })
	other := 1 - blocked
	end := e.ends(t)[other]
	waitFor(t, 30*time.Second, "the healthy partition's commit", func() bool { return e.committed(t, cfg.Group)[other] >= end })
	checkNothingCommitted(t, e, cfg.Group, blocked)

	setMaxMessageBytes(t, e, e.names.DLQ(), 1<<20)
	checkDeadLettered(t, e, blocked, len(dels))
	e.waitCommitted(t, cfg.Group, 30*time.Second)
	t.Logf("%d refused dead-letter produces before the DLQ took them", f.refusedOn(e.names.DLQ()))
}

// TestRevokeDuringDeadLetterProduce: a rebalance whose grace ends while a
// dead letter is still being produced (the DLQ refuses it) commits
// nothing past that record; the partition's next owner produces the dead
// letter once the DLQ takes it, and nothing is lost.
func TestRevokeDuringDeadLetterProduce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	rejected := newRejected(t)
	e.putSubs(t, rejected.subs...)
	f := newFailures()
	cfg := e.config(t)
	cfg.RevokeGrace = 300 * time.Millisecond
	e.start(t, cfg, deliver.WithRecorder(f))
	dels, _ := rejectedBehindRefusingDLQ(t, e, rejected, 3, 1)
	waitFor(t, 30*time.Second, "a refused dead letter", func() bool { return f.refusedOn(e.names.DLQ()) > 0 })

	// A second member joins: the eager rebalance revokes the partition
	// from the first while its dead letter is being retried, and the
	// grace ends with that produce in flight.
	e.start(t, cfg)
	waitFor(t, 60*time.Second, "the rebalance", func() bool {
		gs, err := kadm.NewClient(e.prod).DescribeGroups(context.Background(), cfg.Group)
		if err != nil {
			t.Fatal(err)
		}
		g := gs[cfg.Group]
		return g.State == "Stable" && len(g.Members) == 2
	})
	refusedBefore := f.refusedOn(e.names.DLQ())
	checkNothingCommitted(t, e, cfg.Group, 0)

	setMaxMessageBytes(t, e, e.names.DLQ(), 1<<20)
	checkDeadLettered(t, e, 0, len(dels))
	e.waitCommitted(t, cfg.Group, 30*time.Second)
	t.Logf("%d refused dead-letter produces before the rebalance", refusedBefore)
}
