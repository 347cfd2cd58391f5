package main_test

import (
	"bytes"
	"context"
	"errors"
	"io"
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
)

const (
	key       = "0123456789abcdef-key"
	seedEvent = `{"type":"payment_success","amount":49.99,"customer":"jane@example.com"}`
)

// build compiles the producer binary once per test run.
func build(t *testing.T) string {
	t.Helper()
	return proctest.Build(t, ".", ".")
}

func TestMain(m *testing.M) { proctest.Main(m) }

// syncBuffer is a bytes.Buffer safe to read while the process writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	bin := build(t)
	c := kafkatest.New(t)
	names, source := c.Hookline(t, 3, 1)
	addr, ops := proctest.FreeAddr(t), proctest.FreeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"HOOKLINE_BROKERS="+strings.Join(c.Brokers, ","),
		"HOOKLINE_API_KEYS="+key,
		"HOOKLINE_ADDR="+addr,
		"HOOKLINE_ADMIN_ADDR="+ops,
		"HOOKLINE_TOPIC_PREFIX="+names.Prefix,
		"HOOKLINE_SOURCE_TOPIC="+source,
	)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + ops + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the producer did not become ready; log:\n%s", stderr.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("the producer exited: %v; log:\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+addr+"/v1/events", strings.NewReader(seedEvent))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("POST /v1/events: %d %s", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; log:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30s after SIGTERM; log:\n%s", stderr.String())
	}
	log := stderr.String()
	if !strings.Contains(log, `"api listening"`) || !strings.Contains(log, `"shutting down"`) {
		t.Errorf("log lacks the listening and shutdown lines:\n%s", log)
	}
	if strings.Contains(log, key) {
		t.Error("the log reveals an API key")
	}
}

func TestBinaryRefusesToStartWithoutKeys(t *testing.T) {
	bin := build(t)
	cmd := exec.Command(bin, "--addr", proctest.FreeAddr(t), "--admin-addr", proctest.FreeAddr(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit = %v, want status 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "--insecure-no-auth") {
		t.Fatalf("the refusal does not say how to proceed:\n%s", out)
	}
}
