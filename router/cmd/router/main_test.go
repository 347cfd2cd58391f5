package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// routerBin builds the router binary once per test run.
func routerBin(t *testing.T) string {
	t.Helper()
	return proctest.Build(t, ".", ".")
}

// proc is a running router binary.
type proc struct {
	cmd  *exec.Cmd
	logs *logBuffer
	done chan struct{}
	err  error // set once done is closed
}

// logBuffer collects a process's stderr (JSON log lines).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// field returns field of the first log line whose message is msg.
func (b *logBuffer) field(msg, field string) string {
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			s, _ := line[field].(string)
			return s
		}
	}
	return ""
}

// startRouter runs the binary with env (HOOKLINE_* settings) added to a
// clean environment. The process is killed at cleanup if still running.
func startRouter(t *testing.T, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(routerBin(t))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKLINE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, logs: &logBuffer{}, done: make(chan struct{})}
	cmd.Stdout = io.Discard
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			t.Logf("router pid %d log tail:\n%s", cmd.Process.Pid, tail(p.logs.String(), 40))
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// kill SIGKILLs the process and waits for it.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// terminate sends SIGTERM and returns the exit error (nil for status 0).
func (p *proc) terminate(t *testing.T, timeout time.Duration) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("router did not exit within %v of SIGTERM", timeout)
		return nil
	}
}

// committed returns the sum of the group's committed offsets on topic.
func committed(t *testing.T, adm *kadm.Client, group, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if err != nil {
		return 0 // the group may not exist yet
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At > 0 {
			sum += o.At
		}
	})
	return sum
}

// TestExactlyOnceUnderKill SIGKILLs the router binary repeatedly while
// thousands of events flow, then runs it cleanly to the end: every
// expected delivery must be in the committed deliveries topic exactly once.
func TestExactlyOnceUnderKill(t *testing.T) {
	t.Parallel()
	const (
		numEvents = 3000
		late      = 200 // produced once the final run has started
		kills     = 4
	)
	c := kafkatest.New(t)
	names, source := c.Hookline(t, 4, 1)
	cl := c.Client(t)
	subs := routetest.FanOutSubs()
	for _, s := range subs {
		routetest.PutSubs(t, cl, names.Subscriptions(), s.Sub)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d (events and kill points)", seed)
	rng := rand.New(rand.NewPCG(7, seed))
	events := routetest.GenEvents(rng, source, numEvents)
	want := routetest.Expect(events, subs)
	group := kafkatest.Name(t, "router")
	env := map[string]string{
		"HOOKLINE_BROKERS":          strings.Join(c.Brokers, ","),
		"HOOKLINE_TOPIC_PREFIX":     names.Prefix,
		"HOOKLINE_SOURCE_TOPICS":    source,
		"HOOKLINE_GROUP":            group,
		"HOOKLINE_TRANSACTIONAL_ID": kafkatest.Name(t, "txn"),
		"HOOKLINE_ADMIN_ADDR":       "127.0.0.1:0",
		// A killed member holds its partitions until its session ends.
		"HOOKLINE_SESSION_TIMEOUT":   "6s",
		"HOOKLINE_REBALANCE_TIMEOUT": "10s",
		// Small transactions: many commit windows to be killed in.
		"HOOKLINE_MAX_POLL_RECORDS": "40",
		"HOOKLINE_LOG_LEVEL":        "info",
	}

	// Events flow in paced chunks while the router is killed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	produced := make(chan error, 1)
	go func() {
		tick := time.NewTicker(60 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < numEvents-late; i += 25 {
			batch := make([]*kgo.Record, 0, 25)
			for _, e := range events[i:min(i+25, numEvents-late)] {
				batch = append(batch, e.Rec)
			}
			if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				produced <- err
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				produced <- ctx.Err()
				return
			}
		}
		produced <- nil
	}()

	adm := c.Admin(t)
	start := time.Now()
	for k := range kills {
		// Once every early event is committed an incarnation would have
		// nothing to commit before its kill: the final run starts instead.
		if committed(t, adm, group, source) == numEvents-late {
			t.Logf("all %d early events committed after %d kills", numEvents-late, k)
			break
		}
		p := startRouter(t, env)
		// Kill only once this incarnation commits, at a random moment of
		// its work: before, during or after a produce or a commit.
		base := committed(t, adm, group, source)
		routetest.Eventually(t, 45*time.Second, fmt.Sprintf("incarnation %d to commit", k+1), func() bool {
			return committed(t, adm, group, source) > base
		})
		select {
		case <-time.After(time.Duration(rng.IntN(400)) * time.Millisecond): // the random kill point
		case <-p.done:
			t.Fatalf("router exited on its own: %v", p.err)
		}
		p.kill(t)
		t.Logf("kill %d at %v: %d of %d events committed", k+1, time.Since(start).Round(time.Millisecond), committed(t, adm, group, source), numEvents)
	}
	if err := <-produced; err != nil {
		t.Fatalf("producing events: %v", err)
	}

	final := startRouter(t, env)
	for _, e := range events[numEvents-late:] {
		routetest.Produce(t, cl, e.Rec)
	}
	routetest.WaitCaught(t, c, group, source, 60*time.Second)
	checkOps(t, final)
	if err := final.terminate(t, 20*time.Second); err != nil {
		t.Errorf("router exited with %v after SIGTERM, want status 0", err)
	}
	t.Logf("all %d events routed %v after the first start", numEvents, time.Since(start).Round(time.Millisecond))

	got := routetest.CountDeliveries(t, c, names.Deliveries())
	routetest.CheckExactlyOnce(t, got, want)
	// How many kills landed mid-transaction, for the log: a read_uncommitted
	// reader also sees the aborted attempts that read_committed readers
	// never do. Not asserted, since a kill may fall between transactions.
	raw := routetest.ReadUncommitted(t, c, names.Deliveries())
	t.Logf("%d deliveries committed exactly once; %d delivery records in the log including aborted ones", len(want), len(raw))
}

// checkOps checks the ops endpoints of a running router: ready, and
// metrics that count its work.
func checkOps(t *testing.T, p *proc) {
	t.Helper()
	var addr string
	routetest.Eventually(t, 10*time.Second, "the ops server address in the log", func() bool {
		addr = p.logs.field("ops server listening", "addr")
		return addr != ""
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %q, want 200", code, body)
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, m := range []string{
		"hookline_router_events_consumed_total", "hookline_router_deliveries_produced_total",
		"hookline_router_matches_per_event_bucket", `hookline_router_invalid_events_total{reason="schema_violation"}`,
		`hookline_router_filter_errors_total{kind="eval"}`, `hookline_router_transaction_duration_seconds_count{outcome="committed"}`,
		"hookline_router_consumer_lag_records", "hookline_router_active_subscriptions 12", "hookline_kafka_",
	} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// TestBinaryHelp checks the binary's --help exits 0 and a bad flag does not.
func TestBinaryHelp(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(routerBin(t), "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "HOOKLINE_SOURCE_TOPICS") {
		t.Errorf("--help: %v\n%s", err, out)
	}
	err = exec.Command(routerBin(t), "--no-such-flag").Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("bad flag: %v, want exit status 1", err)
	}
}
