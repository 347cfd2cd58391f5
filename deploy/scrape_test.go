package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMetricNamesExported runs `hookctl dev` (embedded Kafka, the real
// producer, router and dispatcher), sends payments through it to three
// receivers (one answers 200, one 500 until its breaker opens, one 410 so
// a delivery is dead-lettered), scrapes the three ops ports, and checks
// that every metric the alert rules and the dashboard use is exported.
// Some series exist only after traffic (a dead letter's reason, an open
// breaker), hence the receivers. It also runs each service binary's
// healthcheck subcommand against the running stack.
func TestMetricNamesExported(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hookctl dev; skipped with -short")
	}
	want := metricNames(t, queries(t))
	bin := t.TempDir()
	for _, b := range []string{"hookctl", "producer", "router", "dispatcher"} {
		build(t, b, bin)
	}

	apiAddr, kafkaAddr := freeAddr(t), freeAddr(t)
	const key = "dev_metrics_test_0123456789abcdef"
	opsPort := freePorts(t, 3)
	var out bytes.Buffer
	var outMu sync.Mutex
	cmd := exec.Command(filepath.Join(bin, "hookctl"), "dev", "--ephemeral", "--kafka-addr", kafkaAddr, "--api-addr", apiAddr,
		"--ops-port", strconv.Itoa(opsPort), "--partitions", "2", "--log-level", "warn", "--api-key", key)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	w := &lockedWriter{w: &out, mu: &outMu}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			outMu.Lock()
			t.Logf("hookctl dev output (last 8 KiB):\n%s", lastBytes(out.Bytes(), 8192))
			outMu.Unlock()
		}
	})

	select {
	case <-done:
		t.Fatal("hookctl dev exited")
	case <-time.After(100 * time.Millisecond):
	}
	api := func(path string, body any) int {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://"+apiAddr+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	for _, status := range []int{200, 500, 410} {
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
		t.Cleanup(recv.Close)
		sub := map[string]any{"url": recv.URL + "/webhook", "event_types": []string{"payment_success"}, "format": "raw"}
		if status == 500 {
			sub["breaker_failures"] = 2
		}
		eventually(t, 60*time.Second, "subscribing a receiver that answers "+strconv.Itoa(status), func() bool {
			return api("/v1/subscriptions", sub) == 201
		})
	}
	for i := range 5 {
		if code := api("/v1/events", map[string]any{"type": "payment_success", "amount": i, "customer": "metrics@example.com"}); code != 202 {
			t.Fatalf("sending event %d: %d", i, code)
		}
	}

	// Names accumulate over scrapes: some series come and go (a breaker
	// that is half-open between probes has a series, a closed one none).
	seen := map[string]bool{}
	missing := func() []string {
		var m []string
		for name := range want {
			if !seen[name] && !builtin[name] {
				m = append(m, name)
			}
		}
		sort.Strings(m)
		return m
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		for i := range 3 {
			for _, n := range scrape(t, "127.0.0.1:"+strconv.Itoa(opsPort+i)) {
				seen[n] = true
			}
		}
		if len(missing()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, n := range missing() {
				t.Errorf("%s, used by %s, is not exported by the running stack", n, strings.Join(want[n], "; "))
			}
			return
		}
		time.Sleep(500 * time.Millisecond) // test code: polling the scrapes
	}
	t.Logf("%d metric names used by the rules and the dashboard, all exported", len(want))

	// The healthcheck subcommand of each binary, as the container engine
	// runs it, against the stack's own ops ports.
	for i, b := range []string{"producer", "router", "dispatcher"} {
		addr := "127.0.0.1:" + strconv.Itoa(opsPort+i)
		if out, err := exec.Command(filepath.Join(bin, b), "healthcheck", "--ready", "--admin-addr", addr).CombinedOutput(); err != nil {
			t.Errorf("%s healthcheck --ready: %v\n%s", b, err, out)
		}
		hc := exec.Command(filepath.Join(bin, b), "healthcheck")
		hc.Env = []string{"HOOKLINE_ADMIN_ADDR=" + freeAddr(t)}
		if out, err := hc.CombinedOutput(); err == nil {
			t.Errorf("%s healthcheck succeeded against a port nothing serves:\n%s", b, out)
		} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%s healthcheck: %v, want exit status 1", b, err)
		}
	}
}

// scrape returns the metric families an ops server exports, with the
// series names PromQL reaches them by (a histogram's _bucket, _sum and
// _count). A family with no series has no TYPE line and is not returned.
func scrape(t *testing.T, addr string) []string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var names []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		names = append(names, f[2])
		switch f[3] {
		case "histogram", "summary":
			names = append(names, f[2]+"_sum", f[2]+"_count")
			if f[3] == "histogram" {
				names = append(names, f[2]+"_bucket")
			}
		}
	}
	return names
}

// build compiles cmd/<name> of module <name> into dir.
func build(t *testing.T, name, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
	cmd.Dir = filepath.Join(repoRoot, name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// freePorts returns the first of n consecutive loopback ports that are
// free now (hookctl dev takes its ops ports that way).
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base, _ := strconv.Atoi(strings.TrimPrefix(freeAddr(t), "127.0.0.1:"))
		if base+n > 65535 {
			continue
		}
		ok := true
		for i := 1; i < n && ok; i++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond) // test code: polling
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
