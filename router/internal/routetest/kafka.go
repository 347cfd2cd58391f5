package routetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Produce writes recs synchronously.
func Produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// PutSubs writes subscriptions to the subscriptions topic.
func PutSubs(t testing.TB, cl *kgo.Client, topic string, subs ...*record.Subscription) {
	t.Helper()
	recs := make([]*kgo.Record, len(subs))
	for i, s := range subs {
		r, err := s.Record(topic)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = r
	}
	Produce(t, cl, recs...)
}

// Eventually polls cond every 20 ms until it holds, failing the test after
// timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

// Caught reports whether group has committed, on every partition of
// topic, the topic's end offset: everything written so far is consumed.
func Caught(ctx context.Context, adm *kadm.Client, group, topic string) (bool, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, err
	}
	committed, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return false, err
	}
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset == 0 {
			return
		}
		c, ok := committed.Lookup(topic, o.Partition)
		if !ok || c.At < o.Offset {
			done = false
		}
	})
	return done, nil
}

// WaitCaught waits until group has consumed everything in topic.
func WaitCaught(t testing.TB, c *kafkatest.Cluster, group, topic string, timeout time.Duration) {
	t.Helper()
	adm := c.Admin(t)
	var last error
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ok, err := Caught(ctx, adm, group, topic)
		cancel()
		if ok {
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for group %s to consume %s (last error: %v)", timeout, group, topic, last)
		}
		tick := time.NewTimer(50 * time.Millisecond)
		<-tick.C
	}
}

// ReadCommitted reads topic from its start to its last stable offset as a
// read_committed consumer (the dispatcher) sees it: records of aborted
// transactions are skipped, control records are not returned.
func ReadCommitted(t testing.TB, c *kafkatest.Cluster, topic string) []*kgo.Record {
	t.Helper()
	return read(t, c, topic, true)
}

// ReadUncommitted reads topic from its start to its end as a
// read_uncommitted consumer sees it: records of aborted transactions are
// included.
func ReadUncommitted(t testing.TB, c *kafkatest.Cluster, topic string) []*kgo.Record {
	t.Helper()
	return read(t, c, topic, false)
}

func read(t testing.TB, c *kafkatest.Cluster, topic string, committed bool) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	level := kgo.ReadUncommitted()
	if committed {
		level = kgo.ReadCommitted()
		// Kafka writes a transaction's commit markers after EndTransaction
		// returns, so right after the writers stop, the last stable offset
		// can still trail the end. Wait until nothing is open.
		Eventually(t, 30*time.Second, "no open transactions on "+topic, func() bool {
			lso, err1 := adm.ListCommittedOffsets(ctx, topic)
			hwm, err2 := adm.ListEndOffsets(ctx, topic)
			if err1 != nil || err2 != nil || lso.Error() != nil || hwm.Error() != nil {
				return false
			}
			same := true
			hwm.Each(func(o kadm.ListedOffset) {
				if l, ok := lso.Lookup(o.Topic, o.Partition); !ok || l.Offset != o.Offset {
					same = false
				}
			})
			return same
		})
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("listing end offsets of %s: %v", topic, err)
	}
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			pending[o.Partition] = o.Offset
		}
	})
	// Control records (transaction markers) take offsets too; keeping
	// them is how the reader knows it reached the end of a partition
	// whose last offsets are markers.
	cl := c.Client(t,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level),
		kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(8<<20),
	)
	var out []*kgo.Record
	for len(pending) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: %v (partitions left: %v)", topic, err, pending)
		}
		fetches.EachError(func(_ string, p int32, err error) { t.Fatalf("reading %s partition %d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
		})
	}
	return out
}
