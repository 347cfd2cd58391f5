package httpapi

import (
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/record"
)

func TestMemAnswers(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newMemAnswers(2, time.Hour, func() time.Time { return now })
	put := func(key, hash string) {
		t.Helper()
		if err := m.Put(t.Context(), record.Idempotency{Key: key, RequestHash: hash, Status: 202, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := m.Get("a"); ok {
		t.Fatal("answer before any Put")
	}
	put("a", "h1")
	put("a", "h2") // the first answer wins
	if a, ok := m.Get("a"); !ok || a.RequestHash != "h1" {
		t.Fatalf("Get(a) = %+v %v, want the first answer", a, ok)
	}
	// The least recently used entry goes when full.
	put("b", "h1")
	put("c", "h1")
	if _, ok := m.Get("a"); ok || m.entries.Len() != 2 {
		t.Fatalf("a kept; %d entries, want 2", m.entries.Len())
	}
	// Answers expire after the TTL, and may then be replaced.
	now = now.Add(2 * time.Hour)
	if _, ok := m.Get("b"); ok {
		t.Fatal("expired answer returned")
	}
	put("c", "h2")
	if a, ok := m.Get("c"); !ok || a.RequestHash != "h2" {
		t.Fatalf("Get(c) after expiry = %+v %v, want the new answer", a, ok)
	}
}

func TestInflight(t *testing.T) {
	var f inflight
	h1, h2 := [32]byte{1}, [32]byte{2}
	for _, step := range []struct {
		req  [32]byte
		want inflightState
	}{{h1, inflightNew}, {h1, inflightBusy}, {h2, inflightMismatch}} {
		if got := f.begin("k", step.req); got != step.want {
			t.Fatalf("begin = %v, want %v", got, step.want)
		}
	}
	f.end("k")
	if got := f.begin("k", h2); got != inflightNew {
		t.Fatalf("begin after end = %v, want new", got)
	}
}
