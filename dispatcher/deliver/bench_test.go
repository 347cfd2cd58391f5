package deliver_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookline/hookline/dispatcher/deliver"
	"github.com/hookline/hookline/schemas/record"
)

// latencies is a deliver.Recorder keeping every attempt's latency.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) Attempt(_ string, _ int, d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}
func (*latencies) Delivered(time.Duration) {}
func (*latencies) DeadLettered(string)     {}
func (*latencies) Committed(error)         {}
func (*latencies) Scheduled(int)           {}
func (*latencies) Parked()                 {}
func (*latencies) ProduceFailed(string)    {}
func (*latencies) BreakerDeferred()        {}

func (l *latencies) percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// counter is a receiver that reads each body and counts requests.
type counter struct {
	n           atomic.Int64
	mu          sync.Mutex
	first, last time.Time
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	now := time.Now()
	c.mu.Lock()
	if c.first.IsZero() {
		c.first = now
	}
	c.last = now
	c.mu.Unlock()
	c.n.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n.Store(0)
	c.first, c.last = time.Time{}, time.Time{}
}

func (c *counter) rate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	span := c.last.Sub(c.first)
	if span <= 0 {
		return 0
	}
	return float64(c.n.Load()-1) / span.Seconds()
}

// BenchmarkDispatch measures the dispatcher draining a backlog of b.N
// deliveries (20 subscriptions, 6 partitions) into one local httptest
// receiver: deliveries/s from the first arrival to the last, p50/p99 of
// the HTTP attempt latency, and the CPU time of this process per delivery
// while it drains (user and system; the receiver's share included, and
// the broker's on kfake: run it with KAFKA_BROKERS for the dispatcher's). In the same run it measures that receiver
// under a plain Go POST loop with as many concurrent requests as the
// dispatcher may make (this machine's HTTP limit), and reports the ratio.
//
//	go test -run '^$' -bench BenchmarkDispatch -benchtime 5000x ./deliver/
func BenchmarkDispatch(b *testing.B) {
	const subs, concurrency = 20, 64
	e := newEnv(b, 6)
	recv := &counter{}
	srv := httptest.NewServer(recv)
	b.Cleanup(srv.Close)
	var ss []record.Subscription
	for i := range subs {
		s := newSub(b, fmt.Sprintf("bench-%02d", i), srv.URL+"/webhook")
		s.MaxInFlight = concurrency
		ss = append(ss, s)
	}
	e.putSubs(b, ss...)
	dels := make([]record.Delivery, b.N)
	for i := range dels {
		dels[i] = newDelivery(ss[i%subs].ID, i)
	}
	e.produce(b, dels...)
	var body []byte
	if len(dels) > 0 {
		body = dels[0].Event.Data
	}

	lat := &latencies{}
	cfg := e.config(b)
	cfg.MaxConcurrency = concurrency
	b.ResetTimer()
	cpu0 := processCPU(b)
	e.start(b, cfg, deliver.WithRecorder(lat))
	deadline := time.Now().Add(10 * time.Minute)
	for recv.n.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", recv.n.Load(), b.N)
		}
		time.Sleep(time.Millisecond) // polling the receiver
	}
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	rate := recv.rate()

	// The same receiver under a plain POST loop.
	recv.reset()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				resp, err := client.Post(srv.URL+"/webhook", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	plain := recv.rate()

	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/delivery")
	b.ReportMetric(float64(lat.percentile(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat.percentile(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(plain, "plain-posts/s")
	if plain > 0 {
		b.ReportMetric(rate/plain, "ratio")
	}
}

// processCPU returns the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
