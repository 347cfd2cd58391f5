package publish

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// coalescer sends the records of concurrent calls in shared produce
// requests. An idempotent franz-go client keeps up to five produce
// requests in flight per broker and sends a record as soon as a slot is
// free, so at a few thousand single-event calls a second nearly every
// event travels in a produce request of its own, and the broker's work
// per request dominates. The coalescer keeps one batch in flight: records
// handed to it while a batch waits for Kafka are produced together once
// that batch is acknowledged. A call that finds nothing in flight or
// waiting (below) is produced at once, so sparse events wait for
// nothing. Each record's callback still reports that record's own
// outcome.
//
// Callers that wait for their records, like the ingest API's requests,
// send their next ones as soon as a batch is acknowledged. Were the first
// of them produced at once, the others would queue behind it, and a
// steady load would settle into batches of one and of all the other
// callers in turn. So after an acknowledgement the next batch waits, up
// to gatherWait, until as many records are queued as the acknowledged
// batch and the queue held together: one batch of all the callers, half
// the produce requests. After a batch of one record with nothing queued
// the next record leaves at once.
type coalescer struct {
	cl *kgo.Client

	mu     sync.Mutex
	queue  []queued
	want   int // produce kicks once the queue holds this many records
	closed bool

	kick chan struct{} // capacity 1: the queue holds want records
	stop chan struct{}
	done chan struct{}
}

// gatherWait bounds how long the batch after an acknowledgement waits
// for more records (see coalescer).
const gatherWait = time.Millisecond

type queued struct {
	ctx  context.Context
	rec  *kgo.Record
	done func(*kgo.Record, error)
}

func newCoalescer(cl *kgo.Client) *coalescer {
	q := &coalescer{cl: cl, want: 1, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
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
	kick := len(q.queue) >= q.want
	q.mu.Unlock()
	if kick {
		select {
		case q.kick <- struct{}{}:
		default: // already kicked
		}
	}
}

// run produces what is queued, one batch at a time, until shut.
func (q *coalescer) run() {
	defer close(q.done)
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for {
		select {
		case <-q.kick:
		case <-q.stop:
			return
		}
		for {
			acked := q.next()
			if acked == 0 {
				break
			}
			// The next batch waits for the callers this one answered (see
			// coalescer): until it holds as many records again as this
			// one and those queued meanwhile, or gatherWait has passed.
			// So after a batch of one with nothing queued, the next
			// record is produced as soon as it comes.
			select {
			case <-q.kick: // a kick from before the batch left
			default:
			}
			q.mu.Lock()
			q.want = acked + len(q.queue)
			q.mu.Unlock()
			gather.Reset(gatherWait)
			select {
			case <-q.kick:
				gather.Stop()
			case <-gather.C:
			case <-q.stop:
				return
			}
		}
	}
}

// next produces the queued records as one batch and waits until Kafka
// has answered for every one. It returns how many records it took from
// the queue.
func (q *coalescer) next() int {
	q.mu.Lock()
	batch := q.queue
	q.queue = nil
	if len(batch) == 0 {
		q.want = 1
		q.mu.Unlock()
		return 0
	}
	q.want = math.MaxInt // run looks at the queue once the batch is answered
	q.mu.Unlock()
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
		return len(batch)
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
	return len(batch)
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
