package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/producer/internal/httpapi"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type statsAnswer struct {
	BucketSeconds int64 `json:"bucket_seconds"`
	Since         time.Time
	Total         struct{ Success, Retry, Failed int }
	Buckets       []struct {
		Start                  time.Time
		Success, Retry, Failed int
	}
	Subscriptions []struct {
		SubscriptionID         string  `json:"subscription_id"`
		SuccessRate            float64 `json:"success_rate"`
		Success, Retry, Failed int
		Last                   record.Attempt
	}
}

func TestAttemptStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.seedHistory(t) // e1 at a: retry, retry, failed an hour ago
	now := time.Now().UTC()
	var recs []*kgo.Record
	for i, x := range []struct {
		sub, result string
		ago         time.Duration
	}{{"a", "success", 3 * time.Minute}, {"b", "success", 2 * time.Minute}, {"b", "retry", 2 * time.Minute}, {"b", "success", time.Minute}} {
		a := record.Attempt{DeliveryID: "d" + x.sub, SubscriptionID: x.sub, EventID: "e9", Attempt: i + 1, Status: 200,
			LatencyMillis: 5, Result: x.result, At: now.Add(-x.ago)}
		if x.result != "success" {
			a.Status = 503
		}
		r, err := a.Record(e.names.Attempts())
		if err != nil {
			t.Fatal(err)
		}
		r.Timestamp = a.At
		recs = append(recs, r)
	}
	if err := e.c.Client(t).ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// The default window: the last hour per minute, the seeded attempts
	// of an hour ago left out.
	resp := e.do(t, "GET", "/v1/attempts/stats?since=10m", "")
	if resp.status != http.StatusOK {
		t.Fatalf("stats: %d %s", resp.status, resp.body)
	}
	var st statsAnswer
	resp.json(t, &st)
	if st.BucketSeconds != 60 || len(st.Buckets) < 10 || len(st.Buckets) > 11 || !st.Since.Equal(st.Since.Truncate(time.Minute)) {
		t.Fatalf("buckets: %d of %d s since %s", len(st.Buckets), st.BucketSeconds, st.Since)
	}
	if st.Total.Success != 3 || st.Total.Retry != 1 || st.Total.Failed != 0 {
		t.Fatalf("total = %+v", st.Total)
	}
	sum := 0
	for _, b := range st.Buckets {
		sum += b.Success + b.Retry + b.Failed
	}
	if sum != 4 {
		t.Fatalf("buckets hold %d attempts, want 4", sum)
	}
	if len(st.Subscriptions) != 2 || st.Subscriptions[0].SubscriptionID != "a" || st.Subscriptions[0].SuccessRate != 1 {
		t.Fatalf("subscriptions = %+v", st.Subscriptions)
	}
	if b := st.Subscriptions[1]; b.Success != 2 || b.Retry != 1 || b.SuccessRate < 0.66 || b.SuccessRate > 0.67 || b.Last.Attempt != 4 {
		t.Fatalf("subscription b = %+v", b)
	}

	// A wider window with hour buckets takes in the seeded attempts.
	resp = e.do(t, "GET", "/v1/attempts/stats?since=3h&bucket=1h", "")
	resp.json(t, &st)
	if resp.status != http.StatusOK || st.Total.Retry != 3 || st.Total.Failed != 1 || st.Total.Success != 3 || st.BucketSeconds != 3600 {
		t.Fatalf("3h stats: %d %s", resp.status, resp.body)
	}

	for _, q := range []string{"bucket=0s", "bucket=1500ms", "bucket=x", "since=later", "since=1h&until=2h", "since=48h&bucket=1s"} {
		if resp := e.do(t, "GET", "/v1/attempts/stats?"+q, ""); resp.status != http.StatusUnprocessableEntity {
			t.Errorf("stats?%s: %d %s, want 422", q, resp.status, resp.body)
		}
	}
	if resp := e.do(t, "GET", "/v1/attempts/stats", "", "Authorization", ""); resp.status != http.StatusUnauthorized {
		t.Errorf("without a key: %d", resp.status)
	}
}

func TestDeadLetterStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	var empty struct {
		Total  int            `json:"total"`
		Oldest *time.Time     `json:"oldest"`
		Reason map[string]int `json:"by_reason"`
	}
	resp := e.do(t, "GET", "/v1/dead-letters/stats", "")
	resp.json(t, &empty)
	if resp.status != http.StatusOK || empty.Total != 0 || empty.Oldest != nil || empty.Reason == nil {
		t.Fatalf("empty DLQ: %d %s", resp.status, resp.body)
	}
	e.seedHistory(t) // a: exhausted, rejected; b: exhausted
	// One undecodable record, counted under its own reason.
	if err := e.c.Client(t).ProduceSync(t.Context(), &kgo.Record{Topic: e.names.DLQ(), Value: []byte("not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Total          int            `json:"total"`
		ByReason       map[string]int `json:"by_reason"`
		BySubscription map[string]int `json:"by_subscription"`
		ByStage        map[string]int `json:"by_stage"`
		Oldest, Newest *time.Time
	}
	resp = e.do(t, "GET", "/v1/dead-letters/stats", "")
	resp.json(t, &st)
	if st.Total != 4 || st.ByReason["exhausted"] != 2 || st.ByReason["rejected"] != 1 || st.ByReason["undecodable"] != 1 ||
		st.BySubscription["a"] != 2 || st.BySubscription["b"] != 1 || st.ByStage["dispatch"] != 3 || st.ByStage["unknown"] != 1 ||
		st.Oldest == nil || st.Newest == nil || st.Newest.Before(*st.Oldest) {
		t.Fatalf("stats: %s", resp.body)
	}
}

func TestEndpointStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	// No endpoint-status topic yet (newEnv creates none): no statuses.
	resp := e.do(t, "GET", "/v1/endpoint-status", "")
	if resp.status != http.StatusOK || strings.TrimSpace(string(resp.body)) != `{"endpoints":[]}` {
		t.Fatalf("without the topic: %d %s", resp.status, resp.body)
	}
	for _, s := range e.names.Specs(topic.SpecOpts{}) {
		if s.Name == e.names.EndpointStatus() {
			e.c.CreateTopics(t, s)
		}
	}
	since := time.Now().UTC().Truncate(time.Second)
	var recs []*kgo.Record
	for _, st := range []record.EndpointStatus{
		{SubscriptionID: "a", Breaker: record.BreakerOpen, Since: since.Add(-time.Minute)},
		{SubscriptionID: "b", Breaker: record.BreakerOpen, Since: since.Add(-time.Minute)},
		{SubscriptionID: "a", Breaker: record.BreakerHalfOpen, Since: since},
	} {
		r, err := st.Record(e.names.EndpointStatus())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	recs = append(recs, &kgo.Record{Topic: e.names.EndpointStatus(), Key: []byte("b")}) // b's tombstone
	if err := e.c.Client(t).ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var got struct{ Endpoints []record.EndpointStatus }
	// The API's client learns of the new topic when its metadata
	// refreshes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp = e.do(t, "GET", "/v1/endpoint-status", "")
		resp.json(t, &got)
		if len(got.Endpoints) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // test code: polling
	}
	if len(got.Endpoints) != 1 || got.Endpoints[0].SubscriptionID != "a" || got.Endpoints[0].Breaker != record.BreakerHalfOpen || !got.Endpoints[0].Since.Equal(since) {
		t.Fatalf("statuses: %s", resp.body)
	}
}

type groupsAnswer struct {
	Groups []struct {
		Group  string
		State  string
		Lag    int64
		Topics []struct {
			Topic      string
			Lag        int64
			Partitions int
		}
	}
}

