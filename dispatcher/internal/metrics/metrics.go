// Package metrics records the dispatcher's measurements in Prometheus
// under hookline_dispatcher_*: counters and histograms through the
// deliver.Recorder hooks, gauges read from deliver.Stats at scrape time.
package metrics

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/hookline/hookline/dispatcher/deliver"
	"github.com/prometheus/client_golang/prometheus"
)

// Recorder implements deliver.Recorder.
type Recorder struct {
	attempts    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	endToEnd    prometheus.Histogram
	deadLetters *prometheus.CounterVec
	commits     *prometheus.CounterVec
	scheduled   *prometheus.CounterVec
	parked      prometheus.Counter
	produceErrs *prometheus.CounterVec
	breakerSkip prometheus.Counter

	series sync.Map // attemptKey to attemptSeries
}

var _ deliver.Recorder = (*Recorder)(nil)

// New registers the dispatcher's metrics with reg. stats is read at every
// scrape for the gauges (requests in flight, window fill, commit lag).
func New(reg prometheus.Registerer, stats func() deliver.Stats) (*Recorder, error) {
	r := &Recorder{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookline_dispatcher_attempts_total",
			Help: "HTTP attempts by result (success, retry, failed) and status class (2xx..5xx, none without a response).",
		}, []string{"result", "status_class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookline_dispatcher_attempt_duration_seconds",
			Help:    "Time from sending a request to its response headers (or error), by status class.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"status_class"}),
		endToEnd: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookline_dispatcher_end_to_end_seconds",
			Help:    "Time from the event's time to its 2xx response.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600},
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookline_dispatcher_dead_letters_total",
			Help: "Deliveries dead-lettered, by reason.",
		}, []string{"reason"}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookline_dispatcher_commits_total",
			Help: "Offset commit requests by result (ok, error).",
		}, []string{"result"}),
		scheduled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookline_dispatcher_retries_scheduled_total",
			Help: "Deliveries produced to a retry tier after a failed attempt, by tier.",
		}, []string{"tier"}),
		parked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookline_dispatcher_parked_total",
			Help: "Deliveries parked in the first retry tier, without an attempt, because their subscription was paused or not yet known.",
		}),
		produceErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookline_dispatcher_produce_failures_total",
			Help: "Failed produces of dead letters, retry records and subscription updates (each is retried), by topic.",
		}, []string{"topic"}),
		breakerSkip: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookline_dispatcher_breaker_deferred_total",
			Help: "Deliveries sent to their next retry tier without a request because their subscription's circuit breaker was open.",
		}),
	}
	err := errors.Join(reg.Register(r.breakerSkip),
		reg.Register(r.attempts), reg.Register(r.latency), reg.Register(r.endToEnd),
		reg.Register(r.deadLetters), reg.Register(r.commits), reg.Register(r.scheduled),
		reg.Register(r.parked), reg.Register(r.produceErrs), reg.Register(&gauges{stats: stats}),
	)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// statusClasses are the status_class label values, by status/100 (0:
// none).
var statusClasses = [...]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// attemptSeries is the pair of series one attempt updates.
type attemptSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

type attemptKey struct {
	result string
	class  int
}

// Attempt implements deliver.Recorder. It runs for every HTTP attempt, so
// the series of each result and status class are looked up once.
func (r *Recorder) Attempt(result string, status int, latency time.Duration) {
	k := attemptKey{result, statusClass(status)}
	s, ok := r.series.Load(k)
	if !ok {
		class := statusClasses[k.class]
		s, _ = r.series.LoadOrStore(k, attemptSeries{
			count:   r.attempts.WithLabelValues(result, class),
			latency: r.latency.WithLabelValues(class),
		})
	}
	as := s.(attemptSeries)
	as.count.Inc()
	as.latency.Observe(latency.Seconds())
}

// Delivered implements deliver.Recorder.
func (r *Recorder) Delivered(endToEnd time.Duration) { r.endToEnd.Observe(endToEnd.Seconds()) }

// DeadLettered implements deliver.Recorder.
func (r *Recorder) DeadLettered(reason string) { r.deadLetters.WithLabelValues(reason).Inc() }

// Committed implements deliver.Recorder.
func (r *Recorder) Committed(err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	r.commits.WithLabelValues(result).Inc()
}

// Scheduled implements deliver.Recorder.
func (r *Recorder) Scheduled(tier int) { r.scheduled.WithLabelValues(strconv.Itoa(tier)).Inc() }

// Parked implements deliver.Recorder.
func (r *Recorder) Parked() { r.parked.Inc() }

// BreakerDeferred implements deliver.Recorder.
func (r *Recorder) BreakerDeferred() { r.breakerSkip.Inc() }

// ProduceFailed implements deliver.Recorder.
func (r *Recorder) ProduceFailed(topic string) { r.produceErrs.WithLabelValues(topic).Inc() }

// gauges collects the state gauges from a Stats snapshot at scrape time,
// so revoked partitions disappear without bookkeeping.
type gauges struct {
	stats func() deliver.Stats
}

