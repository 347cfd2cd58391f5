package httpapi

import (
	"testing"
	"time"
)

func TestIdemCache(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newIdemCache(2, time.Hour, func() time.Time { return now })
	h1, h2 := [32]byte{1}, [32]byte{2}

	if st, _ := c.begin("a", h1); st != idemNew {
		t.Fatalf("first begin = %v", st)
	}
	if st, _ := c.begin("a", h1); st != idemBusy {
		t.Fatalf("begin while in progress = %v, want busy", st)
	}
	c.finish("a", 202, []byte("body"))
	if st, e := c.begin("a", h1); st != idemReplay || e.status != 202 || string(e.body) != "body" {
		t.Fatalf("begin after finish = %v %+v, want replay", st, e)
	}
	if st, _ := c.begin("a", h2); st != idemMismatch {
		t.Fatalf("begin with another request = %v, want mismatch", st)
	}

	// Abandoned keys are processed afresh.
	c.begin("b", h1)
	c.abandon("b")
	if st, _ := c.begin("b", h2); st != idemNew {
		t.Fatalf("begin after abandon = %v, want new", st)
	}
	c.finish("b", 202, nil)

	// The oldest entry goes when the cache is full.
	c.begin("c", h1)
	if st, _ := c.begin("a", h2); st != idemNew {
		t.Fatalf("evicted entry = %v, want new", st)
	}
	if len(c.entries) != 2 || c.order.Len() != 2 {
		t.Fatalf("cache holds %d entries (%d in order), want 2", len(c.entries), c.order.Len())
	}

	// Answers expire after the TTL.
	c.finish("c", 202, nil)
	now = now.Add(2 * time.Hour)
	if st, _ := c.begin("c", h2); st != idemNew {
		t.Fatalf("expired entry = %v, want new", st)
	}
}
