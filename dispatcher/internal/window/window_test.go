package window

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTracker(t *testing.T) {
	type step struct {
		done     int64
		known    bool
		wantMark int64 // -1: no mark yet
		wantLen  int
	}
	tests := []struct {
		name    string
		offsets []int64
		steps   []step
	}{
		{
			name:    "in order",
			offsets: []int64{0, 1, 2},
			steps: []step{
				{done: 0, known: true, wantMark: 1, wantLen: 2},
				{done: 1, known: true, wantMark: 2, wantLen: 1},
				{done: 2, known: true, wantMark: 3, wantLen: 0},
			},
		},
		{
			name:    "out of order holds the mark at the first unfinished record",
			offsets: []int64{10, 11, 12, 13},
			steps: []step{
				{done: 12, known: true, wantMark: -1, wantLen: 4},
				{done: 11, known: true, wantMark: -1, wantLen: 4},
				{done: 10, known: true, wantMark: 13, wantLen: 1},
				{done: 13, known: true, wantMark: 14, wantLen: 0},
			},
		},
		{
			name:    "gaps from transaction markers are skipped",
			offsets: []int64{5, 7, 9},
			steps: []step{
				{done: 7, known: true, wantMark: -1, wantLen: 3},
				// One past the last finished record: the marker at 8 is
				// skipped by the next fetch.
				{done: 5, known: true, wantMark: 8, wantLen: 1},
				{done: 9, known: true, wantMark: 10, wantLen: 0},
			},
		},
		{
			name:    "unknown and repeated offsets change nothing",
			offsets: []int64{3, 4},
			steps: []step{
				{done: 2, known: false, wantMark: -1, wantLen: 2},
				{done: 5, known: false, wantMark: -1, wantLen: 2},
				{done: 4, known: true, wantMark: -1, wantLen: 2},
				{done: 4, known: false, wantMark: -1, wantLen: 2},
				{done: 3, known: true, wantMark: 5, wantLen: 0},
				{done: 3, known: false, wantMark: 5, wantLen: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr Tracker
			for _, o := range tt.offsets {
				if err := tr.Add(o, 7); err != nil {
					t.Fatalf("Add(%d): %v", o, err)
				}
			}
			for i, s := range tt.steps {
				if got := tr.Done(s.done); got != s.known {
					t.Errorf("step %d: Done(%d) = %v, want %v", i, s.done, got, s.known)
				}
				m, ok := tr.Mark()
				got := int64(-1)
				if ok {
					got = m.Offset
					if m.Epoch != 7 {
						t.Errorf("step %d: mark epoch %d, want 7", i, m.Epoch)
					}
				}
				if got != s.wantMark {
					t.Errorf("step %d: mark %d, want %d", i, got, s.wantMark)
				}
				if tr.Len() != s.wantLen {
					t.Errorf("step %d: Len %d, want %d", i, tr.Len(), s.wantLen)
				}
			}
		})
	}
}

func TestTrackerRefusesOutOfOrderAdds(t *testing.T) {
	var tr Tracker
	mustAdd(t, &tr, 5)
	for _, o := range []int64{5, 4} {
		if err := tr.Add(o, 0); !errors.Is(err, ErrOutOfOrder) {
			t.Errorf("Add(%d) = %v, want ErrOutOfOrder", o, err)
		}
	}
	tr.Done(5)
	// Below the mark is refused even when nothing is in flight.
	if err := tr.Add(3, 0); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("Add(3) after mark 6 = %v, want ErrOutOfOrder", err)
	}
	mustAdd(t, &tr, 6)
}

func mustAdd(t *testing.T, tr *Tracker, o int64) {
	t.Helper()
	if err := tr.Add(o, 0); err != nil {
		t.Fatalf("Add(%d): %v", o, err)
	}
}

