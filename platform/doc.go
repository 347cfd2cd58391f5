// Package platform is the root of Hookline's runtime plumbing module. Each
// package serves one purpose:
//
//   - kclient: Kafka client options from a config struct (brokers, TLS,
//     SASL), logging and metrics hooks, and topic creation.
//   - logging: the zap logger every binary builds once in main.
//   - opshttp: the /metrics, /healthz and /readyz server.
//   - lifecycle: running components until a signal, stopping them in order.
//   - flagenv: HOOKLINE_* environment variables as flag defaults.
//   - subtable: the in-memory subscription table tailing the compacted
//     subscriptions topic, shared by the router and the dispatcher.
//   - dlqreplay: what hookctl dlq replay and the producer API's replay
//     share: the record a dead letter is replayed as, and the name of a
//     selection's progress.
//   - kafkatest: brokers and topics for tests (real Kafka, a container, or
//     an in-process kfake cluster).
package platform
