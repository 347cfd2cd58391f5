package fanout

import (
	"fmt"

	"github.com/hookline/hookline/schemas/filter"
	"github.com/hookline/hookline/schemas/record"
)

// Set is an immutable snapshot of the subscriptions with their filters
// compiled. Build one with a Compiler.
type Set struct {
	targets []target
	active  int
}

type target struct {
	sub *record.Subscription
	prg *filter.Program // nil when the subscription has no filter
	err error           // the filter does not compile: never matches
}

// Len returns the number of subscriptions in s.
func (s *Set) Len() int { return len(s.targets) }

// Active returns the number of active subscriptions in s (neither paused
// nor disabled).
func (s *Set) Active() int { return s.active }

// FilterError is a subscription filter that failed to compile or to
// evaluate. Err wraps filter.ErrCompile or filter.ErrEval.
type FilterError struct {
	SubscriptionID string
	Filter         string
	Err            error
}

func (e FilterError) Error() string {
	return fmt.Sprintf("subscription %s: %v", e.SubscriptionID, e.Err)
}

// Compiler builds Sets and compiles each distinct (subscription id,
// filter) pair once: a subscription whose filter is unchanged keeps its
// program across snapshots. It is not safe for concurrent use.
type Compiler struct {
	cache map[filterKey]compiled
}

type filterKey struct{ id, expr string }

type compiled struct {
	prg *filter.Program
	err error
}

// NewCompiler returns an empty Compiler.
func NewCompiler() *Compiler { return &Compiler{cache: map[filterKey]compiled{}} }

// Compile returns the Set of subs, in the order given. Paused and disabled
// subscriptions are in it like active ones: the dispatcher parks a paused
// subscription's deliveries until it resumes and dead-letters a disabled
// one's as endpoint_disabled (replayable once it is enabled again), so no
// event is silently skipped while a subscription is not active. It also returns the
// filters that failed to compile for the first time, for the caller to
// report once; those subscriptions stay in the Set and match nothing.
// subs must not be modified afterwards.
func (c *Compiler) Compile(subs []*record.Subscription) (*Set, []FilterError) {
	next := make(map[filterKey]compiled, len(subs))
	var failed []FilterError
	set := &Set{targets: make([]target, 0, len(subs))}
	for _, s := range subs {
		if s.Active() {
			set.active++
		}
		t := target{sub: s}
		if s.Filter != "" {
			k := filterKey{s.ID, s.Filter}
			cp, ok := c.cache[k]
			if !ok {
				cp.prg, cp.err = filter.Compile(s.Filter)
				if cp.err != nil {
					failed = append(failed, FilterError{SubscriptionID: s.ID, Filter: s.Filter, Err: cp.err})
				}
			}
			next[k] = cp
			t.prg, t.err = cp.prg, cp.err
		}
		set.targets = append(set.targets, t)
	}
	// Forget filters of deleted or changed subscriptions.
	c.cache = next
	return set, failed
}
