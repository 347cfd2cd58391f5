package deliver

import (
	"context"
	"sync"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// maxPendingAttempts bounds the attempt records waiting for the writer;
// more are dropped (attempt records are best effort, like a full
// producer buffer drops them).
const maxPendingAttempts = 10_000

// The writer lets attempt records gather for up to attemptLinger, or
// until attemptBatch of them wait, before it hands them to the client.
// They are a log beside the deliveries, so a tenth of a second costs no
// delivery anything, and the client's own linger (1 ms, kept short for
// the records jobs wait on) would otherwise send them in as many produce
// requests as there are bursts of answers: under load, hundreds a
// second, each a write the broker pays for. A produce request costs the
// broker far more than the records in it: draining 50,000 deliveries
// (bench scenario 1) at 20 ms took about 157 produce requests and the
// broker 10-50 µs of CPU per delivery; at 100 ms, 35 requests and 3-9 µs,
// which the dispatcher's rate gains on a machine it shares with the broker.
const (
	attemptLinger = 100 * time.Millisecond
	attemptBatch  = 2000
)

// attemptLog batches attempt records. A job adds its record after the
// POST and goes on; one writer encodes what has gathered and hands it to
// the Kafka client, whose own batching sends it. The log is not on the
// commit path: a delivery may be committed while its attempt records
// wait here. On shutdown, flush runs before the final commit.
type attemptLog struct {
	topic string
	log   *zap.Logger

	mu      sync.Mutex
	pending []record.Attempt
	spare   []record.Attempt // the previous batch's slice, reused
	wake    chan struct{}    // one token: records are pending
	full    chan struct{}    // one token: batch records are pending

	linger time.Duration // attemptLinger; tests change it
	batch  int           // attemptBatch; tests change it
}

func newAttemptLog(topic string, log *zap.Logger) *attemptLog {
	return &attemptLog{topic: topic, log: log, wake: make(chan struct{}, 1), full: make(chan struct{}, 1),
		linger: attemptLinger, batch: attemptBatch}
}

// add queues a for the writer.
func (l *attemptLog) add(a record.Attempt) {
	l.mu.Lock()
	if len(l.pending) >= maxPendingAttempts {
		l.mu.Unlock()
		l.log.Debug("attempt record dropped: the writer is behind", zap.String("delivery_id", a.DeliveryID))
		return
	}
	l.pending = append(l.pending, a)
	n := len(l.pending)
	l.mu.Unlock()
	if n == 1 {
		signal(l.wake)
	}
	if n == l.batch {
		signal(l.full)
	}
}

// signal puts c's one token in, if it is not there yet.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// run writes batches to cl until ctx ends: once records are pending, it
// waits l.linger (or until l.batch are pending) and hands them
// all over. Records added while a batch is written make the next batch.
// What is pending when ctx ends is left for flush.
func (l *attemptLog) run(ctx context.Context, cl *kgo.Client) {
	linger := time.NewTimer(l.linger)
	linger.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
		linger.Reset(l.linger)
		select {
		case <-ctx.Done():
			linger.Stop()
			return
		case <-linger.C:
		case <-l.full:
			linger.Stop()
		}
		select {
		case <-l.full: // a token left by a batch that filled as the timer fired
		default:
		}
		l.flush(cl)
	}
}

// flush hands every pending record to cl (without waiting for Kafka; the
// client's Flush does).
func (l *attemptLog) flush(cl *kgo.Client) {
	l.mu.Lock()
	batch := l.pending
	l.pending, l.spare = l.spare[:0], nil
	l.mu.Unlock()
	for i := range batch {
		r, err := batch[i].Record(l.topic)
		if err != nil {
			l.log.Debug("attempt record not encoded", zap.String("delivery_id", batch[i].DeliveryID), zap.Error(err))
			continue
		}
		// Background, not a job's context: a cancelled first record of a
		// batch would fail the records batched behind it.
		cl.TryProduce(context.Background(), r, l.produced)
	}
	clear(batch)
	l.mu.Lock()
	l.spare = batch[:0]
	l.mu.Unlock()
}

func (l *attemptLog) produced(_ *kgo.Record, err error) {
	if err != nil {
		l.log.Debug("attempt record dropped", zap.Error(err))
	}
}
