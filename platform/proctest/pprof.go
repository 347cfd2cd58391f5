package proctest

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// RunFunc is a binary's app.Run without its getenv and output arguments.
type RunFunc func(ctx context.Context, args []string) error

// CheckPprofFlag runs a binary in-process with args(brokers, ops) (the
// brokers address closed: its ops server answers all the same) and checks
// that /debug/pprof/ is served on the ops port with --pprof only. The
// producer, router and dispatcher tests share it.
func CheckPprofFlag(t *testing.T, run RunFunc, args func(brokers, ops string) []string) {
	t.Helper()
	for _, tt := range []struct {
		name  string
		extra []string
		want  int
	}{
		{"default", nil, http.StatusNotFound},
		{"on", []string{"--pprof"}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ops := FreeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, append(args(FreeAddr(t), ops), tt.extra...)) }()
			t.Cleanup(func() {
				cancel()
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					t.Error("Run did not return within 30s of cancel")
				}
			})
			Eventually(t, 30*time.Second, "the ops server", func() bool {
				select {
				case err := <-done:
					t.Fatalf("Run ended before serving: %v", err)
				default:
				}
				resp, err := http.Get("http://" + ops + "/healthz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return true
			})
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
