package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hookline/hookline/producer/app"
)

// TestPprofFlag runs the binary in-process (Kafka unreachable: the ops
// server answers all the same) and checks that /debug/pprof/ is served on
// the ops port with --pprof only.
func TestPprofFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
		want int
	}{
		{"default", nil, http.StatusNotFound},
		{"on", []string{"--pprof"}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			closed, ops := unusedAddr(t), unusedAddr(t)
			args := append([]string{"--brokers", closed, "--addr", "127.0.0.1:0", "--api-keys", "0123456789abcdef-key", "--admin-addr", ops, "--log-level", "error"}, tt.args...)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- app.Run(ctx, args, func(string) string { return "" }, io.Discard, io.Discard) }()
			t.Cleanup(func() {
				cancel()
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					t.Error("Run did not return within 30s of cancel")
				}
			})
			deadline := time.Now().Add(30 * time.Second)
			for {
				resp, err := http.Get("http://" + ops + "/healthz")
				if err == nil {
					resp.Body.Close()
					break
				}
				select {
				case err := <-done:
					t.Fatalf("Run ended before serving: %v", err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("the ops server did not answer: %v", err)
				}
				time.Sleep(20 * time.Millisecond) // polling for the listener
			}
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1"} {
				resp, err := http.Get("http://" + ops + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, tt.want)
				}
			}
		})
	}
}

// unusedAddr returns a loopback address nothing listens on right now.
func unusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
