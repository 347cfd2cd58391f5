package proctest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m) }

func TestFreeAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		a := proctest.FreeAddr(t)
		if seen[a] || !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("FreeAddr = %s (seen before: %v)", a, seen[a])
		}
		seen[a] = true
	}
}

// TestBuildStartReadyStop builds a server once, runs it twice, waits until
// each is ready, and stops them with SIGTERM: each exits 0 and its log
// holds what it printed.
func TestBuildStartReadyStop(t *testing.T) {
	bin := proctest.Build(t, ".", "./testdata/readyserver")
	if again := proctest.Build(t, ".", "./testdata/readyserver"); again != bin {
		t.Fatalf("second Build = %s, want the first binary %s", again, bin)
	}
	for range 2 {
		addr := proctest.FreeAddr(t)
		p := proctest.Start(t, "readyserver", bin, proctest.Options{Env: map[string]string{"ADDR": addr, "DELAY": "200ms"}})
		proctest.WaitReady(t, p, addr, 30*time.Second)
		if err := p.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if p.ExitCode() != 0 || !strings.Contains(string(p.Output()), "stopped") {
			t.Fatalf("exit %d, log %q", p.ExitCode(), p.Output())
		}
	}
}

func TestKill(t *testing.T) {
	bin := proctest.Build(t, ".", "./testdata/readyserver")
	addr := proctest.FreeAddr(t)
	p := proctest.Start(t, "readyserver", bin, proctest.Options{Env: map[string]string{"ADDR": addr}})
	proctest.WaitReady(t, p, addr, 30*time.Second)
	p.Kill()
	if !p.Exited() || p.ExitCode() != -1 || strings.Contains(string(p.Output()), "stopped") {
		t.Fatalf("after SIGKILL: exited %v, code %d, log %q", p.Exited(), p.ExitCode(), p.Output())
	}
}
