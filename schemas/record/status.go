package record

import (
	"strconv"
	"time"

	"github.com/hookline/hookline/schemas/header"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Circuit breaker states, as in EndpointStatus.Breaker.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// EndpointStatus is what the dispatcher that owns a subscription's
// partitions knows of its endpoint, written to the compacted
// endpoint-status topic (keyed by subscription id) when it changes, for
// operators: hookctl subs get shows it.
type EndpointStatus struct {
	V              int    `json:"v"`
	SubscriptionID string `json:"subscription_id"`
	// Breaker is the circuit breaker's state: closed, open or half-open.
	Breaker string `json:"breaker"`
	// Since is when the breaker entered that state.
	Since time.Time `json:"since"`
}

// Record returns the Kafka record of s on topic, keyed by subscription id.
func (s *EndpointStatus) Record(topic string) (*kgo.Record, error) {
	if s.V == 0 {
		s.V = Version
	}
	v, err := encode(header.KindEndpoint, s)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: topic, Key: []byte(s.SubscriptionID), Value: v, Headers: []kgo.RecordHeader{
		hdr(header.Version, strconv.Itoa(Version)),
		hdr(header.Kind, header.KindEndpoint),
		hdr(header.SubscriptionID, s.SubscriptionID),
	}}, nil
}

// DecodeEndpointStatus parses an EndpointStatus value.
func DecodeEndpointStatus(b []byte) (EndpointStatus, error) {
	var s EndpointStatus
	if err := decode(header.KindEndpoint, b, &s, func() int { return s.V }); err != nil {
		return EndpointStatus{}, err
	}
	return s, nil
}
