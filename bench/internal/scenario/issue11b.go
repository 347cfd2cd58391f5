package scenario

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/bench/internal/receiver"
	"github.com/hookline/hookline/bench/internal/results"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
)

const benchKey = "bench-ingest-key-0123456789abcdef"

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}

// postAccepted sends body to the ingest API, which must accept it: any
// answer but 202 is an error. It returns the answer.
func postAccepted(ctx context.Context, api string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+benchKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusAccepted {
		err = fmt.Errorf("ingest answered %d: %s", resp.StatusCode, ans)
	}
	return ans, err
}

// plainEvent is a plain JSON event of type typ of about size bytes.
func plainEvent(typ string, seq, size int) []byte {
	head := `{"type":"` + typ + `","seq":` + strconv.Itoa(seq) + `,"customer":"alice@example.com","amount":49.99,"pad":"`
	return []byte(head + strings.Repeat("x", max(0, size-len(head)-2)) + `"}`)
}

// stack is producer API, router and dispatcher on one prefix.
type stack struct {
	api                  string
	prod, rout, dispatch *service
}

func (s *stack) all() []*service { return []*service{s.prod, s.rout, s.dispatch} }

func (e *Env) startStack(ctx context.Context, prefix string, dispatcherArgs ...string) (*stack, error) {
	st := &stack{}
	var err error
	if st.rout, err = e.router(ctx, prefix+"router", prefix, true); err != nil {
		return nil, err
	}
	if st.dispatch, err = e.dispatcher(ctx, prefix+"dispatcher", prefix, prefix+"dispatcher", true, dispatcherArgs...); err != nil {
		_ = stopAll(st.rout)
		return nil, err
	}
	if st.prod, st.api, err = e.producerAPI(ctx, prefix, benchKey); err != nil {
		_ = stopAll(st.rout, st.dispatch)
		return nil, err
	}
	if err := e.waitGroupStable(ctx, prefix+"dispatcher", 1); err != nil {
		_ = stopAll(st.all()...)
		return nil, err
	}
	return st, nil
}

// EndToEnd is issue 11's fourth scenario: producer API to router to
// dispatcher to receiver at 1, 10 and 100 matching subscriptions.
func (e *Env) EndToEnd(ctx context.Context) results.Scenario {
	fan := []struct{ subs, events int }{{1, e.scaled(10000, 500)}, {10, e.scaled(2000, 100)}, {100, e.scaled(300, 20)}}
	sc := results.Scenario{ID: "issue11-4-end-to-end", Issue: 11, Title: "End to end at 1, 10 and 100 matching subscriptions",
		Workload: fmt.Sprintf("Events of 1 KiB (plain JSON) POSTed to the producer API in batches of 100 by 4 clients; one router, one dispatcher, %d partitions, instant receiver. "+
			"Each run's event type is matched by 1, 10 or 100 subscriptions (%s, %s and %s events). Deliveries/s from the first arrival to the last; "+
			"CPU is producer + router + dispatcher + broker over the run, per delivery.",
			partitions, results.Itoa(fan[0].events), results.Itoa(fan[1].events), results.Itoa(fan[2].events)),
		Columns: []results.Column{{Key: "events", Label: "events"}, {Key: "deliveries", Label: "deliveries"}, {Key: "rate", Label: "deliveries/s"},
			{Key: "cpu_us", Label: "CPU µs/delivery (all, broker incl.)", Digits: 1}, {Key: "cpu_hookline_us", Label: "of it Hookline µs", Digits: 1}},
		Chart: results.Chart{Title: "End to end: deliveries/s by matching subscriptions", YLabel: "deliveries/s", Metrics: []string{"rate"}},
	}
	prefix := e.prefix("i11-e2e")
	if err := e.initTopics(ctx, prefix); err != nil {
		sc.Error = err.Error()
		return sc
	}
	var specs []subSpec
	base := endpointBase(prefix)
	for _, f := range fan {
		for range f.subs {
			specs = append(specs, subSpec{types: []string{"e2e.m" + strconv.Itoa(f.subs)}, endpoint: base + len(specs)})
		}
	}
	if _, err := e.putSubs(ctx, prefix, partitions, specs); err != nil {
		sc.Error = err.Error()
		return sc
	}
	st, err := e.startStack(ctx, prefix)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	defer func() {
		if err := stopAll(st.all()...); err != nil && sc.Error == "" {
			sc.Error = err.Error()
		}
	}()
	seq := 0
	for _, f := range fan {
		e.Recv.Reset()
		c0, err := e.cpu(e.BrokerPID != 0, st.all()...)
		if err != nil {
			sc.Error = err.Error()
			return sc
		}
		typ := "e2e.m" + strconv.Itoa(f.subs)
		if err := e.postBatches(ctx, st.api, typ, seq, f.events, 100, 4, eventBytes11); err != nil {
			sc.Error = err.Error()
			return sc
		}
		seq += f.events
		want := f.events * f.subs
		if _, err := e.Recv.WaitOK(ctx, int64(want), 60*time.Second); err != nil {
			sc.Error = err.Error()
			return sc
		}
		c1, err := e.cpu(e.BrokerPID != 0, st.all()...)
		if err != nil {
			sc.Error = err.Error()
			return sc
		}
		d := sub(c1, c0)
		m := map[string]float64{"events": float64(f.events), "deliveries": float64(want), "rate": rate(e.Recv.Arrivals(), nil),
			"cpu_us": us(sum(d)) / float64(want), "cpu_hookline_us": us(sum(d[:3])) / float64(want)}
		e.logf("  %d subscriptions: %.0f deliveries/s", f.subs, m["rate"])
		sc.Runs = append(sc.Runs, results.Case{Name: fmt.Sprintf("%d subscription(s)", f.subs), Metrics: m})
	}
	return sc
}

