// Package cli implements hookctl's commands with cobra. Every command is
// built by a function taking the shared options, so tests run them
// in-process against a kafkatest broker.
package cli

import (
	"bufio"
	"context"
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
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/term"
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
	// stderrTTY is the terminal behind stderr, when there is one: long
	// work then draws a progress bar on it instead of printing lines.
	stderrTTY *os.File
	getenv    func(string) string
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

// table starts a table for people.
func (o *options) table() *tabwriter.Writer {
	return tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
}

// Run executes hookctl with args. getenv supplies HOOKLINE_* defaults of
// the global flags. Confirmations are asked on os.Stdin when it is a
// terminal; otherwise commands that write in bulk refuse to run without
// --yes. Map the error to an exit code with ExitCode.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var stdin io.Reader
	if term.IsTerminal(int(os.Stdin.Fd())) {
		stdin = os.Stdin
	}
	var tty *os.File
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = f
	}
	return run(ctx, args, getenv, stdin, tty, stdout, stderr)
}

// RunWithStdin is Run with confirmations read from stdin. A nil stdin
// means no one can answer, so bulk writes need --yes.
func RunWithStdin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return run(ctx, args, getenv, stdin, nil, stdout, stderr)
}

// globalFlags are the flags that read HOOKLINE_* variables; no other flag
// does, so a service's environment (HOOKLINE_GROUP, HOOKLINE_LIMIT) never
// changes what a command does.
var globalFlags = []string{"brokers", "kafka-client-id", "kafka-tls", "kafka-tls-ca", "kafka-tls-cert", "kafka-tls-key",
	"kafka-sasl-mechanism", "kafka-sasl-user", "kafka-sasl-password", kclient.SASLAllowPlaintextFlag, "topic-prefix", "output", "timeout"}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, tty *os.File, stdout, stderr io.Writer) error {
	o := &options{stdin: stdin, stderrTTY: tty, stdout: stdout, stderr: stderr, getenv: getenv}
	var showVersion bool
	root := &cobra.Command{
		Use:   "hookctl",
		Short: "Operate a Hookline webhook pipeline",
		Long: "hookctl creates Hookline's topics, manages subscriptions, inspects and replays\n" +
			"the dead-letter topic and the attempt history, and inspects a running pipeline.\n\n" +
			"Environment: only the global flags read HOOKLINE_* variables (--brokers reads\n" +
			"HOOKLINE_BROKERS, -o reads HOOKLINE_OUTPUT); a flag given wins. Flags of\n" +
			"subcommands read no environment, so a service's HOOKLINE_GROUP or\n" +
			"HOOKLINE_LIMIT never changes a command.\n\n" + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showVersion {
				fmt.Fprintln(o.stdout, readBuildInfo().String())
				return nil
			}
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Root(), getenv); err != nil {
				return err
			}
			switch o.output {
			case outputTable, outputJSON, outputYAML:
			default:
				return usagef("unknown output %q: want table, json or yaml", o.output)
			}
			if _, err := o.kafka.Opts(); err != nil {
				return usagef("%w", err)
			}
			return nil
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	o.kafka.Brokers = flagenv.StringList{"127.0.0.1:9092"}
	pf := root.PersistentFlags()
	pf.Var(&o.kafka.Brokers, "brokers", "comma-separated Kafka seed brokers (env HOOKLINE_BROKERS)")
	pf.StringVar(&o.kafka.ClientID, "kafka-client-id", "hookctl", "Kafka client id (env HOOKLINE_KAFKA_CLIENT_ID)")
	pf.BoolVar(&o.kafka.TLS, "kafka-tls", false, "connect to Kafka over TLS (env HOOKLINE_KAFKA_TLS)")
	pf.StringVar(&o.kafka.TLSCAFile, "kafka-tls-ca", "", "PEM file of CAs to trust for Kafka (env HOOKLINE_KAFKA_TLS_CA)")
	pf.StringVar(&o.kafka.TLSCertFile, "kafka-tls-cert", "", "PEM client certificate for Kafka mTLS (env HOOKLINE_KAFKA_TLS_CERT)")
	pf.StringVar(&o.kafka.TLSKeyFile, "kafka-tls-key", "", "PEM client key for Kafka mTLS (env HOOKLINE_KAFKA_TLS_KEY)")
	pf.StringVar(&o.kafka.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (env HOOKLINE_KAFKA_SASL_MECHANISM)")
	pf.StringVar(&o.kafka.SASLUser, "kafka-sasl-user", "", "SASL user name (env HOOKLINE_KAFKA_SASL_USER)")
	pf.StringVar(&o.kafka.SASLPassword, "kafka-sasl-password", "", "SASL password (env HOOKLINE_KAFKA_SASL_PASSWORD)")
	pf.BoolVar(&o.kafka.SASLAllowPlaintext, kclient.SASLAllowPlaintextFlag, false, kclient.SASLAllowPlaintextUsage+" (env HOOKLINE_KAFKA_SASL_ALLOW_PLAINTEXT)")
	pf.StringVar(&o.prefix, "topic-prefix", topic.DefaultPrefix, "prefix of Hookline's topic names (env HOOKLINE_TOPIC_PREFIX)")
	pf.StringVarP(&o.output, "output", "o", outputTable, "output format: table, json or yaml (env HOOKLINE_OUTPUT)")
	pf.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for Kafka (env HOOKLINE_TIMEOUT)")
	root.Flags().BoolVar(&showVersion, "version", false, "print hookctl's version")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{outputTable, outputJSON, outputYAML}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(topicsCmd(o), subsCmd(o), typesCmd(o), dlqCmd(o), attemptsCmd(o), lagCmd(o), sendCmd(o), tailCmd(o), devCmd(o), versionCmd(o))
	strictCommands(root)
	registerCompletions(o, root)
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		err = &UsageError{Err: err}
	}
	return humanize(ctx, err, o.kafka.Brokers, o.timeout)
}

// applyEnv sets the global flags not given on the command line from their
// HOOKLINE_* variables.
func applyEnv(root *cobra.Command, getenv func(string) string) error {
	for _, name := range globalFlags {
		f := root.PersistentFlags().Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		if v := getenv(flagenv.Name(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				return usagef("%s: %w", flagenv.Name(f.Name), err)
			}
		}
	}
	return nil
}

// strictCommands makes wrong arguments usage errors: a group command (subs,
// dlq) given an unknown subcommand fails instead of printing help, and
// every Args check returns a UsageError.
func strictCommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		strictCommands(c)
	}
	if cmd.HasSubCommands() && cmd.RunE == nil && cmd.Run == nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
			if c.SuggestionsMinimumDistance <= 0 {
				c.SuggestionsMinimumDistance = 2
			}
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, ", ") + "?"
			}
			return usagef("%s (run %s --help)", msg, c.CommandPath())
		}
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		return
	}
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return &UsageError{Err: err}
			}
			return nil
		}
	}
}

func versionCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print hookctl's version, VCS revision and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			bi := readBuildInfo()
			if o.structured() {
				return o.printJSON(bi)
			}
			fmt.Fprintln(o.stdout, bi.String())
			return nil
		},
	}
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
