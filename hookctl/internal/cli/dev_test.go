package cli_test

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/hookline/hookline/hookctl/internal/cli"
	"github.com/hookline/hookline/platform/proctest"
)

// TestDevFailsFastOnTakenPort takes one port hookctl dev needs at a time
// and checks dev fails at once, naming the port and its flag, before it
// prints any key.
func TestDevFailsFastOnTakenPort(t *testing.T) {
	listen := func(t *testing.T) (net.Listener, string) {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		return ln, port
	}
	for _, tt := range []struct {
		name string
		flag string
		args func(taken string) []string
	}{
		{"api", "--api-addr", func(taken string) []string {
			return []string{"--api-addr", "127.0.0.1:" + taken, "--kafka-addr", proctest.FreeAddr(t), "--ops-port", "0"}
		}},
		{"kafka", "--kafka-addr", func(taken string) []string {
			return []string{"--api-addr", proctest.FreeAddr(t), "--kafka-addr", "127.0.0.1:" + taken, "--ops-port", "0"}
		}},
		{"ops", "--ops-port", func(taken string) []string {
			return []string{"--api-addr", proctest.FreeAddr(t), "--kafka-addr", proctest.FreeAddr(t), "--ops-port", taken}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, taken := listen(t)
			var out, errOut bytes.Buffer
			args := append([]string{"dev", "--ephemeral"}, tt.args(taken)...)
			err := cli.RunWithStdin(t.Context(), args, func(string) string { return "" }, nil, &out, &errOut)
			if err == nil {
				t.Fatalf("dev started with port %s taken", taken)
			}
			if msg := err.Error(); !strings.Contains(msg, "port "+taken) || !strings.Contains(msg, tt.flag) {
				t.Errorf("error %q does not name port %s and %s", msg, taken, tt.flag)
			}
			if s := out.String() + errOut.String(); strings.Contains(s, "dev_") || strings.Contains(s, "key") {
				t.Errorf("dev printed before failing:\n%s", s)
			}
		})
	}
}
