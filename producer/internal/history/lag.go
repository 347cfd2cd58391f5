package history

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReplayGroupPrefix starts the names of the consumer groups that keep the
// progress of replays (ReplayName); Lag leaves them out unless named.
const ReplayGroupPrefix = "hookline-replay-"

// GroupLag is how far one consumer group is behind, as hookctl lag
// counts it.
type GroupLag struct {
	Group   string     `json:"group"`
	State   string     `json:"state"`
	Members int        `json:"members"`
	Lag     int64      `json:"lag"`
	Topics  []TopicLag `json:"topics"`
	Error   string     `json:"error,omitempty"`
}

// TopicLag sums a group's lag over the partitions of one topic.
type TopicLag struct {
	Topic      string `json:"topic"`
	Lag        int64  `json:"lag"`
	Partitions int    `json:"partitions"`
}

// exactLagLimit is the most offsets behind a partition may be for Lag to
// read them and count records rather than offsets (hookctl lag's limit).
const exactLagLimit = 1000

// Lag returns the lag of groups, sorted by name. Without groups it lists
// the cluster's groups and keeps those that have committed offsets of
// Hookline's topics (its prefix) or of the SourceTopics, replay groups left
// out; only those topics are shown. Transaction markers are
// offsets but not records: partitions at most 1000 offsets behind are
// read, read-committed, and their records counted, so a group that has
// processed everything reads 0.
func (r *Reader) Lag(ctx context.Context, groups []string) ([]GroupLag, error) {
	keep := func(t string) bool {
		return (r.names.Prefix != "" && strings.HasPrefix(t, r.names.Prefix)) || slices.Contains(r.sources, t)
	}
	sctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	listed := len(groups) == 0
	if listed {
		all, err := r.adm.ListGroups(sctx)
		if err != nil {
			return nil, fmt.Errorf("listing consumer groups: %w", err)
		}
		for _, g := range all.Groups() {
			if !strings.HasPrefix(g, ReplayGroupPrefix) {
				groups = append(groups, g)
			}
		}
		if len(groups) == 0 {
			return []GroupLag{}, nil
		}
	}
	lags, err := r.adm.Lag(sctx, groups...)
	if err != nil {
		return nil, fmt.Errorf("describing consumer groups: %w", err)
	}
	out := []GroupLag{}
	for _, name := range slices.Sorted(slices.Values(groups)) {
		g, counts := lagOf(name, lags, keep)
		if listed && len(g.Topics) == 0 {
			continue
		}
		if err := r.countDataLag(ctx, &g, counts); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// behind is a partition whose lag may be transaction markers: [from, to)
// are its offsets to read.
type behind struct {
	topic     string
	partition int32
	span
}

func lagOf(name string, lags kadm.DescribedGroupLags, keep func(string) bool) (GroupLag, []behind) {
	l, ok := lags[name]
	if !ok {
		return GroupLag{Group: name, State: "unknown", Topics: []TopicLag{}, Error: "not described"}, nil
	}
	g := GroupLag{Group: name, State: l.State, Members: len(l.Members), Topics: []TopicLag{}}
	if err := l.Error(); err != nil {
		g.Error = err.Error()
	}
	if (g.State == "Dead" || errors.Is(l.Error(), kerr.GroupIDNotFound)) && len(l.Lag) == 0 {
		// Brokers differ: some describe a group they do not know as Dead,
		// others fail with GROUP_ID_NOT_FOUND.
		g.State, g.Error = "Dead", "no such group"
	}
	var small []behind
	for _, m := range l.Lag.Sorted() {
		if !keep(m.Topic) {
			continue
		}
		if n := len(g.Topics); n == 0 || g.Topics[n-1].Topic != m.Topic {
			g.Topics = append(g.Topics, TopicLag{Topic: m.Topic})
		}
		t := &g.Topics[len(g.Topics)-1]
		t.Partitions++
		if m.Lag > 0 {
			t.Lag += m.Lag
			// A partition without a commit is behind from its log start.
			from := m.Commit.At
			if from < 0 && m.Start.Err == nil {
				from = m.Start.Offset
			}
			if m.Lag <= exactLagLimit && from >= 0 && m.Err == nil {
				small = append(small, behind{m.Topic, m.Partition, span{from, m.End.Offset}})
			}
		}
	}
	slices.SortFunc(g.Topics, func(a, b TopicLag) int { return cmp.Compare(a.Topic, b.Topic) })
	return g, small
}

// countDataLag replaces the offsets of each partition in small by the
// records among them: it reads up to the last stable offset, so markers
// and aborted records do not count; offsets past it (an open
// transaction) count as they are.
func (r *Reader) countDataLag(ctx context.Context, g *GroupLag, small []behind) error {
	byTopic := map[string][]behind{}
	for _, b := range small {
		byTopic[b.topic] = append(byTopic[b.topic], b)
	}
	for ti := range g.Topics {
		t := &g.Topics[ti]
		parts := byTopic[t.Topic]
		if len(parts) == 0 {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, r.timeout)
		stable, err := r.adm.ListCommittedOffsets(sctx, t.Topic)
		cancel()
		if err != nil {
			return fmt.Errorf("listing offsets of %s: %w", t.Topic, err)
		}
		sp := spans{}
		for _, b := range parts {
			s := b.span
			if l, ok := stable.Lookup(t.Topic, b.partition); ok && l.Err == nil && l.Offset < s.to {
				s.to = max(l.Offset, s.from) // the rest counts as it is
			}
			sp[b.partition] = s
		}
		var records int64
		if err := r.scan(ctx, t.Topic, sp, func(*kgo.Record) error {
			records++
			return nil
		}); err != nil {
			return err
		}
		// Replace the offsets of the read spans by the records in them.
		var read int64
		for _, s := range sp {
			read += s.to - s.from
		}
		t.Lag += records - read
	}
	g.Lag = 0
	for _, t := range g.Topics {
		g.Lag += t.Lag
	}
	return nil
}
