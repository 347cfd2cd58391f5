// Package idemtable shares the answers to Idempotency-Key requests among
// producer replicas through Kafka. Each replica writes its answers to the
// compacted idempotency topic and reads the topic as a live table (from
// the beginning, then tailing it, ready once caught up), so a retry is
// answered the same way on any replica and after a restart.
//
// The first answer read for a key wins until it expires: a later answer
// for the same key (two replicas racing on one key) is ignored by a table
// that already holds one. Answers older than the TTL are neither returned
// nor kept.
package idemtable

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// ErrNotReady is returned by Check before the table has caught up.
var ErrNotReady = errors.New("idempotency table has not caught up")

// ErrUnreachable is returned by Check while the table's last exchange with
// Kafka failed.
var ErrUnreachable = errors.New("idempotency table cannot reach Kafka")

// Table holds the unexpired answers of the idempotency topic.
type Table struct {
	opts  []kgo.Opt
	cl    *kgo.Client // writes answers
	topic string
	ttl   time.Duration
	log   *zap.Logger
	now   func() time.Time

	mu      sync.RWMutex
	answers map[string]record.Idempotency

	ready     chan struct{}
	readyOnce sync.Once
	invalid   atomic.Int64

	lastOK, lastFail atomic.Int64
	failCause        atomic.Pointer[error]
}

// Opt configures a Table.
type Opt interface{ apply(*Table) }

type optFunc func(*Table)

func (f optFunc) apply(t *Table) { f(t) }

// WithLogger sets the logger; the default discards.
func WithLogger(l *zap.Logger) Opt { return optFunc(func(t *Table) { t.log = l }) }

// WithClock sets the clock that judges expiry; the default is time.Now.
func WithClock(now func() time.Time) Opt { return optFunc(func(t *Table) { t.now = now }) }

// New returns a table of topic whose answers expire after ttl. clientOpts
// reach Kafka for reading; cl, an idempotent client with acks=all (the
// publishing client), writes answers.
func New(clientOpts []kgo.Opt, cl *kgo.Client, topic string, ttl time.Duration, opts ...Opt) *Table {
	t := &Table{opts: clientOpts, cl: cl, topic: topic, ttl: ttl, log: zap.NewNop(), now: time.Now,
		answers: map[string]record.Idempotency{}, ready: make(chan struct{})}
	for _, o := range opts {
		o.apply(t)
	}
	return t
}

// Get returns the unexpired answer stored under key.
func (t *Table) Get(key string) (record.Idempotency, bool) {
	t.mu.RLock()
	a, ok := t.answers[key]
	t.mu.RUnlock()
	if !ok || a.Expired(t.now(), t.ttl) {
		return record.Idempotency{}, false
	}
	return a, true
}

// Len returns the number of answers held, expired ones not yet dropped
// included.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.answers)
}

// Invalid returns how many undecodable records were skipped.
func (t *Table) Invalid() int64 { return t.invalid.Load() }

// Put writes a to the topic and, once Kafka acknowledged it, to the table,
// so that this replica answers a retry at once and the others once they
// read it. An unexpired answer already held for a.Key is kept.
func (t *Table) Put(ctx context.Context, a record.Idempotency) error {
	rec, err := a.Record(t.topic)
	if err != nil {
		return err
	}
	if err := t.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("idemtable: writing an answer: %w", err)
	}
	t.store(a)
	return nil
}

// store keeps a unless an unexpired answer for its key is held.
func (t *Table) store(a record.Idempotency) {
	now := t.now()
	if a.Expired(now, t.ttl) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if held, ok := t.answers[a.Key]; ok && !held.Expired(now, t.ttl) {
		return
	}
	t.answers[a.Key] = a
}

// prune drops expired answers.
func (t *Table) prune() {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, a := range t.answers {
		if a.Expired(now, t.ttl) {
			delete(t.answers, k)
		}
	}
}

// Ready is closed once the table has caught up.
func (t *Table) Ready() <-chan struct{} { return t.ready }

// WaitReady blocks until the table is ready or ctx ends.
func (t *Table) WaitReady(ctx context.Context) error {
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("idemtable: %w", context.Cause(ctx))
	}
}

// Check returns nil once ready and while Kafka answers; use it as a
// readiness check.
func (t *Table) Check() error {
	select {
	case <-t.ready:
	default:
		return ErrNotReady
	}
	if t.lastFail.Load() > t.lastOK.Load() {
		if cause := t.failCause.Load(); cause != nil {
			return fmt.Errorf("%w: %w", ErrUnreachable, *cause)
		}
		return ErrUnreachable
	}
	return nil
}

type hooks struct{ t *Table }

var (
	_ kgo.HookBrokerConnect = hooks{}
	_ kgo.HookBrokerRead    = hooks{}
)

func (h hooks) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.t.failed(err)
	}
}

func (h hooks) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	switch {
	case err == nil:
		h.t.lastOK.Store(time.Now().UnixNano())
	case !errors.Is(err, net.ErrClosed) && !errors.Is(err, context.Canceled):
		h.t.failed(err)
	}
}

func (t *Table) failed(err error) {
	t.failCause.Store(&err)
	t.lastFail.Store(time.Now().UnixNano())
}

func (t *Table) markReady() {
	t.readyOnce.Do(func() {
		close(t.ready)
		t.log.Info("idempotency table caught up", zap.Int("answers", t.Len()))
	})
}

// Run reads and tails the topic until ctx ends. Kafka outages do not end
// it: the client reconnects and the table catches up.
func (t *Table) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, t.opts...),
		kgo.ConsumeTopics(t.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.WithHooks(hooks{t}),
	)...)
	if err != nil {
		return fmt.Errorf("idemtable: %w", err)
	}
	defer cl.Close()

	// The end offsets at start are what "caught up" means; a partition
	// whose start equals its end has nothing to read.
	var starts, ends kadm.ListedOffsets
	adm := kadm.NewClient(cl)
	for {
		starts, err = adm.ListStartOffsets(ctx, t.topic)
		if err == nil {
			err = starts.Error()
		}
		if err == nil {
			ends, err = adm.ListEndOffsets(ctx, t.topic)
		}
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		t.failed(err)
		t.log.Debug("listing idempotency topic offsets; retrying", zap.Error(err))
		timer := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if so, ok := starts.Lookup(o.Topic, o.Partition); !ok || so.Offset < o.Offset {
			pending[o.Partition] = o.Offset
		}
	})
	if len(pending) == 0 {
		t.markReady()
	}
	lastPrune := time.Now()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.failed(err)
			t.log.Debug("fetching idempotency answers", zap.Int32("partition", p), zap.Error(err))
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				t.apply(r)
			}
			if end, ok := pending[p.Partition]; ok {
				if n := len(p.Records); n > 0 && p.Records[n-1].Offset+1 >= end {
					delete(pending, p.Partition)
				}
			}
		})
		if len(pending) == 0 {
			t.markReady()
		}
		if time.Since(lastPrune) >= time.Minute {
			lastPrune = time.Now()
			t.prune()
		}
	}
}

func (t *Table) apply(r *kgo.Record) {
	if r.Value == nil {
		return // a tombstone: the answer goes by itself when it expires
	}
	a, err := record.DecodeIdempotency(r.Value)
	if err != nil || a.Key != string(r.Key) {
		t.invalid.Add(1)
		t.log.Warn("skipping undecodable idempotency record", zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset), zap.Error(err))
		return
	}
	t.store(a)
}
