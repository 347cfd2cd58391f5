package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/hookline/hookline/schemas/topic"
)

// binDir holds the binaries built once for the whole test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookline-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildMu  sync.Mutex
	built    = map[string]error{}
	repoRoot = func() string { d, _ := filepath.Abs(".."); return d }()
)

// binary builds cmd/<name> of module <name> once and returns its path.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	out := filepath.Join(binDir, name)
	err, done := built[name]
	if !done {
		cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
		cmd.Dir = filepath.Join(repoRoot, name)
		if b, e := cmd.CombinedOutput(); e != nil {
			err = fmt.Errorf("building %s: %v\n%s", name, e, b)
		}
		built[name] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// proc is a running binary whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start runs a binary with env (plus PATH and HOME) and stops it at cleanup
// with SIGTERM, so the test also exercises graceful shutdown.
func start(t *testing.T, name string, env map[string]string, args ...string) *proc {
	t.Helper()
	bin := binary(t, name)
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
			t.Errorf("%s did not stop within 40s of SIGTERM", name)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- %s log (last 4 KiB) ----\n%s", name, tail(b, 4096))
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

var (
	portsMu sync.Mutex
	handed  = map[string]bool{}
)

// freeAddr returns a loopback address with a port free right now, never
// the same one twice in this test binary.
func freeAddr(t *testing.T) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !handed[addr] {
			handed[addr] = true
			return addr
		}
	}
}

// waitReady polls http://addr/readyz until it answers 200.
func waitReady(t *testing.T, p *proc, addr string) {
	t.Helper()
	eventually(t, 90*time.Second, p.name+" ready", func() bool {
		if p.exited() {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited early:\n%s", p.name, tail(b, 4096))
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// eventually polls cond every 50 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}

// stack is a running producer, router and dispatcher on one broker under a
// topic prefix of their own.
type stack struct {
	names  topic.Names
	source string
	api    string // producer API base URL
	apiKey string
	c      *kafkatest.Cluster
}

func startStack(t *testing.T) *stack {
	t.Helper()
	s, _ := startStackOn(t, kafkatest.New(t), nil)
	return s
}

// startStackOn starts the stack on c, with env added to every binary's
// environment, and returns it with its processes.
func startStackOn(t *testing.T, c *kafkatest.Cluster, env map[string]string) (*stack, []*proc) {
	t.Helper()
	names, source := c.Hookline(t, 3, 0)
	brokers := strings.Join(c.Brokers, ",")
	common := map[string]string{
		"HOOKLINE_BROKERS":      brokers,
		"HOOKLINE_TOPIC_PREFIX": names.Prefix,
		"HOOKLINE_LOG_LEVEL":    "info",
	}
	for k, v := range env {
		common[k] = v
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range common {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	s := &stack{names: names, source: source, apiKey: "e2e-test-key-0123456789", c: c}

	routerOps := freeAddr(t)
	router := start(t, "router", with(map[string]string{
		"HOOKLINE_ADMIN_ADDR":       routerOps,
		"HOOKLINE_SOURCE_TOPICS":    source,
		"HOOKLINE_GROUP":            kafkatest.Name(t, "router"),
		"HOOKLINE_TRANSACTIONAL_ID": kafkatest.Name(t, "router-txn"),
	}))
	dispOps := freeAddr(t)
	disp := start(t, "dispatcher", with(map[string]string{
		"HOOKLINE_ADMIN_ADDR":  dispOps,
		"HOOKLINE_GROUP":       kafkatest.Name(t, "dispatcher"),
		"HOOKLINE_ALLOW_CIDRS": "127.0.0.0/8",
	}))
	apiAddr := freeAddr(t)
	prodOps := freeAddr(t)
	prod := start(t, "producer", with(map[string]string{
		"HOOKLINE_ADDR":         apiAddr,
		"HOOKLINE_ADMIN_ADDR":   prodOps,
		"HOOKLINE_SOURCE_TOPIC": source,
		"HOOKLINE_API_KEYS":     s.apiKey,
	}))
	waitReady(t, router, routerOps)
	waitReady(t, disp, dispOps)
	waitReady(t, prod, prodOps)
	s.api = "http://" + apiAddr
	return s, []*proc{router, disp, prod}
}

// call sends a JSON request to the producer API and decodes the answer.
func (s *stack) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.api+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}
