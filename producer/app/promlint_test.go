package app

import (
	"strings"
	"testing"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestMetricsLint runs the producer against the test broker, ingests an
// event so that the request and event families have samples, and runs
// client_golang's promlint over its /metrics: names, units and help
// strings must follow Prometheus's conventions.
func TestMetricsLint(t *testing.T) {
	c := kafkatest.New(t)
	names, source := c.Hookline(t, 1, 1)
	s := start(t, c, names, source)
	if a := send(t, "POST", "http://"+s.api+"/v1/events", seedEvent); a.status != 202 {
		t.Fatalf("POST /v1/events: %d %s", a.status, a.body)
	}
	var body string
	waitFor(t, func() bool {
		body = get(t, "http://"+s.ops+"/metrics").body
		return strings.Contains(body, "hookline_producer_") && strings.Contains(body, "hookline_kafka_")
	}, "the producer's and the Kafka client's metrics")
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
