// Package cli implements hookctl's commands with cobra. Every command is
// built by a function taking the shared options, so tests run them
// in-process against a kafkatest broker.
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookline/hookline/platform/flagenv"
	"github.com/hookline/hookline/platform/kclient"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// options are the flags every command shares.
type options struct {
	kafka   kclient.Config
	prefix  string
	output  string
	timeout time.Duration
	stdin   io.Reader // nil when no one is there to answer a confirmation
	stdout  io.Writer
	stderr  io.Writer
	getenv  func(string) string
}

func (o *options) names() topic.Names { return topic.New(o.prefix) }

// client returns a Kafka client for the shared options plus extra.
func (o *options) client(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := o.kafka.Opts()
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(append(opts, extra...)...)
}

// printJSON writes v as indented JSON.
func (o *options) printJSON(v any) error {
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table starts a table for people.
func (o *options) table() *tabwriter.Writer {
	return tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
}

// Run executes hookctl with args. getenv supplies HOOKLINE_* defaults.
// Confirmations are asked on os.Stdin when it is a terminal; otherwise
// commands that write in bulk refuse to run without --yes.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var stdin io.Reader
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		stdin = os.Stdin
	}
	return RunWithStdin(ctx, args, getenv, stdin, stdout, stderr)
}

// RunWithStdin is Run with confirmations read from stdin. A nil stdin
// means no one can answer, so bulk writes need --yes.
func RunWithStdin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	o := &options{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := &cobra.Command{
		Use:           "hookctl",
		Short:         "Operate a Hookline webhook pipeline",
		Long:          "hookctl creates Hookline's topics, manages subscriptions, inspects and replays\nthe dead-letter topic, and inspects a running pipeline.\nEvery flag also reads an environment variable: --brokers reads HOOKLINE_BROKERS.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// Flags not given on the command line come from HOOKLINE_*.
			var err error
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				if err != nil || f.Changed {
					return
				}
				if v := getenv(flagenv.Name(f.Name)); v != "" {
					if e := f.Value.Set(v); e != nil {
						err = fmt.Errorf("%s: %w", flagenv.Name(f.Name), e)
					}
				}
			})
			if err != nil {
				return err
			}
			switch o.output {
			case "table", "json":
			default:
				return fmt.Errorf("unknown output %q: want table or json", o.output)
			}
			return nil
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	o.kafka.Brokers = flagenv.StringList{"127.0.0.1:9092"}
	pf := root.PersistentFlags()
	pf.Var(&o.kafka.Brokers, "brokers", "comma-separated Kafka seed brokers")
	pf.StringVar(&o.kafka.ClientID, "kafka-client-id", "hookctl", "Kafka client id")
	pf.BoolVar(&o.kafka.TLS, "kafka-tls", false, "connect to Kafka over TLS")
	pf.StringVar(&o.kafka.TLSCAFile, "kafka-tls-ca", "", "PEM file of CAs to trust for Kafka")
	pf.StringVar(&o.kafka.TLSCertFile, "kafka-tls-cert", "", "PEM client certificate for Kafka mTLS")
	pf.StringVar(&o.kafka.TLSKeyFile, "kafka-tls-key", "", "PEM client key for Kafka mTLS")
	pf.StringVar(&o.kafka.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	pf.StringVar(&o.kafka.SASLUser, "kafka-sasl-user", "", "SASL user name")
	pf.StringVar(&o.kafka.SASLPassword, "kafka-sasl-password", "", "SASL password")
	pf.StringVar(&o.prefix, "topic-prefix", topic.DefaultPrefix, "prefix of Hookline's topic names")
	pf.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for Kafka")

	root.AddCommand(topicsCmd(o), subsCmd(o), dlqCmd(o), lagCmd(o), sendCmd(o), tailCmd(o), devCmd(o))
	return root.ExecuteContext(ctx)
}

// confirm asks question on stdin and returns nil only for a yes. Without
// stdin it refuses: a script must say --yes.
func (o *options) confirm(question string) error {
	if o.stdin == nil {
		return ErrNoConfirmation
	}
	fmt.Fprintf(o.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(o.stdin).ReadString('\n')
	if err != nil && line == "" {
		return ErrAborted
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return ErrAborted
}

// progress prints a progress line to stderr at most once per interval.
type progress struct {
	w     io.Writer
	every time.Duration
	last  time.Time
}

func (o *options) progress() *progress {
	return &progress{w: o.stderr, every: time.Second, last: time.Now()}
}

// tick prints the line that msg returns, if the interval has passed.
func (p *progress) tick(msg func() string) {
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		fmt.Fprintln(p.w, msg())
	}
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
	return kclient.EnsureTopics(ctx, kadm.NewClient(cl), specs)
}

func topicsCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "topics", Short: "Create and list Hookline's topics"}
	var spec topic.SpecOpts
	var sources []string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create every Hookline topic that does not exist yet (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec.Sources = sources
			specs := o.names().Specs(spec)
			created, err := o.ensureTopics(cmd.Context(), specs)
			if err != nil {
				return err
			}
			isNew := map[string]bool{}
			for _, c := range created {
				isNew[c] = true
			}
			if o.output == "json" {
				type row struct {
					Name       string            `json:"name"`
					Partitions int32             `json:"partitions"`
					Created    bool              `json:"created"`
					Configs    map[string]string `json:"configs"`
				}
				rows := make([]row, 0, len(specs))
				for _, s := range specs {
					rows = append(rows, row{s.Name, s.Partitions, isNew[s.Name], s.Configs})
				}
				return o.printJSON(rows)
			}
			tw := o.table()
			fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tSTATUS\tCONFIG")
			for _, s := range specs {
				status := "exists"
				if isNew[s.Name] {
					status = "created"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Name, s.Partitions, status, configText(s.Configs))
			}
			return tw.Flush()
		},
	}
	initCmd.Flags().Int32Var(&spec.Partitions, "partitions", 12, "partitions of the deliveries and retry topics")
	initCmd.Flags().Int16Var(&spec.ReplicationFactor, "replication-factor", 1, "replication factor of every topic")
	initCmd.Flags().IntVar(&spec.RetryLevels, "retry-levels", topic.DefaultRetryLevels, "number of retry topics")
	initCmd.Flags().DurationVar(&spec.DLQRetention, "dlq-retention", 14*24*time.Hour, "retention of the dead-letter topic")
	initCmd.Flags().StringSliceVar(&sources, "source", []string{topic.DefaultSource}, "source topics to create as well")
	cmd.AddCommand(initCmd)
	return cmd
}

func configText(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range []string{"cleanup.policy", "retention.ms", "min.compaction.lag.ms"} {
		if v, ok := m[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}
