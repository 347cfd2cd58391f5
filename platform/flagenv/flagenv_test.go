package flagenv_test

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/hookline/hookline/platform/flagenv"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantAddr    string
		wantBrokers string
		wantErr     bool
	}{
		{name: "defaults", wantAddr: ":9090", wantBrokers: "a:1"},
		{name: "env fills", env: map[string]string{"HOOKLINE_ADMIN_ADDR": ":1", "HOOKLINE_BROKERS": "x:1, y:2"}, wantAddr: ":1", wantBrokers: "x:1,y:2"},
		{name: "flag wins", args: []string{"--admin-addr", ":2"}, env: map[string]string{"HOOKLINE_ADMIN_ADDR": ":1"}, wantAddr: ":2", wantBrokers: "a:1"},
		{name: "bad env value", env: map[string]string{"HOOKLINE_WORKERS": "many"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			addr := fs.String("admin-addr", ":9090", "ops address")
			brokers := flagenv.StringList{"a:1"}
			fs.Var(&brokers, "brokers", "brokers")
			fs.Int("workers", 1, "workers")
			err := flagenv.Parse(fs, tt.args, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if *addr != tt.wantAddr || brokers.String() != tt.wantBrokers {
				t.Fatalf("addr %q brokers %q, want %q %q", *addr, brokers.String(), tt.wantAddr, tt.wantBrokers)
			}
		})
	}
}

func TestName(t *testing.T) {
	if got := flagenv.Name("kafka-tls-ca"); got != "HOOKLINE_KAFKA_TLS_CA" {
		t.Fatalf("Name = %q", got)
	}
}

func TestParseCommand(t *testing.T) {
	register := func(fs *flag.FlagSet) { fs.String("admin-addr", ":9090", "ops address") }
	var out, errOut strings.Builder
	err := flagenv.ParseCommand("router", "Routes events.", register, []string{"--help"}, func(string) string { return "" }, &out, &errOut)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: router [flags]", "Routes events.", "-admin-addr", "HOOKLINE_ADMIN_ADDR"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	if err := flagenv.ParseCommand("router", "", register, []string{"extra"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Fatalf("positional argument: err = %v", err)
	}
	errOut.Reset()
	if err := flagenv.ParseCommand("router", "", register, []string{"--nope"}, func(string) string { return "" }, io.Discard, &errOut); err == nil || !strings.Contains(errOut.String(), "nope") {
		t.Fatalf("unknown flag: err = %v, stderr %q", err, errOut.String())
	}
}
