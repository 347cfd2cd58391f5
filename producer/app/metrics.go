package app

import (
	"strconv"
	"time"

	"github.com/hookline/hookline/producer/internal/httpapi"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics records the API's measurements as Prometheus metrics named
// hookline_producer_*.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	events   *prometheus.CounterVec
}

var _ httpapi.Recorder = (*metrics)(nil)

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "hookline", "producer"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "http_requests_total",
			Help: "HTTP API requests, by route and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "http_request_duration_seconds",
			Help:    "HTTP API request durations, including the wait for Kafka acknowledgements, by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"route"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_total",
			Help: "Events received by POST /v1/events, by outcome: accepted (acknowledged by Kafka), invalid, too_large, unavailable (Kafka did not acknowledge in time), failed."},
			[]string{"outcome"}),
	}
	reg.MustRegister(m.requests, m.duration, m.events)
	for _, o := range []string{"accepted", "invalid", "too_large", "unavailable", "failed"} {
		m.events.WithLabelValues(o)
	}
	return m
}

func (m *metrics) Request(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) Events(outcome string, n int) {
	if n > 0 {
		m.events.WithLabelValues(outcome).Add(float64(n))
	}
}
