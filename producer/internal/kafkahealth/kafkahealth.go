// Package kafkahealth tells the producer API, within about a second,
// whether Kafka is reachable, so that ingest answers 503 with Retry-After
// at once during an outage instead of letting every request wait out its
// produce timeout.
//
// A Tracker learns from two sources: the hooks of the API's own Kafka
// client (a failed dial or a broken connection marks Kafka down, a
// written produce batch marks it up) and its Run loop, which pings a
// broker every ProbeInterval while Kafka is up and every DownProbeInterval
// while it is down, so that it notices a silent partition and the
// broker's return without any request having to try.
package kafkahealth

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// ErrDown is what Check reports while Kafka is unreachable.
var ErrDown = errors.New("kafka unreachable")

// Defaults of the probe loop.
const (
	DefaultProbeInterval     = time.Second
	DefaultDownProbeInterval = 250 * time.Millisecond
	DefaultProbeTimeout      = time.Second
)

// Tracker tracks whether Kafka is reachable. It starts up (optimistic):
// the first failure marks it down.
type Tracker struct {
	ping func(context.Context) error
	log  *zap.Logger

	// ProbeInterval, DownProbeInterval and ProbeTimeout pace Run; zero
	// takes the defaults above.
	ProbeInterval, DownProbeInterval, ProbeTimeout time.Duration

	mu       sync.Mutex
	down     bool
	since    time.Time
	cause    error
	downCtx  context.Context // done when Kafka goes down; replaced when it is back
	markDone context.CancelFunc
	wake     chan struct{} // nudges Run to probe now
}

// New returns a Tracker that probes with ping (publish.Client.Ping). log
// may be nil.
func New(ping func(context.Context) error, log *zap.Logger) *Tracker {
	if log == nil {
		log = zap.NewNop()
	}
	t := &Tracker{ping: ping, log: log, wake: make(chan struct{}, 1)}
	t.downCtx, t.markDone = context.WithCancel(context.Background())
	return t
}

// Hooks returns the franz-go hooks to install on the client whose health
// is tracked (kgo.WithHooks).
func (t *Tracker) Hooks() kgo.Hook { return hooks{t} }

// Check returns nil while Kafka is reachable, else an error wrapping
// ErrDown; use it as a readiness check.
func (t *Tracker) Check() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.down {
		return errors.Join(ErrDown, t.cause)
	}
	return nil
}

// Down returns a channel closed once Kafka is marked down (now or later,
// until it is back and marked down again): requests in flight wait on it
// to give up early.
func (t *Tracker) Down() <-chan struct{} { return t.DownContext().Done() }

// DownContext is Down as a context, done once Kafka is marked down, for
// context.AfterFunc: a request in flight stops waiting without a
// goroutine of its own.
func (t *Tracker) DownContext() context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.downCtx
}

// Run probes Kafka until ctx ends.
func (t *Tracker) Run(ctx context.Context) error {
	up, down, timeout := or(t.ProbeInterval, DefaultProbeInterval), or(t.DownProbeInterval, DefaultDownProbeInterval), or(t.ProbeTimeout, DefaultProbeTimeout)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-t.wake:
			timer.Stop()
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := t.ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			t.markDown(err)
		} else {
			t.markUp()
		}
		next := up
		if err != nil {
			next = down
		}
		timer.Reset(next)
	}
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (t *Tracker) markDown(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.down {
		t.cause = err
		return
	}
	t.down, t.since, t.cause = true, time.Now(), err
	t.markDone()
	t.log.Warn("Kafka unreachable; ingest answers 503 until it is back", zap.Error(err))
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *Tracker) markUp() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.down {
		return
	}
	t.log.Info("Kafka reachable again; ingest accepts events", zap.Duration("outage", time.Since(t.since).Round(time.Millisecond)))
	t.down, t.cause = false, nil
	t.downCtx, t.markDone = context.WithCancel(context.Background())
}

// hooks feeds a Tracker from the client's connection events.
type hooks struct{ t *Tracker }

var (
	_ kgo.HookBrokerConnect       = hooks{}
	_ kgo.HookBrokerRead          = hooks{}
	_ kgo.HookProduceBatchWritten = hooks{}
)

func (h hooks) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.t.markDown(err)
	}
}

func (h hooks) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	// A connection the broker broke (it died, or closed an idle one):
	// suspect an outage; the probe clears a false alarm within
	// DownProbeInterval.
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, net.ErrClosed) {
		h.t.markDown(err)
	}
}

func (h hooks) OnProduceBatchWritten(kgo.BrokerMetadata, string, int32, kgo.ProduceBatchMetrics) {
	h.t.markUp()
}
