package e2e_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/proctest"
)

// pid is the broker's process id, from kafka-up.sh's pid file.
func (b *ownBroker) pid(t *testing.T) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(b.runDir, "kafka.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// restart stops the broker with SIGTERM (a controlled shutdown that keeps
// its data), waits until it is gone and starts it again on the same data.
func (b *ownBroker) restart(t *testing.T) {
	t.Helper()
	pid := b.pid(t)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	deadline := began.Add(120 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("broker pid %d still running 120 s after SIGTERM", pid)
		}
		time.Sleep(50 * time.Millisecond) // test code: waiting for the JVM to be gone
	}
	stopped := time.Now()
	b.up(t)
	t.Logf("broker: controlled shutdown took %v, start on the same data %v",
		stopped.Sub(began).Round(100*time.Millisecond), time.Since(stopped).Round(100*time.Millisecond))
}

// freeze stops the broker's process (SIGSTOP) for d and lets it go on
// (SIGCONT): for d it is unreachable while its port still accepts
// connections, so clients see timeouts rather than refusals.
func (b *ownBroker) freeze(t *testing.T, d time.Duration) {
	t.Helper()
	pid := b.pid(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(d) // test code: the outage itself
}

// brokerScenario runs fault against the broker under load, with one router
// and one dispatcher, then waits for the load to be accepted again and
// checks the invariant.
func brokerScenario(t *testing.T, b *ownBroker, rng *rand.Rand, name string, fault func()) tally {
	began := time.Now()
	f, l, dlq, subs, none := loadedFleet(t, b, rng, fleetOpts{partitions: 6, routers: 1, dispatchers: 1})
	pause(rng)
	before := l.acceptedCount()
	at := time.Now()
	fault()
	over := time.Now()
	f.kills++ // the broker
	t.Logf("%s: fault over after %v, %d events accepted before it", name, over.Sub(at).Round(time.Millisecond), before)
	back := l.acceptedCount()
	proctest.Eventually(t, 120*time.Second, "100 more events accepted after the broker's return", func() bool { return l.acceptedCount() >= back+100 })
	t.Logf("%s: 100 more events accepted %v after the fault ended", name, time.Since(over).Round(time.Millisecond))
	l.stop()
	return f.settle(name, l, dlq, subs, none, began, 180*time.Second)
}
