// Package typetable keeps the event-type catalogue in memory: it reads the
// compacted event-types topic from the beginning, then tails it, as
// subtable does for subscriptions. Newer records replace older ones,
// tombstones delete. Every change is also handed to a Sink (the router's
// and the producer's registry.Catalogue, which compiles the schemas), so
// the types registered at run time apply to the next event.
//
// A Table is ready once it has read up to the end offsets the topic had
// when Run started, and while it can reach Kafka.
package typetable

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

// Sink receives every change of the table, in topic order: Put for a new
// or changed type, Delete for a tombstone. *registry.Catalogue is one.
type Sink interface {
	Put(name string, schema []byte) error
	Delete(name string)
}

// ErrNotReady is returned by Check before the table has caught up.
var ErrNotReady = errors.New("event-type table has not caught up")

// ErrUnreachable is returned by Check while the table's last exchange with
// Kafka failed: it may be missing changes.
var ErrUnreachable = errors.New("event-type table cannot reach Kafka")

// Table is the in-memory event-type catalogue.
type Table struct {
	opts  []kgo.Opt
	topic string
	log   *zap.Logger

	mu      sync.RWMutex
	types   map[string]*record.EventType
	sink    Sink
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

// WithSink hands every change to s as well; the default is none.
func WithSink(s Sink) Opt { return optFunc(func(t *Table) { t.sink = s }) }

// New returns a table of topic. clientOpts reach Kafka (seed brokers, TLS,
// SASL, hooks); the table adds its own consume options.
func New(clientOpts []kgo.Opt, topic string, opts ...Opt) *Table {
	t := &Table{opts: clientOpts, topic: topic, log: zap.NewNop(), types: map[string]*record.EventType{}, ready: make(chan struct{})}
	for _, o := range opts {
		o.apply(t)
	}
	return t
}

// Get returns a copy of event type name.
func (t *Table) Get(name string) (record.EventType, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	et, ok := t.types[name]
	if !ok {
		return record.EventType{}, false
	}
	return *et, true
}

// All returns the event types sorted by name. The pointers are shared and
// must not be modified.
func (t *Table) All() []*record.EventType {
	t.mu.RLock()
	out := make([]*record.EventType, 0, len(t.types))
	for _, et := range t.types {
		out = append(out, et)
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len returns the number of event types.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.types)
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
		return fmt.Errorf("typetable: %w", context.Cause(ctx))
	}
}

func (t *Table) markReady() {
	t.readyOnce.Do(func() {
		close(t.ready)
		t.log.Info("event-type table caught up", zap.Int("event_types", t.Len()))
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
		return fmt.Errorf("typetable: %w", err)
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
		out.fail(t.log, "listing event-type topic offsets; retrying", err)
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
			out.fail(t.log, "fetching event types", err, zap.String("topic", topic), zap.Int32("partition", p))
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
	log.Info("event-type table reading again", zap.Duration("after", time.Since(o.since).Round(time.Millisecond)), zap.Int("failures", o.failures))
	*o = outage{}
}

func (t *Table) apply(r *kgo.Record) {
	name := string(r.Key)
	if name == "" {
		t.invalid.Add(1)
		t.log.Warn("skipping event-type record without key", zap.Int64("offset", r.Offset))
		return
	}
	var next *record.EventType
	if r.Value != nil {
		et, err := record.DecodeEventType(r.Value)
		if err != nil {
			t.invalid.Add(1)
			t.log.Warn("skipping undecodable event-type record", zap.String("event_type", name), zap.Int64("offset", r.Offset), zap.Error(err))
			return
		}
		if et.Name != name {
			t.invalid.Add(1)
			t.log.Warn("skipping event-type record whose key and name differ", zap.String("key", name), zap.String("event_type", et.Name))
			return
		}
		next = &et
	}
	// The sink first: once Get shows a change, validation applies it.
	if t.sink != nil {
		if next == nil {
			t.sink.Delete(name)
		} else if err := t.sink.Put(name, next.Schema); err != nil {
			t.log.Warn("event type's schema does not compile; its events fail validation", zap.String("event_type", name), zap.Error(err))
		}
	}
	t.mu.Lock()
	if next == nil {
		delete(t.types, name)
	} else {
		t.types[name] = next
	}
	t.mu.Unlock()
	t.version.Add(1)
}
