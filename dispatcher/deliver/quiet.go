package deliver

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// remindEvery is how often a continuing Kafka failure is logged again.
const remindEvery = 30 * time.Second

// failureLog keeps the log of Kafka failures bounded: one line when they
// begin, one every remindEvery while they go on, and one when Kafka
// answers again, however many commits, fetches and produces fail in
// between (each is still counted in metrics). Safe for concurrent use.
type failureLog struct {
	log *zap.Logger

	mu       sync.Mutex
	since    time.Time // zero while Kafka answers
	reminded time.Time
	failures int
}

// failed notes a failure of what.
func (f *failureLog) failed(what string, err error, fields ...zap.Field) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	f.failures++
	fields = append(fields, zap.String("during", what), zap.Error(err))
	switch {
	case f.since.IsZero():
		f.since, f.reminded = now, now
		f.log.Warn("Kafka failing; retrying with backoff, nothing is committed past unfinished work", fields...)
	case now.Sub(f.reminded) >= remindEvery:
		f.reminded = now
		f.log.Warn("Kafka still failing; retrying", append(fields,
			zap.Duration("for", now.Sub(f.since).Round(time.Millisecond)), zap.Int("failures", f.failures))...)
	default:
		if ce := f.log.Check(zap.DebugLevel, "Kafka failure"); ce != nil {
			ce.Write(fields...)
		}
	}
}

// ok notes that a request to Kafka succeeded.
func (f *failureLog) ok() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.since.IsZero() {
		return
	}
	f.log.Info("Kafka answering again", zap.Duration("after", time.Since(f.since).Round(time.Millisecond)),
		zap.Int("failures", f.failures))
	f.since, f.failures = time.Time{}, 0
}

// failingFor returns how long Kafka has been failing; zero while it
// answers.
func (f *failureLog) failingFor() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.since.IsZero() {
		return 0
	}
	return time.Since(f.since)
}
