package fanout

import (
	"testing"

	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/hookline/hookline/schemas/record"
)

// TestCompilerReusesPrograms checks that a filter is compiled once per
// subscription id and filter text, and compiled anew when either changes.
func TestCompilerReusesPrograms(t *testing.T) {
	t.Parallel()
	c := NewCompiler()
	a := routetest.Sub("a", "data.amount > 1.0", "*")
	b := routetest.Sub("b", "data.amount > 1.0", "*")
	broken := routetest.Sub("broken", "data.amount >", "*")
	first, failed := c.Compile([]*record.Subscription{a, b, broken})
	if len(failed) != 1 {
		t.Fatalf("failed = %v, want the broken filter once", failed)
	}
	if first.targets[0].prg == first.targets[1].prg {
		t.Error("two subscriptions share a program; the cache is keyed by subscription id too")
	}

	// b's filter changes, a's record is replaced by an equal one.
	a2 := *a
	b2 := routetest.Sub("b", "data.amount > 2.0", "*")
	second, failed := c.Compile([]*record.Subscription{&a2, b2, broken})
	if len(failed) != 0 {
		t.Errorf("failed = %v: a compile failure is reported once", failed)
	}
	if second.targets[0].prg != first.targets[0].prg {
		t.Error("unchanged filter compiled again")
	}
	if second.targets[1].prg == first.targets[1].prg || second.targets[1].prg.String() != "data.amount > 2.0" {
		t.Error("changed filter not recompiled")
	}
	if second.targets[2].err == nil {
		t.Error("broken filter lost its error")
	}

	// Deleting a subscription forgets its program.
	c.Compile([]*record.Subscription{&a2})
	if len(c.cache) != 1 {
		t.Errorf("cache holds %d programs, want 1", len(c.cache))
	}
}
