// Package lifecycle runs a binary's long-lived components until the first
// of them ends or the context is cancelled (a signal), then stops them one
// at a time in the reverse of the order they were added.
//
// Add components intake-last: the ops server first, then state (the
// subscription table), then the consumers. On shutdown the consumers stop
// first (they drain, commit and leave their group), then the state, then
// the ops server, so /healthz answers until the very end.
//
// A process is never left half alive: a component added with Restart is
// restarted in place, with backoff, when it fails in a way its policy calls
// transient; any other end of a component stops the whole group, each
// component within Group.StopTimeout, and Run returns the cause so that the
// binary exits non-zero.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Defaults of a zero Group.
const (
	// DefaultStopTimeout bounds how long Run waits for one component to
	// stop once the group is shutting down.
	DefaultStopTimeout = 30 * time.Second
	// DefaultMaxRestartBackoff caps the pause before a restart.
	DefaultMaxRestartBackoff = 30 * time.Second
	// DefaultMaxRestarts bounds restarts in a row (about 80 s of backoff
	// with the default cap), so a component that cannot start (a port in
	// use, a bad flag) ends the process instead of flapping forever.
	DefaultMaxRestarts = 10
)

// ErrStopTimeout is returned (wrapped) by Run when a component did not stop
// within StopTimeout; Run abandons it so that the process can exit.
var ErrStopTimeout = errors.New("lifecycle: component did not stop in time")

// Group is an ordered set of components. The zero value is ready to use.
type Group struct {
	// StopTimeout bounds how long Run waits for each component to stop;
	// default DefaultStopTimeout.
	StopTimeout time.Duration
	// MaxRestartBackoff caps the pause before restarting a component;
	// default DefaultMaxRestartBackoff. The pause starts at 100 ms and
	// doubles with every failure that follows a short run.
	MaxRestartBackoff time.Duration
	// MaxRestarts is how many failures in a row a restarting component may
	// have before its failure stops the group; default DefaultMaxRestarts.
	// A run longer than twice MaxRestartBackoff starts the count afresh.
	MaxRestarts int

	tasks []task
}

type task struct {
	name    string
	run     func(context.Context) error
	restart func(error) bool
}

// Option configures a component.
type Option interface{ apply(*task) }

type optFunc func(*task)

func (f optFunc) apply(t *task) { f(t) }

// Restart restarts the component in place when it returns an error for
// which transient reports true, after a backoff; the rest of the group
// keeps running. By default any end of a component stops the group.
func Restart(transient func(error) bool) Option {
	return optFunc(func(t *task) { t.restart = transient })
}

// Add registers a component. run must return soon after its context ends.
func (g *Group) Add(name string, run func(ctx context.Context) error, opts ...Option) {
	t := task{name: name, run: run}
	for _, o := range opts {
		o.apply(&t)
	}
	g.tasks = append(g.tasks, t)
}

// Run starts every component and blocks until all have returned (or were
// abandoned after StopTimeout). It returns the first error other than
// context cancellation.
func (g *Group) Run(ctx context.Context, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	stopTimeout := g.StopTimeout
	if stopTimeout <= 0 {
		stopTimeout = DefaultStopTimeout
	}
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(g.tasks))
	cancels := make([]context.CancelFunc, len(g.tasks))
	done := make([]chan struct{}, len(g.tasks))
	for i, t := range g.tasks {
		tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancels[i] = cancel
		done[i] = make(chan struct{})
		go func() {
			defer close(done[i])
			err := g.supervise(tctx, t, log)
			results <- result{i: i, err: err}
		}()
	}
	var first error
	// Wait for the context or the first component to end.
	select {
	case <-ctx.Done():
		log.Info("shutting down", zap.Error(context.Cause(ctx)))
	case r := <-results:
		results <- r // counted again below
		if r.err != nil && !errors.Is(r.err, context.Canceled) {
			first = fmt.Errorf("%s: %w", g.tasks[r.i].name, r.err)
			log.Error("component failed; shutting down", zap.String("component", g.tasks[r.i].name), zap.Error(r.err))
		} else {
			log.Info("component ended; shutting down", zap.String("component", g.tasks[r.i].name))
		}
	}
	abandoned := 0
	for i := len(g.tasks) - 1; i >= 0; i-- {
		cancels[i]()
		t := time.NewTimer(stopTimeout)
		select {
		case <-done[i]:
			log.Debug("stopped", zap.String("component", g.tasks[i].name))
		case <-t.C:
			// The process is about to exit; waiting longer would keep
			// the components stopped so far dead and the rest alive.
			abandoned++
			err := fmt.Errorf("%s: %w (%v)", g.tasks[i].name, ErrStopTimeout, stopTimeout)
			log.Error("component did not stop in time; abandoning it", zap.String("component", g.tasks[i].name), zap.Duration("timeout", stopTimeout))
			if first == nil {
				first = err
			}
		}
		t.Stop()
	}
	for range len(g.tasks) - abandoned {
		r := <-results
		if first == nil && r.err != nil && !errors.Is(r.err, context.Canceled) {
			first = fmt.Errorf("%s: %w", g.tasks[r.i].name, r.err)
		}
	}
	return first
}

// supervise runs t until ctx ends, restarting it while its policy allows.
func (g *Group) supervise(ctx context.Context, t task, log *zap.Logger) error {
	maxBackoff := g.MaxRestartBackoff
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxRestartBackoff
	}
	maxRestarts := g.MaxRestarts
	if maxRestarts <= 0 {
		maxRestarts = DefaultMaxRestarts
	}
	var backoff time.Duration
	failures := 0
	for {
		started := time.Now()
		err := t.run(ctx)
		if err == nil || ctx.Err() != nil || t.restart == nil || !t.restart(err) {
			return err
		}
		// A component that ran a good while before failing starts
		// over from the shortest pause.
		if time.Since(started) > 2*maxBackoff {
			backoff, failures = 0, 0
		}
		if failures++; failures > maxRestarts {
			return fmt.Errorf("failed %d times in a row: %w", failures, err)
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), maxBackoff)
		log.Error("component failed; restarting it", zap.String("component", t.name), zap.Duration("backoff", backoff), zap.Error(err))
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}