// TestConsumerGroups commits offsets for groups of the env's topics, one
// of an unrelated topic and one replay group: only the first are listed,
// with their lag in records, transaction markers left out.
func TestConsumerGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	deliveries := e.names.Deliveries()
	adm := e.c.Admin(t)
	// Five plain records to partition 0 of the deliveries topic, and a
	// transaction of two to partition 1: its commit marker is an offset
	// of its own.
	plain := e.c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 5 {
		if err := plain.ProduceSync(t.Context(), &kgo.Record{Topic: deliveries, Partition: 0, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	txn := e.c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID(kafkatest.Name(t, "txn")))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := txn.ProduceSync(t.Context(), &kgo.Record{Topic: deliveries, Partition: 1, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.EndTransaction(t.Context(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	other := e.c.Topic(t, 1, nil)
	if err := plain.ProduceSync(t.Context(), &kgo.Record{Topic: other, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	commit := func(group string, offs ...kadm.Offset) {
		t.Helper()
		var o kadm.Offsets
		for _, x := range offs {
			x.LeaderEpoch = -1
			o.Add(x)
		}
		if err := adm.CommitAllOffsets(t.Context(), group, o); err != nil {
			t.Fatal(err)
		}
	}
	behind := kafkatest.Name(t, "behind")
	caughtUp := kafkatest.Name(t, "caught-up")
	unrelated := kafkatest.Name(t, "unrelated")
	replay := "hookline-replay-" + kafkatest.Name(t, "r")
	// behind: 3 records of partition 0 and both of partition 1 to go.
	commit(behind, kadm.Offset{Topic: deliveries, Partition: 0, At: 2}, kadm.Offset{Topic: deliveries, Partition: 1, At: 0})
	// caught up: past every record; on partition 1 the marker remains.
	commit(caughtUp, kadm.Offset{Topic: deliveries, Partition: 0, At: 5}, kadm.Offset{Topic: deliveries, Partition: 1, At: 2})
	commit(unrelated, kadm.Offset{Topic: other, Partition: 0, At: 0})
	commit(replay, kadm.Offset{Topic: deliveries, Partition: 0, At: 0})

	resp := e.do(t, "GET", "/v1/consumer-groups", "")
	var got groupsAnswer
	resp.json(t, &got)
	lags := map[string]int64{}
	for _, g := range got.Groups {
		if g.Group == unrelated || g.Group == replay {
			t.Errorf("listed %s: %s", g.Group, resp.body)
		}
		for _, tp := range g.Topics {
			if tp.Topic != deliveries {
				t.Errorf("group %s lists topic %s", g.Group, tp.Topic)
			}
		}
		lags[g.Group] = g.Lag
	}
	if l, ok := lags[behind]; !ok || l != 5 {
		t.Errorf("lag of %s = %d (listed %v), want 5: %s", behind, l, ok, resp.body)
	}
	if l, ok := lags[caughtUp]; !ok || l != 0 {
		t.Errorf("lag of %s = %d (listed %v), want 0 (a marker is no record): %s", caughtUp, l, ok, resp.body)
	}

	// Named groups are shown whatever they consume, replay groups too.
	resp = e.do(t, "GET", "/v1/consumer-groups?group="+replay+","+behind, "")
	got = groupsAnswer{}
	resp.json(t, &got)
	// The replay group committed partition 0 only: the others count
	// from their log start, 5 + 2 records.
	if len(got.Groups) != 2 || got.Groups[0].Group != behind || got.Groups[1].Group != replay || got.Groups[1].Lag != 7 {
		t.Errorf("named groups: %s", resp.body)
	}
}

// TestConsoleMounted checks that WithConsole serves the console's handler
// at /console/ without a key, redirects /console there, and leaves the
// API's routes as they were.
func TestConsoleMounted(t *testing.T) {
	t.Parallel()
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("console " + r.URL.Path))
	})
	srv := httpapi.New(httpapi.Config{APIKeys: []string{apiKey}}, nil, nil, httpapi.WithConsole(console))
	for _, tt := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/console/", 200, "console /console/"},
		{"GET", "/console/console.js", 200, "console /console/console.js"},
		{"HEAD", "/console/", 200, ""},
		{"GET", "/console", http.StatusMovedPermanently, ""},
		{"POST", "/console/", http.StatusNotFound, ""},
		{"GET", "/v1/subscriptions", http.StatusUnauthorized, ""},
	} {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != tt.status || (tt.body != "" && rec.Body.String() != tt.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, rec.Code, rec.Body.String(), tt.status, tt.body)
		}
		if tt.status == http.StatusMovedPermanently && rec.Header().Get("Location") != "/console/" {
			t.Errorf("%s %s: Location %q", tt.method, tt.path, rec.Header().Get("Location"))
		}
	}
	// Without WithConsole there is none.
	rec := httptest.NewRecorder()
	httpapi.New(httpapi.Config{}, nil, nil).Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/console/", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /console/ without a console: %d", rec.Code)
	}
}
