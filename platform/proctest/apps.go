package proctest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/opshttp"
	"github.com/prometheus/client_golang/prometheus"
)

// AppRun is a binary's app.Run: the producer's, router's and
// dispatcher's have this signature.
type AppRun func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

func noEnv(string) string { return "" }

// CheckPprofFlag runs a binary in-process with args(brokers, ops) (the
// brokers address closed: its ops server answers all the same) and checks
// that /debug/pprof/ is served on the ops port with --pprof only. The
// producer, router and dispatcher tests share it.
func CheckPprofFlag(t *testing.T, run AppRun, args func(brokers, ops string) []string) {
	t.Helper()
	for _, tt := range []struct {
		name  string
		extra []string
		want  int
	}{
		{"default", nil, http.StatusNotFound},
		{"on", []string{"--pprof"}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ops := FreeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, append(args(FreeAddr(t), ops), tt.extra...), noEnv, io.Discard, io.Discard) }()
			t.Cleanup(func() {
				cancel()
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					t.Error("Run did not return within 30s of cancel")
				}
			})
			Eventually(t, 30*time.Second, "the ops server", func() bool {
				select {
				case err := <-done:
					t.Fatalf("Run ended before serving: %v", err)
				default:
				}
				resp, err := http.Get("http://" + ops + "/healthz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return true
			})
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1"} {
				resp, err := http.Get("http://" + ops + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, tt.want)
				}
			}
		})
	}
}

// CheckHealthcheck runs a binary's healthcheck subcommand, as a container
// engine does, against an ops server and against a port nothing serves.
func CheckHealthcheck(t *testing.T, run AppRun, defaultAdminAddr string) {
	t.Helper()
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
	closed := FreeAddr(t)
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
			err := run(t.Context(), tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok = %v (stdout %q, stderr %q)", err, tc.ok, stdout.String(), stderr.String())
			}
			if tc.ok && !strings.Contains(stdout.String(), "http://127.0.0.1:"+port) {
				t.Fatalf("stdout %q", stdout.String())
			}
		})
	}
	if defaultAdminAddr == "" {
		t.Fatal("no default admin address")
	}
}

// CheckVersion: "version" and "--version" print the binary's name and
// version and start nothing.
func CheckVersion(t *testing.T, run AppRun, name string) {
	t.Helper()
	for _, arg := range []string{"version", "--version"} {
		var out bytes.Buffer
		if err := run(t.Context(), []string{arg}, noEnv, &out, &out); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(out.String(), name+" ") || !strings.Contains(out.String(), "(go") {
			t.Errorf("%s printed %q", arg, out.String())
		}
	}
}
