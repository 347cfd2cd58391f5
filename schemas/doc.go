// Package schemas is the root of Hookline's contracts module.
//
// The module depends on no sibling module. Its packages are:
//
//   - event: the CloudEvents 1.0 envelope and its Kafka protocol binding
//     (binary and structured modes, plus the seed's plain JSON events).
//   - record: Subscription, Delivery, DeadLetter and Attempt records.
//   - header: the names of the hookline-* Kafka headers.
//   - topic: topic names (with a configurable prefix) and topic specs.
//   - registry: the embedded JSON Schemas of known event types.
//   - filter: CEL filter expressions of subscriptions.
//   - webhook: Standard Webhooks secrets, signing and verification; it
//     imports only the standard library, so receivers can use it alone.
package schemas
