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
		f.ok()
		f.ok()
		warns := logs.FilterLevelExact(zap.WarnLevel).Len()
		infos := logs.FilterMessage("Kafka answering again").Len()
		debug := logs.FilterLevelExact(zap.DebugLevel).Len()
		if warns != 2 || infos != 1 || debug != 598 {
			t.Errorf("%d warnings, %d recovery lines, %d debug lines; want 2, 1 and 598", warns, infos, debug)
		}
	})
}
