// Package subadmin changes subscriptions: it writes Subscription records
// (and tombstones) to the compacted subscriptions topic, reads the current
// state from the subscription table tailing that topic, and after each
// write waits, within a bound, until the table reflects it, so a read that
// follows a write sees it (read-your-writes).
//
// Every write bumps the subscription's revision (record.Subscription.Revision);
// Update and DeleteIf take a precondition on the current subscription, which
// the API builds from If-Match. Writes of one process are serialized, so
// read-modify-write updates of one process never lose each other's changes,
// and a precondition holds against everything this process's table has
// read. Two producer processes writing the same subscription within the
// time it takes the other's table to read the first write can still both
// pass a precondition: the last write wins.
package subadmin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/filter"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Errors of Store operations; match with errors.Is.
var (
	ErrNotFound = errors.New("subscription not found")
	ErrExists   = errors.New("subscription already exists")
	// ErrNotReady means the subscription table has not caught up with the
	// topic yet, so the current state is unknown.
	ErrNotReady = errors.New("subscription table has not caught up")
	// ErrPrecondition means a write's precondition (If-Match) does not hold
	// for the current subscription.
	ErrPrecondition = errors.New("subscription precondition failed")
)

// Precondition checks the current subscription before a write; it returns
// an error wrapping ErrPrecondition to refuse the write. A nil
// Precondition always holds.
type Precondition func(cur *record.Subscription) error

// InvalidError lists what is wrong with a subscription, by field.
type InvalidError struct {
	Fields []record.FieldError
}

func (e *InvalidError) Error() string {
	s := "invalid subscription"
	for i, f := range e.Fields {
		if i == 0 {
			s += ": "
		} else {
			s += "; "
		}
		s += f.Error()
	}
	return s
}

func (e *InvalidError) Unwrap() error { return record.ErrInvalid }

// Table is the subscription table the store reads; *subtable.Table is one.
type Table interface {
	Get(id string) (record.Subscription, bool)
	All() []*record.Subscription
	Check() error
}

// TestEventType is the type of the events SendTest produces.
const TestEventType = "hookline.test"

// Store changes subscriptions.
type Store struct {
	cl     *kgo.Client
	table  Table
	names  topic.Names
	source string
	log    *zap.Logger
	now    func() time.Time
	wait   time.Duration

	mu sync.Mutex // serializes writes
}

// Opt configures a Store.
type Opt interface{ apply(*Store) }

type opt func(*Store)

func (o opt) apply(s *Store) { o(s) }

// WithLogger sets the logger; the default discards.
func WithLogger(l *zap.Logger) Opt { return opt(func(s *Store) { s.log = l }) }

// WithClock sets the clock of created_at, updated_at and secret expiry;
// the default is time.Now.
func WithClock(now func() time.Time) Opt { return opt(func(s *Store) { s.now = now }) }

// ReadYourWritesTimeout bounds how long a write waits for the table to
// reflect it; the default is 5 s. The write is durable either way.
func ReadYourWritesTimeout(d time.Duration) Opt { return opt(func(s *Store) { s.wait = d }) }

// TestSource sets the source of test events; the default is
// "urn:hookline:producer".
func TestSource(src string) Opt { return opt(func(s *Store) { s.source = src }) }

// New returns a store writing through cl (idempotent, acks=all) to the
// topics of names and reading table.
func New(cl *kgo.Client, table Table, names topic.Names, opts ...Opt) *Store {
	s := &Store{cl: cl, table: table, names: names, source: "urn:hookline:producer",
		log: zap.NewNop(), now: time.Now, wait: 5 * time.Second}
	for _, o := range opts {
		o.apply(s)
	}
	return s
}

// Get returns subscription id.
func (s *Store) Get(id string) (record.Subscription, error) {
	if err := s.table.Check(); err != nil {
		return record.Subscription{}, ErrNotReady
	}
	sub, ok := s.table.Get(id)
	if !ok {
		return record.Subscription{}, ErrNotFound
	}
	return sub, nil
}

