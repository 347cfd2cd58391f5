package deliver

import (
	"slices"
	"strings"
	"time"
)

// Attempt results, as in record.Attempt.Result and the result label of
// the attempts metric.
const (
	ResultSuccess = "success" // a 2xx response
	ResultRetry   = "retry"   // failed; another quick attempt follows
	ResultFailed  = "failed"  // failed; the delivery is handed off (to a retry tier or the DLQ)
)

// Recorder receives the dispatcher's measurements as they happen. The
// default discards them; the dispatcher binary records them in Prometheus.
// Methods are called concurrently and must not block.
type Recorder interface {
	// Attempt is called after every HTTP attempt; status is 0 without a
	// response.
	Attempt(result string, status int, latency time.Duration)
	// Delivered is called on every 2xx with the time from the event's
	// time (or its routing, when the event has none) to the response.
	Delivered(endToEnd time.Duration)
	// DeadLettered is called when a dead letter is acknowledged by Kafka.
	DeadLettered(reason string)
	// Committed is called after every offset commit request.
	Committed(err error)
	// Scheduled is called when a retry of a delivery in tier (1-based) is
	// acknowledged by Kafka.
	Scheduled(tier int)
	// Parked is called when a delivery of a paused (or not yet known)
	// subscription is parked in the first retry tier.
	Parked()
	// ProduceFailed is called for every failed produce of a dead letter,
	// retry record or subscription update to topic; it is retried.
	ProduceFailed(topic string)
	// BreakerDeferred is called when an open circuit breaker sends a
	// delivery to its next tier without a request.
	BreakerDeferred()
}

type nopRecorder struct{}

func (nopRecorder) Attempt(string, int, time.Duration) {}
func (nopRecorder) Delivered(time.Duration)            {}
func (nopRecorder) DeadLettered(string)                {}
func (nopRecorder) Committed(error)                    {}
func (nopRecorder) Scheduled(int)                      {}
func (nopRecorder) Parked()                            {}
func (nopRecorder) ProduceFailed(string)               {}
func (nopRecorder) BreakerDeferred()                   {}

// PartitionStats describes one assigned partition.
type PartitionStats struct {
	Topic     string
	Partition int32
	// Window is how many records occupy the window; Pending how many of
	// them have no durable outcome yet.
	Window, Pending int
	// WindowSize is the window's capacity.
	WindowSize int
	// Paused reports whether fetching is paused because the window is full.
	Paused bool
	// Committed is the last committed offset (-1 before the first commit);
	// HighWatermark the partition's end as of the last fetch (-1 before).
	Committed, HighWatermark int64
	// FirstFetched is the offset of the first record fetched in this
	// assignment; -1 before.
	FirstFetched int64
	// Tier is 0 for the deliveries topic, K for retry topic K.
	Tier int
	// Due is when the record at the head of a retry partition is due,
	// while fetching waits for it; zero otherwise. HeadProduced is when
	// that record was produced: how long the oldest record has waited.
	Due, HeadProduced time.Time
}

// CommitLag is how many records of the partition are not committed yet,
// as of the last fetch; -1 when unknown. Before this member's first commit
// it counts from the first record it fetched.
func (p PartitionStats) CommitLag() int64 {
	from := p.Committed
	if from < 0 {
		from = p.FirstFetched
	}
	if p.HighWatermark < 0 || from < 0 {
		return -1
	}
	return max(p.HighWatermark-from, 0)
}

// Stats is a snapshot of the dispatcher's state.
type Stats struct {
	// InFlight is the number of HTTP requests in progress.
	InFlight int
	// MaxConcurrency is the cap on InFlight.
	MaxConcurrency int
	// Partitions are the assigned partitions, sorted.
	Partitions []PartitionStats
	// Breakers are the circuit breakers that are not closed.
	Breakers []BreakerStats
	// Parked is how many deliveries of paused (or not yet known)
	// subscriptions this dispatcher parked in the first retry tier and
	// has not seen come round since. After a restart or rebalance it is
	// learnt again within one first-tier delay.
	Parked int
	// WindowBytes is what the unfinished records in all windows count
	// against WindowBytesMax (Config.WindowBytes).
	WindowBytes, WindowBytesMax int64
}

// BreakerStats is a subscription's circuit breaker that is not closed.
type BreakerStats struct {
	Subscription string
	State        string // "open" or "half-open"
}

// Stats returns a snapshot of the dispatcher's state, for gauges.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	s := Stats{InFlight: len(d.sem), MaxConcurrency: cap(d.sem), Parked: len(d.heldParked),
		WindowBytes: d.bytes, WindowBytesMax: d.cfg.WindowBytes}
	for _, p := range d.parts {
		s.Partitions = append(s.Partitions, PartitionStats{
			Topic: p.topic, Partition: p.id,
			Window: p.win.Len(), Pending: p.win.Pending(), WindowSize: p.win.Size(), Paused: p.win.Paused() || len(p.held) > 0,
			Committed: p.committed, HighWatermark: p.hwm, FirstFetched: p.first,
			Tier: p.tier, Due: p.due, HeadProduced: p.headProduced,
		})
	}
	d.mu.Unlock()
	for _, b := range d.gate.Breakers() {
		s.Breakers = append(s.Breakers, BreakerStats{Subscription: b.Subscription, State: b.State})
	}
	slices.SortFunc(s.Breakers, func(a, b BreakerStats) int { return strings.Compare(a.Subscription, b.Subscription) })
	slices.SortFunc(s.Partitions, func(a, b PartitionStats) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return s
}
