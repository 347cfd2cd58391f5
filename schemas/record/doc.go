// Package record defines the JSON records Hookline keeps in Kafka:
// Subscription (hookline.subscriptions), Delivery (hookline.deliveries and
// the retry topics), DeadLetter (hookline.dlq) and Attempt
// (hookline.attempts).
//
// Every record carries a format version in its "v" field and in the
// hookline-version header. Decoders reject unknown versions and malformed
// input with a *DecodeError; they never panic.
package record
