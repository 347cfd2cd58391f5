package app

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookline/hookline/dispatcher/internal/retry"
	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestHelp(t *testing.T) {
	var stdout bytes.Buffer
	if err := Run(t.Context(), []string{"--help"}, env(nil), &stdout, io.Discard); err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"Usage: dispatcher", "-window", "-allow-cidrs", "HOOKLINE_MAX_CONCURRENCY", "-drain-timeout"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad cidr", []string{"--allow-cidrs", "nonsense"}, nil, "--allow-cidrs"},
		{"bad cidr from env", nil, map[string]string{"HOOKLINE_ALLOW_CIDRS": "10.0.0.0/33"}, "--allow-cidrs"},
		{"zero window", []string{"--window", "0"}, nil, "--window"},
		{"negative retries", []string{"--retries", "-1"}, nil, "--retries"},
		{"zero concurrency", []string{"--max-concurrency", "0"}, nil, "--max-concurrency"},
		{"bad broker", []string{"--brokers", "nohost"}, nil, "broker"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "logging"},
		{"retry waits", []string{"--retry-wait-min", "5s", "--retry-wait-max", "1s"}, nil, "retry wait max"},
		{"bad retry schedule", []string{"--retry-schedule", "5s,soon"}, nil, "--retry-schedule"},
		{"zero drain timeout", []string{"--drain-timeout", "0"}, nil, "--drain-timeout must be positive"},
		{"zero commit interval", []string{"--commit-interval", "0s"}, nil, "--commit-interval must be positive"},
		{"zero retry-after max", []string{"--retry-after-max", "0"}, nil, "--retry-after-max must be positive"},
		{"zero retry wait", []string{"--retry-wait-min", "0"}, nil, "--retry-wait-min must be positive"},
		{"empty retry schedule", nil, map[string]string{"HOOKLINE_RETRY_SCHEDULE": " , "}, "at least one tier"},
		{"negative retry tier", []string{"--retry-schedule", "5s,-1m"}, nil, "tier 2"},
		{"stray argument", []string{"extra"}, nil, "unexpected arguments"},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(t.Context(), tt.args, env(tt.env), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run(%v) = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestDeliverConfigMapping(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("dispatcher", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--retries", "0", "--revoke-grace", "0", "--allow-cidrs", "127.0.0.0/8,::1", "--topic-prefix", "x."}); err != nil {
		t.Fatal(err)
	}
	dc, err := c.deliverConfig()
	if err != nil {
		t.Fatal(err)
	}
	if dc.Retries != -1 || dc.RevokeGrace != -1 {
		t.Errorf("--retries 0 / --revoke-grace 0 mapped to %d / %s, want none (-1)", dc.Retries, dc.RevokeGrace)
	}
	if len(dc.AllowCIDRs) != 2 || dc.Topics.Deliveries() != "x.deliveries" || !strings.HasPrefix(dc.UserAgent, "Hookline/") {
		t.Errorf("mapped config %+v", dc)
	}
}

type hookEnv struct {
	c     *kafkatest.Cluster
	names topic.Names
	prod  *kgo.Client
}

func newHookEnv(t *testing.T, partitions int32) *hookEnv {
	t.Helper()
	c := kafkatest.New(t)
	names, _ := c.Hookline(t, partitions, 2)
	return &hookEnv{c: c, names: names, prod: c.Client(t, kgo.ProducerLinger(5*time.Millisecond))}
}

func (h *hookEnv) put(t *testing.T, recs ...*kgo.Record) {
	t.Helper()
	if err := h.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func (h *hookEnv) env(group, admin string) map[string]string {
	return map[string]string{
		"HOOKLINE_BROKERS":          strings.Join(h.c.Brokers, ","),
		"HOOKLINE_TOPIC_PREFIX":     h.names.Prefix,
		"HOOKLINE_GROUP":            group,
		"HOOKLINE_ALLOW_CIDRS":      "127.0.0.0/8",
		"HOOKLINE_ADMIN_ADDR":       admin,
		"HOOKLINE_SESSION_TIMEOUT":  "6s",
		"HOOKLINE_COMMIT_INTERVAL":  "200ms",
		"HOOKLINE_RETRY_SCHEDULE":   "300ms,600ms",
		"HOOKLINE_BREAKER_FAILURES": "0",
		"HOOKLINE_LOG_LEVEL":        "warn",
	}
}

// sink is a set of receivers, one per subscription, verifying signatures
// and counting deliveries by webhook-id.
type sink struct {
	mu   sync.Mutex
	got  map[string]int // successful requests by webhook-id
	reqs int            // successful requests
	// failing makes the receivers answer 503 without Retry-After; such
	// requests count in tries only.
	failing atomic.Bool
	// tries, when not nil, records every request by webhook-id.
	tries map[string][]try
}

// try is one request a receiver saw.
type try struct {
	at     time.Time // when it arrived
	failed bool      // answered 503
}

func (s *sink) add(t *testing.T, secret string, delay time.Duration) *httptest.Server {
	t.Helper()
	v, err := webhook.NewVerifier([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if err := v.Verify(r.Header, body); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		id, failed := r.Header.Get(webhook.HeaderID), s.failing.Load()
		s.mu.Lock()
		if s.tries != nil {
			s.tries[id] = append(s.tries[id], try{at: at, failed: failed})
		}
		if !failed {
			s.got[id]++
			s.reqs++
		}
		s.mu.Unlock()
		if failed {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (s *sink) counts() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got), s.reqs
}

// subsAndDeliveries creates n subscriptions on the sink and perSub
// deliveries for each; it returns the records and the delivery ids.
func subsAndDeliveries(t *testing.T, h *hookEnv, s *sink, n, perSub int, delay time.Duration) (subRecs, delRecs []*kgo.Record, ids []string) {
	t.Helper()
	for i := range n {
		secret, err := webhook.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		srv := s.add(t, secret.Encode(), delay)
		sub := record.Subscription{ID: fmt.Sprintf("sub-%02d", i), URL: srv.URL + "/webhook", EventTypes: []string{"*"},
			Secrets: []record.Secret{{Key: secret.Encode()}}, MaxInFlight: 20}
		sub.Normalize()
		r, err := sub.Record(h.names.Subscriptions())
		if err != nil {
			t.Fatal(err)
		}
		subRecs = append(subRecs, r)
		for j := range perSub {
			ev := event.Event{ID: fmt.Sprintf("evt-%d-%d", i, j), Source: "test", Type: "payment_success", SpecVersion: event.SpecVersion,
				Time: time.Now().UTC(), DataContentType: event.ContentTypeJSON,
				Data: fmt.Appendf(nil, `{"type":"payment_success","amount":%d,"customer":"c%d"}`, j, i)}
			d := record.NewDelivery(ev, sub.ID, time.Now())
			dr, err := d.Record(h.names.Deliveries())
			if err != nil {
				t.Fatal(err)
			}
			delRecs = append(delRecs, dr)
			ids = append(ids, d.ID)
		}
	}
	return subRecs, delRecs, ids
}

// committedSum returns the sum of the group's committed offsets.
func (h *hookEnv) committedSum(t *testing.T, group string) int64 {
	t.Helper()
	os, err := kadm.NewClient(h.prod).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	os.Each(func(o kadm.OffsetResponse) { sum += max(o.At, 0) })
	return sum
}

// endSum returns the sum of a topic's end offsets: how many records it
// holds.
func (h *hookEnv) endSum(t *testing.T, topic string) int64 {
	t.Helper()
	ends, err := kadm.NewClient(h.prod).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := ends.Error(); err != nil {
		t.Fatal(err)
	}
	var sum int64
	ends.Each(func(e kadm.ListedOffset) { sum += e.Offset })
	return sum
}

// waitCommitted waits until group has committed the given topics (default
// the deliveries topic) up to their end offsets as they are now.
func (h *hookEnv) waitCommitted(t *testing.T, group string, timeout time.Duration, topics ...string) {
	t.Helper()
	if len(topics) == 0 {
		topics = []string{h.names.Deliveries()}
	}
	adm := kadm.NewClient(h.prod)
	ends, err := adm.ListEndOffsets(context.Background(), topics...)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		os, err := adm.FetchOffsets(context.Background(), group)
		done := err == nil
		ends.Each(func(e kadm.ListedOffset) {
			o, ok := os.Lookup(e.Topic, e.Partition)
			if e.Offset > 0 && (!ok || o.At != e.Offset) {
				done = false
			}
		})
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not commit %v up to their end offsets within %s", group, topics, timeout)
		}
		time.Sleep(50 * time.Millisecond) // polling the group's offsets
	}
}

// TestRunInProcess runs the whole binary in-process: it delivers, serves
// /readyz once the subscription table caught up, exposes metrics, and
// returns nil on cancellation after committing.
func TestRunInProcess(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t, 2)
	s := &sink{got: map[string]int{}}
	subs, dels, ids := subsAndDeliveries(t, h, s, 2, 25, 0)
	h.put(t, subs...)
	h.put(t, dels...)
	admin := proctest.FreeAddr(t)
	group := kafkatest.Name(t, "dispatcher")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, nil, env(h.env(group, admin)), io.Discard, io.Discard) }()
	deadline := time.Now().Add(60 * time.Second)
	for n, _ := s.counts(); n < len(ids); n, _ = s.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of %d", n, len(ids))
		}
		time.Sleep(20 * time.Millisecond)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz %d %s", code, body)
	}
	h.waitCommitted(t, group, 30*time.Second)
	wants := []string{
		`hookline_dispatcher_attempts_total{result="success",status_class="2xx"} 50`,
		"hookline_dispatcher_attempt_duration_seconds_bucket",
		"hookline_dispatcher_end_to_end_seconds_count 50",
		"hookline_dispatcher_requests_in_flight 0",
		"hookline_dispatcher_window_fill_ratio",
		`hookline_dispatcher_commit_lag_records{partition=`,
		`hookline_dispatcher_commits_total{result="ok"}`,
	}
	// The broker may show a commit a moment before the client has
	// processed its response: poll until the metrics catch up.
	var metrics string
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, metrics = get("/metrics")
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(metrics, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the metrics
	}
	for _, m := range missing {
		t.Errorf("/metrics lacks %q", m)
	}
	if strings.Contains(metrics, "whsec_") {
		t.Error("/metrics mentions a secret")
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// binary builds the dispatcher once per test run.
func binary(t *testing.T) string {
	t.Helper()
	return proctest.Build(t, "..", "./cmd/dispatcher")
}

func TestMain(m *testing.M) { proctest.Main(m) }

// process is the dispatcher binary running.
type process struct {
	cmd    *exec.Cmd
	logs   *bytes.Buffer
	exited chan struct{} // closed once the process has exited
	err    error         // its exit status, once exited
}

// wait waits up to timeout for the process to exit and returns its exit
// status.
func (p *process) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("dispatcher still running %s later", timeout)
		return nil
	}
}