// TestTrackerProperty checks the tracker against a naive model over random
// offsets with gaps, added in batches and finished in random order: the mark
// is always the lowest unfinished offset (or one past the last record when
// all are done), never moves back, and Len and Pending match the model.
func TestTrackerProperty(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, seed*7+1))
		var tr Tracker
		var added []int64
		done := map[int64]bool{}
		next := int64(rng.IntN(100))
		lastMark := int64(-1)
		check := func(when string) {
			t.Helper()
			// The model: the lowest offset not done, else one past the last.
			low := int64(-1)
			firstUndone := -1
			for i, o := range added {
				if !done[o] {
					firstUndone = i
					break
				}
			}
			switch {
			case firstUndone > 0:
				low = added[firstUndone-1] + 1
			case firstUndone == -1 && len(added) > 0:
				low = added[len(added)-1] + 1
			}
			if low == -1 && lastMark != -1 {
				low = lastMark // nothing newer finished: the mark stays
			}
			m, ok := tr.Mark()
			got := int64(-1)
			if ok {
				got = m.Offset
			}
			if got != low {
				t.Fatalf("seed %d %s: mark %d, model %d", seed, when, got, low)
			}
			if got < lastMark {
				t.Fatalf("seed %d %s: mark moved back from %d to %d", seed, when, lastMark, got)
			}
			lastMark = got
			wantLen := len(added)
			if firstUndone > 0 {
				wantLen = len(added) - firstUndone
			} else if firstUndone == -1 {
				wantLen = 0
			}
			if tr.Len() != wantLen {
				t.Fatalf("seed %d %s: Len %d, model %d", seed, when, tr.Len(), wantLen)
			}
			pending := 0
			for _, o := range added {
				if !done[o] {
					pending++
				}
			}
			if tr.Pending() != pending {
				t.Fatalf("seed %d %s: Pending %d, model %d", seed, when, tr.Pending(), pending)
			}
		}
		for range 20 {
			// A fetch: a batch of increasing offsets with random gaps.
			for range rng.IntN(30) {
				next += 1 + int64(rng.IntN(3))
				if err := tr.Add(next, 0); err != nil {
					t.Fatalf("seed %d: Add(%d): %v", seed, next, err)
				}
				added = append(added, next)
			}
			// Finish a random subset of the unfinished records, in random order.
			var undone []int64
			for _, o := range added {
				if !done[o] {
					undone = append(undone, o)
				}
			}
			rng.Shuffle(len(undone), func(i, j int) { undone[i], undone[j] = undone[j], undone[i] })
			for _, o := range undone[:rng.IntN(len(undone)+1)] {
				if !tr.Done(o) {
					t.Fatalf("seed %d: Done(%d) = false for a tracked record", seed, o)
				}
				done[o] = true
				check("after Done")
			}
			// Forget what the model no longer needs, as the tracker does.
			i := slices.IndexFunc(added, func(o int64) bool { return !done[o] })
			if i == -1 {
				i = len(added)
			}
			for _, o := range added[:i] {
				delete(done, o)
			}
			added = added[i:]
		}
	}
}

func TestWindowPauseResume(t *testing.T) {
	w := New(8) // resumes at 6
	for o := range int64(8) {
		ok, err := w.Admit(o, 0)
		if err != nil || !ok {
			t.Fatalf("Admit(%d) = %v, %v", o, ok, err)
		}
		if o < 7 && w.Pause() {
			t.Fatalf("paused at %d records of 8", o+1)
		}
	}
	if ok, _ := w.Admit(8, 0); ok {
		t.Fatal("admitted a ninth record into a window of 8")
	}
	if !w.Pause() {
		t.Fatal("a full window did not ask to pause")
	}
	if w.Pause() {
		t.Fatal("asked to pause twice")
	}
	// Finishing records behind an unfinished head frees nothing.
	for o := int64(1); o < 8; o++ {
		if w.Done(o) {
			t.Fatalf("resumed after Done(%d) with offset 0 unfinished", o)
		}
	}
	if !w.Full() || !w.Paused() {
		t.Fatal("window should still be full and paused")
	}
	if !w.Done(0) {
		t.Fatal("did not resume once the head finished")
	}
	if w.Paused() || w.Len() != 0 {
		t.Fatalf("after draining: paused %v, Len %d", w.Paused(), w.Len())
	}
}

func TestWindowHysteresis(t *testing.T) {
	w := New(8) // resumes at 6
	for o := range int64(8) {
		w.Admit(o, 0)
	}
	w.Pause()
	if w.Done(0) {
		t.Fatal("resumed at 7 of 8")
	}
	if !w.Done(1) {
		t.Fatal("did not resume at 6 of 8")
	}
	if w.Done(2) {
		t.Fatal("resumed twice")
	}
}

func TestWindowSizeOne(t *testing.T) {
	w := New(0)
	if w.Size() != 1 {
		t.Fatalf("size %d, want 1", w.Size())
	}
	if ok, _ := w.Admit(1, 0); !ok {
		t.Fatal("empty window of one refused a record")
	}
	if !w.Pause() {
		t.Fatal("full window of one did not pause")
	}
	if !w.Done(1) {
		t.Fatal("window of one did not resume when empty")
	}
}
