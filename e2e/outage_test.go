package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ownBroker is a real Apache Kafka that a test starts on ports and a data
// folder of its own (deploy/kafka-local), so that it can kill it without
// disturbing the shared broker of KAFKA_BROKERS.
type ownBroker struct {
	env     []string
	runDir  string
	brokers string
}

// startOwnBroker starts the broker, or skips the test when Java or Maven
// (for the first fetch of the jars) are missing.
func startOwnBroker(t *testing.T) *ownBroker {
	t.Helper()
	if testing.Short() {
		t.Skip("starts and kills a real Kafka broker; skipped with -short")
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("needs Java 17+ on PATH to run a real Kafka broker (deploy/kafka-local); none found")
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		t.Skip("needs Maven on PATH to fetch the Kafka broker jars (deploy/kafka-local); none found")
	}
	port := func() string {
		_, p, _ := net.SplitHostPort(proctest.FreeAddr(t))
		return p
	}
	b := &ownBroker{runDir: t.TempDir()}
	kport := port()
	b.env = append(os.Environ(), "KAFKA_PORT="+kport, "KAFKA_CONTROLLER_PORT="+port(), "KAFKA_RUN_DIR="+b.runDir,
		// Small heap; the test's broker only carries a few thousand records.
		"KAFKA_HEAP_OPTS=-Xms128m -Xmx512m")
	b.brokers = "127.0.0.1:" + kport
	b.up(t)
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(repoRoot, "deploy/kafka-local/kafka-down.sh"))
		cmd.Env = b.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("kafka-down.sh: %v\n%s", err, out)
		}
	})
	return b
}

// up starts the broker (again, on the same data) and waits until it serves.
func (b *ownBroker) up(t *testing.T) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot, "deploy/kafka-local/kafka-up.sh"))
	cmd.Env = b.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kafka-up.sh: %v\n%s", err, out)
	}
}

// kill SIGKILLs the broker, as a crash would.
func (b *ownBroker) kill(t *testing.T) {
	t.Helper()
	pid := b.pid(t)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(20 * time.Millisecond) // test code: waiting for the JVM to be gone
	}
}

// lines counts the lines of a file.
func lines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// ingest is the result of one POST /v1/events.
type ingest struct {
	status int
	ids    []string
	took   time.Duration
	err    error
}