func startBinary(t *testing.T, vars map[string]string) *process {
	t.Helper()
	cmd := exec.Command(binary(t))
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{cmd: cmd, logs: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = &syncWriter{w: p.logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("dispatcher %d logs:\n%s", cmd.Process.Pid, p.logs.String())
		}
	})
	return p
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// TestCrashSafety SIGKILLs the dispatcher binary three times while it
// delivers 3000 webhooks to 10 receivers, restarting it each time. At the
// end every delivery was received at least once (duplicates are allowed
// after a crash, and counted), and a final graceful stop commits
// everything.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t, 6)
	s := &sink{got: map[string]int{}}
	subs, dels, ids := subsAndDeliveries(t, h, s, 10, 300, 3*time.Millisecond)
	h.put(t, subs...)
	h.put(t, dels...)
	group := kafkatest.Name(t, "dispatcher")
	vars := h.env(group, "127.0.0.1:0")

	p := startBinary(t, vars)
	kills := 0
	committedAtStart := int64(0)
	for _, frac := range []float64{0.15, 0.4, 0.65} {
		// Kill mid-run: past a share of the deliveries, and once this
		// process has committed some of its progress (so the restart
		// resumes from a commit, with work in flight after it).
		target := int(frac * float64(len(ids)))
		deadline := time.Now().Add(90 * time.Second)
		for n, _ := s.counts(); n < target; n, _ = s.counts() {
			if time.Now().After(deadline) {
				t.Fatalf("stalled at %d of %d deliveries before kill %d", n, len(ids), kills+1)
			}
			time.Sleep(2 * time.Millisecond) // polling the receivers
		}
		for h.committedSum(t, group) <= committedAtStart {
			if time.Now().After(deadline) {
				t.Fatalf("no commit before kill %d", kills+1)
			}
			time.Sleep(2 * time.Millisecond) // polling the group's offsets
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.wait(t, 10*time.Second)
		kills++
		n, total := s.counts()
		committedAtStart = h.committedSum(t, group)
		t.Logf("SIGKILL %d at %d distinct deliveries (%d requests); %d offsets committed", kills, n, total, committedAtStart)
		p = startBinary(t, vars)
	}
	deadline := time.Now().Add(120 * time.Second)
	for n, _ := s.counts(); n < len(ids); n, _ = s.counts() {
		if time.Now().After(deadline) {
			s.mu.Lock()
			var missing []string
			for _, id := range ids {
				if s.got[id] == 0 {
					missing = append(missing, id)
				}
			}
			s.mu.Unlock()
			t.Fatalf("after %d kills, %d of %d deliveries never arrived (e.g. %v)", kills, len(missing), len(ids), missing[:min(5, len(missing))])
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.waitCommitted(t, group, 60*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	n, total := s.counts()
	t.Logf("%d kills: %d deliveries, %d requests (%d duplicates, all after crashes)", kills, n, total, total-n)
}

// TestMissingRetryTopics runs with a retry schedule of more tiers than
// there are retry topics: Run fails at once, naming the missing topic and
// the flag that creates it, rather than waiting for it.
func TestMissingRetryTopics(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t, 1) // retry topics 1 and 2
	vars := h.env(kafkatest.Name(t, "dispatcher"), "127.0.0.1:0")
	vars["HOOKLINE_RETRY_SCHEDULE"] = "1s,2s,3s"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, nil, env(vars), io.Discard, io.Discard) }()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Run = nil, want an error about the missing retry topic")
		}
		for _, want := range []string{h.names.Retry(3), "3 tiers", "--retry-levels 3"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Run = %q, want it to mention %q", err, want)
			}
		}
		if strings.Contains(err.Error(), h.names.Retry(2)) {
			t.Errorf("Run = %q, which calls the existing %s missing", err, h.names.Retry(2))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still running 30s later, want a configuration error")
	}
}

