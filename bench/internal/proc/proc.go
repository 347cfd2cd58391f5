// Package proc starts the processes a benchmark measures and reads what
// Linux accounts for them: CPU time (user+system, /proc/<pid>/stat) and
// peak resident memory (VmHWM, /proc/<pid>/status).
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const ClockTicks = 100

// CPU returns the user+system CPU time pid has used so far, all threads.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("proc: reading CPU of %d: %w", pid, err)
	}
	return parseStat(b)
}

// parseStat reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat
// line. The command name (field 2) may contain spaces and parentheses, so
// fields are counted from the last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("proc: stat line without a command name")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("proc: stat line has %d fields after the command name", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc: stat field %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / ClockTicks, nil
}

// PeakRSS returns pid's peak resident set size in bytes (VmHWM).
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("proc: reading status of %d: %w", pid, err)
	}
	return parseHWM(b)
}

func parseHWM(b []byte) (int64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("proc: VmHWM line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc: VmHWM line %q: %w", line, err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("proc: no VmHWM in status")
}

// Proc is a started process whose output goes to a log file.
type Proc struct {
	Name string
	Bin  string // the binary's path
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs bin with args and env (added to this process's environment)
// in the background, its stdout and stderr in logDir/<name>.log.
func Start(name, bin string, args []string, env map[string]string, logDir string) (*Proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("proc: %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = f, f
	// The process ends with the benchmark, even one that crashed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("proc: starting %s: %w", name, err)
	}
	p := &Proc{Name: name, Bin: bin, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// CPU is the process's user+system CPU time so far.
func (p *Proc) CPU() (time.Duration, error) { return CPU(p.PID()) }

// PeakRSS is the process's peak resident set size so far, in bytes.
func (p *Proc) PeakRSS() (int64, error) { return PeakRSS(p.PID()) }

// Stop sends SIGTERM and waits up to grace for the process to end, then
// kills it. It returns the process's own error, if it failed, with the
// tail of its log.
func (p *Proc) Stop(grace time.Duration) error {
	if p.Exited() {
		return p.exitErr()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("proc: %s did not stop within %s of SIGTERM; killed", p.Name, grace)
	}
}

func (p *Proc) exitErr() error {
	if p.err == nil {
		return nil
	}
	return fmt.Errorf("proc: %s: %w; log tail:\n%s", p.Name, p.err, p.Tail(2048))
}

// Tail returns the last n bytes of the process's log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// WaitReady polls url (an ops server's /readyz) until it answers 200, the
// process exits or ctx ends.
func (p *Proc) WaitReady(ctx context.Context, url string) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("proc: %s exited before it was ready: %w; log tail:\n%s", p.Name, p.err, p.Tail(2048))
		case <-ctx.Done():
			return fmt.Errorf("proc: %s not ready at %s: %w; log tail:\n%s", p.Name, url, context.Cause(ctx), p.Tail(2048))
		case <-t.C:
		}
	}
}
