package subadmin_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/producer/internal/subadmin"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	c     *kafkatest.Cluster
	names topic.Names
	table *subtable.Table
	store *subadmin.Store
	clock *clock
}

func newFixture(t *testing.T, opts ...subadmin.Opt) *fixture {
	t.Helper()
	c := kafkatest.New(t)
	names := topic.New(kafkatest.Name(t, "hl") + ".")
	for _, s := range names.Specs(topic.SpecOpts{Partitions: 1}) {
		if s.Name == names.Subscriptions() || s.Name == names.Deliveries() {
			c.CreateTopics(t, s)
		}
	}
	f := &fixture{c: c, names: names, clock: &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}}
	f.table = subtable.New(c.Opts(), names.Subscriptions())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.table.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := f.table.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	cl := c.Client(t)
	f.store = subadmin.New(cl, f.table, names, append([]subadmin.Opt{subadmin.WithClock(f.clock.Now)}, opts...)...)
	return f
}

func valid() record.Subscription {
	return record.Subscription{URL: "https://example.com/hook", EventTypes: []string{"payment.*"}}
}

func TestRotateKeepsABoundedSetOfUnexpiredSecrets(t *testing.T) {
	f := newFixture(t)
	sub, first, err := f.store.Create(t.Context(), valid())
	if err != nil {
		t.Fatal(err)
	}
	// Rotate with a one-hour grace: the first secret expires in an hour.
	sub, second, err := f.store.Rotate(t.Context(), sub.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Secrets) != 2 || sub.Secrets[0].Key != second || sub.Secrets[1].Key != first ||
		!sub.Secrets[1].ExpiresAt.Equal(f.clock.Now().Add(time.Hour)) {
		t.Fatalf("after one rotation: %+v", sub.Secrets)
	}
	// A longer grace later never extends an expiry already set.
	f.clock.Add(time.Minute)
	sub, _, err = f.store.Rotate(t.Context(), sub.ID, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := *sub.Secrets[2].ExpiresAt; !got.Equal(f.clock.Now().Add(59 * time.Minute)) {
		t.Fatalf("the first secret's expiry moved to %v", got)
	}
	// Once expired, secrets are dropped at the next rotation.
	f.clock.Add(2 * time.Hour)
	sub, _, err = f.store.Rotate(t.Context(), sub.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sub.Secrets {
		if s.Key == first {
			t.Fatal("an expired secret survived a rotation")
		}
	}
	// Many rotations keep at most MaxSecrets.
	for range record.MaxSecrets + 2 {
		if sub, _, err = f.store.Rotate(t.Context(), sub.ID, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if len(sub.Secrets) != record.MaxSecrets {
		t.Fatalf("%d secrets, want %d", len(sub.Secrets), record.MaxSecrets)
	}
	// What the store returned is what the table holds.
	stored, ok := f.table.Get(sub.ID)
	if !ok || len(stored.Secrets) != len(sub.Secrets) || stored.Secrets[0].Key != sub.Secrets[0].Key {
		t.Fatalf("table holds %+v", stored.Secrets)
	}
}

func TestUpdateKeepsIDAndCreatedAtAndOrdersUpdates(t *testing.T) {
	f := newFixture(t)
	sub, _, err := f.store.Create(t.Context(), valid())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(-time.Hour) // the clock steps back
	got, err := f.store.Update(t.Context(), sub.ID, func(s *record.Subscription) error {
		s.ID, s.CreatedAt, s.URL = "other", time.Time{}, "https://example.com/v2"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != sub.ID || !got.CreatedAt.Equal(sub.CreatedAt) || !got.UpdatedAt.After(sub.UpdatedAt) {
		t.Fatalf("update: %+v (was %+v)", got, sub)
	}
	if stored, _ := f.table.Get(sub.ID); stored.URL != "https://example.com/v2" {
		t.Fatalf("the table did not see the update: %+v", stored)
	}
	wantErr := errors.New("refused by fn")
	if _, err := f.store.Update(t.Context(), sub.ID, func(*record.Subscription) error { return wantErr }); !errors.Is(err, wantErr) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if _, err := f.store.Update(t.Context(), "missing", func(*record.Subscription) error { return nil }); !errors.Is(err, subadmin.ErrNotFound) {
		t.Fatalf("Update of a missing id = %v", err)
	}
	var ie *subadmin.InvalidError
	_, err = f.store.Update(t.Context(), sub.ID, func(s *record.Subscription) error {
		s.URL, s.Filter = "gopher://x", "nope("
		return nil
	})
	if !errors.As(err, &ie) || len(ie.Fields) != 2 || ie.Fields[0].Field != "url" || ie.Fields[1].Field != "filter" {
		t.Fatalf("Update with a bad URL and filter = %v", err)
	}
}

// stale is a table that is ready but never changes: writes are never
// reflected in it.
type stale struct{}

func (stale) Get(string) (record.Subscription, bool) { return record.Subscription{}, false }
func (stale) All() []*record.Subscription            { return nil }
func (stale) Check() error                           { return nil }

// loading is a table that has not caught up.
type loading struct{ stale }

func (loading) Check() error { return subtable.ErrNotReady }

func TestReadYourWritesIsBounded(t *testing.T) {
	c := kafkatest.New(t)
	names := topic.New(kafkatest.Name(t, "hl") + ".")
	c.CreateTopics(t, topic.Spec{Name: names.Subscriptions(), Partitions: 1, ReplicationFactor: 1})
	store := subadmin.New(c.Client(t), stale{}, names, subadmin.ReadYourWritesTimeout(200*time.Millisecond))
	start := time.Now()
	sub, _, err := store.Create(t.Context(), valid())
	if err != nil {
		t.Fatalf("Create = %v: the write is durable, so a stale table is not an error", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("Create returned after %v, before the table could reflect it", waited)
	}
	// The record was written all the same.
	cl := c.Client(t, kgo.ConsumeTopics(names.Subscriptions()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := cl.PollFetches(t.Context()).Records()
	if len(recs) != 1 || string(recs[0].Key) != sub.ID {
		t.Fatalf("records: %v", recs)
	}
}

func TestNotReady(t *testing.T) {
	c := kafkatest.New(t)
	store := subadmin.New(c.Client(t), loading{}, topic.New("x."))
	ctx := t.Context()
	checks := map[string]error{}
	_, checks["Get"] = store.Get("a")
	_, _, checks["List"] = store.List("", 10)
	_, _, checks["Create"] = store.Create(ctx, valid())
	_, checks["Update"] = store.Update(ctx, "a", func(*record.Subscription) error { return nil })
	_, _, checks["Rotate"] = store.Rotate(ctx, "a", time.Hour)
	checks["Delete"] = store.Delete(ctx, "a")
	_, checks["SendTest"] = store.SendTest(ctx, "a", nil)
	for op, err := range checks {
		if !errors.Is(err, subadmin.ErrNotReady) {
			t.Errorf("%s = %v, want ErrNotReady", op, err)
		}
	}
}
