package history

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Attempt results, as record.Attempt.Result holds them.
const (
	ResultSuccess = "success"
	ResultRetry   = "retry"
	ResultFailed  = "failed"
)

// Counts counts attempts by result.
type Counts struct {
	Success int `json:"success"`
	Retry   int `json:"retry"`
	Failed  int `json:"failed"`
}

func (c *Counts) add(result string) {
	switch result {
	case ResultSuccess:
		c.Success++
	case ResultRetry:
		c.Retry++
	case ResultFailed:
		c.Failed++
	}
}

// Bucket is the attempts of one interval of AttemptStats.
type Bucket struct {
	Start time.Time `json:"start"`
	Counts
}

// SubscriptionStats sums the attempts of one subscription.
type SubscriptionStats struct {
	SubscriptionID string `json:"subscription_id"`
	Counts
	// SuccessRate is Success over all attempts, from 0 to 1.
	SuccessRate float64 `json:"success_rate"`
	// Last is the most recent attempt.
	Last record.Attempt `json:"last"`
}

// AttemptStats sums the attempts of a window, per interval and per
// subscription.
type AttemptStats struct {
	Since         time.Time           `json:"since"`
	Until         time.Time           `json:"until"`
	BucketSeconds int64               `json:"bucket_seconds"`
	Total         Counts              `json:"total"`
	Buckets       []Bucket            `json:"buckets"`
	Subscriptions []SubscriptionStats `json:"subscriptions"`
}

// MaxBuckets bounds the intervals of one AttemptStats.
const MaxBuckets = 1440

// ErrTooManyBuckets means a window holds more than MaxBuckets intervals.
var ErrTooManyBuckets = errors.New("the window holds too many buckets")

// AttemptStats reads the attempts made in [since, until) and counts them
// by result, per interval of bucket (oldest first, empty ones included)
// and per subscription (by id). It seeks by record timestamp, so it reads
// only the window's part of the topic.
func (r *Reader) AttemptStats(ctx context.Context, since, until time.Time, bucket time.Duration) (AttemptStats, error) {
	since, until = since.UTC().Truncate(bucket), until.UTC()
	if !since.Before(until) || bucket <= 0 {
		return AttemptStats{}, &InvalidError{"since", "is not before until"}
	}
	n := int((until.Sub(since) + bucket - 1) / bucket)
	if n > MaxBuckets {
		return AttemptStats{}, ErrTooManyBuckets
	}
	st := AttemptStats{Since: since, Until: until, BucketSeconds: int64(bucket / time.Second), Buckets: make([]Bucket, n),
		Subscriptions: []SubscriptionStats{}}
	for i := range st.Buckets {
		st.Buckets[i].Start = since.Add(time.Duration(i) * bucket)
	}
	sp, err := r.attemptSpans(ctx, since, until)
	if err != nil {
		return AttemptStats{}, err
	}
	subs := map[string]*SubscriptionStats{}
	err = r.scan(ctx, r.names.Attempts(), sp, func(rec *kgo.Record) error {
		a, err := record.DecodeAttempt(rec.Value)
		if err != nil || a.At.Before(since) || !a.At.Before(until) {
			return nil
		}
		st.Total.add(a.Result)
		st.Buckets[int(a.At.Sub(since)/bucket)].add(a.Result)
		s := subs[a.SubscriptionID]
		if s == nil {
			s = &SubscriptionStats{SubscriptionID: a.SubscriptionID}
			subs[a.SubscriptionID] = s
		}
		s.add(a.Result)
		if !a.At.Before(s.Last.At) {
			s.Last = a
		}
		return nil
	})
	if err != nil {
		return AttemptStats{}, err
	}
	for _, id := range slices.Sorted(maps.Keys(subs)) {
		s := subs[id]
		if all := s.Success + s.Retry + s.Failed; all > 0 {
			s.SuccessRate = float64(s.Success) / float64(all)
		}
		st.Subscriptions = append(st.Subscriptions, *s)
	}
	return st, nil
}

// DeadLetterStats sums the dead-letter topic.
type DeadLetterStats struct {
	// Total counts the dead letters, undecodable ones included.
	Total          int            `json:"total"`
	ByReason       map[string]int `json:"by_reason"`
	BySubscription map[string]int `json:"by_subscription"`
	ByStage        map[string]int `json:"by_stage"`
	// Oldest and Newest are the failure times at either end; absent
	// when there are none.
	Oldest *time.Time `json:"oldest,omitempty"`
	Newest *time.Time `json:"newest,omitempty"`
}

// DeadLetterStats counts the dead letters of a snapshot of the dead-letter
// topic by reason, subscription (route-stage ones have none) and stage.
func (r *Reader) DeadLetterStats(ctx context.Context) (DeadLetterStats, error) {
	st := DeadLetterStats{ByReason: map[string]int{}, BySubscription: map[string]int{}, ByStage: map[string]int{}}
	sctx, cancel := context.WithTimeout(ctx, r.timeout)
	sp, err := r.snapshot(sctx, r.names.DLQ())
	cancel()
	if err != nil {
		return st, err
	}
	var oldest, newest time.Time
	err = r.scan(ctx, r.names.DLQ(), sp, func(rec *kgo.Record) error {
		d := decode(rec)
		st.Total++
		st.ByReason[d.Reason]++
		if d.SubscriptionID != "" {
			st.BySubscription[d.SubscriptionID]++
		}
		stage := "unknown"
		if d.DeadLetter != nil {
			stage = cmp.Or(d.DeadLetter.Stage, stage)
		}
		st.ByStage[stage]++
		if oldest.IsZero() || d.FailedAt.Before(oldest) {
			oldest = d.FailedAt
		}
		if d.FailedAt.After(newest) {
			newest = d.FailedAt
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if st.Total > 0 {
		st.Oldest, st.Newest = &oldest, &newest
	}
	return st, nil
}

// EndpointStatuses returns the latest endpoint status of each
// subscription from the compacted endpoint-status topic (written by the
// dispatcher when a circuit breaker changes state), by subscription id.
// A subscription without one has a breaker that never opened. A cluster
// without the topic has none.
func (r *Reader) EndpointStatuses(ctx context.Context) ([]record.EndpointStatus, error) {
	t := r.names.EndpointStatus()
	sctx, cancel := context.WithTimeout(ctx, r.timeout)
	sp, err := r.snapshot(sctx, t)
	cancel()
	if errors.Is(err, ErrNoTopic) {
		return []record.EndpointStatus{}, nil
	}
	if err != nil {
		return nil, err
	}
	latest := map[string]record.EndpointStatus{}
	err = r.scan(ctx, t, sp, func(rec *kgo.Record) error {
		id := string(rec.Key)
		if rec.Value == nil { // a tombstone
			delete(latest, id)
			return nil
		}
		st, err := record.DecodeEndpointStatus(rec.Value)
		if err != nil {
			return nil // an undecodable status says nothing
		}
		latest[id] = st
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]record.EndpointStatus, 0, len(latest))
	for _, id := range slices.Sorted(maps.Keys(latest)) {
		out = append(out, latest[id])
	}
	return out, nil
}
