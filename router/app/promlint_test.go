package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/router/app"
	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestMetricsLint runs the router against the test broker, routes an
// event so that every family has a sample (the lag gauge appears after
// the first commit), and runs client_golang's promlint over its /metrics:
// names, units and help strings must follow Prometheus's conventions.
func TestMetricsLint(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	names, source := c.Hookline(t, 1, 1)
	routetest.PutSubs(t, c.Client(t), names.Subscriptions(), routetest.Sub("all", "", "*"))
	ops := freeAddr(t)
	args := []string{"--brokers", strings.Join(c.Brokers, ","), "--topic-prefix", names.Prefix, "--source-topics", source,
		"--group", kafkatest.Name(t, "router"), "--transactional-id", kafkatest.Name(t, "txn"),
		"--admin-addr", ops, "--log-level", "error"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, args, func(string) string { return "" }, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	routetest.Produce(t, c.Client(t), routetest.Binary(source, routetest.Payment("e1", 1)))
	var body string
	routetest.Eventually(t, 60*time.Second, "the router to commit (its lag gauge on /metrics)", func() bool {
		body = scrape(t, "http://"+ops+"/metrics")
		return strings.Contains(body, "hookline_router_deliveries_produced_total 1")
	})
	// promlint cannot tell a unit from a word: the lag gauge says it counts records.
	if !strings.Contains(body, "hookline_router_consumer_lag_records{") {
		t.Error("no hookline_router_consumer_lag_records on /metrics")
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
