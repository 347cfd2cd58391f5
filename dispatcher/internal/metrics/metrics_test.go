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
		{Topic: "d", Partition: 1, Window: 100, Pending: 100, WindowSize: 100, Paused: true, Committed: -1, HighWatermark: 7},
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

	want := `
# HELP hookline_dispatcher_attempts_total HTTP attempts by result (success, retry, failed) and status class (2xx..5xx, none without a response).
# TYPE hookline_dispatcher_attempts_total counter
hookline_dispatcher_attempts_total{result="failed",status_class="none"} 1
hookline_dispatcher_attempts_total{result="retry",status_class="5xx"} 1
hookline_dispatcher_attempts_total{result="success",status_class="2xx"} 1
# HELP hookline_dispatcher_commit_lag_records High watermark minus committed offset, as of the last fetch.
# TYPE hookline_dispatcher_commit_lag_records gauge
hookline_dispatcher_commit_lag_records{partition="0",topic="d"} 110
# HELP hookline_dispatcher_partition_paused 1 while fetching a partition is paused because its window is full.
# TYPE hookline_dispatcher_partition_paused gauge
hookline_dispatcher_partition_paused{partition="0",topic="d"} 0
hookline_dispatcher_partition_paused{partition="1",topic="d"} 1
# HELP hookline_dispatcher_requests_in_flight HTTP requests in progress.
# TYPE hookline_dispatcher_requests_in_flight gauge
hookline_dispatcher_requests_in_flight 3
# HELP hookline_dispatcher_window_fill_ratio Window records over window size; fetching pauses at 1.
# TYPE hookline_dispatcher_window_fill_ratio gauge
hookline_dispatcher_window_fill_ratio{partition="0",topic="d"} 0.5
hookline_dispatcher_window_fill_ratio{partition="1",topic="d"} 1
# HELP hookline_dispatcher_commits_total Offset commit requests by result (ok, error).
# TYPE hookline_dispatcher_commits_total counter
hookline_dispatcher_commits_total{result="error"} 1
hookline_dispatcher_commits_total{result="ok"} 1
# HELP hookline_dispatcher_dead_letters_total Deliveries dead-lettered, by reason.
# TYPE hookline_dispatcher_dead_letters_total counter
hookline_dispatcher_dead_letters_total{reason="exhausted"} 1
`
	names := []string{
		"hookline_dispatcher_attempts_total", "hookline_dispatcher_commit_lag_records", "hookline_dispatcher_partition_paused",
		"hookline_dispatcher_requests_in_flight", "hookline_dispatcher_window_fill_ratio", "hookline_dispatcher_commits_total",
		"hookline_dispatcher_dead_letters_total",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(r.latency); n != 3 {
		t.Errorf("latency histogram has %d series, want 3 status classes", n)
	}

	// A revoked partition disappears at the next scrape.
	stats.Partitions = stats.Partitions[:1]
	if n, err := testutil.GatherAndCount(reg, "hookline_dispatcher_window_records"); err != nil || n != 1 {
		t.Errorf("window series after a revoke: %d (%v), want 1", n, err)
	}
}
