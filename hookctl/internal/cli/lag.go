package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupLag is the lag of one consumer group, as lag prints it.
type groupLag struct {
	Group   string     `json:"group"`
	State   string     `json:"state"`
	Members int        `json:"members"`
	Lag     int64      `json:"lag"`
	Topics  []topicLag `json:"topics"`
	Error   string     `json:"error,omitempty"`
}

// topicLag sums a group's lag over the partitions of one topic.
type topicLag struct {
	Topic      string         `json:"topic"`
	Lag        int64          `json:"lag"`
	Partitions []partitionLag `json:"partitions"`
}

type partitionLag struct {
	Partition int32 `json:"partition"`
	Committed int64 `json:"committed"` // -1 when the group has committed nothing
	End       int64 `json:"end"`
	Lag       int64 `json:"lag"`
	// Markers counts the offsets between committed and end that hold
	// transaction markers or aborted records, not records to process.
	Markers int64  `json:"markers,omitempty"`
	Member  string `json:"member,omitempty"`
	Error   string `json:"error,omitempty"`
}

func lagCmd(o *options) *cobra.Command {
	var groups []string
	cmd := &cobra.Command{
		Use:   "lag",
		Short: "Show how far Hookline's consumer groups are behind, per topic",
		Long: "lag lists, for each consumer group, how many records of each topic it has\n" +
			"yet to process, summed over the topic's partitions. Transaction markers are\n" +
			"offsets but not records: a group that has processed every record of a\n" +
			"transactional topic reads 0, although its committed offset stays below the\n" +
			"end offset. Partitions at most 1000 offsets behind are counted exactly (read\n" +
			"from Kafka); further behind, the lag is end minus committed offset.\n" +
			"-o json adds the per-partition detail.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			cl, err := o.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			lags, err := kadm.NewClient(cl).Lag(ctx, groups...)
			if err != nil {
				return fmt.Errorf("describing groups %v: %w", groups, err)
			}
			adm := kadm.NewClient(cl)
			lso := map[string]kadm.ListedOffsets{}
			out := make([]groupLag, 0, len(groups))
			for _, g := range groups {
				gl := lagOf(g, lags)
				if err := o.countDataLag(ctx, adm, &gl, lso); err != nil {
					return err
				}
				out = append(out, gl)
			}
			if o.structured() {
				return o.printJSON(out)
			}
			tw := o.table()
			fmt.Fprintln(tw, "GROUP\tSTATE\tMEMBERS\tTOPIC\tPARTITIONS\tLAG")
			for _, g := range out {
				if len(g.Topics) == 0 {
					note := "no committed offsets"
					if g.Error != "" {
						note = g.Error
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t-\t-\t- (%s)\n", g.Group, g.State, g.Members, note)
				}
				for _, t := range g.Topics {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\n", g.Group, g.State, g.Members, t.Topic, len(t.Partitions), t.Lag)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringSliceVar(&groups, "group", []string{"hookline-router", "hookline-dispatcher"}, "consumer groups to show (repeatable or comma-separated)")
	return cmd
}

func lagOf(group string, lags kadm.DescribedGroupLags) groupLag {
	l, ok := lags[group]
	if !ok {
		return groupLag{Group: group, State: "unknown", Topics: []topicLag{}, Error: "not described"}
	}
	g := groupLag{Group: group, State: l.State, Members: len(l.Members), Topics: []topicLag{}}
	if err := l.Error(); err != nil {
		g.Error = err.Error()
	}
	if (g.State == "Dead" || errors.Is(l.Error(), kerr.GroupIDNotFound)) && len(l.Lag) == 0 {
		// Brokers differ: some describe a group they do not know as Dead,
		// others fail with GROUP_ID_NOT_FOUND.
		g.State, g.Error = "Dead", "no such group"
	}
	for _, m := range l.Lag.Sorted() {
		if n := len(g.Topics); n == 0 || g.Topics[n-1].Topic != m.Topic {
			g.Topics = append(g.Topics, topicLag{Topic: m.Topic})
		}
		t := &g.Topics[len(g.Topics)-1]
		p := partitionLag{Partition: m.Partition, Committed: m.Commit.At, End: m.End.Offset, Lag: m.Lag}
		if m.Member != nil {
			p.Member = m.Member.ClientID + " " + m.Member.ClientHost
		}
		if m.Err != nil {
			p.Error = m.Err.Error()
		}
		if m.Lag > 0 {
			t.Lag += m.Lag
			g.Lag += m.Lag
		}
		t.Partitions = append(t.Partitions, p)
	}
	slices.SortFunc(g.Topics, func(a, b topicLag) int { return cmp.Compare(a.Topic, b.Topic) })
	return g
}

// exactLagLimit is the most offsets behind a partition may be for lag to
// read them and count records rather than offsets.
const exactLagLimit = 1000

// countDataLag replaces the lag of each partition that is a little behind
// by the number of records to process: it reads the partition from the
// committed offset to its last stable offset, read-committed, so
// transaction markers and aborted records do not count. Offsets past the
// last stable offset (an open transaction) count as they are. lso caches
// the last stable offsets by topic.
func (o *options) countDataLag(ctx context.Context, adm *kadm.Client, g *groupLag, lso map[string]kadm.ListedOffsets) error {
	g.Lag = 0
	for ti := range g.Topics {
		t := &g.Topics[ti]
		sp := spans{}
		for _, p := range t.Partitions {
			if p.Lag > 0 && p.Lag <= exactLagLimit && p.Committed >= 0 && p.Error == "" {
				sp[p.Partition] = span{from: p.Committed, to: p.End}
			}
		}
		if len(sp) > 0 {
			stable, ok := lso[t.Topic]
			if !ok {
				var err error
				if stable, err = adm.ListCommittedOffsets(ctx, t.Topic); err != nil {
					return fmt.Errorf("listing offsets of %s: %w", t.Topic, err)
				}
				lso[t.Topic] = stable
			}
			beyond := map[int32]int64{}
			for p, s := range sp {
				if l, ok := stable.Lookup(t.Topic, p); ok && l.Err == nil && l.Offset < s.to {
					beyond[p] = s.to - max(l.Offset, s.from)
					s.to = max(l.Offset, s.from)
					sp[p] = s
				}
			}
			counts := map[int32]int64{}
			if err := o.scan(ctx, t.Topic, sp, func(r *kgo.Record) error {
				counts[r.Partition]++
				return nil
			}); err != nil {
				return err
			}
			for i := range t.Partitions {
				p := &t.Partitions[i]
				if _, ok := sp[p.Partition]; ok {
					exact := counts[p.Partition] + beyond[p.Partition]
					p.Markers, p.Lag = p.Lag-exact, exact
				}
			}
		}
		t.Lag = 0
		for _, p := range t.Partitions {
			if p.Lag > 0 {
				t.Lag += p.Lag
			}
		}
		g.Lag += t.Lag
	}
	return nil
}
