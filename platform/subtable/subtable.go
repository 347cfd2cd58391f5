// Package subtable keeps the subscription table in memory: it reads the
// compacted subscriptions topic from the beginning, then tails it. Newer
// records replace older ones, tombstones delete. The router and the
// dispatcher each run one Table and read subscriptions from it at the
// moment they need them, so configuration changes apply mid-flight.
//
// A Table is ready once it has read up to the end offsets the topic had
// when Run started; /readyz reports that.
package subtable

import (
	"context"
	"errors"
	"fmt"
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

// Check returns nil once ready; use it as a readiness check.
func (t *Table) Check() error {
	select {
	case <-t.ready:
		return nil
	default:
		return ErrNotReady
	}
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

// Run reads and tails the topic until ctx ends.
func (t *Table) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, t.opts...),
		kgo.ConsumeTopics(t.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.KeepControlRecords(),
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
		t.log.Warn("listing subscription topic offsets; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
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
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.log.Warn("fetching subscriptions", zap.String("topic", topic), zap.Int32("partition", p), zap.Error(err))
		})
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
