package kafkatest_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBrokerIsTheOneConfigured proves that, with KAFKA_BROKERS set, tests
// talk to exactly that broker and not to a fallback.
func TestBrokerIsTheOneConfigured(t *testing.T) {
	c := kafkatest.New(t)
	t.Logf("broker kind %s at %v", c.Kind, c.Brokers)
	env := os.Getenv("KAFKA_BROKERS")
	if env == "" {
		if c.Kind == kafkatest.KindEnv {
			t.Fatalf("kind %s without KAFKA_BROKERS", c.Kind)
		}
		return
	}
	if c.Kind != kafkatest.KindEnv {
		t.Fatalf("KAFKA_BROKERS=%s but kind is %s", env, c.Kind)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	meta, err := c.Admin(t).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The brokers the cluster advertises must include the one we named.
	var advertised []string
	for _, b := range meta.Brokers {
		advertised = append(advertised, fmt.Sprintf("%s:%d", b.Host, b.Port))
	}
	for _, want := range strings.Split(env, ",") {
		if !slices.Contains(advertised, strings.TrimSpace(want)) {
			t.Fatalf("broker %s not among advertised %v", want, advertised)
		}
	}
	// kfake names itself "kfake"; a real Apache Kafka does not.
	if strings.Contains(meta.Cluster, "kfake") {
		t.Fatalf("cluster id %q looks like kfake", meta.Cluster)
	}
	t.Logf("cluster id %s, controller %d, brokers %v", meta.Cluster, meta.Controller, advertised)
}

func TestProduceConsume(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	topic := c.Topic(t, 3, nil)
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const n = 100
	for i := range n {
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("got %d of %d records: %v", len(seen), n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
}

// TestGroupCommit consumes in a group, commits, and checks that a second
// member of the group resumes after the committed offsets.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	topic := c.Topic(t, 2, nil)
	group := kafkatest.Name(t, "g")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	prod := c.Client(t)
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	consume := func(want int) []string {
		t.Helper()
		cl, err := kgo.NewClient(append(c.Opts(), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var got []string
		for len(got) < want {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("got %d of %d: %v", len(got), want, err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		return got
	}
	produce(0, 10)
	if got := consume(10); len(got) != 10 {
		t.Fatalf("first member got %d records", len(got))
	}
	produce(10, 15)
	got := consume(5)
	slices.Sort(got)
	if want := []string{"10", "11", "12", "13", "14"}; !slices.Equal(got, want) {
		t.Fatalf("after commit, second member got %v, want %v", got, want)
	}
	offs, err := c.Admin(t).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 15 {
		t.Fatalf("committed offsets sum to %d, want 15", total)
	}
}

// TestCompactedTopic checks that a compacted topic keeps keys, accepts
// tombstones, and reports its cleanup policy.
func TestCompactedTopic(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, map[string]string{"cleanup.policy": "compact"})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	rc, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := rc.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	policy := ""
	for _, kv := range cfg.Configs {
		if kv.Key == "cleanup.policy" {
			policy = kv.MaybeValue()
		}
	}
	if policy != "compact" {
		t.Fatalf("cleanup.policy = %q, want compact", policy)
	}
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := []*kgo.Record{
		{Topic: topic, Key: []byte("a"), Value: []byte("1")},
		{Topic: topic, Key: []byte("a"), Value: []byte("2")},
		{Topic: topic, Key: []byte("b"), Value: []byte("1")},
		{Topic: topic, Key: []byte("b"), Value: nil}, // tombstone
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Replaying the topic into a map gives the table a compacted topic holds.
	table := map[string]string{}
	n := 0
	for n < len(recs) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if r.Value == nil {
				delete(table, string(r.Key))
				return
			}
			table[string(r.Key)] = string(r.Value)
		})
	}
	if len(table) != 1 || table["a"] != "2" {
		t.Fatalf("table = %v, want a=2 only", table)
	}
}

// TestTransaction produces in a transaction that aborts and one that
// commits; a read_committed consumer sees only the committed records.
func TestTransaction(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	txn := c.Client(t, kgo.TransactionalID(kafkatest.Name(t, "txn")), kgo.DefaultProduceTopic(topic))
	run := func(commit bool, vals ...string) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if err := txn.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	run(false, "aborted-1", "aborted-2")
	run(true, "committed-1", "committed-2")
	// A plain record after the transactions marks the end to read up to.
	if err := c.Client(t).ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("end")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	for !slices.Contains(got, "end") {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("got %v: %v", got, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if want := []string{"committed-1", "committed-2", "end"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed got %v, want %v", got, want)
	}
}
