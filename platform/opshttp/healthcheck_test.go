package opshttp_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookline/hookline/platform/opshttp"
	"github.com/prometheus/client_golang/prometheus"
)

// serve runs an ops server on a loopback port whose readiness is ready,
// until the test ends, and returns its address.
func serve(t *testing.T, ready *atomic.Bool) string {
	t.Helper()
	s := opshttp.New("127.0.0.1:0", prometheus.NewRegistry(), nil)
	s.AddCheck("table", func() error {
		if !ready.Load() {
			return errors.New("catching up")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	<-s.Listening()
	return s.Addr()
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestHealthcheck(t *testing.T) {
	var ready atomic.Bool
	addr := serve(t, &ready)
	_, port, _ := net.SplitHostPort(addr)
	noEnv := func(string) string { return "" }
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		ready   bool
		wantErr string // "" for success
		wantOut string
	}{
		{name: "healthz", args: []string{"--admin-addr", addr}, wantOut: "/healthz: ok"},
		{name: "healthz while not ready", args: []string{"--admin-addr", addr}, wantOut: "ok"},
		{name: "readyz not ready", args: []string{"--admin-addr", addr, "--ready"}, wantErr: "503 Service Unavailable: table: catching up"},
		{name: "readyz ready", args: []string{"--admin-addr", addr, "--ready"}, ready: true, wantOut: "/readyz: ready"},
		{name: "wildcard host dials loopback", args: []string{"--admin-addr", ":" + port}, wantOut: "http://127.0.0.1:" + port + "/healthz"},
		{name: "address from the environment", env: map[string]string{"HOOKLINE_ADMIN_ADDR": "0.0.0.0:" + port}, wantOut: "ok"},
		{name: "flag wins over the environment", args: []string{"--admin-addr", addr}, env: map[string]string{"HOOKLINE_ADMIN_ADDR": closedAddr(t)}, wantOut: "ok"},
		{name: "default address", wantErr: "connection refused"},
		{name: "nothing listening", args: []string{"--admin-addr", closedAddr(t)}, wantErr: "connection refused"},
		{name: "bad address", args: []string{"--admin-addr", "nonsense"}, wantErr: "missing port"},
		{name: "positional argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
		{name: "help", args: []string{"--help"}, wantOut: "Usage: test healthcheck"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ready.Store(tc.ready)
			getenv := noEnv
			if tc.env != nil {
				getenv = func(k string) string { return tc.env[k] }
			}
			var stdout, stderr bytes.Buffer
			err := opshttp.Healthcheck(t.Context(), "test", closedAddr(t), tc.args, getenv, &stdout, &stderr)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.Contains(stdout.String(), tc.wantOut) {
				t.Fatalf("stdout %q, want it to contain %q", stdout.String(), tc.wantOut)
			}
		})
	}
}
