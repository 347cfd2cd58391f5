package deliver

import (
	"context"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// batchSizes is a franz-go hook that reports the records of each produce
// batch written.
type batchSizes chan int

func (b batchSizes) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	b <- m.NumRecords
}

// TestAttemptRecordsGather: the attempt writer lets records gather before
// it hands them to the client, so records that come a little apart share
// a produce batch (the client's own 1 ms linger would send them one by
// one). It sends once its linger has passed, or at once when a batch's
// worth is pending.
func TestAttemptRecordsGather(t *testing.T) {
	c := kafkatest.New(t)
	names, _ := c.Hookline(t, 1, 1)
	sizes := make(batchSizes, 64)
	cl := c.Client(t, kgo.WithHooks(sizes), kgo.ProducerLinger(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer := func(linger time.Duration, batch int) *attemptLog {
		l := newAttemptLog(names.Attempts(), zap.NewNop())
		l.linger, l.batch = linger, batch
		go l.run(ctx, cl)
		return l
	}
	next := func(what string) int {
		t.Helper()
		select {
		case n := <-sizes:
			return n
		case <-time.After(30 * time.Second):
			t.Fatalf("no produce batch: %s", what)
			return 0
		}
	}
	attempt := func(i int) record.Attempt {
		return record.Attempt{DeliveryID: "del-1", SubscriptionID: "sub", Attempt: i, Result: "success", At: time.Now()}
	}

	// A full batch goes at once, whatever the linger.
	l := writer(time.Hour, 3)
	l.add(attempt(1))
	time.Sleep(20 * time.Millisecond)
	l.add(attempt(2))
	time.Sleep(20 * time.Millisecond)
	l.add(attempt(3))
	if n := next("three records pending, a batch's worth"); n != 3 {
		t.Fatalf("the writer sent a batch of %d records, want the 3 gathered", n)
	}

	// Fewer go once the linger has passed.
	l = writer(10*time.Millisecond, 1000)
	l.add(attempt(4))
	if n := next("one record pending past the linger"); n != 1 {
		t.Fatalf("the writer sent a batch of %d records, want 1", n)
	}
}
