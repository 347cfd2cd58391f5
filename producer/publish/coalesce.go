package publish

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// coalescer sends the records of concurrent calls in shared produce
// requests. An idempotent franz-go client keeps up to five produce
// requests in flight per broker and sends a record as soon as a slot is
// free, so at a few thousand single-event calls a second nearly every
// event travels in a produce request of its own, and the broker's work
// per request dominates. The coalescer keeps one batch in flight: records
// handed to it while a batch waits for Kafka are produced together once
// that batch is acknowledged. A call that finds nothing in flight is
// produced at once, so sparse events wait for nothing. Each record's
// callback still reports that record's own outcome.
type coalescer struct {
	cl *kgo.Client

	mu     sync.Mutex
	queue  []queued
	closed bool

	kick chan struct{} // capacity 1: the queue has records
	stop chan struct{}
	done chan struct{}
}

type queued struct {
	ctx  context.Context
	rec  *kgo.Record
	done func(*kgo.Record, error)
}

func newCoalescer(cl *kgo.Client) *coalescer {
	q := &coalescer{cl: cl, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go q.run() // ended by close, which waits for it
	return q
}

// produce queues recs, which keep their order; done is called once per
// record with its outcome, from the Kafka client's goroutine or, after
// close, at once with ErrClosed.
func (q *coalescer) produce(ctx context.Context, recs []*kgo.Record, done func(*kgo.Record, error)) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		for _, r := range recs {
			done(r, ErrClosed)
		}
		return
	}
	for _, r := range recs {
		q.queue = append(q.queue, queued{ctx: ctx, rec: r, done: done})
	}
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default: // already kicked
	}
}

// run produces what is queued, one batch at a time, until shut.
func (q *coalescer) run() {
	defer close(q.done)
	for {
		select {
		case <-q.kick:
		case <-q.stop:
			return
		}
		for q.next() {
		}
	}
}

// next produces the queued records as one batch and waits until Kafka
// has answered for every one. It reports whether there was a batch.
func (q *coalescer) next() bool {
	q.mu.Lock()
	batch := q.queue
	q.queue = nil
	q.mu.Unlock()
	if len(batch) == 0 {
		return false
	}
	// Records whose call has given up are not produced.
	live := batch[:0]
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			it.done(it.rec, err)
			continue
		}
		live = append(live, it)
	}
	if len(live) == 0 {
		return true
	}
	// The batch's records are produced under one context, which ends
	// once every call in the batch has given up: until then a record
	// is not failed for its own call's context (that call has answered
	// already, saying that the record may still be written).
	ctx, cancel := context.WithCancel(context.WithoutCancel(live[0].ctx))
	defer cancel()
	var waiting atomic.Int64
	waiting.Store(int64(len(live)))
	for _, it := range live {
		stop := context.AfterFunc(it.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	recs := make([]*kgo.Record, len(live))
	byRec := make(map[*kgo.Record]func(*kgo.Record, error), len(live))
	for i, it := range live {
		recs[i] = it.rec
		byRec[it.rec] = it.done
	}
	// ProduceSync enqueues every record, then ends the client's linger
	// for their partitions: the batch leaves in one produce request per
	// broker. Its results come in the order Kafka answered.
	for _, res := range q.cl.ProduceSync(ctx, recs...) {
		byRec[res.Record](res.Record, res.Err)
	}
	return true
}

// shut stops the coalescer taking records: queued ones fail with
// ErrClosed. Records already produced are left to the Kafka client; wait
// for the batch in flight with <-done.
func (q *coalescer) shut() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	left := q.queue
	q.queue = nil
	q.mu.Unlock()
	close(q.stop)
	for _, it := range left {
		it.done(it.rec, ErrClosed)
	}
}
