package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hookline/hookline/hookctl/internal/cli"
)

func TestExitCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addSubs(t, "a")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		env  map[string]string // replaces the fixture's
		args []string
		code int
		msg  string
	}{
		{name: "ok", args: []string{"subs", "get", "a"}, code: cli.ExitOK},
		{name: "group without subcommand", args: []string{"subs"}, code: cli.ExitOK},
		{name: "unknown subcommand", args: []string{"subs", "lss"}, code: cli.ExitUsage, msg: `did you mean ls`},
		{name: "unknown command", args: []string{"sub"}, code: cli.ExitUsage, msg: `unknown command "sub"`},
		{name: "unknown flag", args: []string{"dlq", "ls", "--nope"}, code: cli.ExitUsage, msg: "unknown flag: --nope"},
		{name: "bad flag value", args: []string{"dlq", "ls", "--since", "yesterday"}, code: cli.ExitUsage, msg: "--since"},
		{name: "bad output", args: []string{"subs", "ls", "-o", "xml"}, code: cli.ExitUsage, msg: "unknown output"},
		{name: "too many arguments", args: []string{"subs", "get", "a", "b"}, code: cli.ExitUsage},
		{name: "not found", args: []string{"subs", "get", "nope"}, code: cli.ExitNotFound, msg: "not found"},
		{name: "no such dead letter", args: []string{"dlq", "show", "0/12345"}, code: cli.ExitNotFound},
		{name: "failure", args: []string{"subs", "rm", "a"}, code: cli.ExitFailure, msg: "--yes"},
		{name: "interrupted", ctx: cancelled, args: []string{"dlq", "ls"}, code: cli.ExitInterrupted},
		{name: "unreachable", env: map[string]string{"HOOKLINE_BROKERS": "127.0.0.1:1"}, args: []string{"subs", "ls", "--timeout", "1s"},
			code: cli.ExitUnreachable, msg: "cannot reach Kafka at 127.0.0.1:1 (--brokers, HOOKLINE_BROKERS): connection refused"},
		{name: "unreachable lag", env: map[string]string{"HOOKLINE_BROKERS": "127.0.0.1:1"}, args: []string{"lag", "--timeout", "1s"},
			code: cli.ExitUnreachable, msg: "cannot reach Kafka at 127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			env := f.env
			if tt.env != nil {
				env = tt.env
			}
			var out, errOut bytes.Buffer
			args := append(tt.args, "--topic-prefix", f.names.Prefix)
			err := cli.RunWithStdin(ctx, args, func(k string) string { return env[k] }, nil, &out, &errOut)
			if got := cli.ExitCode(err); got != tt.code {
				t.Fatalf("exit %d, want %d; err %v", got, tt.code, err)
			}
			if tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
				t.Fatalf("err %v, want it to say %q", err, tt.msg)
			}
			if err != nil && strings.Contains(err.Error(), "shard errors") {
				t.Fatalf("client internals leak: %v", err)
			}
		})
	}
	if !errors.Is(cli.ErrInterrupted, cli.ErrInterrupted) || cli.ExitCode(nil) != 0 {
		t.Fatal("ExitCode(nil) != 0")
	}
}

func TestHelpDocumentsExitCodesAndEnvironment(t *testing.T) {
	out, err := run(t, nil, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Exit codes:", "2    usage", "3    not found", "4    Kafka unreachable", "130  interrupted",
		"only the global flags read HOOKLINE_*", "HOOKLINE_BROKERS", "attempts"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help misses %q:\n%s", want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := run(t, nil, args...)
		if err != nil || !strings.HasPrefix(out, "hookctl ") || !strings.Contains(out, "go1.") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	out, err := run(t, nil, "version", "-o", "yaml")
	if err != nil || !strings.Contains(out, "version: ") || !strings.Contains(out, "go_version: go1.") {
		t.Errorf("version -o yaml: %v\n%s", err, out)
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addSubs(t, "billing", "crm")
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "subs", "get", "bil"}, []string{"billing"}},
		{[]string{"__complete", "dlq", "replay", "--subscription", ""}, []string{"billing", "crm"}},
		{[]string{"__complete", "dlq", "ls", "--reason", "end"}, []string{"endpoint_gone", "endpoint_disabled"}},
		{[]string{"__complete", "dlq", "ls", "--type", ""}, []string{"*"}},
		{[]string{"__complete", "subs", "ls", "-o", "y"}, []string{"yaml"}},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"__complete", "--topic-prefix", f.names.Prefix}, tt.args[1:]...)
		if err := cli.RunWithStdin(t.Context(), args, func(k string) string { return f.env[k] }, nil, &out, &errOut); err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: no %q in\n%s", tt.args, w, out.String())
			}
		}
	}
}

// TestDevNullIsNoTerminal is issue 12's: stdin /dev/null counted as a
// terminal at prompts. Run (not RunWithStdin) must refuse without --yes.
func TestDevNullIsNoTerminal(t *testing.T) {
	f := newFixture(t)
	f.addSubs(t, "a")
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	saved := os.Stdin
	os.Stdin = null
	t.Cleanup(func() { os.Stdin = saved })
	var out, errOut bytes.Buffer
	err = cli.Run(t.Context(), []string{"subs", "rm", "a", "--topic-prefix", f.names.Prefix}, func(k string) string { return f.env[k] }, &out, &errOut)
	if !errors.Is(err, cli.ErrNoConfirmation) {
		t.Fatalf("subs rm with stdin %s: %v", os.DevNull, err)
	}
}
