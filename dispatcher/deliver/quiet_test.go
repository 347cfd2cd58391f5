package deliver

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestFailureLogIsBounded: a minute of failures every 100 ms (600 of them)
// logs two warnings (the start and one reminder at 30 s) and one line when
// Kafka answers again.
func TestFailureLogIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.DebugLevel)
		f := &failureLog{log: zap.New(core)}
		f.ok() // nothing to report while Kafka answers
		for range 600 {
			f.failed("offset commit", errors.New("dial tcp: connection refused"))
			time.Sleep(100 * time.Millisecond)
		}
		if f.failingFor() != 60*time.Second {
			t.Errorf("failing for %s, want 60s", f.failingFor())
		}
		f.ok()
		f.ok()
		if f.failingFor() != 0 {
			t.Error("still failing after Kafka answered")
		}
		warns := logs.FilterLevelExact(zap.WarnLevel).Len()
		infos := logs.FilterMessage("Kafka answering again").Len()
		debug := logs.FilterLevelExact(zap.DebugLevel).Len()
		if warns != 2 || infos != 1 || debug != 598 {
			t.Errorf("%d warnings, %d recovery lines, %d debug lines; want 2, 1 and 598", warns, infos, debug)
		}
	})
}

// TestCheckWhileKafkaFails: readiness goes false once Kafka has failed for
// a few seconds, and true again when it answers.
func TestCheckWhileKafkaFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &Dispatcher{kafka: &failureLog{log: zap.NewNop()}}
		d.kafka.failed("fetch", errors.New("connection refused"))
		if err := d.Check(); err != nil {
			t.Errorf("not ready at the first failure: %v", err)
		}
		time.Sleep(notReadyAfter)
		if err := d.Check(); !errors.Is(err, ErrKafkaFailing) {
			t.Errorf("Check after %s of failures = %v, want ErrKafkaFailing", notReadyAfter, err)
		}
		d.kafka.ok()
		if err := d.Check(); err != nil {
			t.Errorf("not ready after Kafka answered: %v", err)
		}
	})
}
