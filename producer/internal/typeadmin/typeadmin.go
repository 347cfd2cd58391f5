// Package typeadmin changes the event-type catalogue: it writes EventType
// records (and tombstones) to the compacted event-types topic, reads the
// current state from the event-type table tailing that topic, and after
// each write waits, within a bound, until the table reflects it, so a read
// that follows a write on the same replica sees it.
//
// Every write bumps the type's revision; Put and Delete take a
// precondition on the current type (the API's If-Match). Writes of one
// process are serialized; across replicas the caveat of subadmin holds.
package typeadmin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Errors of Store operations; match with errors.Is.
var (
	ErrNotFound     = errors.New("event type not found")
	ErrExists       = errors.New("event type already exists")
	ErrNotReady     = errors.New("event-type table has not caught up")
	ErrPrecondition = errors.New("event type precondition failed")
)

// InvalidError is an event type that cannot be registered: Field names the
// member ("name", "schema", "example"), Message why.
type InvalidError struct {
	Field, Message string
}

func (e *InvalidError) Error() string { return "invalid event type: " + e.Field + ": " + e.Message }

// Precondition checks the current type (nil when there is none) before a
// write; it returns an error wrapping ErrPrecondition to refuse it.
type Precondition func(cur *record.EventType) error

// Table is the event-type table the store reads; *typetable.Table is one.
type Table interface {
	Get(name string) (record.EventType, bool)
	All() []*record.EventType
	Check() error
}

// Store changes event types.
type Store struct {
	cl    *kgo.Client
	table Table
	topic string
	log   *zap.Logger
	now   func() time.Time
	wait  time.Duration

	mu sync.Mutex // serializes writes
}

// New returns a store writing through cl to topic and reading table. wait
// bounds how long a write waits for the table to reflect it (5 s when 0).
func New(cl *kgo.Client, table Table, topic string, log *zap.Logger, wait time.Duration) *Store {
	if log == nil {
		log = zap.NewNop()
	}
	if wait <= 0 {
		wait = 5 * time.Second
	}
	return &Store{cl: cl, table: table, topic: topic, log: log, now: time.Now, wait: wait}
}

// Check validates et as registering requires: name and JSON fields, a
// schema that compiles and an example that satisfies it.
func Check(et *record.EventType) error {
	if err := et.Validate(); err != nil {
		var fe *record.FieldError
		if errors.As(err, &fe) {
			return &InvalidError{Field: fe.Field, Message: fe.Message}
		}
		return err
	}
	if err := registry.Check(et.Name, et.Schema, et.Example); err != nil {
		var ce *registry.CompileError
		if errors.As(err, &ce) {
			return &InvalidError{Field: "schema", Message: ce.Err.Error()}
		}
		return &InvalidError{Field: "example", Message: err.Error()}
	}
	return nil
}

// Get returns event type name.
func (s *Store) Get(name string) (record.EventType, error) {
	if err := s.table.Check(); err != nil {
		return record.EventType{}, ErrNotReady
	}
	et, ok := s.table.Get(name)
	if !ok {
		return record.EventType{}, ErrNotFound
	}
	return et, nil
}

// List returns every event type, sorted by name.
func (s *Store) List() ([]record.EventType, error) {
	if err := s.table.Check(); err != nil {
		return nil, ErrNotReady
	}
	all := s.table.All()
	out := make([]record.EventType, len(all))
	for i, et := range all {
		out[i] = *et
	}
	return out, nil
}

// Put writes et, creating it (created true) or replacing the current one
// when mustCreate is false; with mustCreate an existing type is ErrExists.
// Times and revision are set here.
func (s *Store) Put(ctx context.Context, et record.EventType, mustCreate bool, check Precondition) (record.EventType, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.table.Check(); err != nil {
		return record.EventType{}, false, ErrNotReady
	}
	if err := Check(&et); err != nil {
		return record.EventType{}, false, err
	}
	cur, exists := s.table.Get(et.Name)
	if exists && mustCreate {
		return record.EventType{}, false, fmt.Errorf("%w: %s", ErrExists, et.Name)
	}
	if check != nil {
		var c *record.EventType
		if exists {
			c = &cur
		}
		if err := check(c); err != nil {
			return record.EventType{}, false, err
		}
	}
	now := s.now().UTC()
	et.V, et.UpdatedAt = record.Version, now
	if exists {
		et.CreatedAt, et.Revision = cur.CreatedAt, cur.Revision+1
	} else {
		et.CreatedAt, et.Revision = now, 1
	}
	rec, err := et.Record(s.topic)
	if err != nil {
		return record.EventType{}, false, err
	}
	if err := s.produce(ctx, rec); err != nil {
		return record.EventType{}, false, err
	}
	rev := et.Revision
	s.await(ctx, et.Name, func(got record.EventType, ok bool) bool { return ok && got.Revision >= rev })
	return et, !exists, nil
}

// Delete writes the tombstone of event type name if check holds.
func (s *Store) Delete(ctx context.Context, name string, check Precondition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.table.Check(); err != nil {
		return ErrNotReady
	}
	cur, ok := s.table.Get(name)
	if !ok {
		return ErrNotFound
	}
	if check != nil {
		if err := check(&cur); err != nil {
			return err
		}
	}
	if err := s.produce(ctx, record.Tombstone(s.topic, name)); err != nil {
		return err
	}
	s.await(ctx, name, func(_ record.EventType, ok bool) bool { return !ok })
	return nil
}

func (s *Store) produce(ctx context.Context, rec *kgo.Record) error {
	done := make(chan error, 1)
	s.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("writing event type: %w", publish.Classify(err))
		}
		return nil
	case <-ctx.Done():
		return publish.Classify(ctx.Err())
	}
}

// await waits until done holds for the table's entry of name, at most
// s.wait; the write is durable either way, so running out is only logged.
func (s *Store) await(ctx context.Context, name string, done func(record.EventType, bool) bool) {
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if done(s.table.Get(name)) {
			return
		}
		select {
		case <-ctx.Done():
			s.log.Warn("event-type table did not reflect a write in time; reads may be stale", zap.String("event_type", name))
			return
		case <-tick.C:
		}
	}
}