// TestRidesOutBrokerRestart runs the three binaries on a real broker,
// SIGKILLs the broker under load, and starts it again on the same data
// after HOOKLINE_E2E_OUTAGE (default 30 s). Every event the API accepted
// (202) before, during and after the outage must reach the receiver, the
// router must have produced each delivery exactly once (read_committed),
// no process may exit, the API must answer 503 with Retry-After during the
// outage without waiting out its produce timeout, and 202 again within
// 10 s of the broker's return. The log lines written during the outage
// are counted and logged.
func TestRidesOutBrokerRestart(t *testing.T) {
	outage := 30 * time.Second
	if v := os.Getenv("HOOKLINE_E2E_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("HOOKLINE_E2E_OUTAGE: %v", err)
		}
		outage = d
	}
	b := startOwnBroker(t)
	c := &kafkatest.Cluster{Kind: kafkatest.KindEnv, Brokers: []string{b.brokers}}
	const produceTimeout = 30 * time.Second
	s, procs := startStackOn(t, c, map[string]string{"HOOKLINE_PRODUCE_TIMEOUT": produceTimeout.String()})

	recv := newReceiver(t, 200)
	subID, sec := s.subscribe(t, recv.srv.URL+"/hook", []string{"payment_success"}, "raw")
	recv.setSecret(t, sec)

	// Load: one event per request, 20 requests a second, until stopped.
	var (
		mu      sync.Mutex
		results []ingest
	)
	client := &http.Client{Timeout: produceTimeout - 5*time.Second}
	post := func(i int) ingest {
		body := fmt.Sprintf(`{"type":"payment_success","amount":%d,"customer":"c%d@example.com"}`, i, i)
		req, _ := http.NewRequest("POST", s.api+"/v1/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.apiKey)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		in := ingest{took: time.Since(start), err: err}
		if err != nil {
			return in
		}
		defer resp.Body.Close()
		in.status = resp.StatusCode
		var ok struct {
			IDs []string `json:"ids"`
		}
		if resp.StatusCode == 202 && json.NewDecoder(resp.Body).Decode(&ok) == nil {
			in.ids = ok.IDs
		}
		if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
			in.err = fmt.Errorf("503 without Retry-After")
		}
		return in
	}
	loadCtx, stopLoad := context.WithCancel(t.Context())
	var loadDone sync.WaitGroup
	loadDone.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var wg sync.WaitGroup
		for i := 0; ; i++ {
			select {
			case <-loadCtx.Done():
				wg.Wait()
				return
			case <-tick.C:
			}
			wg.Go(func() {
				in := post(i)
				mu.Lock()
				results = append(results, in)
				mu.Unlock()
			})
		}
	})
	accepted := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range results {
			if r.status == 202 {
				n++
			}
		}
		return n
	}
	proctest.Eventually(t, 60*time.Second, "100 events accepted before the outage", func() bool { return accepted() >= 100 })

	logsAt := func() map[string]int {
		m := map[string]int{}
		for _, p := range procs {
			m[p.Name] = lines(t, p.Log)
		}
		return m
	}
	before := logsAt()
	b.kill(t)
	killedAt := time.Now()
	mu.Lock()
	firstDuring := len(results)
	mu.Unlock()
	t.Logf("broker killed after %d accepted events; down for %v", accepted(), outage)
	time.Sleep(outage) // test code: the outage itself
	during := logsAt()
	b.up(t)
	backAt := time.Now()
	mu.Lock()
	outageResults := append([]ingest(nil), results[firstDuring:]...)
	mu.Unlock()

	proctest.Eventually(t, 10*time.Second, "a 202 within 10 s of the broker's return", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range results[firstDuring+len(outageResults):] {
			if r.status == 202 {
				return true
			}
		}
		return false
	})
	reaccept := time.Since(backAt)
	after := accepted()
	proctest.Eventually(t, 60*time.Second, "100 more events accepted after the outage", func() bool { return accepted() >= after+100 })
	stopLoad()
	loadDone.Wait()

	var n503, nOther, slow int
	var longest time.Duration
	for _, r := range outageResults {
		switch {
		case r.err != nil:
			nOther++
			t.Errorf("request during the outage: %v after %v", r.err, r.took)
		case r.status == 503:
			n503++
			longest = max(longest, r.took)
		case r.status != 202:
			nOther++
		}
		if r.took >= produceTimeout/2 {
			slow++
		}
	}
	if n503 == 0 {
		t.Errorf("no 503 during a %v outage (%d requests)", outage, len(outageResults))
	}
	if slow > 0 {
		t.Errorf("%d requests during the outage waited at least half the produce timeout (%v)", slow, produceTimeout/2)
	}

	// Every accepted event reaches the receiver ...
	mu.Lock()
	want := map[string]bool{}
	for _, r := range results {
		if r.status == 202 {
			for _, id := range r.ids {
				want[record.DeliveryID("urn:hookline:producer", id, subID)] = true
			}
		}
	}
	mu.Unlock()
	proctest.Eventually(t, 120*time.Second, fmt.Sprintf("all %d accepted events at the receiver", len(want)), func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		for id := range want {
			if _, ok := recv.got[id]; !ok {
				return false
			}
		}
		return true
	})
	// ... and the router produced each delivery exactly once.
	counts := committedDeliveries(t, c, s.names.Deliveries())
	for id := range want {
		if counts[id] != 1 {
			t.Errorf("delivery %s committed %d times, want exactly once", id, counts[id])
		}
	}
	for _, p := range procs {
		if p.Exited() {
			t.Errorf("%s exited during the outage", p.Name)
		}
	}
	total := 0
	for _, p := range procs {
		n := during[p.Name] - before[p.Name]
		total += n
		t.Logf("%s wrote %d log lines during the %v outage", p.Name, n, outage)
		if testing.Verbose() {
			b, _ := os.ReadFile(p.Log)
			ls := strings.Split(string(b), "\n")
			t.Logf("%s:\n%s", p.Name, strings.Join(ls[before[p.Name]:during[p.Name]], "\n"))
		}
	}
	t.Logf("outage %v (killed %s): %d requests, %d answered 503 (slowest %v), %d other; first 202 %v after the broker was back; %d events delivered exactly once; %d log lines in all during the outage",
		outage, killedAt.Format(time.TimeOnly), len(outageResults), n503, longest.Round(time.Millisecond), nOther, reaccept.Round(time.Millisecond), len(want), total)
}

// committedDeliveries counts the committed records of the deliveries topic
// by delivery id.
func committedDeliveries(t *testing.T, c *kafkatest.Cluster, topic string) map[string]int {
	t.Helper()
	adm := c.Admin(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// The last offsets stable (no open transaction) are where reading stops.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	counts := map[string]int{}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: %v (left %v)", topic, err, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				for _, h := range r.Headers {
					if h.Key == header.DeliveryID {
						counts[string(h.Value)]++
					}
				}
			}
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return counts
}