var (
	inFlightDesc = prometheus.NewDesc("hookline_dispatcher_requests_in_flight",
		"HTTP requests in progress.", nil, nil)
	maxConcDesc = prometheus.NewDesc("hookline_dispatcher_requests_max",
		"Cap on concurrent HTTP requests.", nil, nil)
	windowDesc = prometheus.NewDesc("hookline_dispatcher_window_records",
		"Records held in a partition's window (fetched, not yet committable).", []string{"topic", "partition"}, nil)
	pendingDesc = prometheus.NewDesc("hookline_dispatcher_window_pending_records",
		"Records in a partition's window without a durable outcome yet.", []string{"topic", "partition"}, nil)
	fillDesc = prometheus.NewDesc("hookline_dispatcher_window_fill_ratio",
		"Window records over window size; fetching pauses at 1.", []string{"topic", "partition"}, nil)
	pausedDesc = prometheus.NewDesc("hookline_dispatcher_partition_paused",
		"1 while fetching a partition is paused because its window is full.", []string{"topic", "partition"}, nil)
	lagDesc = prometheus.NewDesc("hookline_dispatcher_commit_lag_records",
		"High watermark minus committed offset, as of the last fetch.", []string{"topic", "partition"}, nil)
	retryWaitingDesc = prometheus.NewDesc("hookline_dispatcher_retry_waiting_records",
		"Records in a retry tier's assigned partitions not yet committed (waiting to be due or in progress), as of the last fetch.", []string{"tier"}, nil)
	breakerDesc = prometheus.NewDesc("hookline_dispatcher_breaker_state",
		"1 for each subscription whose circuit breaker is not closed, by state (open, half-open); closed breakers have no series.", []string{"subscription", "state"}, nil)
	parkedDesc = prometheus.NewDesc("hookline_dispatcher_parked_deliveries",
		"Deliveries of paused (or not yet known) subscriptions parked in the first retry tier and not come round since (learnt again within one first-tier delay after a restart).", nil, nil)
	windowBytesDesc = prometheus.NewDesc("hookline_dispatcher_window_bytes",
		"Bytes of unfinished records held in all windows (key, value, headers).", nil, nil)
	windowBytesMaxDesc = prometheus.NewDesc("hookline_dispatcher_window_bytes_max",
		"Cap on hookline_dispatcher_window_bytes (--window-bytes).", nil, nil)
	retryOldestDesc = prometheus.NewDesc("hookline_dispatcher_retry_oldest_age_seconds",
		"Age of the oldest record waiting to be due in a retry tier (0 when none waits).", []string{"tier"}, nil)
)

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{inFlightDesc, maxConcDesc, windowDesc, pendingDesc, fillDesc, pausedDesc, lagDesc, retryWaitingDesc, retryOldestDesc, breakerDesc, parkedDesc, windowBytesDesc, windowBytesMaxDesc} {
		ch <- d
	}
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	s := g.stats()
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(s.InFlight))
	ch <- prometheus.MustNewConstMetric(maxConcDesc, prometheus.GaugeValue, float64(s.MaxConcurrency))
	ch <- prometheus.MustNewConstMetric(parkedDesc, prometheus.GaugeValue, float64(s.Parked))
	ch <- prometheus.MustNewConstMetric(windowBytesDesc, prometheus.GaugeValue, float64(s.WindowBytes))
	ch <- prometheus.MustNewConstMetric(windowBytesMaxDesc, prometheus.GaugeValue, float64(s.WindowBytesMax))
	for _, b := range s.Breakers {
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, 1, b.Subscription, b.State)
	}
	waiting, oldest := map[int]int64{}, map[int]float64{}
	for _, p := range s.Partitions {
		if p.Tier > 0 {
			waiting[p.Tier] += max(p.CommitLag(), 0)
			if !p.HeadProduced.IsZero() {
				oldest[p.Tier] = max(oldest[p.Tier], time.Since(p.HeadProduced).Seconds())
			}
		}
	}
	for tier, n := range waiting {
		ch <- prometheus.MustNewConstMetric(retryWaitingDesc, prometheus.GaugeValue, float64(n), strconv.Itoa(tier))
		ch <- prometheus.MustNewConstMetric(retryOldestDesc, prometheus.GaugeValue, oldest[tier], strconv.Itoa(tier))
	}
	for _, p := range s.Partitions {
		labels := []string{p.Topic, strconv.Itoa(int(p.Partition))}
		ch <- prometheus.MustNewConstMetric(windowDesc, prometheus.GaugeValue, float64(p.Window), labels...)
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(p.Pending), labels...)
		ch <- prometheus.MustNewConstMetric(fillDesc, prometheus.GaugeValue, float64(p.Window)/float64(max(p.WindowSize, 1)), labels...)
		paused := 0.0
		if p.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, paused, labels...)
		if lag := p.CommitLag(); lag >= 0 {
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag), labels...)
		}
	}
}
