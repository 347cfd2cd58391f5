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

// handedOver is a franz-go hook that reports each record given to the
// client to produce.
type handedOver chan *kgo.Record

func (h handedOver) OnProduceRecordBuffered(r *kgo.Record) {
	select {
	case h <- r:
	default: // never block the client; the test reads all it needs
	}
}

// TestAttemptRecordsGather: the attempt writer lets records gather before
// it hands them to the client (whose own 1 ms linger would otherwise send
// records that come a little apart in requests of their own). It holds
// them until its linger has passed, or hands them over at once when a
// batch's worth is pending.
func TestAttemptRecordsGather(t *testing.T) {
	c := kafkatest.New(t)
	names, _ := c.Hookline(t, 1, 1)
	given := make(handedOver, 64)
	cl := c.Client(t, kgo.WithHooks(given), kgo.ProducerLinger(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer := func(linger time.Duration, batch int) *attemptLog {
		l := newAttemptLog(names.Attempts(), zap.NewNop())
		l.linger, l.batch = linger, batch
		go l.run(ctx, cl)
		return l
	}
	receive := func(n int, what string) {
		t.Helper()
		for i := range n {
			select {
			case <-given:
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: %d of %d records handed to the client", what, i, n)
			}
		}
	}
	attempt := func(i int) record.Attempt {
		return record.Attempt{DeliveryID: "del-1", SubscriptionID: "sub", Attempt: i, Result: "success", At: time.Now()}
	}

	// Held while fewer than a batch wait and the linger has not passed;
	// handed over together once a batch's worth is pending.
	l := writer(time.Hour, 3)
	l.add(attempt(1))
	time.Sleep(20 * time.Millisecond)
	l.add(attempt(2))
	time.Sleep(20 * time.Millisecond)
	if n := len(given); n != 0 {
		t.Fatalf("the writer handed %d records to the client before a batch's worth or its linger", n)
	}
	l.add(attempt(3))
	receive(3, "three records pending, a batch's worth")

	// Fewer are handed over once the linger has passed.
	l = writer(10*time.Millisecond, 1000)
	l.add(attempt(4))
	receive(1, "one record pending past the linger")
}
