// Package header names the hookline-* Kafka record headers. Records written
// by Hookline mirror their key fields in these headers so that tools can
// filter without decoding values.
package header

// Header names. Values are UTF-8 text; numbers are decimal, times RFC 3339.
const (
	// Version is the format version of the record value ("1").
	Version = "hookline-version"
	// Kind is the record kind: "delivery", "dead-letter", "attempt", "subscription".
	Kind = "hookline-kind"

	EventID        = "hookline-event-id"
	EventType      = "hookline-event-type"
	SubscriptionID = "hookline-subscription-id"
	DeliveryID     = "hookline-delivery-id"
	Attempt        = "hookline-attempt"
	NotBefore      = "hookline-not-before"
	Tier           = "hookline-tier" // retry tier of a delivery; absent on the deliveries topic
	ReplayOf       = "hookline-replay-of"

	// AcceptedAt is set by the ingest API on the event records it writes:
	// when it accepted the request (RFC 3339 with nanoseconds). The router
	// copies it into Delivery.AcceptedAt, so each stage of an event's path
	// can be timed.
	AcceptedAt = "hookline-accepted-at"

	// Dead-letter fields.
	Stage      = "hookline-stage"
	Reason     = "hookline-reason"
	LastStatus = "hookline-last-status"
	FailedAt   = "hookline-failed-at"

	// Provenance of a record derived from another.
	SourceTopic     = "hookline-source-topic"
	SourcePartition = "hookline-source-partition"
	SourceOffset    = "hookline-source-offset"
)

// Record kinds carried in the Kind header.
const (
	KindDelivery     = "delivery"
	KindDeadLetter   = "dead-letter"
	KindAttempt      = "attempt"
	KindSubscription = "subscription"
	KindEndpoint     = "endpoint-status"
	KindEventType    = "event-type"
	KindIdempotency  = "idempotency"
)
