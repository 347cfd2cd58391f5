// Package history reads what became of deliveries, for the admin API:
// the attempts topic (every HTTP attempt the dispatcher made) and the
// dead-letter topic, and replays dead letters to the deliveries topic.
// For the console's overview it also sums them (AttemptStats,
// DeadLetterStats), reads the endpoint-status topic (circuit breakers) and
// measures the lag of the pipeline's consumer groups.
//
// Reads are bounded: they cover the topic up to its last stable offsets
// when they start. Replays keep their progress exactly as hookctl dlq
// replay does: as the committed offsets of a consumer group named from the
// selection (hookline-replay-<hash>), with the selection as the commit
// metadata, so the CLI and the API continue each other's replays.
package history

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Errors of the reader; match with errors.Is.
var (
	// ErrNoTopic means the attempts or dead-letter topic does not exist.
	ErrNoTopic = errors.New("topic does not exist")
	// ErrNotFound means a dead letter named by position does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInactive means a replay's target subscription is deleted, paused
	// or disabled; Force replays anyway.
	ErrInactive = errors.New("target subscription is not active")
	// ErrSelectionChanged means a replay name was given with another
	// selection than the one its progress belongs to.
	ErrSelectionChanged = errors.New("replay name belongs to another selection")
	// ErrGroupInUse means a replay name is a consumer group with members.
	ErrGroupInUse = errors.New("consumer group has running members")
)

// Reader reads the attempts and dead-letter topics and replays dead
// letters. It is safe for concurrent use.
type Reader struct {
	cl      *kgo.Client // produces replays; admin requests
	adm     *kadm.Client
	opts    []kgo.Opt // for the consumers of each read
	names   topic.Names
	timeout time.Duration
	sources []string // source topics, for Lag
}

// Opt configures a Reader.
type Opt interface{ apply(*Reader) }

type opt func(*Reader)

func (o opt) apply(r *Reader) { o(r) }

// SourceTopics names the topics events are produced to, besides
// Hookline's own: Lag lists the groups that consume them too (the
// router's). By default Lag lists only groups of Hookline's topics.
func SourceTopics(topics ...string) Opt {
	return opt(func(r *Reader) { r.sources = append(r.sources, topics...) })
}

// New returns a Reader that uses cl for admin requests and replays and
// opts (the cluster's connection options) for its consumers. Each read
// gives up when nothing arrives for timeout (default 10 s).
func New(cl *kgo.Client, opts []kgo.Opt, names topic.Names, timeout time.Duration, ropts ...Opt) *Reader {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	r := &Reader{cl: cl, adm: kadm.NewClient(cl), opts: slices.Clip(opts), names: names, timeout: timeout}
	for _, o := range ropts {
		o.apply(r)
	}
	return r
}

// span is the offsets [from, to) of one partition that a read covers.
type span struct{ from, to int64 }

// spans maps partitions to the offsets to read.
type spans map[int32]span

// snapshot lists the bounds of t now: each partition from its log start to
// its last stable offset.
func (r *Reader) snapshot(ctx context.Context, t string) (spans, error) {
	starts, err := r.adm.ListStartOffsets(ctx, t)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, topicError(t, err)
	}
	ends, err := r.adm.ListCommittedOffsets(ctx, t)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, topicError(t, err)
	}
	out := spans{}
	ends.Each(func(o kadm.ListedOffset) {
		from := int64(0)
		if s, ok := starts.Lookup(t, o.Partition); ok {
			from = s.Offset
		}
		out[o.Partition] = span{from: from, to: o.Offset}
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", t, ErrNoTopic)
	}
	return out, nil
}

func topicError(t string, err error) error {
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("%s: %w", t, ErrNoTopic)
	}
	return fmt.Errorf("listing offsets of %s: %w", t, err)
}

// errStop ends a scan early without error.
var errStop = errors.New("stop scanning")

// scan reads the committed records of t within sp, in offset order per
// partition, and calls fn for each until fn returns errStop (then nil) or
// another error.
func (r *Reader) scan(ctx context.Context, t string, sp spans, fn func(*kgo.Record) error) error {
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
	cl, err := kgo.NewClient(append(slices.Clip(r.opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers are offsets too: without them a span that
		// ends in a marker would never look finished.
		kgo.KeepControlRecords())...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(pending) > 0 {
		pctx, cancel := context.WithTimeout(ctx, r.timeout)
		fetches := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if pctx.Err() != nil && fetches.NumRecords() == 0 {
			return fmt.Errorf("reading %s: no records for %s while partitions %v are unfinished", t, r.timeout, slices.Sorted(maps.Keys(pending)))
		}
		var ferr error
		fetches.EachError(func(tp string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("reading %s partition %d: %w", tp, p, err)
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
			for _, rec := range fp.Records {
				if rec.Offset >= s.to {
					break
				}
				if !rec.Attrs.IsControl() {
					if err := fn(rec); err != nil {
						stop = err
						return
					}
				}
			}
			if n := len(fp.Records); n > 0 && fp.Records[n-1].Offset+1 >= s.to {
				delete(pending, fp.Partition)
				cl.PauseFetchPartitions(map[string][]int32{t: {fp.Partition}})
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
