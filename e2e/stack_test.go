package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/schemas/topic"
)

// logDir holds the log of every process the tests start, for the whole
// test run: the fault suite scans them all for secrets at its end.
var logDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookline-e2e-logs")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	logDir = dir
	code := proctest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

var repoRoot = func() string { d, _ := filepath.Abs(".."); return d }()

// binary builds cmd/<name> of module <name> once and returns its path.
func binary(t *testing.T, name string) string {
	t.Helper()
	return proctest.Build(t, filepath.Join(repoRoot, name), "./cmd/"+name)
}

// proc is a running binary whose output goes to a log file in logDir.
type proc = proctest.Proc

// start runs a binary with env (plus PATH and HOME) and stops it at cleanup
// with SIGTERM, so the test also exercises graceful shutdown.
func start(t *testing.T, name string, env map[string]string, args ...string) *proc {
	t.Helper()
	return proctest.Start(t, name, binary(t, name), proctest.Options{Env: env, Args: args, LogDir: logDir})
}

// waitReady polls http://addr/readyz until it answers 200.
func waitReady(t *testing.T, p *proc, addr string) {
	t.Helper()
	proctest.WaitReady(t, p, addr, 90*time.Second)
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

	routerOps := proctest.FreeAddr(t)
	router := start(t, "router", with(map[string]string{
		"HOOKLINE_ADMIN_ADDR":       routerOps,
		"HOOKLINE_SOURCE_TOPICS":    source,
		"HOOKLINE_GROUP":            kafkatest.Name(t, "router"),
		"HOOKLINE_TRANSACTIONAL_ID": kafkatest.Name(t, "router-txn"),
	}))
	dispOps := proctest.FreeAddr(t)
	disp := start(t, "dispatcher", with(map[string]string{
		"HOOKLINE_ADMIN_ADDR":  dispOps,
		"HOOKLINE_GROUP":       kafkatest.Name(t, "dispatcher"),
		"HOOKLINE_ALLOW_CIDRS": "127.0.0.0/8",
	}))
	apiAddr := proctest.FreeAddr(t)
	prodOps := proctest.FreeAddr(t)
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
