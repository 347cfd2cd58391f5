// Package lifecycle runs a binary's long-lived components until the first
// of them ends or the context is cancelled (a signal), then stops them one
// at a time in the reverse of the order they were added.
//
// Add components intake-last: the ops server first, then state (the
// subscription table), then the consumers. On shutdown the consumers stop
// first (they drain, commit and leave their group), then the state, then
// the ops server, so /healthz answers until the very end.
package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// Group is an ordered set of components. The zero value is ready to use.
type Group struct {
	tasks []task
}

type task struct {
	name string
	run  func(context.Context) error
}

// Add registers a component. run must return soon after its context ends.
func (g *Group) Add(name string, run func(ctx context.Context) error) {
	g.tasks = append(g.tasks, task{name: name, run: run})
}

// Run starts every component and blocks until all have returned. It
// returns the first error other than context cancellation.
func (g *Group) Run(ctx context.Context, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
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
			err := t.run(tctx)
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
	for i := len(g.tasks) - 1; i >= 0; i-- {
		cancels[i]()
		<-done[i]
		log.Debug("stopped", zap.String("component", g.tasks[i].name))
	}
	close(results)
	for r := range results {
		if first == nil && r.err != nil && !errors.Is(r.err, context.Canceled) {
			first = fmt.Errorf("%s: %w", g.tasks[r.i].name, r.err)
		}
	}
	return first
}
