package opshttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookline/hookline/platform/opshttp"
	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "hookline_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	s := opshttp.New("127.0.0.1:0", reg, nil)
	var ready atomic.Bool
	s.AddCheck("table", func() error {
		if !ready.Load() {
			return errors.New("catching up")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Listening()
	base := "http://" + s.Addr()

	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "table: catching up") {
		t.Fatalf("readyz before ready: %d %q", code, body)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "hookline_ready 0") {
		t.Fatalf("metrics before ready: %q", body)
	}
	ready.Store(true)
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "hookline_ready 1") {
		t.Fatalf("metrics after ready: %q", body)
	}
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz after ready: %d", code)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "hookline_test_total 3") {
		t.Fatalf("metrics: %d %q", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPprof checks that /debug/pprof/ is served only with WithPprof(true):
// the index, a named profile and a short CPU profile.
func TestPprof(t *testing.T) {
	tests := []struct {
		name string
		opts []opshttp.Option
		want int
	}{
		{"default", nil, http.StatusNotFound},
		{"off", []opshttp.Option{opshttp.WithPprof(false)}, http.StatusNotFound},
		{"on", []opshttp.Option{opshttp.WithPprof(true)}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := opshttp.New("127.0.0.1:0", prometheus.NewRegistry(), nil, tt.opts...)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			})
			<-s.Listening()
			base := "http://" + s.Addr()
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1"} {
				code, body := get(t, base+path)
				if code != tt.want {
					t.Errorf("GET %s: %d, want %d", path, code, tt.want)
				}
				if tt.want == http.StatusOK && path == "/debug/pprof/goroutine?debug=1" && !strings.Contains(body, "goroutine profile:") {
					t.Errorf("GET %s: not a goroutine profile: %.200q", path, body)
				}
			}
			// The other endpoints are there either way.
			if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
				t.Errorf("healthz %d", code)
			}
		})
	}
}
