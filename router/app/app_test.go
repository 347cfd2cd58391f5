package app

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c *Config) {
				if !slices.Equal(c.Sources, []string{"events"}) || c.Group != "hookline-router" || c.AdminAddr != ":9102" ||
					c.TopicPrefix != "hookline." || c.MaxEventBytes != 1<<20 || c.RejectUnknownTypes || c.SourceRegex {
					t.Errorf("defaults: %+v", c)
				}
				if !strings.HasPrefix(c.TransactionalID, "hookline-router-") || len(c.TransactionalID) == len("hookline-router-") {
					t.Errorf("transactional id %q, want hookline-router-<hostname>", c.TransactionalID)
				}
			},
		},
		{
			name: "environment",
			env: map[string]string{
				"HOOKLINE_SOURCE_TOPICS": "a, b", "HOOKLINE_GROUP": "g", "HOOKLINE_REJECT_UNKNOWN_TYPES": "true",
				"HOOKLINE_MAX_EVENT_BYTES": "4096", "HOOKLINE_SESSION_TIMEOUT": "6s", "HOOKLINE_BROKERS": "k1:9092,k2:9092",
			},
			check: func(t *testing.T, c *Config) {
				if !slices.Equal(c.Sources, []string{"a", "b"}) || c.Group != "g" || !c.RejectUnknownTypes ||
					c.MaxEventBytes != 4096 || c.SessionTimeout != 6*time.Second || len(c.Kafka.Brokers) != 2 {
					t.Errorf("from env: %+v", c)
				}
				if c.TransactionalID == "" || !strings.HasPrefix(c.TransactionalID, "g-") {
					t.Errorf("transactional id %q, want g-<hostname>", c.TransactionalID)
				}
			},
		},
		{
			name: "flag beats environment",
			args: []string{"--group", "flag", "--transactional-id", "tx-1"},
			env:  map[string]string{"HOOKLINE_GROUP": "env"},
			check: func(t *testing.T, c *Config) {
				if c.Group != "flag" || c.TransactionalID != "tx-1" {
					t.Errorf("group %q txn %q", c.Group, c.TransactionalID)
				}
			},
		},
		{
			name: "regex sources",
			args: []string{"--source-regex", "--source-topics", `^events\..*`},
			check: func(t *testing.T, c *Config) {
				if !c.SourceRegex || c.Sources[0] != `^events\..*` {
					t.Errorf("%+v", c)
				}
			},
		},
		{name: "bad regex", args: []string{"--source-regex", "--source-topics", "("}, wantErr: "source pattern"},
		{name: "consuming own output", args: []string{"--source-topics", "hookline.deliveries"}, wantErr: "own topics"},
		{name: "bad duration", env: map[string]string{"HOOKLINE_DRAIN_TIMEOUT": "soon"}, wantErr: "HOOKLINE_DRAIN_TIMEOUT"},
		{name: "zero timeout", args: []string{"--session-timeout", "0s"}, wantErr: "timeouts"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "logging"},
		{
			name: "busy cadence",
			args: []string{"--busy-batch-wait", "30ms", "--busy-rate", "2500"},
			check: func(t *testing.T, c *Config) {
				r := c.route()
				if r.BusyBatchWait != 30*time.Millisecond || r.BusyRate != 2500 {
					t.Errorf("busy cadence %v at %v/s, want 30ms at 2500/s", r.BusyBatchWait, r.BusyRate)
				}
			},
		},
		{
			name: "busy cadence off",
			args: []string{"--busy-batch-wait", "0"},
			check: func(t *testing.T, c *Config) {
				if r := c.route(); r.BusyBatchWait >= 0 {
					t.Errorf("--busy-batch-wait 0 gives route %v, want a negative (never used) wait", r.BusyBatchWait)
				}
			},
		},
		{name: "zero busy rate", args: []string{"--busy-rate", "0"}, wantErr: "--busy-rate"},
		{name: "negative busy wait", args: []string{"--busy-batch-wait", "-1ms"}, wantErr: "--busy-batch-wait"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "nope"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := parse(tc.args, env(tc.env), io.Discard, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"--help"}, env(nil), &out, io.Discard); err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"Usage: router", "-source-topics", "HOOKLINE_TRANSACTIONAL_ID", "-reject-unknown-types"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	err := Run(context.Background(), []string{"--brokers", "no-port"}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Fatalf("err = %v, want a broker address error", err)
	}
}
