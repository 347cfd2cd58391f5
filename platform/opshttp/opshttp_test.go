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
