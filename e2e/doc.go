// Package e2e holds Hookline's whole-pipeline tests: they start the real
// producer, router and dispatcher against a kafkatest broker (real Apache
// Kafka in CI) and webhook receivers over real HTTP, and check what the
// receivers and the dead-letter topic end up with. It has no code of its
// own outside tests.
package e2e
