package app_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/hookline/hookline/dispatcher/app"
	"github.com/hookline/hookline/platform/opshttp"
	"github.com/prometheus/client_golang/prometheus"
)

// TestHealthcheck runs the binary's healthcheck subcommand, as a container
// engine does, against an ops server and against a port nothing serves.
func TestHealthcheck(t *testing.T) {
	ops := opshttp.New("127.0.0.1:0", prometheus.NewRegistry(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ops.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	<-ops.Listening()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(ops.Addr())

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		ok   bool
	}{
		{"healthz", []string{"healthcheck", "--admin-addr", ops.Addr()}, nil, true},
		{"readyz", []string{"healthcheck", "--ready", "--admin-addr", ops.Addr()}, nil, true},
		{"address from HOOKLINE_ADMIN_ADDR", []string{"healthcheck"}, map[string]string{"HOOKLINE_ADMIN_ADDR": ":" + port}, true},
		{"nothing listening", []string{"healthcheck", "--admin-addr", closed}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := app.Run(t.Context(), tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok = %v (stdout %q, stderr %q)", err, tc.ok, stdout.String(), stderr.String())
			}
			if tc.ok && !strings.Contains(stdout.String(), "http://127.0.0.1:"+port) {
				t.Fatalf("stdout %q", stdout.String())
			}
		})
	}
	if app.DefaultAdminAddr == "" {
		t.Fatal("no default admin address")
	}
}

// TestVersion: "version" and "--version" print the binary's version and
// start nothing.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var out bytes.Buffer
		if err := app.Run(t.Context(), []string{arg}, func(string) string { return "" }, &out, &out); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(out.String(), "dispatcher ") || !strings.Contains(out.String(), "(go") {
			t.Errorf("%s printed %q", arg, out.String())
		}
	}
}
