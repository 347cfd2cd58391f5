package app

import (
	"strconv"
	"time"

	"github.com/hookline/hookline/router/route"
	"github.com/hookline/hookline/schemas/record"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics records the router's measurements as Prometheus metrics named
// hookline_router_*.
type metrics struct {
	events       *prometheus.CounterVec
	deliveries   prometheus.Counter
	matches      prometheus.Histogram
	unmatched    prometheus.Counter
	invalid      *prometheus.CounterVec
	filterErrors *prometheus.CounterVec
	suppressed   prometheus.Counter
	txn          *prometheus.HistogramVec
	lag          *prometheus.GaugeVec
	subs         prometheus.Gauge
}

var _ route.Recorder = (*metrics)(nil)

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "hookline", "router"
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_consumed_total",
			Help: "Source records consumed and routed (or dead-lettered) in committed transactions."}, []string{"topic"}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "deliveries_produced_total",
			Help: "Delivery records committed to the deliveries topic."}),
		matches: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "matches_per_event",
			Help: "Subscriptions matched per routed event.", Buckets: []float64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}}),
		unmatched: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_unmatched_total",
			Help: "Valid events that matched no subscription and were dropped."}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "invalid_events_total",
			Help: "Dead letters produced at the route stage, by reason; filter_error counts one per subscription whose filter failed on an event."}, []string{"reason"}),
		filterErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "filter_errors_total",
			Help: "Subscription filters that failed on an event (kind compile or eval); the subscription was treated as not matching (eval failures are also dead-lettered as filter_error, at most one per subscription per minute)."}, []string{"kind"}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "filter_dead_letters_suppressed_total",
			Help: "Filter failures at evaluation not dead-lettered because their subscription got a filter_error dead letter within the last minute."}),
		txn: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "transaction_duration_seconds",
			Help:    "Time from beginning a transaction to its commit or abort, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)}, []string{"outcome"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "consumer_lag_records",
			Help: "Records of a source partition after the last committed batch."}, []string{"topic", "partition"}),
		subs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "active_subscriptions",
			Help: "Active subscriptions in the router's table."}),
	}
	reg.MustRegister(m.events, m.deliveries, m.matches, m.unmatched, m.invalid, m.filterErrors, m.suppressed, m.txn, m.lag, m.subs)
	// Known label values start at zero, so rates exist before the first
	// occurrence.
	for _, r := range []string{record.ReasonInvalidEvent, record.ReasonSchemaViolation, record.ReasonUnknownType, record.ReasonTooLarge, record.ReasonFilterError} {
		m.invalid.WithLabelValues(r)
	}
	m.filterErrors.WithLabelValues("compile")
	m.filterErrors.WithLabelValues("eval")
	return m
}

func (m *metrics) Committed(b *route.Batch, took time.Duration) {
	m.txn.WithLabelValues("committed").Observe(took.Seconds())
	for t, n := range b.Events {
		m.events.WithLabelValues(t).Add(float64(n))
	}
	for _, n := range b.Matches {
		m.matches.Observe(float64(n))
	}
	m.deliveries.Add(float64(b.Deliveries))
	m.unmatched.Add(float64(b.Unmatched))
	for r, n := range b.DeadLetters {
		m.invalid.WithLabelValues(r).Add(float64(n))
	}
	for k, n := range b.FilterErrors {
		m.filterErrors.WithLabelValues(k).Add(float64(n))
	}
	m.suppressed.Add(float64(b.FilterDeadLettersSuppressed))
}

func (m *metrics) Aborted(took time.Duration) {
	m.txn.WithLabelValues("aborted").Observe(took.Seconds())
}

func (m *metrics) Lag(topic string, partition int32, lag int64) {
	m.lag.WithLabelValues(topic, strconv.Itoa(int(partition))).Set(float64(lag))
}

func (m *metrics) Subscriptions(active int) { m.subs.Set(float64(active)) }