// TestCrashSafetyWhileRetrying SIGKILLs the dispatcher binary twice while
// 200 deliveries wait in retry topics: first in retry.1 after their first
// attempt failed, then in retry.2 after their second. The receivers answer
// 503 until the second kill and 200 after it. Every delivery arrives,
// none is dead-lettered, each is tried exactly three times (every kill
// comes after all outcomes were committed), and no attempt comes before
// its tier's delay (less the jitter) after the previous one: the due times
// read back from Kafka after a restart are honoured.
func TestCrashSafetyWhileRetrying(t *testing.T) {
	t.Parallel()
	// A restart takes about 6s to consume again (the dead member's
	// session must expire first). Tiers whose shortest delay (-20%) is
	// longer than that make restarted dispatchers meet retry partitions
	// whose heads are not due yet, so an attempt made before its due time
	// would come too early here.
	schedule := retry.Schedule{9 * time.Second, 10 * time.Second}
	const tolerance = 50 * time.Millisecond // clocks: the receiver's monotonic, Kafka records' wall
	h := newHookEnv(t, 4)
	s := &sink{got: map[string]int{}, tries: map[string][]try{}}
	s.failing.Store(true)
	subs, dels, ids := subsAndDeliveries(t, h, s, 10, 20, 0)
	h.put(t, subs...)
	h.put(t, dels...)
	group := kafkatest.Name(t, "dispatcher")
	vars := h.env(group, "127.0.0.1:0")
	vars["HOOKLINE_RETRY_SCHEDULE"] = schedule.String()
	vars["HOOKLINE_RETRIES"] = "0" // no quick retries: attempt k comes from tier k-1
	deadline := time.Now().Add(60 * time.Second)

	// tried returns how many deliveries have been tried how often.
	tried := func() map[int]int {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := map[int]int{}
		for _, id := range ids {
			n[len(s.tries[id])]++
		}
		return n
	}
	p := startBinary(t, vars)
	for tier := 1; tier <= len(schedule); tier++ {
		// Every delivery failed its attempt from tier-1 and waits in
		// tier; the group committed everything before it.
		for h.endSum(t, h.names.Retry(tier)) < int64(len(ids)) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d deliveries in %s; tried: %v", h.endSum(t, h.names.Retry(tier)), len(ids), h.names.Retry(tier), tried())
			}
			time.Sleep(20 * time.Millisecond) // polling the retry topic
		}
		before := []string{h.names.Deliveries()}
		for k := 1; k < tier; k++ {
			before = append(before, h.names.Retry(k))
		}
		h.waitCommitted(t, group, time.Until(deadline), before...)
		if n := tried(); n[tier] != len(ids) {
			t.Fatalf("before kill %d: deliveries by number of tries %v, want all %d tried %d times", tier, n, len(ids), tier)
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.wait(t, 10*time.Second)
		t.Logf("SIGKILL %d with %d deliveries waiting in %s", tier, len(ids), h.names.Retry(tier))
		if tier == len(schedule) {
			// The last tier's attempts succeed.
			s.failing.Store(false)
		}
		p = startBinary(t, vars)
	}

	for n, _ := s.counts(); n < len(ids); n, _ = s.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries arrived; tried: %v; %d dead letters", n, len(ids), tried(), h.endSum(t, h.names.DLQ()))
		}
		time.Sleep(20 * time.Millisecond) // polling the receivers
	}
	h.waitCommitted(t, group, time.Until(deadline), h.names.Deliveries(), h.names.Retry(1), h.names.Retry(2))
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	if n := h.endSum(t, h.names.DLQ()); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var shortest []time.Duration
	for _, id := range ids {
		tries := s.tries[id]
		if len(tries) != 3 || !tries[0].failed || !tries[1].failed || tries[2].failed {
			t.Errorf("delivery %s: tries %+v, want 503, 503, 200", id, tries)
			continue
		}
		for k, d := range schedule {
			gap, least := tries[k+1].at.Sub(tries[k].at), time.Duration(float64(d)*(1-retry.Jitter))-tolerance
			if gap < least {
				t.Errorf("delivery %s: attempt %d came %v after attempt %d, want at least %v (tier %d's %v less 20%%)", id, k+2, gap, k+1, least, k+1, d)
			}
			if len(shortest) <= k {
				shortest = append(shortest, gap)
			}
			shortest[k] = min(shortest[k], gap)
		}
	}
	t.Logf("%d deliveries tried 3 times; shortest gaps between attempts %v", len(ids), shortest)
}
