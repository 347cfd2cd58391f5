package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/dispatcher/deliver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRecorderAndGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	stats := deliver.Stats{InFlight: 3, MaxConcurrency: 8, Partitions: []deliver.PartitionStats{
		{Topic: "d", Partition: 0, Window: 50, Pending: 10, WindowSize: 100, Committed: 90, HighWatermark: 200},
		{Topic: "d", Partition: 1, Window: 100, Pending: 100, WindowSize: 100, Paused: true, Committed: -1, HighWatermark: 7, FirstFetched: 2},
		{Topic: "r1", Partition: 0, Window: 0, WindowSize: 100, Committed: 40, HighWatermark: 45, Tier: 1,
			Due: time.Now().Add(time.Second), HeadProduced: time.Now().Add(-time.Hour)},
		{Topic: "r1", Partition: 1, Window: 0, WindowSize: 100, Committed: 10, HighWatermark: 12, Tier: 1},
	}}
	r, err := New(reg, func() deliver.Stats { return stats })
	if err != nil {
		t.Fatal(err)
	}
	r.Attempt(deliver.ResultSuccess, 204, 10*time.Millisecond)
	r.Attempt(deliver.ResultRetry, 503, time.Second)
	r.Attempt(deliver.ResultFailed, 0, 2*time.Second)
	r.Delivered(time.Second)
	r.DeadLettered("exhausted")
	r.Committed(nil)
	r.Committed(errors.New("boom"))
	r.Scheduled(1)
	r.Scheduled(1)
	r.Scheduled(3)
	r.Parked()
	r.ProduceFailed("hookline.dlq")

	want := `
# HELP hookline_dispatcher_attempts_total HTTP attempts by result (success, retry, failed) and status class (2xx..5xx, none without a response).
# TYPE hookline_dispatcher_attempts_total counter
hookline_dispatcher_attempts_total{result="failed",status_class="none"} 1
hookline_dispatcher_attempts_total{result="retry",status_class="5xx"} 1
hookline_dispatcher_attempts_total{result="success",status_class="2xx"} 1
# HELP hookline_dispatcher_commit_lag_records High watermark minus committed offset, as of the last fetch.
# TYPE hookline_dispatcher_commit_lag_records gauge
hookline_dispatcher_commit_lag_records{partition="0",topic="d"} 110
hookline_dispatcher_commit_lag_records{partition="1",topic="d"} 5
hookline_dispatcher_commit_lag_records{partition="0",topic="r1"} 5
hookline_dispatcher_commit_lag_records{partition="1",topic="r1"} 2
# HELP hookline_dispatcher_partition_paused 1 while fetching a partition is paused because its window is full.
# TYPE hookline_dispatcher_partition_paused gauge
hookline_dispatcher_partition_paused{partition="0",topic="d"} 0
hookline_dispatcher_partition_paused{partition="1",topic="d"} 1
hookline_dispatcher_partition_paused{partition="0",topic="r1"} 0
hookline_dispatcher_partition_paused{partition="1",topic="r1"} 0
# HELP hookline_dispatcher_requests_in_flight HTTP requests in progress.
# TYPE hookline_dispatcher_requests_in_flight gauge
hookline_dispatcher_requests_in_flight 3
# HELP hookline_dispatcher_window_fill_ratio Window records over window size; fetching pauses at 1.
# TYPE hookline_dispatcher_window_fill_ratio gauge
hookline_dispatcher_window_fill_ratio{partition="0",topic="d"} 0.5
hookline_dispatcher_window_fill_ratio{partition="1",topic="d"} 1
hookline_dispatcher_window_fill_ratio{partition="0",topic="r1"} 0
hookline_dispatcher_window_fill_ratio{partition="1",topic="r1"} 0
# HELP hookline_dispatcher_commits_total Offset commit requests by result (ok, error).
# TYPE hookline_dispatcher_commits_total counter
hookline_dispatcher_commits_total{result="error"} 1
hookline_dispatcher_commits_total{result="ok"} 1
# HELP hookline_dispatcher_dead_letters_total Deliveries dead-lettered, by reason.
# TYPE hookline_dispatcher_dead_letters_total counter
hookline_dispatcher_dead_letters_total{reason="exhausted"} 1
# HELP hookline_dispatcher_retries_scheduled_total Deliveries produced to a retry tier after a failed attempt, by tier.
# TYPE hookline_dispatcher_retries_scheduled_total counter
hookline_dispatcher_retries_scheduled_total{tier="1"} 2
hookline_dispatcher_retries_scheduled_total{tier="3"} 1
# HELP hookline_dispatcher_parked_total Deliveries parked in the first retry tier, without an attempt, because their subscription was paused or not yet known.
# TYPE hookline_dispatcher_parked_total counter
hookline_dispatcher_parked_total 1
# HELP hookline_dispatcher_produce_failures_total Failed produces of dead letters, retry records and subscription updates (each is retried), by topic.
# TYPE hookline_dispatcher_produce_failures_total counter
hookline_dispatcher_produce_failures_total{topic="hookline.dlq"} 1
# HELP hookline_dispatcher_retry_waiting_records Records in a retry tier's assigned partitions not yet committed (waiting to be due or in progress), as of the last fetch.
# TYPE hookline_dispatcher_retry_waiting_records gauge
hookline_dispatcher_retry_waiting_records{tier="1"} 7
`
	names := []string{
		"hookline_dispatcher_attempts_total", "hookline_dispatcher_commit_lag_records", "hookline_dispatcher_partition_paused",
		"hookline_dispatcher_requests_in_flight", "hookline_dispatcher_window_fill_ratio", "hookline_dispatcher_commits_total",
		"hookline_dispatcher_dead_letters_total", "hookline_dispatcher_retries_scheduled_total", "hookline_dispatcher_parked_total",
		"hookline_dispatcher_produce_failures_total", "hookline_dispatcher_retry_waiting_records",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(r.latency); n != 3 {
		t.Errorf("latency histogram has %d series, want 3 status classes", n)
	}

	// The oldest waiting record of tier 1 was produced an hour ago.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	age := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "hookline_dispatcher_retry_oldest_age_seconds" && len(mf.GetMetric()) == 1 {
			age = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if age < 3599 || age > 3700 {
		t.Errorf("oldest retry age in tier 1: %.0fs, want about 3600s", age)
	}

	// A revoked partition disappears at the next scrape.
	stats.Partitions = stats.Partitions[:1]
	if n, err := testutil.GatherAndCount(reg, "hookline_dispatcher_window_records"); err != nil || n != 1 {
		t.Errorf("window series after a revoke: %d (%v), want 1", n, err)
	}
}
