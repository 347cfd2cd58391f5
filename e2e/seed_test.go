package e2e_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/proctest"
)

// seedListener runs the seed article's Express webhook listener (port 3000,
// path /webhook) and returns a function that reports whether a line has
// been printed.
func seedListener(t *testing.T) (printed func(line string) bool) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the seed's Express listener cannot run here")
	}
	dir := filepath.Join("testdata", "seed-listener")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "express")); err != nil {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		npm.Dir = dir
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("installing the listener's express: %v\n%s", err, out)
		}
	}
	if ln, err := net.Listen("tcp", "127.0.0.1:3000"); err != nil {
		t.Fatalf("the seed listener needs port 3000, which is taken: %v", err)
	} else {
		ln.Close()
	}
	cmd := exec.Command(node, "server.js")
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		_ = cmd.Wait()
		mu.Lock()
		defer mu.Unlock()
		t.Logf("seed listener printed:\n%s", strings.Join(lines, "\n"))
	})
	printed = func(line string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if l == line {
				return true
			}
		}
		return false
	}
	proctest.Eventually(t, 30*time.Second, "the seed listener to start", func() bool {
		return printed("Webhook listener running on port 3000")
	})
	return printed
}

// TestSeedPaymentExample runs the seed article's story end to end: the
// payment gateway emits payment_success through the producer API, the
// router routes it, the dispatcher POSTs it (raw format, so the body is the
// event exactly as emitted) and the seed's unchanged Express listener
// handles it.
func TestSeedPaymentExample(t *testing.T) {
	printed := seedListener(t)
	s := startStack(t)

	var created struct {
		Subscription struct {
			ID string `json:"id"`
		} `json:"subscription"`
		Secret string `json:"secret"`
	}
	code := s.call(t, "POST", "/v1/subscriptions", map[string]any{
		"url":         "http://127.0.0.1:3000/webhook",
		"event_types": []string{"payment_success"},
		"format":      "raw",
	}, &created)
	if code != 201 || !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("creating the subscription: %d %+v", code, created)
	}

	// The payment gateway's event, in the seed's plain JSON shape.
	var accepted struct {
		IDs []string `json:"ids"`
	}
	if code := s.call(t, "POST", "/v1/events", map[string]any{
		"type": "payment_success", "amount": 49.99, "customer": "alice@example.com",
	}, &accepted); code != 202 || len(accepted.IDs) != 1 {
		t.Fatalf("publishing: %d %+v", code, accepted)
	}
	proctest.Eventually(t, 60*time.Second, "the listener to handle the payment", func() bool {
		return printed("Payment of $49.99 received for alice@example.com")
	})
}
