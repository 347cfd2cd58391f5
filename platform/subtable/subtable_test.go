package subtable_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func sub(id, url string) *record.Subscription {
	s := &record.Subscription{ID: id, URL: url, EventTypes: []string{"*"}, Secrets: []record.Secret{{Key: secret}}}
	s.Normalize()
	return s
}

func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func rec(t *testing.T, topic string, s *record.Subscription) *kgo.Record {
	t.Helper()
	r, err := s.Record(topic)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func TestTableCatchesUpThenTails(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, map[string]string{"cleanup.policy": "compact"})
	cl := c.Client(t)
	// History before the table starts: a replaced record, a deleted one,
	// and a record that does not decode.
	produce(t, cl,
		rec(t, topic, sub("a", "https://a.example/v1")),
		rec(t, topic, sub("a", "https://a.example/v2")),
		rec(t, topic, sub("b", "https://b.example")),
		record.Tombstone(topic, "b"),
		&kgo.Record{Topic: topic, Key: []byte("c"), Value: []byte("not json")},
		rec(t, topic, sub("d", "https://d.example")),
	)
	tbl := subtable.New(c.Opts(), topic)
	if err := tbl.Check(); err == nil {
		t.Fatal("ready before Run")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tbl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer wcancel()
	if err := tbl.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := tbl.Get("a"); !ok || got.URL != "https://a.example/v2" {
		t.Fatalf("a = %+v, %v; want v2", got, ok)
	}
	if _, ok := tbl.Get("b"); ok {
		t.Fatal("b survived its tombstone")
	}
	if _, ok := tbl.Get("c"); ok {
		t.Fatal("undecodable c is in the table")
	}
	if tbl.Len() != 2 || tbl.Invalid() != 1 {
		t.Fatalf("len %d invalid %d, want 2 and 1", tbl.Len(), tbl.Invalid())
	}
	// Changes after catching up apply without a restart.
	v := tbl.Version()
	paused := sub("a", "https://a.example/v3")
	paused.State = record.StatePaused
	produce(t, cl, rec(t, topic, paused), record.Tombstone(topic, "d"))
	waitFor(t, "tailing", func() bool { _, dOK := tbl.Get("d"); return !dOK && tbl.Version() >= v+2 })
	if got, _ := tbl.Get("a"); got.Active() || got.URL != "https://a.example/v3" {
		t.Fatalf("a = %+v, want paused v3", got)
	}
	ids := []string{}
	for _, s := range tbl.All() {
		ids = append(ids, s.ID)
	}
	if len(ids) != 1 || ids[0] != "a" {
		t.Fatalf("All = %v, want [a]", ids)
	}
}

func TestEmptyTopicIsReadyAtOnce(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, map[string]string{"cleanup.policy": "compact"})
	tbl := subtable.New(c.Opts(), topic)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tbl.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer wcancel()
	if err := tbl.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReadyWhenTopicEndsInTransactionMarkers writes subscriptions in a
// committed transaction and then aborts one, so the topic's last offsets
// are markers and aborted records no read_committed reader returns. The
// table must still catch up, and hold only the committed subscription.
func TestReadyWhenTopicEndsInTransactionMarkers(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, map[string]string{"cleanup.policy": "compact"})
	txn := c.Client(t, kgo.TransactionalID(kafkatest.Name(t, "txn")))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	write := func(commit bool, s *record.Subscription) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, rec(t, topic, s)).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	write(true, sub("kept", "https://kept.example"))
	write(false, sub("aborted", "https://aborted.example"))
	// Real Kafka writes the abort marker after EndTransaction returns; wait
	// until the end offset covers it (two records, two markers).
	adm := c.Admin(t)
	waitFor(t, "the abort marker", func() bool {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false
		}
		o, _ := ends.Lookup(topic, 0)
		return o.Offset >= 4
	})

	tbl := subtable.New(c.Opts(), topic)
	rctx, rcancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tbl.Run(rctx) }()
	t.Cleanup(func() {
		rcancel()
		<-done
	})
	if err := tbl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := tbl.Get("kept"); !ok || tbl.Len() != 1 {
		t.Fatalf("table holds %d subscriptions (kept present: %v), want only kept", tbl.Len(), ok)
	}
}

// TestReadyWhenRecordsWereDeleted empties a non-empty topic with
// DeleteRecords (as retention would): nothing is left to read, so the table
// is ready at once.
func TestReadyWhenRecordsWereDeleted(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, nil)
	produce(t, c.Client(t), rec(t, topic, sub("gone", "https://gone.example")))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := adm.DeleteRecords(ctx, ends.Offsets())
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	tbl := subtable.New(c.Opts(), topic)
	rctx, rcancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tbl.Run(rctx) }()
	t.Cleanup(func() {
		rcancel()
		<-done
	})
	if err := tbl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if tbl.Len() != 0 {
		t.Fatalf("table holds %d subscriptions after their records were deleted", tbl.Len())
	}
}

// TestRidesOutBrokerRestart stops the broker under a ready table: Check
// reports ErrUnreachable, Run keeps going, and once the broker is back on
// the same port and data the table reads what changed and is ready again.
func TestRidesOutBrokerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	addr := kc.ListenAddrs()[0]
	c := &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: []string{addr}}
	topic := c.Topic(t, 1, map[string]string{"cleanup.policy": "compact"})
	cl := c.Client(t)
	produce(t, cl, rec(t, topic, sub("a", "https://a.example/hook")))
	tab := subtable.New(c.Opts(), topic)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tab.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, "the table to be ready", func() bool { return tab.Check() == nil && tab.Len() == 1 })

	kc.Close()
	waitFor(t, "Check to report the outage", func() bool { return errors.Is(tab.Check(), subtable.ErrUnreachable) })
	select {
	case err := <-done:
		t.Fatalf("Run ended during the outage: %v", err)
	default:
	}

	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	kc, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DataDir(dir), kfake.Ports(port))
	if err != nil {
		t.Fatalf("restarting the broker on port %d: %v", port, err)
	}
	t.Cleanup(kc.Close)
	produce(t, cl, rec(t, topic, sub("b", "https://b.example/hook")))
	waitFor(t, "the table to read the change made after the restart", func() bool {
		_, ok := tab.Get("b")
		return ok && tab.Check() == nil
	})
}