// List returns up to limit subscriptions with ids after after, sorted by
// id, and the id to pass as after for the next page ("" on the last).
func (s *Store) List(after string, limit int) ([]record.Subscription, string, error) {
	if err := s.table.Check(); err != nil {
		return nil, "", ErrNotReady
	}
	all := s.table.All()
	i := sort.Search(len(all), func(i int) bool { return all[i].ID > after })
	out := make([]record.Subscription, 0, min(limit, len(all)-i))
	for ; i < len(all) && len(out) < limit; i++ {
		out = append(out, *all[i])
	}
	next := ""
	if i < len(all) && len(out) > 0 {
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// Validate checks sub as the router and dispatcher will need it,
// including that its filter compiles.
func Validate(sub *record.Subscription) error {
	var fields []record.FieldError
	if err := sub.Validate(); err != nil {
		var fe *record.FieldError
		if !errors.As(err, &fe) {
			return err
		}
		fields = append(fields, *fe)
	}
	if sub.Filter != "" {
		if _, err := filter.Compile(sub.Filter); err != nil {
			var fe *filter.Error
			msg := err.Error()
			if errors.As(err, &fe) {
				msg = fe.Msg
			}
			fields = append(fields, record.FieldError{Field: "filter", Message: msg})
		}
	}
	if len(fields) > 0 {
		return &InvalidError{Fields: fields}
	}
	return nil
}

// NewID returns a fresh subscription id.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "sub_" + hex.EncodeToString(b[:])
}

// Create writes a new subscription with a fresh signing secret and
// returns it with the secret's "whsec_" form, which is not shown again.
// An empty id gets NewID. CreatedAt, UpdatedAt, state and secrets are set
// here, whatever sub holds.
func (s *Store) Create(ctx context.Context, sub record.Subscription) (record.Subscription, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.table.Check(); err != nil {
		return record.Subscription{}, "", ErrNotReady
	}
	if sub.ID == "" {
		sub.ID = NewID()
	}
	if _, ok := s.table.Get(sub.ID); ok {
		return record.Subscription{}, "", fmt.Errorf("%w: %s", ErrExists, sub.ID)
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return record.Subscription{}, "", err
	}
	now := s.now().UTC()
	sub.Secrets = []record.Secret{{Key: secret.Encode()}}
	sub.CreatedAt, sub.UpdatedAt = now, now
	sub.State, sub.StateReason = record.StateActive, ""
	sub.Revision = 1
	sub.Normalize()
	if err := Validate(&sub); err != nil {
		return record.Subscription{}, "", err
	}
	if err := s.put(ctx, &sub); err != nil {
		return record.Subscription{}, "", err
	}
	return sub, secret.Encode(), nil
}

// Update applies fn to the current subscription id and writes the result.
// fn may change any field but the id, created_at and revision; UpdatedAt
// and the next revision are set here. fn may refuse with an error of its
// own, or with one wrapping ErrPrecondition when the current subscription
// is not the one the client expects. Returns ErrNotFound, an
// *InvalidError, fn's error, or a Kafka error.
func (s *Store) Update(ctx context.Context, id string, fn func(*record.Subscription) error) (record.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.table.Check(); err != nil {
		return record.Subscription{}, ErrNotReady
	}
	cur, ok := s.table.Get(id)
	if !ok {
		return record.Subscription{}, ErrNotFound
	}
	next := cur.Redacted() // a deep copy; the secrets are restored below
	next.Secrets = append([]record.Secret(nil), cur.Secrets...)
	if err := fn(&next); err != nil {
		return record.Subscription{}, err
	}
	next.ID, next.CreatedAt = cur.ID, cur.CreatedAt
	next.Revision = cur.Revision + 1
	next.UpdatedAt = s.now().UTC()
	if !next.UpdatedAt.After(cur.UpdatedAt) {
		// Keep updated_at increasing so the wait below can tell the
		// records apart even when the clock steps back.
		next.UpdatedAt = cur.UpdatedAt.Add(time.Nanosecond)
	}
	next.Normalize()
	if err := Validate(&next); err != nil {
		return record.Subscription{}, err
	}
	if err := s.put(ctx, &next); err != nil {
		return record.Subscription{}, err
	}
	return next, nil
}

// Rotate adds a fresh signing secret in front of the others and lets each
// older secret expire after grace at the latest (0: at once), so receivers
// have time to switch. Secrets already expired are dropped. It returns the
// subscription and the new secret's "whsec_" form, shown only here.
func (s *Store) Rotate(ctx context.Context, id string, grace time.Duration) (record.Subscription, string, error) {
	secret, err := webhook.NewSecret()
	if err != nil {
		return record.Subscription{}, "", err
	}
	sub, err := s.Update(ctx, id, func(sub *record.Subscription) error {
		sub.Secrets = record.RotateSecrets(sub.Secrets, secret.Encode(), s.now().UTC(), grace)
		return nil
	})
	if err != nil {
		return record.Subscription{}, "", err
	}
	return sub, secret.Encode(), nil
}

// Delete writes the tombstone of subscription id.
func (s *Store) Delete(ctx context.Context, id string) error { return s.DeleteIf(ctx, id, nil) }

// DeleteIf writes the tombstone of subscription id if check holds for it.
func (s *Store) DeleteIf(ctx context.Context, id string, check Precondition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.table.Check(); err != nil {
		return ErrNotReady
	}
	cur, ok := s.table.Get(id)
	if !ok {
		return ErrNotFound
	}
	if check != nil {
		if err := check(&cur); err != nil {
			return err
		}
	}
	if err := s.produce(ctx, record.Tombstone(s.names.Subscriptions(), id)); err != nil {
		return fmt.Errorf("writing tombstone: %w", err)
	}
	s.awaitTable(ctx, id, func(_ record.Subscription, ok bool) bool { return !ok })
	return nil
}

// SendTest produces a hookline.test event straight to the deliveries topic
// for subscription id alone (the router never sees it), with data as its
// JSON data (a short message when empty). The dispatcher delivers it like
// any other delivery.
func (s *Store) SendTest(ctx context.Context, id string, data []byte) (record.Delivery, error) {
	sub, err := s.Get(id)
	if err != nil {
		return record.Delivery{}, err
	}
	now := s.now().UTC()
	if len(data) == 0 {
		data = fmt.Appendf(nil, `{"message":"This is a test event from Hookline.","subscription_id":%q}`, sub.ID)
	}
	ev := event.Event{
		ID: "test_" + NewID()[len("sub_"):], Source: s.source, Type: TestEventType, SpecVersion: event.SpecVersion,
		Time: now, Subject: sub.ID, DataContentType: event.ContentTypeJSON, Data: data,
	}
	d := record.NewDelivery(ev, sub.ID, now)
	rec, err := d.Record(s.names.Deliveries())
	if err != nil {
		return record.Delivery{}, err
	}
	if err := s.produce(ctx, rec); err != nil {
		return record.Delivery{}, fmt.Errorf("producing test delivery: %w", err)
	}
	return d, nil
}

func (s *Store) put(ctx context.Context, sub *record.Subscription) error {
	rec, err := sub.Record(s.names.Subscriptions())
	if err != nil {
		return err
	}
	if err := s.produce(ctx, rec); err != nil {
		return fmt.Errorf("writing subscription: %w", err)
	}
	want, rev := sub.UpdatedAt, sub.Revision
	s.awaitTable(ctx, sub.ID, func(got record.Subscription, ok bool) bool {
		return ok && got.Revision >= rev && !got.UpdatedAt.Before(want)
	})
	return nil
}

// produce writes rec and waits for Kafka's acknowledgement or the end of
// ctx, whichever comes first: an idempotent producer cannot abandon a
// record already sent, so ProduceSync could outlive ctx. Errors are
// classified as the publish package does (ErrBrokerUnavailable...).
func (s *Store) produce(ctx context.Context, rec *kgo.Record) error {
	done := make(chan error, 1)
	s.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		return publish.Classify(err)
	case <-ctx.Done():
		return publish.Classify(ctx.Err())
	}
}

// awaitTable waits until done holds for the table's entry of id, at most
// s.wait. The write it waits for is already durable, so running out of
// time is logged, not returned.
func (s *Store) awaitTable(ctx context.Context, id string, done func(record.Subscription, bool) bool) {
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if done(s.table.Get(id)) {
			return
		}
		select {
		case <-ctx.Done():
			s.log.Warn("subscription table did not reflect a write in time; reads may be stale",
				zap.String("subscription_id", id), zap.Duration("waited", s.wait))
			return
		case <-tick.C:
		}
	}
}
