// Package routetest builds the events, subscriptions and Kafka fixtures the
// router's tests share: valid events of the registered types, poison
// records, and helpers that read a topic to its committed end.
package routetest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Secret is a valid signing secret for test subscriptions.
const Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Epoch is a fixed time for deterministic records.
var Epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Sub returns a valid, normalized subscription.
func Sub(id, filter string, patterns ...string) *record.Subscription {
	s := &record.Subscription{
		ID: id, URL: "https://hooks.example/" + id, EventTypes: patterns, Filter: filter,
		Secrets: []record.Secret{{Key: Secret}}, CreatedAt: Epoch, UpdatedAt: Epoch,
	}
	s.Normalize()
	return s
}

// Payment returns a valid payment.succeeded CloudEvent.
func Payment(id string, amount float64) event.Event {
	data := fmt.Sprintf(`{"payment_id":"pay_%s","amount":%g,"currency":"USD","customer":{"id":"cus_1"},"captured_at":"2026-03-01T12:00:00Z"}`, id, amount)
	return event.Event{
		ID: id, Source: "/payments", Type: "payment.succeeded", SpecVersion: event.SpecVersion,
		Time: Epoch, DataContentType: event.ContentTypeJSON, Data: []byte(data),
	}
}

// PaymentFailed returns a payment.failed CloudEvent, a type without a
// registered schema.
func PaymentFailed(id string, amount float64) event.Event {
	return event.Event{
		ID: id, Source: "/payments", Type: "payment.failed", SpecVersion: event.SpecVersion,
		Time: Epoch, DataContentType: event.ContentTypeJSON, Data: fmt.Appendf(nil, `{"amount":%g}`, amount),
	}
}

// Order returns a valid order.status_changed CloudEvent.
func Order(id, status string) event.Event {
	data := fmt.Sprintf(`{"order_id":"ord_%s","status":%q,"changed_at":"2026-03-01T12:00:00Z"}`, id, status)
	return event.Event{
		ID: id, Source: "/orders", Type: "order.status_changed", SpecVersion: event.SpecVersion,
		Time: Epoch, DataContentType: event.ContentTypeJSON, Data: []byte(data),
	}
}

// Binary returns e in binary mode on topic, keyed by its id.
func Binary(topic string, e event.Event) *kgo.Record {
	return event.BinaryRecord(topic, []byte(e.ID), &e)
}

// Structured returns e in structured mode on topic, keyed by its id.
func Structured(topic string, e event.Event) *kgo.Record {
	r, err := event.StructuredRecord(topic, []byte(e.ID), &e)
	if err != nil {
		panic(err) // test events always encode
	}
	return r
}

// Plain returns the seed's plain JSON event: {"type":"payment_success",...}.
func Plain(topic, id string, amount float64) *kgo.Record {
	v, _ := json.Marshal(map[string]any{"type": "payment_success", "id": id, "amount": amount, "customer": "cus_" + id})
	return &kgo.Record{Topic: topic, Key: []byte(id), Value: v}
}
