package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// span is the offsets [from, to) of one partition that a bounded read
// covers.
type span struct{ from, to int64 }

// spans maps partitions to the offsets to read.
type spans map[int32]span

// records returns how many offsets the spans cover, an upper bound of the
// records they hold.
func (s spans) records() int64 {
	var n int64
	for _, sp := range s {
		if sp.to > sp.from {
			n += sp.to - sp.from
		}
	}
	return n
}

// snapshot lists the bounds of topic as it is now: each partition from its
// log start to its last stable offset, so records of transactions still
// open are left out rather than waited for.
func snapshot(ctx context.Context, adm *kadm.Client, topic string) (spans, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, topicError(topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, topicError(topic, err)
	}
	out := spans{}
	ends.Each(func(o kadm.ListedOffset) {
		from := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			from = s.Offset
		}
		out[o.Partition] = span{from: from, to: o.Offset}
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", topic, ErrNoTopic)
	}
	return out, nil
}

func topicError(topic string, err error) error {
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("%s: %w", topic, ErrNoTopic)
	}
	return fmt.Errorf("listing offsets of %s: %w", topic, err)
}

// errStop ends a scan early without error.
var errStop = errors.New("stop scanning")

// scan reads the committed records of topic within sp, in offset order per
// partition, and calls fn for each. It returns once every partition has
// been read to the end of its span, when fn returns errStop (nil is
// returned) or another error, or when nothing arrives for --timeout.
func (o *options) scan(ctx context.Context, topic string, sp spans, fn func(*kgo.Record) error) error {
	pending := map[int32]span{}
	start := map[int32]kgo.Offset{}
	for p, s := range sp {
		if s.from < s.to {
			pending[p] = s
			start[p] = kgo.NewOffset().At(s.from)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	cl, err := o.client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers are offsets too: without them a span that
		// ends in a marker would never look finished.
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(pending) > 0 {
		pctx, cancel := context.WithTimeout(ctx, o.timeout)
		fetches := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if pctx.Err() != nil && fetches.NumRecords() == 0 {
			return fmt.Errorf("reading %s: no records for %s while %d partitions are unfinished (partitions %v)",
				topic, o.timeout, len(pending), slices.Sorted(maps.Keys(pending)))
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("reading %s partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var stop error
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			s, ok := pending[fp.Partition]
			if !ok || stop != nil {
				return
			}
			for _, r := range fp.Records {
				if r.Offset >= s.to {
					break
				}
				if !r.Attrs.IsControl() {
					if err := fn(r); err != nil {
						stop = err
						return
					}
				}
				if r.Offset+1 >= s.to {
					break
				}
			}
			if n := len(fp.Records); n > 0 && fp.Records[n-1].Offset+1 >= s.to {
				delete(pending, fp.Partition)
				cl.PauseFetchPartitions(map[string][]int32{topic: {fp.Partition}})
			}
		})
		if errors.Is(stop, errStop) {
			return nil
		}
		if stop != nil {
			return stop
		}
	}
	return nil
}
