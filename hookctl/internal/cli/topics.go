package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/platform/kclient"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// watchedConfigs are the topic configs Hookline sets and topics init
// checks for drift.
var watchedConfigs = []string{"cleanup.policy", "retention.ms", "min.compaction.lag.ms"}

// topicInfo is a topic as the cluster has it.
type topicInfo struct {
	Name              string            `json:"name"`
	Partitions        int               `json:"partitions"`
	ReplicationFactor int               `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"` // set on the topic, not the broker's defaults
	Messages          int64             `json:"messages"`          // end minus start offsets, transaction markers included
	PartitionDetails  []partitionInfo   `json:"partition_details,omitempty"`
	// Status and Drift are set by topics init: "created" or "exists",
	// and how the topic differs from what init asks for.
	Status string   `json:"status,omitempty"`
	Drift  []string `json:"drift,omitempty"`
}

type partitionInfo struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	Start     int64   `json:"start"`
	End       int64   `json:"end"`
	Error     string  `json:"error,omitempty"`
}

// describeTopics returns the topics of names that exist, as the cluster has
// them, in the order of names.
func describeTopics(ctx context.Context, adm *kadm.Client, names []string) ([]topicInfo, error) {
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing topics: %w", err)
	}
	var exist []string
	for _, n := range names {
		if d, ok := details[n]; ok && d.Err == nil {
			exist = append(exist, n)
		}
	}
	if len(exist) == 0 {
		return nil, nil
	}
	configs, err := adm.DescribeTopicConfigs(ctx, exist...)
	if err != nil {
		return nil, fmt.Errorf("describing topic configs: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, exist...)
	if err != nil {
		return nil, fmt.Errorf("listing offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, exist...)
	if err != nil {
		return nil, fmt.Errorf("listing offsets: %w", err)
	}
	out := make([]topicInfo, 0, len(exist))
	for _, n := range exist {
		d := details[n]
		ti := topicInfo{Name: n, Partitions: len(d.Partitions), Configs: map[string]string{}}
		for _, p := range d.Partitions.Sorted() {
			pi := partitionInfo{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR}
			if p.Err != nil {
				pi.Error = p.Err.Error()
			}
			if s, ok := starts.Lookup(n, p.Partition); ok && s.Err == nil {
				pi.Start = s.Offset
			}
			if e, ok := ends.Lookup(n, p.Partition); ok && e.Err == nil {
				pi.End = e.Offset
			}
			ti.Messages += pi.End - pi.Start
			ti.ReplicationFactor = max(ti.ReplicationFactor, len(p.Replicas))
			ti.PartitionDetails = append(ti.PartitionDetails, pi)
		}
		if rc, err := configs.On(n, nil); err == nil && rc.Err == nil {
			for _, c := range rc.Configs {
				if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
					ti.Configs[c.Key] = *c.Value
				}
			}
		}
		out = append(out, ti)
	}
	return out, nil
}

// drift says how a topic differs from its spec: fewer or more partitions,
// a watched config with another value.
func drift(s topic.Spec, ti topicInfo) []string {
	var d []string
	if int32(ti.Partitions) != s.Partitions {
		note := fmt.Sprintf("partitions: has %d, init asks for %d", ti.Partitions, s.Partitions)
		if int32(ti.Partitions) < s.Partitions {
			note += " (kafka-topics --alter can add partitions; keys then map to other partitions)"
		}
		d = append(d, note)
	}
	if ti.ReplicationFactor != int(s.ReplicationFactor) {
		d = append(d, fmt.Sprintf("replication factor: has %d, init asks for %d", ti.ReplicationFactor, s.ReplicationFactor))
	}
	for _, k := range watchedConfigs {
		want, ok := s.Configs[k]
		if !ok {
			continue
		}
		if got, set := ti.Configs[k]; !set || got != want {
			d = append(d, fmt.Sprintf("%s: has %s, init asks for %s", k, cmp.Or(got, "the broker default"), want))
		}
	}
	return d
}

func topicsCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "topics", Short: "Create, list and describe Hookline's topics"}
	cmd.AddCommand(topicsInitCmd(o), topicsLsCmd(o), topicsDescribeCmd(o))
	return cmd
}

