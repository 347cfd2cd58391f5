package httpapi_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/producer/internal/history"
	"github.com/hookline/hookline/producer/internal/httpapi"
	"github.com/hookline/hookline/producer/internal/subadmin"
	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fixedTime stamps events without a time, so tests know what to expect.
var fixedTime = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

const (
	apiKey      = "test-key-1"
	otherAPIKey = "test-key-2"
	seedEvent   = `{"type":"payment_success","amount":49.99,"customer":"jane@example.com"}`
	testSource  = "urn:hookline:test"
)

// env is a producer API on a test broker.
type env struct {
	c      *kafkatest.Cluster
	names  topic.Names
	source string // the events topic
	pub    *publish.Client
	table  *subtable.Table
	store  *subadmin.Store
	api    *httpapi.Server
	srv    *httptest.Server
}

type envOpts struct {
	cluster *kafkatest.Cluster // default kafkatest.New
	cfg     httpapi.Config
	pubOpts []publish.Opt
	apiOpts []httpapi.Opt
}

// newEnv creates the topics the API reads and writes (source,
// subscriptions, deliveries, dlq, attempts) under a unique prefix, and
// serves the API.
func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	c := o.cluster
	if c == nil {
		c = kafkatest.New(t)
	}
	names := topic.New(kafkatest.Name(t, "hl") + ".")
	e := &env{c: c, names: names, source: names.Prefix + "events"}
	var specs []topic.Spec
	for _, s := range names.Specs(topic.SpecOpts{Partitions: 3, Sources: []string{e.source}}) {
		if s.Name == names.Subscriptions() || s.Name == names.Deliveries() || s.Name == e.source ||
			s.Name == names.DLQ() || s.Name == names.Attempts() {
			specs = append(specs, s)
		}
	}
	c.CreateTopics(t, specs...)

	if o.cfg.APIKeys == nil {
		o.cfg.APIKeys = []string{apiKey, otherAPIKey}
	}
	pub, err := publish.New(append([]publish.Opt{
		publish.SeedBrokers(c.Brokers...), publish.Topic(e.source), publish.Source(testSource),
		publish.WithClock(func() time.Time { return fixedTime }),
		publish.MaxEventBytes(cmp.Or(o.cfg.MaxEventBytes, publish.DefaultMaxEventBytes)),
	}, o.pubOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	e.pub = pub

	e.table = subtable.New(c.Opts(), names.Subscriptions())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = e.table.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := e.table.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}

	e.store = subadmin.New(pub.Kafka(), e.table, names)
	e.api = httpapi.New(o.cfg, pub, e.store, append([]httpapi.Opt{httpapi.WithHistory(history.New(pub.Kafka(), c.Opts(), names, 10*time.Second))}, o.apiOpts...)...)
	e.srv = httptest.NewServer(conforming(t, e.api.Handler()))
	t.Cleanup(e.srv.Close)
	return e
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, dst any) {
	t.Helper()
	if err := json.Unmarshal(r.body, dst); err != nil {
		t.Fatalf("answer %d is not JSON (%v): %s", r.status, err, r.body)
	}
}

// errorOf decodes an error answer.
func (r response) errorOf(t testing.TB) errorAnswer {
	t.Helper()
	var a errorAnswer
	r.json(t, &a)
	if a.Error.Code == "" || a.Error.Message == "" {
		t.Fatalf("error answer without code or message: %s", r.body)
	}
	return a
}

type errorAnswer struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Index   *int   `json:"index"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"details"`
	} `json:"error"`
	IDs []string `json:"ids"`
}

// do sends a request with the API key unless headers set Authorization.
func (e *env) do(t testing.TB, method, path, body string, headers ...string) response {
	t.Helper()
	return do(t, e.srv.URL, method, path, []byte(body), append([]string{"Authorization", "Bearer " + apiKey}, headers...)...)
}

func do(t testing.TB, base, method, path string, body []byte, headers ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// consume reads n records of topic from the start.
func consume(t testing.TB, c *kafkatest.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s before the deadline", len(out), n, topic)
		}
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		t.Fatalf("consumed %d records of %s, want %d", len(out), topic, n)
	}
	return out
}

// count returns how many records topic holds.
func count(t testing.TB, c *kafkatest.Cluster, topic string) int64 {
	t.Helper()
	ends, err := c.Admin(t).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}
