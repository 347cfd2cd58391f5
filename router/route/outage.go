package route

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Backoff bounds while Kafka does not answer.
const (
	minBackoff = 100 * time.Millisecond
	// remindEvery is how often a continuing outage is logged again.
	remindEvery = 30 * time.Second
)

// outage tracks a period in which Kafka does not let the Router make
// progress. It paces the retries (exponential backoff with jitter, capped)
// and keeps the log bounded: one line when the outage begins, one every
// remindEvery while it lasts, and one when it ends, however many requests
// fail in between.
type outage struct {
	log        *zap.Logger
	maxBackoff time.Duration
	now        func() time.Time

	since    time.Time // zero while Kafka answers
	failures int
	backoff  time.Duration
	reminded time.Time
	down     atomic.Bool  // read by Check from other goroutines
	sinceNs  atomic.Int64 // since, for Check
	// For Check, which tells a loop that keeps failing while brokers
	// answer: failures in a row, the time of the last and its error.
	inRow      atomic.Int64
	lastFailNs atomic.Int64
	lastErr    atomic.Pointer[error]
}

// fail records a failure of what and returns how long to wait before the
// next attempt.
func (o *outage) fail(what string, err error) time.Duration {
	now := o.now()
	o.failures++
	o.inRow.Add(1)
	o.lastFailNs.Store(now.UnixNano())
	o.lastErr.Store(&err)
	o.backoff = min(max(2*o.backoff, minBackoff), o.maxBackoff)
	if o.since.IsZero() {
		o.since, o.reminded = now, now
		o.sinceNs.Store(now.UnixNano())
		o.down.Store(true)
		o.log.Warn("Kafka unavailable; routing paused, retrying with backoff until it answers",
			zap.String("during", what), zap.Error(err))
	} else if now.Sub(o.reminded) >= remindEvery {
		o.reminded = now
		o.log.Warn("Kafka still unavailable; retrying",
			zap.String("during", what), zap.Duration("for", now.Sub(o.since).Round(time.Millisecond)),
			zap.Int("failures", o.failures), zap.Error(err))
	} else if ce := o.log.Check(zap.DebugLevel, "retrying after a Kafka failure"); ce != nil {
		ce.Write(zap.String("during", what), zap.Error(err))
	}
	// Full jitter on the upper half spreads the instances of a group.
	return o.backoff/2 + rand.N(o.backoff/2+1)
}

// ok records progress, ending an outage if one was going on.
func (o *outage) ok() {
	o.inRow.Store(0)
	if o.since.IsZero() {
		return
	}
	o.log.Info("Kafka available again; routing resumed",
		zap.Duration("outage", o.now().Sub(o.since).Round(time.Millisecond)), zap.Int("failures", o.failures))
	o.since, o.failures, o.backoff = time.Time{}, 0, 0
	o.down.Store(false)
}

// sleep waits d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
