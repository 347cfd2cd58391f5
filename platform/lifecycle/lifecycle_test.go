package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

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
