// Package publish is the Go library services use to emit events into
// Hookline.
//
// A Client fills in what an event lacks (a random id, the default source,
// the current time, specversion 1.0), validates it against the schema
// registry, and produces it to Kafka as a CloudEvents binary-mode record
// (ce_* headers, value = data), which the router's event.Decode reads back
// attribute for attribute and byte for byte:
//
//	pub, err := publish.New(publish.SeedBrokers("127.0.0.1:9092"))
//	if err != nil { ... }
//	defer pub.Close()
//	ev := event.Event{Type: "payment_success", Data: []byte(`{"amount":49.99}`)}
//	if err := pub.Publish(ctx, &ev); err != nil { ... }
//	// ev.ID, ev.Source, ev.Time and ev.SpecVersion are now set.
//
// The underlying franz-go client is idempotent and waits for every in-sync
// replica (acks=all), so a record acknowledged once is written once. The
// partition key is, in order: the Key option of the call, the event's
// "partitionkey" extension (the CloudEvents partitioning extension), its
// subject; without any of them records spread over partitions.
//
// Errors are typed (see errors.go): *ValidationError when the event is
// refused before anything is produced, ErrTooLarge, and
// ErrBrokerUnavailable when Kafka could not take the record in time;
// IsRetryable tells which are worth retrying.
package publish
