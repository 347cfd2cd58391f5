package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hookline/hookline/platform/lifecycle"
)

// recorder notes the order in which components stop.
type recorder struct {
	mu    sync.Mutex
	order []string
}

func (r *recorder) component(name string, fail error) func(context.Context) error {
	return func(ctx context.Context) error {
		if fail != nil {
			return fail
		}
		<-ctx.Done()
		r.mu.Lock()
		r.order = append(r.order, name)
		r.mu.Unlock()
		return nil
	}
}

func TestStopsInReverseOrderOnCancel(t *testing.T) {
	var r recorder
	var g lifecycle.Group
	g.Add("ops", r.component("ops", nil))
	g.Add("table", r.component("table", nil))
	g.Add("consumer", r.component("consumer", nil))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := g.Run(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"consumer", "table", "ops"}; !slices.Equal(r.order, want) {
		t.Fatalf("stop order %v, want %v", r.order, want)
	}
}

func TestFirstFailureStopsTheRest(t *testing.T) {
	var r recorder
	var g lifecycle.Group
	boom := errors.New("boom")
	g.Add("ops", r.component("ops", nil))
	g.Add("consumer", r.component("consumer", boom))
	err := g.Run(t.Context(), nil)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if want := []string{"ops"}; !slices.Equal(r.order, want) {
		t.Fatalf("stopped %v, want %v", r.order, want)
	}
}

func TestRestartsTransientFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		transient := errors.New("broker away")
		fatal := errors.New("fenced")
		var r recorder
		var g lifecycle.Group
		runs := 0
		g.Add("ops", r.component("ops", nil))
		g.Add("router", func(ctx context.Context) error {
			runs++
			if runs < 4 {
				return transient
			}
			return fatal
		}, lifecycle.Restart(func(err error) bool { return errors.Is(err, transient) }))
		start := time.Now()
		err := g.Run(t.Context(), nil)
		if !errors.Is(err, fatal) || runs != 4 {
			t.Fatalf("err = %v after %d runs, want fenced after 4", err, runs)
		}
		// Backoff 100 ms, 200 ms, 400 ms.
		if took := time.Since(start); took != 700*time.Millisecond {
			t.Errorf("restarts took %v, want 700ms of backoff", took)
		}
		if want := []string{"ops"}; !slices.Equal(r.order, want) {
			t.Fatalf("stopped %v, want %v", r.order, want)
		}
	})
}

func TestRestartStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g lifecycle.Group
		g.Add("flaky", func(ctx context.Context) error { return errors.New("again") },
			lifecycle.Restart(func(error) bool { return true }))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := g.Run(ctx, nil); err != nil {
			t.Fatalf("err = %v, want nil after the context ended", err)
		}
	})
}

func TestAbandonsComponentThatDoesNotStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r recorder
		g := lifecycle.Group{StopTimeout: 5 * time.Second}
		release := make(chan struct{})
		boom := errors.New("boom")
		g.Add("api", r.component("api", nil))
		g.Add("stuck", func(ctx context.Context) error {
			<-release // ignores its context, like a drain stuck on Kafka
			return nil
		})
		g.Add("router", r.component("router", boom))
		start := time.Now()
		err := g.Run(t.Context(), nil)
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		if took := time.Since(start); took != 5*time.Second {
			t.Errorf("Run took %v, want the 5s stop timeout", took)
		}
		if want := []string{"api"}; !slices.Equal(r.order, want) {
			t.Fatalf("stopped %v, want %v (the API must not outlive a dead pipeline)", r.order, want)
		}
		close(release)
	})
}

func TestStopTimeoutIsTheErrorWhenNothingFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := lifecycle.Group{StopTimeout: time.Second}
		release := make(chan struct{})
		g.Add("stuck", func(ctx context.Context) error {
			<-release
			return nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := g.Run(ctx, nil); !errors.Is(err, lifecycle.ErrStopTimeout) {
			t.Fatalf("err = %v, want ErrStopTimeout", err)
		}
		close(release)
	})
}

func TestGivesUpAfterMaxRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := lifecycle.Group{MaxRestarts: 3}
		runs := 0
		bind := errors.New("address in use")
		g.Add("api", func(ctx context.Context) error { runs++; return bind },
			lifecycle.Restart(func(error) bool { return true }))
		if err := g.Run(t.Context(), nil); !errors.Is(err, bind) || runs != 4 {
			t.Fatalf("err = %v after %d runs, want address in use after 4", err, runs)
		}
	})
}
