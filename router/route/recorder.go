package route

import "time"

// Batch sums up one committed transaction.
type Batch struct {
	// Events counts consumed records per source topic.
	Events map[string]int
	// Matches holds, for every event that was routed (not dead-lettered),
	// the number of subscriptions it matched, in consumption order.
	Matches []int
	// Deliveries is the number of Delivery records produced.
	Deliveries int
	// Unmatched counts routed events that matched no subscription; they
	// are dropped.
	Unmatched int
	// DeadLetters counts the dead letters produced, by reason: one per
	// dead-lettered record, and one filter_error per subscription whose
	// filter failed on an event (that event may still be delivered to
	// other subscriptions, or be counted in Unmatched).
	DeadLetters map[string]int
	// FilterErrors counts failed filters by kind: "compile" or "eval".
	FilterErrors map[string]int
	// FilterDeadLettersSuppressed counts the filter_error dead letters
	// not produced because their subscription had one within
	// Config.FilterDeadLetterInterval.
	FilterDeadLettersSuppressed int

	filterDeadLettered []string // subscriptions given a filter_error dead letter
}

// Recorder receives the Router's measurements. Counts arrive once per
// committed transaction, so work that is aborted and redone is counted
// once. Methods are called from the Router's goroutine.
type Recorder interface {
	// Committed reports a committed transaction and how long it took from
	// its beginning to the end of the commit.
	Committed(b *Batch, took time.Duration)
	// Aborted reports a transaction that was aborted; its records will be
	// consumed and routed again.
	Aborted(took time.Duration)
	// Lag reports how many records of a source partition are behind the
	// last committed batch.
	Lag(topic string, partition int32, lag int64)
	// Subscriptions reports the number of active subscriptions.
	Subscriptions(active int)
}

type nopRecorder struct{}

func (nopRecorder) Committed(*Batch, time.Duration) {}
func (nopRecorder) Aborted(time.Duration)           {}
func (nopRecorder) Lag(string, int32, int64)        {}
func (nopRecorder) Subscriptions(int)               {}
