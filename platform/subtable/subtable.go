// Package subtable keeps the subscription table in memory: it reads the
// compacted subscriptions topic from the beginning, then tails it. Newer
// records replace older ones, tombstones delete. The router and the
// dispatcher each run one Table and read subscriptions from it at the
// moment they need them, so configuration changes apply mid-flight.
//
// A Table is ready once it has read up to the end offsets the topic had
// when Run started, and while it can reach Kafka: /readyz reports that.
// During an outage the client reconnects by itself and the table catches
// up on what it missed; Check reports ErrUnreachable meanwhile, and the
// outage costs a few log lines, not one per retry.
package subtable

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// ErrNotReady is returned by Check before the table has caught up.
var ErrNotReady = errors.New("subscription table has not caught up")

// ErrUnreachable is returned by Check while the table's last exchange with
// Kafka failed: it may be missing changes.
var ErrUnreachable = errors.New("subscription table cannot reach Kafka")

// Table is the in-memory subscription table.
type Table struct {
	opts  []kgo.Opt
	topic string
	log   *zap.Logger

	mu      sync.RWMutex
	subs    map[string]*record.Subscription
	version atomic.Uint64

	ready     chan struct{}
	readyOnce sync.Once
	invalid   atomic.Int64

	// Unix nanoseconds of the last successful read from a broker and of
	// the last failed dial or read, fed by the client's hooks.
	lastOK, lastFail atomic.Int64
	failCause        atomic.Pointer[error]
}

// Opt configures a Table.
type Opt interface{ apply(*Table) }

type optFunc func(*Table)

func (f optFunc) apply(t *Table) { f(t) }

// WithLogger sets the logger; the default discards.
func WithLogger(l *zap.Logger) Opt { return optFunc(func(t *Table) { t.log = l }) }

// New returns a table of topic. clientOpts reach Kafka (seed brokers, TLS,
// SASL, hooks); the table adds its own consume options.
func New(clientOpts []kgo.Opt, topic string, opts ...Opt) *Table {
	t := &Table{opts: clientOpts, topic: topic, log: zap.NewNop(), subs: map[string]*record.Subscription{}, ready: make(chan struct{})}
	for _, o := range opts {
		o.apply(t)
	}
	return t
}

// Get returns a copy of subscription id.
func (t *Table) Get(id string) (record.Subscription, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.subs[id]
	if !ok {
		return record.Subscription{}, false
	}
	return *s, true
}

// All returns the subscriptions sorted by id. The pointers are shared and
// must not be modified.
func (t *Table) All() []*record.Subscription {
	t.mu.RLock()
	out := make([]*record.Subscription, 0, len(t.subs))
	for _, s := range t.subs {
		out = append(out, s)
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Len returns the number of subscriptions.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.subs)
}

// Version increases with every change; callers cache derived state by it.
func (t *Table) Version() uint64 { return t.version.Load() }

// Invalid returns how many undecodable records were skipped.
func (t *Table) Invalid() int64 { return t.invalid.Load() }

// Ready is closed once the table has caught up.
func (t *Table) Ready() <-chan struct{} { return t.ready }

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

// hooks record the table client's exchanges with Kafka for Check. A
// fetch long-polls (FetchMaxWait), so a reachable broker answers at least
// twice a second.
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

// WaitReady blocks until the table is ready or ctx ends.
func (t *Table) WaitReady(ctx context.Context) error {
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("subtable: %w", context.Cause(ctx))
	}
}

func (t *Table) markReady() {
	t.readyOnce.Do(func() {
		close(t.ready)
		t.log.Info("subscription table caught up", zap.Int("subscriptions", t.Len()))
	})
}

// Run reads and tails the topic until ctx ends. Kafka outages do not end
// it: the client reconnects and the table catches up.
func (t *Table) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, t.opts...),
		kgo.ConsumeTopics(t.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.KeepControlRecords(),
		kgo.WithHooks(hooks{t}),
	)...)
	if err != nil {
		return fmt.Errorf("subtable: %w", err)
	}
	defer cl.Close()

	// The end offsets at start are what "caught up" means. A partition whose
	// start offset equals its end (empty, or emptied by retention) has
	// nothing to read.
	var starts, ends kadm.ListedOffsets
	adm := kadm.NewClient(cl)
	var out outage
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
		out.fail(t.log, "listing subscription topic offsets; retrying", err)
		timer := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
	out.ok(t.log)
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if so, ok := starts.Lookup(o.Topic, o.Partition); !ok || so.Offset < o.Offset {
			pending[o.Partition] = o.Offset
		}
	})
	if len(pending) == 0 {
		t.markReady()
	}
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetchErr := false
		fetches.EachError(func(topic string, p int32, err error) {
			fetchErr = true
			t.failed(err)
			out.fail(t.log, "fetching subscriptions", err, zap.String("topic", topic), zap.Int32("partition", p))
		})
		if !fetchErr && fetches.NumRecords() > 0 {
			out.ok(t.log)
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				// Control records (transaction markers) are kept only so
				// that a topic ending in one still counts as read.
				if !r.Attrs.IsControl() {
					t.apply(r)
				}
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
	}
}

// outage keeps the log of a run of failures bounded: the first is a
// warning, the rest are debug lines with a warning every 30 s, and the
// recovery is one info line.
type outage struct {
	since, reminded time.Time
	failures        int
}

func (o *outage) fail(log *zap.Logger, msg string, err error, fields ...zap.Field) {
	now := time.Now()
	o.failures++
	fields = append(fields, zap.Error(err))
	switch {
	case o.since.IsZero():
		o.since, o.reminded = now, now
		log.Warn(msg, fields...)
	case now.Sub(o.reminded) >= 30*time.Second:
		o.reminded = now
		log.Warn(msg, append(fields, zap.Int("failures", o.failures), zap.Duration("for", now.Sub(o.since).Round(time.Second)))...)
	default:
		log.Debug(msg, fields...)
	}
}

func (o *outage) ok(log *zap.Logger) {
	if o.since.IsZero() {
		return
	}
	log.Info("subscription table reading again", zap.Duration("after", time.Since(o.since).Round(time.Millisecond)), zap.Int("failures", o.failures))
	*o = outage{}
}

func (t *Table) apply(r *kgo.Record) {
	id := string(r.Key)
	if id == "" {
		t.invalid.Add(1)
		t.log.Warn("skipping subscription record without key", zap.Int64("offset", r.Offset))
		return
	}
	var next *record.Subscription
	if r.Value != nil {
		s, err := record.DecodeSubscription(r.Value)
		if err != nil {
			t.invalid.Add(1)
			t.log.Warn("skipping undecodable subscription record", zap.String("subscription_id", id), zap.Int64("offset", r.Offset), zap.Error(err))
			return
		}
		if s.ID != id {
			t.invalid.Add(1)
			t.log.Warn("skipping subscription record whose key and id differ", zap.String("key", id), zap.String("subscription_id", s.ID))
			return
		}
		next = &s
	}
	t.mu.Lock()
	if next == nil {
		delete(t.subs, id)
	} else {
		t.subs[id] = next
	}
	t.mu.Unlock()
	t.version.Add(1)
}