func topicsInitCmd(o *options) *cobra.Command {
	var spec topic.SpecOpts
	var sources []string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create every Hookline topic that does not exist yet (idempotent); report drift",
		Long: "init creates the Hookline topics that do not exist yet with the partitions and\n" +
			"configs shown, and prints every topic as the cluster has it: its real\n" +
			"partitions and configs. Topics that exist are left alone; where one differs\n" +
			"from what init asks for (partitions, replication factor, cleanup.policy,\n" +
			"retention.ms), it says so under DRIFT and on stderr.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec.Sources = sources
			specs := o.names().Specs(spec)
			created, err := o.ensureTopics(cmd.Context(), specs)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			cl, err := o.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			names := make([]string, 0, len(specs))
			for _, s := range specs {
				names = append(names, s.Name)
			}
			infos, err := describeTopics(ctx, kadm.NewClient(cl), names)
			if err != nil {
				return err
			}
			byName := map[string]topicInfo{}
			for _, ti := range infos {
				byName[ti.Name] = ti
			}
			rows := make([]topicInfo, 0, len(specs))
			drifted := 0
			for _, s := range specs {
				ti, ok := byName[s.Name]
				if !ok {
					return fmt.Errorf("%s: %w", s.Name, ErrNoTopic)
				}
				ti.Status = "exists"
				if slices.Contains(created, s.Name) {
					ti.Status = "created"
				}
				ti.Drift = drift(s, ti)
				if len(ti.Drift) > 0 {
					drifted++
					for _, d := range ti.Drift {
						fmt.Fprintf(o.stderr, "drift: %s: %s\n", s.Name, d)
					}
				}
				ti.PartitionDetails = nil
				rows = append(rows, ti)
			}
			if o.structured() {
				return o.printJSON(rows)
			}
			tw := o.table()
			fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tRF\tSTATUS\tCONFIG\tDRIFT")
			for _, r := range rows {
				d := "-"
				if len(r.Drift) > 0 {
					d = strconv.Itoa(len(r.Drift)) + " (see stderr)"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", r.Name, r.Partitions, r.ReplicationFactor, r.Status, configText(r.Configs), d)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if drifted > 0 {
				fmt.Fprintf(o.stderr, "%d topics differ from what init asks for; init changes no existing topic\n", drifted)
			}
			return nil
		},
	}
	initCmd.Flags().Int32Var(&spec.Partitions, "partitions", 12, "partitions of the deliveries and retry topics")
	initCmd.Flags().Int16Var(&spec.ReplicationFactor, "replication-factor", 1, "replication factor of every topic")
	initCmd.Flags().IntVar(&spec.RetryLevels, "retry-levels", topic.DefaultRetryLevels, "number of retry topics")
	initCmd.Flags().DurationVar(&spec.DLQRetention, "dlq-retention", 14*24*time.Hour, "retention of the dead-letter topic")
	initCmd.Flags().StringSliceVar(&sources, "source", []string{topic.DefaultSource}, "source topics to create as well")
	return initCmd
}

func topicsLsCmd(o *options) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List Hookline's topics (those under --topic-prefix) with real partitions and configs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			cl, err := o.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			listed, err := adm.ListTopics(ctx)
			if err != nil {
				return fmt.Errorf("listing topics: %w", err)
			}
			var names []string
			for _, n := range listed.Names() {
				if all || strings.HasPrefix(n, o.prefix) {
					names = append(names, n)
				}
			}
			slices.Sort(names)
			infos, err := describeTopics(ctx, adm, names)
			if err != nil {
				return err
			}
			if o.structured() {
				for i := range infos {
					infos[i].PartitionDetails = nil
				}
				if infos == nil {
					infos = []topicInfo{}
				}
				return o.printJSON(infos)
			}
			tw := o.table()
			fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tRF\tMESSAGES\tCONFIG")
			for _, ti := range infos {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", ti.Name, ti.Partitions, ti.ReplicationFactor, ti.Messages, orDash(configText(ti.Configs)))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(infos) == 0 {
				fmt.Fprintf(o.stderr, "no topics under prefix %q (hookctl topics init creates them; --all lists every topic)\n", o.prefix)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "list every topic of the cluster, not only those under --topic-prefix")
	return cmd
}

func topicsDescribeCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "describe TOPIC...",
		Short: "Show topics' partitions (leader, replicas, ISR, offsets) and configs",
		Long: "describe shows each topic's partitions and the configs set on it. Short\n" +
			"names (subscriptions, deliveries, retry.N, dlq, attempts) resolve under\n" +
			"--topic-prefix; other names are used as given.",
		Example: "  hookctl topics describe deliveries dlq\n  hookctl topics describe events -o yaml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			names := make([]string, 0, len(args))
			for _, a := range args {
				if shortTopic.MatchString(a) {
					a = o.prefix + a
				}
				names = append(names, a)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			cl, err := o.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			infos, err := describeTopics(ctx, kadm.NewClient(cl), names)
			if err != nil {
				return err
			}
			if len(infos) < len(names) {
				var missing []string
				for _, n := range names {
					if !slices.ContainsFunc(infos, func(ti topicInfo) bool { return ti.Name == n }) {
						missing = append(missing, n)
					}
				}
				return fmt.Errorf("%s: %w", strings.Join(missing, ", "), ErrNoTopic)
			}
			if o.structured() {
				return o.printJSON(infos)
			}
			for i, ti := range infos {
				if i > 0 {
					fmt.Fprintln(o.stdout)
				}
				fmt.Fprintf(o.stdout, "TOPIC %s  partitions %d  replication factor %d  messages %d\n", ti.Name, ti.Partitions, ti.ReplicationFactor, ti.Messages)
				for _, k := range slices.Sorted(maps.Keys(ti.Configs)) {
					fmt.Fprintf(o.stdout, "  %s=%s\n", k, ti.Configs[k])
				}
				tw := o.table()
				fmt.Fprintln(tw, "PARTITION\tLEADER\tREPLICAS\tISR\tSTART\tEND")
				for _, p := range ti.PartitionDetails {
					fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%d\n", p.Partition, p.Leader, ints(p.Replicas), ints(p.ISR), p.Start, p.End)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func ints(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(int(x))
	}
	return strings.Join(parts, ",")
}

// ensureTopics creates the topics of specs that do not exist yet, within
// the --timeout, and returns the names it created.
func (o *options) ensureTopics(ctx context.Context, specs []topic.Spec) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cl, err := o.client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	created, err := kclient.EnsureTopics(ctx, kadm.NewClient(cl), specs)
	if errors.Is(err, kerr.PolicyViolation) || errors.Is(err, kerr.InvalidReplicationFactor) {
		return created, usagef("%w", err)
	}
	return created, err
}

func configText(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range watchedConfigs {
		if v, ok := m[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}
