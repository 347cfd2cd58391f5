package idemtable_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/producer/internal/idemtable"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// run starts a table of topic and waits until it is ready.
func run(t *testing.T, c *kafkatest.Cluster, topic string, clk *clock) *idemtable.Table {
	t.Helper()
	tb := idemtable.New(c.Opts(), c.Client(t), topic, time.Hour, idemtable.WithClock(clk.Now))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tb.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer wcancel()
	if err := tb.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestTable(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 3, map[string]string{"cleanup.policy": "compact,delete"})
	clk := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	answer := func(key, hash string) record.Idempotency {
		return record.Idempotency{Key: record.IdempotencyKey("s", key), RequestHash: hash, Status: 202, Body: []byte(`{"ids":["x"]}`), CreatedAt: clk.Now()}
	}
	// An undecodable record is skipped.
	c.Client(t).ProduceSync(t.Context(), &kgo.Record{Topic: topic, Key: []byte("junk"), Value: []byte("{")})

	a := run(t, c, topic, clk)
	if err := a.Put(t.Context(), answer("k1", "h1")); err != nil {
		t.Fatal(err)
	}
	if got, ok := a.Get(record.IdempotencyKey("s", "k1")); !ok || got.RequestHash != "h1" {
		t.Fatalf("Get after Put = %+v %v", got, ok)
	}
	// A racing second answer is written but the first wins on every table.
	if err := a.Put(t.Context(), answer("k1", "h2")); err != nil {
		t.Fatal(err)
	}
	b := run(t, c, topic, clk)
	for name, tb := range map[string]*idemtable.Table{"writer": a, "restarted": b} {
		if got, ok := tb.Get(record.IdempotencyKey("s", "k1")); !ok || got.RequestHash != "h1" {
			t.Errorf("%s: Get = %+v %v, want the first answer", name, got, ok)
		}
	}
	if b.Invalid() != 1 {
		t.Errorf("Invalid() = %d, want 1", b.Invalid())
	}
	// Another table sees a later answer once it reads it.
	if err := a.Put(t.Context(), answer("k2", "h1")); err != nil {
		t.Fatal(err)
	}
	tick, deadline := time.NewTicker(10*time.Millisecond), time.After(30*time.Second)
	defer tick.Stop()
	for _, ok := b.Get(record.IdempotencyKey("s", "k2")); !ok; _, ok = b.Get(record.IdempotencyKey("s", "k2")) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the other table never read k2")
		}
	}
	// Answers expire after the TTL.
	clk.Add(2 * time.Hour)
	if _, ok := b.Get(record.IdempotencyKey("s", "k1")); ok {
		t.Error("expired answer returned")
	}
	if b.Check() != nil {
		t.Errorf("Check = %v", b.Check())
	}
}
