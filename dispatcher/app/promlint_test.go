package app

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/proctest"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestMetricsLint runs the dispatcher in-process, delivers a few webhooks
// so that its families have samples (commit lag, attempts, latencies),
// and runs client_golang's promlint over its /metrics: names, units and
// help strings must follow Prometheus's conventions.
func TestMetricsLint(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t, 1)
	s := &sink{got: map[string]int{}}
	subs, dels, ids := subsAndDeliveries(t, h, s, 1, 3, 0)
	h.put(t, subs...)
	h.put(t, dels...)
	admin := proctest.FreeAddr(t)
	group := kafkatest.Name(t, "dispatcher")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, nil, env(h.env(group, admin)), io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var body string
	for deadline := time.Now().Add(60 * time.Second); ; {
		n, _ := s.counts()
		if resp, err := http.Get("http://" + admin + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		if n == len(ids) && strings.Contains(body, "hookline_dispatcher_commit_lag_records{") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of %d; metrics:\n%s", n, len(ids), body)
		}
		time.Sleep(20 * time.Millisecond) // polling the receivers and /metrics
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
