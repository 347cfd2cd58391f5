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
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"` // -1 when the group has committed nothing
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	Member    string `json:"member,omitempty"`
	Error     string `json:"error,omitempty"`
}

func lagCmd(o *options) *cobra.Command {
	var groups []string
	cmd := &cobra.Command{
		Use:   "lag",
		Short: "Show how far Hookline's consumer groups are behind, per topic",
		Long: "lag lists, for each consumer group, how many records of each topic it has\n" +
			"yet to commit: the end offset minus the committed offset, summed over the\n" +
			"topic's partitions. -o json adds the per-partition detail.",
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
			out := make([]groupLag, 0, len(groups))
			for _, g := range groups {
				out = append(out, lagOf(g, lags))
			}
			if o.output == "json" {
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