// postBatches POSTs n plain events of typ, seq from first, in batches of
// batch from clients concurrent clients.
func (e *Env) postBatches(ctx context.Context, api, typ string, first, n, batch, clients, size int) error {
	work := make(chan []byte, n/batch+1)
	for i := 0; i < n; i += batch {
		var b bytes.Buffer
		b.WriteString(`{"events":[`)
		for j := i; j < min(n, i+batch); j++ {
			if j > i {
				b.WriteByte(',')
			}
			b.Write(plainEvent(typ, first+j, size))
		}
		b.WriteString(`]}`)
		work <- b.Bytes()
	}
	close(work)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	for range clients {
		wg.Go(func() {
			for body := range work {
				if _, err := postAccepted(ctx, api, body); err != nil {
					mu.Lock()
					ferr = firstErr(ferr, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return ferr
}

// Isolation is issue 11's fifth scenario: 20% of subscriptions hanging or
// failing, and what the healthy ones keep of their throughput and p99.
func (e *Env) Isolation(ctx context.Context) results.Scenario {
	const nsubs = 50
	// The load must be one the dispatcher keeps up with when every
	// endpoint is healthy, or both phases measure a backlog: 1,000/s, or
	// half of what the dispatcher drained in scenario 1 if that is less
	// (a busy machine).
	perSec := 1000
	if e.drainRate > 0 {
		perSec = min(perSec, max(100, int(e.drainRate/2)/50*50))
	}
	dur := time.Duration(float64(15*time.Second) * max(e.Scale, 0.2))
	sc := results.Scenario{ID: "issue11-5-isolation", Issue: 11, Title: "Isolation: 20% of subscriptions hanging or failing",
		Workload: fmt.Sprintf("%d subscriptions over %d partitions, deliveries of 1 KiB events written to the deliveries topic at a steady %d/s for %s, round-robin over the subscriptions, one dispatcher with its defaults. "+
			"The rate is 1,000/s, or half the dispatcher's drain rate of scenario 1 when that is less. First every endpoint answers at once; then 5 endpoints hang (never answer: each request ends at the subscription's 10 s timeout) and 5 answer 500, with the same load. "+
			"For the 40 healthy subscriptions: deliveries/s (healthy deliveries / time from the first write to the last healthy arrival) and write-to-receive latency.",
			nsubs, partitions, perSec, dur),
		Columns: []results.Column{{Key: "offered", Label: "written/s"}, {Key: "healthy", Label: "healthy deliveries"}, {Key: "rate", Label: "healthy deliveries/s"},
			{Key: "p50_ms", Label: "p50 ms", Digits: 1}, {Key: "p99_ms", Label: "p99 ms", Digits: 1}, {Key: "max_ms", Label: "max ms", Digits: 1}, {Key: "bad_requests", Label: "requests to bad endpoints"}},
		Chart: results.Chart{Title: "Healthy subscriptions: latency without and with bad ones", YLabel: "ms", Metrics: []string{"p50_ms", "p99_ms"}, Labels: []string{"p50", "p99"}},
	}
	prefix := e.prefix("i11-isolation")
	subs, err := e.setupQueued(ctx, prefix, nsubs, 0, 0, receiver.Instant)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	base := endpointBase(prefix)
	bad := map[int]receiver.Behaviour{}
	for i := range nsubs {
		if i%5 == 0 {
			if (i/5)%2 == 0 {
				bad[base+i] = receiver.Behaviour{Hang: true}
			} else {
				bad[base+i] = receiver.Behaviour{Fail: true}
			}
		}
	}
	d, err := e.dispatcher(ctx, "i11-isolation-dispatcher", prefix, prefix+"dispatcher", true)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	defer func() {
		if err := stopAll(d); err != nil && sc.Error == "" {
			sc.Error = err.Error()
		}
	}()
	if err := e.waitGroupStable(ctx, prefix+"dispatcher", 1); err != nil {
		sc.Error = err.Error()
		return sc
	}
	healthy := func(a receiver.Arrival) bool { _, isBad := bad[a.Endpoint]; return !isBad }
	for phase, name := range []string{"all endpoints healthy", "20% hanging or failing"} {
		if phase == 1 {
			for ep, b := range bad {
				e.Recv.Set(ep, b)
			}
		}
		e.Recv.Reset()
		n := int(dur.Seconds() * float64(perSec))
		first := phase * n
		sent, start, err := e.steadyDeliveries(ctx, prefix, subs, first, n, perSec)
		if err != nil {
			sc.Error = err.Error()
			return sc
		}
		wantHealthy := 0
		for i := range n {
			if _, isBad := bad[base+(first+i)%nsubs]; !isBad {
				wantHealthy++
			}
		}
		want := n
		if phase == 1 {
			want = wantHealthy
		}
		if _, err := e.Recv.WaitOK(ctx, int64(want), 60*time.Second); err != nil {
			sc.Error = err.Error()
			return sc
		}
		arr := e.Recv.Arrivals()
		var lat []time.Duration
		badReq := 0
		var last time.Time
		for _, a := range arr {
			if !healthy(a) {
				badReq++
				continue
			}
			if a.OK && a.Seq >= int64(first) && a.Seq < int64(first+n) {
				lat = append(lat, a.At.Sub(sent[a.Seq-int64(first)]))
				if a.At.After(last) {
					last = a.At
				}
			}
		}
		m := map[string]float64{"offered": float64(perSec), "healthy": float64(len(lat)), "rate": float64(len(lat)) / last.Sub(start).Seconds(),
			"p50_ms": ms(percentile(lat, 0.5)), "p99_ms": ms(percentile(lat, 0.99)), "max_ms": ms(percentile(lat, 1)), "bad_requests": float64(badReq)}
		e.logf("  %s: %.0f healthy/s, p99 %.1f ms", name, m["rate"], m["p99_ms"])
		sc.Runs = append(sc.Runs, results.Case{Name: name, Metrics: m})
	}
	// Hanging requests end with the dispatcher's drain; the endpoints
	// answer again for the scenarios after this one.
	for ep := range bad {
		e.Recv.Set(ep, receiver.Instant)
	}
	a, b := sc.Runs[0].Metrics, sc.Runs[1].Metrics
	sc.Targets = []results.Target{
		results.NewTarget("healthy deliveries/s kept", b["rate"]/a["rate"], 0.9, false, ""),
		results.NewTarget("healthy p99, with / without bad ones", b["p99_ms"]/a["p99_ms"], 2, true, "x"),
	}
	return sc
}

// steadyDeliveries writes n deliveries (seq first..first+n-1) round-robin
// over subs at perSec, returning when each was written and when the
// first was.
func (e *Env) steadyDeliveries(ctx context.Context, prefix string, subs []record.Subscription, first, n, perSec int) ([]time.Time, time.Time, error) {
	t := topic.New(prefix).Deliveries()
	sent := make([]time.Time, n)
	var (
		failed atomic.Pointer[error]
		wg     sync.WaitGroup
	)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	i := 0
	for i < n {
		due := min(n, int(time.Since(start).Seconds()*float64(perSec))+1)
		for ; i < due; i++ {
			seq := first + i
			now := time.Now()
			ev := event.Event{ID: "ev-" + strconv.Itoa(seq), Source: "bench", Type: "bench.queued", SpecVersion: event.SpecVersion,
				DataContentType: event.ContentTypeJSON, Time: now, Data: data(seq, eventBytes11)}
			d := record.NewDelivery(ev, subs[seq%len(subs)].ID, now)
			r, err := d.Record(t)
			if err != nil {
				return nil, start, err
			}
			sent[i] = now
			wg.Add(1)
			e.kc.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.CompareAndSwap(nil, &err)
				}
				wg.Done()
			})
		}
		select {
		case <-ctx.Done():
			return nil, start, context.Cause(ctx)
		case <-tick.C:
		}
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return nil, start, *p
	}
	return sent, start, nil
}

// Scaling is issue 11's sixth scenario: two dispatchers against one with
// 50 ms receivers.
func (e *Env) Scaling(ctx context.Context) results.Scenario {
	const maxConc = 64
	n := e.scaled(8000, 800)
	bound := float64(maxConc) / bigLatency.Seconds()
	sc := results.Scenario{ID: "issue11-6-scaling", Issue: 11, Title: "Scaling: two dispatchers against one",
		Workload: fmt.Sprintf("%s deliveries of 1 KiB events, %d subscriptions spread evenly over %d partitions, endpoints answering after 50 ms. "+
			"Each dispatcher runs with `--max-concurrency %d` (bound %s/s each) so that the bound, not this 2-core machine's CPU, limits one dispatcher. "+
			"The dispatchers join their group first (stable, every partition assigned), then the deliveries are written; deliveries/s from the first arrival to the last.",
			results.Itoa(n), subsIssue11, partitions, maxConc, results.Itoa(int(bound))),
		Columns: []results.Column{{Key: "deliveries", Label: "deliveries"}, {Key: "rate", Label: "deliveries/s"}, {Key: "bound", Label: "concurrency bound"},
			{Key: "cpu_us", Label: "CPU µs/delivery (dispatchers)", Digits: 1}},
		Chart: results.Chart{Title: "Scaling with 50 ms receivers", YLabel: "deliveries/s", Metrics: []string{"rate", "bound"}, Labels: []string{"measured", "concurrency bound"}},
	}
	for k := 1; k <= 2; k++ {
		prefix := e.prefix("i11-scale" + strconv.Itoa(k))
		subs, err := e.setupQueued(ctx, prefix, subsIssue11, 0, 0, receiver.Behaviour{Delay: bigLatency})
		if err != nil {
			sc.Error = err.Error()
			return sc
		}
		var ds []*service
		for j := range k {
			d, err := e.dispatcher(ctx, fmt.Sprintf("i11-scale%d-dispatcher%d", k, j+1), prefix, prefix+"dispatcher", true, "--max-concurrency", strconv.Itoa(maxConc))
			if err != nil {
				_ = stopAll(ds...)
				sc.Error = err.Error()
				return sc
			}
			ds = append(ds, d)
		}
		m, err := func() (map[string]float64, error) {
			defer func() { _ = stopAll(ds...) }()
			if err := e.waitGroupStable(ctx, prefix+"dispatcher", k); err != nil {
				return nil, err
			}
			e.Recv.Reset()
			c0, err := e.cpu(false, ds...)
			if err != nil {
				return nil, err
			}
			if err := e.queued(ctx, prefix, subs, n, eventBytes11); err != nil {
				return nil, err
			}
			if _, err := e.Recv.WaitOK(ctx, int64(n), 60*time.Second); err != nil {
				return nil, err
			}
			c1, err := e.cpu(false, ds...)
			if err != nil {
				return nil, err
			}
			return map[string]float64{"deliveries": float64(n), "rate": rate(e.Recv.Arrivals(), nil), "bound": bound * float64(k),
				"cpu_us": us(sum(sub(c1, c0))) / float64(n)}, nil
		}()
		if err != nil {
			sc.Error = err.Error()
			return sc
		}
		e.logf("  %d dispatcher(s): %.0f deliveries/s", k, m["rate"])
		sc.Runs = append(sc.Runs, results.Case{Name: fmt.Sprintf("%d dispatcher(s)", k), Metrics: m})
	}
	sc.Targets = []results.Target{results.NewTarget("deliveries/s, two / one", sc.Runs[1].Metrics["rate"]/sc.Runs[0].Metrics["rate"], 1.8, false, "x")}
	return sc
}
