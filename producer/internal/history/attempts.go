package history

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// AttemptQuery selects attempts. Empty fields select all.
type AttemptQuery struct {
	EventID, DeliveryID, SubscriptionID string
	Results                             []string // success, retry, failed
	Since, Until                        time.Time
	// Limit keeps the most recent; 0 keeps all.
	Limit int
}

// Attempt is one attempt and where it is stored.
type Attempt struct {
	Position string `json:"position"`
	record.Attempt
	partition int32
	offset    int64
}

// Attempts returns the attempts q selects, oldest first, and how many
// matched before Limit. --since and --until seek by record timestamp, so a
// window reads only its part of the topic.
func (r *Reader) Attempts(ctx context.Context, q AttemptQuery) ([]Attempt, int, error) {
	t := r.names.Attempts()
	sp, err := r.attemptSpans(ctx, q.Since, q.Until)
	if err != nil {
		return nil, 0, err
	}
	var out []Attempt
	err = r.scan(ctx, t, sp, func(rec *kgo.Record) error {
		if q.DeliveryID != "" && record.HeaderValue(rec, header.DeliveryID) != q.DeliveryID {
			return nil
		}
		a, err := record.DecodeAttempt(rec.Value)
		if err != nil {
			return nil // dashboards and hookctl show undecodable records; the API lists attempts
		}
		switch {
		case q.DeliveryID != "" && a.DeliveryID != q.DeliveryID,
			q.SubscriptionID != "" && a.SubscriptionID != q.SubscriptionID,
			q.EventID != "" && a.EventID != q.EventID,
			len(q.Results) > 0 && !slices.Contains(q.Results, a.Result),
			!q.Since.IsZero() && a.At.Before(q.Since),
			!q.Until.IsZero() && !a.At.Before(q.Until):
			return nil
		}
		out = append(out, Attempt{Position: fmt.Sprintf("%d/%d", rec.Partition, rec.Offset), Attempt: a, partition: rec.Partition, offset: rec.Offset})
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	slices.SortFunc(out, func(a, b Attempt) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.partition, b.partition), cmp.Compare(a.offset, b.offset))
	})
	total := len(out)
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out, total, nil
}

// attemptSpans returns the spans of the attempts topic that hold the
// attempts made in [since, until) (zero times leave that side open): the
// whole topic up to its last stable offsets, narrowed by seeking record
// timestamps.
func (r *Reader) attemptSpans(ctx context.Context, since, until time.Time) (spans, error) {
	t := r.names.Attempts()
	sctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	sp, err := r.snapshot(sctx, t)
	if err != nil {
		return nil, err
	}
	// Records are stamped just after the attempt: a minute of slack
	// keeps the edges.
	const slack = time.Minute
	seek := func(at time.Time, fn func(p int32, off int64)) error {
		listed, err := r.adm.ListOffsetsAfterMilli(sctx, at.UnixMilli(), t)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return topicError(t, err)
		}
		listed.Each(func(l kadm.ListedOffset) { fn(l.Partition, l.Offset) })
		return nil
	}
	if !since.IsZero() {
		if err := seek(since.Add(-slack), func(p int32, off int64) {
			if s, ok := sp[p]; ok && off > s.from {
				s.from = min(off, s.to)
				sp[p] = s
			}
		}); err != nil {
			return nil, err
		}
	}
	if !until.IsZero() {
		if err := seek(until.Add(slack), func(p int32, off int64) {
			if s, ok := sp[p]; ok && off >= 0 && off < s.to {
				s.to = max(off, s.from)
				sp[p] = s
			}
		}); err != nil {
			return nil, err
		}
	}
	return sp, nil
}
