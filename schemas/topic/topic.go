// Package topic names Hookline's Kafka topics and describes how each is
// created. hookctl topics init and the tests create topics from the same
// Specs, so they cannot drift.
package topic

import (
	"fmt"
	"strconv"
	"time"
)

// DefaultPrefix is prepended to every Hookline topic name.
const DefaultPrefix = "hookline."

// DefaultSource is the default topic services write events to.
const DefaultSource = "events"

// DefaultRetryLevels is the number of retry topics, one per step of the
// default schedule (about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
const DefaultRetryLevels = 7

// Names gives the topic names under one prefix. The zero value uses no
// prefix; use New for the default.
type Names struct {
	Prefix string
}

// New returns Names under prefix.
func New(prefix string) Names { return Names{Prefix: prefix} }

// Default returns Names under DefaultPrefix.
func Default() Names { return Names{Prefix: DefaultPrefix} }

// Subscriptions is the compacted topic of Subscription records.
func (n Names) Subscriptions() string { return n.Prefix + "subscriptions" }

// EventTypes is the compacted topic of EventType records: the event-type
// catalogue, keyed by type name.
func (n Names) EventTypes() string { return n.Prefix + "event-types" }

// EndpointStatus is the compacted topic of EndpointStatus records: what
// the dispatcher knows of each subscription's endpoint (its circuit
// breaker), for hookctl subs get.
func (n Names) EndpointStatus() string { return n.Prefix + "endpoint-status" }

// Idempotency is the topic of Idempotency records: the answers to API
// requests sent with an Idempotency-Key, keyed by record.IdempotencyKey,
// shared by every producer replica. It is compacted (one answer per key)
// and its old segments are deleted, so answers go away after their TTL.
func (n Names) Idempotency() string { return n.Prefix + "idempotency" }

// Deliveries is the topic of fresh Delivery records.
func (n Names) Deliveries() string { return n.Prefix + "deliveries" }

// DLQ is the topic of DeadLetter records.
func (n Names) DLQ() string { return n.Prefix + "dlq" }

// Attempts is the topic of Attempt records.
func (n Names) Attempts() string { return n.Prefix + "attempts" }

// Retry returns the name of retry topic level (1-based).
func (n Names) Retry(level int) string { return n.Prefix + "retry." + strconv.Itoa(level) }

// Spec says how to create one topic.
type Spec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string
}

// SpecOpts sizes the topics. Zero fields take the defaults noted.
type SpecOpts struct {
	Partitions        int32         // deliveries and retry topics; default 12
	ReplicationFactor int16         // default 1 (a single-node broker)
	RetryLevels       int           // default DefaultRetryLevels
	DLQRetention      time.Duration // default 14 days
	AttemptsRetention time.Duration // default 1 day
	IdempotencyTTL    time.Duration // the producers' --idempotency-ttl; default 1 day
	Sources           []string      // source topics to create too; default none
}

// Specs returns the specs of every Hookline topic under n.
func (n Names) Specs(o SpecOpts) []Spec {
	if o.Partitions <= 0 {
		o.Partitions = 12
	}
	if o.ReplicationFactor <= 0 {
		o.ReplicationFactor = 1
	}
	if o.RetryLevels <= 0 {
		o.RetryLevels = DefaultRetryLevels
	}
	if o.DLQRetention <= 0 {
		o.DLQRetention = 14 * 24 * time.Hour
	}
	if o.AttemptsRetention <= 0 {
		o.AttemptsRetention = 24 * time.Hour
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = 24 * time.Hour
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	del := func() map[string]string { return map[string]string{"cleanup.policy": "delete"} }
	specs := []Spec{
		{Name: n.Subscriptions(), Partitions: 1, ReplicationFactor: o.ReplicationFactor,
			Configs: map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}},
		{Name: n.EventTypes(), Partitions: 1, ReplicationFactor: o.ReplicationFactor,
			Configs: map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}},
		{Name: n.Deliveries(), Partitions: o.Partitions, ReplicationFactor: o.ReplicationFactor, Configs: del()},
		{Name: n.EndpointStatus(), Partitions: 1, ReplicationFactor: o.ReplicationFactor,
			Configs: map[string]string{"cleanup.policy": "compact"}},
		// Compaction keeps one answer per key; deletion drops a segment
		// once its newest answer is twice the TTL old (segments roll every
		// TTL), so answers live at least a TTL and the topic stays bounded.
		// Readers ignore answers older than the TTL themselves.
		{Name: n.Idempotency(), Partitions: 3, ReplicationFactor: o.ReplicationFactor,
			Configs: map[string]string{"cleanup.policy": "compact,delete", "retention.ms": ms(2 * o.IdempotencyTTL),
				"segment.ms": ms(o.IdempotencyTTL), "delete.retention.ms": ms(time.Hour)}},
	}
	for i := 1; i <= o.RetryLevels; i++ {
		specs = append(specs, Spec{Name: n.Retry(i), Partitions: o.Partitions, ReplicationFactor: o.ReplicationFactor, Configs: del()})
	}
	specs = append(specs,
		Spec{Name: n.DLQ(), Partitions: 3, ReplicationFactor: o.ReplicationFactor,
			Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": ms(o.DLQRetention)}},
		Spec{Name: n.Attempts(), Partitions: 3, ReplicationFactor: o.ReplicationFactor,
			Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": ms(o.AttemptsRetention)}},
	)
	for _, s := range o.Sources {
		specs = append(specs, Spec{Name: s, Partitions: o.Partitions, ReplicationFactor: o.ReplicationFactor, Configs: del()})
	}
	return specs
}

// String describes a spec in one line.
func (s Spec) String() string {
	return fmt.Sprintf("%s partitions=%d rf=%d %v", s.Name, s.Partitions, s.ReplicationFactor, s.Configs)
}
