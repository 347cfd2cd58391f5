package route

import (
	"errors"
	"testing"
	"time"
)

// TestCheckStaleReads: with no answer from any broker for staleRead the
// Router is not ready, though no transaction step has failed yet (a flush
// waiting for an unreachable broker); an answer makes it ready again.
func TestCheckStaleReads(t *testing.T) {
	var r Router
	if err := r.Check(); err != nil {
		t.Errorf("before any read: %v", err)
	}
	r.lastRead.Store(time.Now().Add(-staleRead - time.Second).UnixNano())
	if err := r.Check(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no answer for %s: Check = %v, want ErrUnavailable", staleRead+time.Second, err)
	}
	r.lastRead.Store(time.Now().UnixNano())
	if err := r.Check(); err != nil {
		t.Errorf("after an answer: %v", err)
	}
}
