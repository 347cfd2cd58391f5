// Package proctest runs the project's binaries as processes in tests: it
// builds a main package once per test binary, starts a process with its
// output in a log file, hands out free loopback ports and waits until a
// process is ready. The tests of producer, router, dispatcher, hookctl and
// e2e share it instead of each writing their own.
//
// A test binary that builds with Build calls Main from its TestMain, so
// the built binaries are removed when it ends:
//
//	func TestMain(m *testing.M) { proctest.Main(m) }
package proctest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// builds holds the binaries built by this test binary, one per package.
var builds = struct {
	sync.Mutex
	dir  string
	done map[string]buildResult
}{done: map[string]buildResult{}}

type buildResult struct {
	path string
	err  error
}

// Main runs the tests of m, removes what Build built, and exits with the
// tests' code.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests of m, removes what Build built, and returns the
// tests' code, for a TestMain with more to clean up.
func Run(m *testing.M) int {
	code := m.Run()
	builds.Lock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
		builds.dir = ""
	}
	builds.Unlock()
	return code
}

// Build builds the main package pkg (such as "./cmd/router") of the module
// in dir (relative to the test's working directory, or absolute) the first
// time it is asked for, and returns the binary's path. Later calls, from
// any test of the same test binary, return the same binary. A build that
// failed fails every test that asks for it.
func Build(t testing.TB, dir, pkg string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(abs, pkg)
	builds.Lock()
	defer builds.Unlock()
	r, ok := builds.done[key]
	if !ok {
		r = build(abs, pkg)
		builds.done[key] = r
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.path
}

// build runs go build; builds is locked.
func build(dir, pkg string) buildResult {
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "hookline-proctest-bin")
		if err != nil {
			return buildResult{err: err}
		}
		builds.dir = d
	}
	out := filepath.Join(builds.dir, strconv.Itoa(len(builds.done))+"-"+filepath.Base(filepath.Join(dir, pkg)))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return buildResult{err: fmt.Errorf("building %s in %s: %v\n%s", pkg, dir, err, b)}
	}
	return buildResult{path: out}
}

// ports are the addresses FreeAddr handed out in this test binary.
var ports = struct {
	sync.Mutex
	handed map[string]bool
}{handed: map[string]bool{}}

// FreeAddr returns "127.0.0.1:port" with a port free right now and never
// handed out before in this test binary. The kernel picks it from its
// ephemeral range (32768–60999 on Linux by default), so it never meets a
// fixed port below that range, such as a shared broker's.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !ports.handed[addr] {
			ports.handed[addr] = true
			return addr
		}
	}
}

// FreePort is FreeAddr's port alone.
func FreePort(t testing.TB) string {
	t.Helper()
	_, p, _ := net.SplitHostPort(FreeAddr(t))
	return p
}

// Options say how Start runs a process.
type Options struct {
	// Env is the process's environment beyond PATH and HOME, which it
	// always gets; nothing else of the test's environment is passed.
	Env map[string]string
	// Args are the command-line arguments.
	Args []string
	// LogDir is where the log file goes; default a t.TempDir(). A folder
	// that outlives the test lets a suite read every log at its end.
	LogDir string
	// StopTimeout is how long cleanup waits after SIGTERM before it
	// kills the process and fails the test; default 40 s.
	StopTimeout time.Duration
}

// Proc is a running process whose output (stdout and stderr) goes to Log.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
}

// logSeq numbers log files, so processes of one name never share one.
var logSeq struct {
	sync.Mutex
	n int
}

// Start runs bin as a process named name. At cleanup it is stopped with
// SIGTERM, so tests also exercise graceful shutdown; a process that does
// not exit within the stop timeout is killed and fails the test. When the
// test failed, the last 4 KiB of the log are logged.
func Start(t testing.TB, name, bin string, o Options) *Proc {
	t.Helper()
	dir := o.LogDir
	if dir == "" {
		dir = t.TempDir()
	}
	logSeq.Lock()
	logSeq.n++
	logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, logSeq.n))
	logSeq.Unlock()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, o.Args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range o.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	stop := o.StopTimeout
	if stop == 0 {
		stop = 40 * time.Second
	}
	t.Cleanup(func() {
		if err := p.Stop(stop); err != nil && !errors.Is(err, errExitCode) {
			t.Errorf("%s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("---- %s log (last 4 KiB) ----\n%s", name, Tail(p.Output(), 4096))
		}
	})
	return p
}

var errExitCode = errors.New("exited with an error")

// Stop sends SIGTERM and waits up to d for the process to exit; past d it
// kills it and says so. It returns an error wrapping the exit status when
// the process exited non-zero. Stopping an exited process is a no-op.
func (p *Proc) Stop(d time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("did not stop within %v of SIGTERM; killed", d)
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("%w: exit code %d after SIGTERM", errExitCode, code)
	}
	return nil
}

// Kill SIGKILLs the process and waits until it is gone.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit code of an exited process, -1 while it runs or when
// a signal ended it.
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Output returns the log as written so far.
func (p *Proc) Output() []byte {
	b, _ := os.ReadFile(p.Log)
	return b
}

// Tail returns the last n bytes of b.
func Tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// WaitReady polls http://addr/readyz every 50 ms until it answers 200,
// for up to d. It fails the test at once when p exits meanwhile, with the
// end of its log, and when d passes.
func WaitReady(t testing.TB, p *Proc, addr string, d time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	Eventually(t, d, p.Name+" ready on "+addr, func() bool {
		if p.Exited() {
			t.Fatalf("%s exited before it was ready:\n%s", p.Name, Tail(p.Output(), 4096))
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// Eventually polls cond every 50 ms until it holds, failing the test when
// d passes first.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}
