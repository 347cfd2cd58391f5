// Package window keeps the records of one partition that a dispatcher has
// taken from Kafka but not yet committed: a contiguity Tracker that says how
// far the partition may be committed when records finish out of order, and
// a bounded Window around it that says when fetching must pause and resume.
//
// Neither type is safe for concurrent use; the dispatcher guards them with
// its own lock.
package window

import (
	"errors"
	"fmt"
	"sort"
)

// ErrOutOfOrder is returned by Tracker.Add for an offset that is not above
// every offset added before.
var ErrOutOfOrder = errors.New("window: offset out of order")

// Mark is a commit position: the offset of the next record to consume and
// the leader epoch of the record before it (-1 when unknown).
type Mark struct {
	Offset int64
	Epoch  int32
}

type entry struct {
	offset int64
	epoch  int32
	done   bool
}

// Tracker follows the records of one partition from receipt to outcome.
// Records are added in increasing offset order (as Kafka returns them; gaps
// such as transaction markers are fine) and finish in any order. The
// low-water mark is the offset below which every added record is done: the
// only offset that may be committed.
//
// The zero value is an empty tracker with no mark.
type Tracker struct {
	recs    []entry // recs[head:] are the records at or above the mark
	head    int
	pending int // records added and not done
	mark    Mark
	hasMark bool
}

// Add tracks a new record. offset must be above every offset added before.
func (t *Tracker) Add(offset int64, epoch int32) error {
	if n := len(t.recs); n > t.head && t.recs[n-1].offset >= offset {
		return fmt.Errorf("%w: %d after %d", ErrOutOfOrder, offset, t.recs[n-1].offset)
	}
	if t.hasMark && offset < t.mark.Offset {
		return fmt.Errorf("%w: %d below the mark %d", ErrOutOfOrder, offset, t.mark.Offset)
	}
	t.recs = append(t.recs, entry{offset: offset, epoch: epoch})
	t.pending++
	return nil
}

// Done records the outcome of the record at offset and advances the mark
// over every leading record that is done. It reports false for an offset
// that is not tracked or already done.
func (t *Tracker) Done(offset int64) bool {
	live := t.recs[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
	if i == len(live) || live[i].offset != offset || live[i].done {
		return false
	}
	live[i].done = true
	t.pending--
	for t.head < len(t.recs) && t.recs[t.head].done {
		e := t.recs[t.head]
		t.mark, t.hasMark = Mark{Offset: e.offset + 1, Epoch: e.epoch}, true
		t.head++
	}
	t.compact()
	return true
}

// compact reuses the slice once most of it lies below the mark, so memory
// stays proportional to the records in the window.
func (t *Tracker) compact() {
	if t.head == len(t.recs) {
		t.recs, t.head = t.recs[:0], 0
		return
	}
	if t.head > 64 && t.head*2 >= len(t.recs) {
		n := copy(t.recs, t.recs[t.head:])
		clear(t.recs[n:])
		t.recs, t.head = t.recs[:n], 0
	}
}

// Mark returns the low-water mark, or false before the first leading
// record is done.
func (t *Tracker) Mark() (Mark, bool) { return t.mark, t.hasMark }

// Len returns how many records are at or above the mark: the ones not
// done plus the done ones waiting behind an unfinished record.
func (t *Tracker) Len() int { return len(t.recs) - t.head }

// Pending returns how many added records are not done.
func (t *Tracker) Pending() int { return t.pending }
