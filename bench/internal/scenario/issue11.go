package scenario

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/bench/internal/proc"
	"github.com/hookline/hookline/bench/internal/receiver"
	"github.com/hookline/hookline/bench/internal/results"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	partitions   = 8
	subsIssue11  = 100
	eventBytes11 = 1024
	bigLatency   = 50 * time.Millisecond
)

// queued writes n deliveries of size-byte events round-robin over subs to
// the deliveries topic of prefix, as the router would have.
func (e *Env) queued(ctx context.Context, prefix string, subs []record.Subscription, n, size int) error {
	t := topic.New(prefix).Deliveries()
	now := time.Now().UTC()
	return e.produce(ctx, n, func(i int) *kgo.Record {
		ev := event.Event{ID: "ev-" + strconv.Itoa(i), Source: "bench", Type: "bench.queued", SpecVersion: event.SpecVersion,
			DataContentType: event.ContentTypeJSON, Time: now, Data: data(i, size)}
		d := record.NewDelivery(ev, subs[i%len(subs)].ID, now)
		r, err := d.Record(t)
		if err != nil {
			panic(err) // a Delivery of these fields always encodes
		}
		return r
	})
}

// setupQueued creates a scenario's topics and subscriptions, one endpoint
// each with behaviour b, and a backlog of n deliveries.
func (e *Env) setupQueued(ctx context.Context, prefix string, nsubs, n, size int, b receiver.Behaviour) ([]record.Subscription, error) {
	if err := e.initTopics(ctx, prefix); err != nil {
		return nil, err
	}
	specs := make([]subSpec, nsubs)
	for i := range specs {
		specs[i] = subSpec{types: []string{"bench.queued"}, endpoint: endpointBase(prefix) + i}
		e.Recv.Set(specs[i].endpoint, b)
	}
	subs, err := e.putSubs(ctx, prefix, partitions, specs)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		start := time.Now()
		if err := e.queued(ctx, prefix, subs, n, size); err != nil {
			return nil, err
		}
		e.logf("  %d deliveries of %d B queued in %s", n, size, time.Since(start).Round(time.Millisecond))
	}
	return subs, nil
}

// endpointBase gives each scenario its own range of receiver endpoints.
var endpointBases = map[string]int{}

func endpointBase(prefix string) int {
	if b, ok := endpointBases[prefix]; ok {
		return b
	}
	b := (len(endpointBases) + 1) * 1000
	endpointBases[prefix] = b
	return b
}

// drain waits for n deliveries at the receiver, or until limit has
// passed, then measures s: its CPU since it started, per delivery, its
// peak RSS, and the rate. A drain cut short by limit reports what was
// delivered, with "complete" 0.
func (e *Env) drain(ctx context.Context, s *service, n int, limit time.Duration) (map[string]float64, error) {
	start := time.Now()
	broker0, brokerErr := e.brokerCPU()
	// HOOKLINE_BENCH_PROFILES: a Hookline service is profiled for two
	// seconds once it has had one to start. The drain is measured
	// without waiting for the profile; drain returns once it is written.
	if os.Getenv("HOOKLINE_BENCH_PROFILES") != "" && s.ops != "" {
		profiled := make(chan struct{})
		go func() {
			defer close(profiled)
			select {
			case <-time.After(time.Second - time.Since(start)):
				e.profileDuring(2*time.Second, s)()
			case <-ctx.Done():
			}
		}()
		defer func() { <-profiled }()
	}
	wctx, cancel := context.WithTimeout(ctx, limit)
	got, err := e.Recv.WaitOK(wctx, int64(n), 90*time.Second)
	cancel()
	complete := 1.0
	if err != nil {
		if ctx.Err() != nil || wctx.Err() == nil || got < 2 {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		complete = 0
		e.logf("  %s: cut short after %s with %d of %d delivered", s.Name, limit, got, n)
	}
	cpu, err := s.CPU()
	if err != nil {
		return nil, err
	}
	rss, err := s.PeakRSS()
	if err != nil {
		return nil, err
	}
	broker1, err := e.brokerCPU()
	if brokerErr == nil {
		brokerErr = err
	}
	arr := e.Recv.Arrivals()
	first, last, ok := span(arr, nil)
	e.logf("  %s: %d delivered in %s", s.Name, ok, time.Since(start).Round(time.Millisecond))
	// HOOKLINE_BENCH_ARRIVALS=<path> writes each arrival of a drain, as
	// microseconds since the first and the endpoint, to <path>-<name>:
	// how a drain's rate moved, and when each endpoint was done.
	if f := os.Getenv("HOOKLINE_BENCH_ARRIVALS"); f != "" {
		var b strings.Builder
		for _, a := range arr {
			fmt.Fprintf(&b, "%d %d\n", a.At.Sub(first).Microseconds(), a.Endpoint)
		}
		_ = os.WriteFile(f+"-"+s.Name, []byte(b.String()), 0o644)
	}
	m := map[string]float64{
		"deliveries":     float64(ok),
		"queued":         float64(n),
		"complete":       complete,
		"seconds":        last.Sub(first).Seconds(),
		"rate":           rate(arr, nil),
		"cpu_us":         us(cpu) / float64(ok),
		"cpu_s":          cpu.Seconds(),
		"rss_mib":        mib(rss),
		"requests":       float64(len(arr)),
		"duplicate_rate": float64(len(arr)-ok) / float64(ok),
	}
	if brokerErr != nil {
		e.logf("  %s: the broker's CPU: %v", s.Name, brokerErr)
	} else if e.BrokerPID != 0 {
		// The broker's CPU over the drain, whatever the consumer made it
		// do (fetches, commits, attempt records): on 2 cores it is CPU
		// the consumer's rate competes with.
		m["cpu_broker_s"] = (broker1 - broker0).Seconds()
		m["cpu_broker_us"] = us(broker1-broker0) / float64(ok)
	}
	return m, nil
}

// brokerCPU is the broker's CPU time so far, or 0 when its pid is unknown.
func (e *Env) brokerCPU() (time.Duration, error) {
	if e.BrokerPID == 0 {
		return 0, nil
	}
	return proc.CPU(e.BrokerPID)
}

// cutShort notes the runs of sc that a drain limit cut short.
func cutShort(sc *results.Scenario, limit time.Duration) {
	for _, c := range sc.Runs {
		if c.Metrics["complete"] == 0 {
			sc.Notes = append(sc.Notes, fmt.Sprintf("%s: cut short by the %s limit with %s of %s deliveries delivered; its figures are over those.",
				c.Name, limit, results.Itoa(int(c.Metrics["deliveries"])), results.Itoa(int(c.Metrics["queued"]))))
		}
	}
}

// windowBytesArgs passes --window-bytes when the dispatcher has it: the
// driver's value, or else the dispatcher's own default, explicitly.
func (e *Env) windowBytesArgs(override int64) ([]string, string) {
	if !e.hasDispatcherFlag("window-bytes") {
		return nil, "the dispatcher has no --window-bytes flag"
	}
	v := override
	if v <= 0 {
		v = e.dispatcherDefault("window-bytes")
	}
	if v <= 0 {
		return nil, "--window-bytes left at the dispatcher's default"
	}
	return []string{"--window-bytes", strconv.FormatInt(v, 10)}, fmt.Sprintf("--window-bytes %d (%.0f MiB)", v, mib(v))
}

var defaultRE = regexp.MustCompile(`\(default (\d+)\)`)

// dispatcherDefault is the integer default `dispatcher --help` shows for
// flag, or 0.
func (e *Env) dispatcherDefault(flag string) int64 {
	help := e.dispatcherHelp
	// The flag's own line ("  -window-bytes int"), not a mention of it in
	// another flag's help text.
	i := strings.Index(help, "\n  -"+flag+" ")
	if i < 0 {
		return 0
	}
	rest := help[i:]
	if j := strings.Index(rest[1:], "\n  -"); j >= 0 {
		rest = rest[:j+1]
	}
	m := defaultRE.FindStringSubmatch(rest)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

var cols11 = []results.Column{
	{Key: "deliveries", Label: "deliveries"},
	{Key: "rate", Label: "deliveries/s"},
	{Key: "cpu_us", Label: "CPU µs/delivery", Digits: 1},
	{Key: "rss_mib", Label: "peak RSS MiB", Digits: 1},
}

// Instant is issue 11's first scenario: a queued backlog to an instant
// receiver, the dispatcher against the naive consumer on the same topic.
func (e *Env) Instant(ctx context.Context, windowBytes int64) results.Scenario {
	n := e.scaled(50000, 2000)
	sc := results.Scenario{ID: "issue11-1-instant", Issue: 11, Title: "Instant receiver: dispatcher vs naive consumer",
		Workload: fmt.Sprintf("%s queued deliveries of 1 KiB events, %d subscriptions (format %s) spread evenly over %d partitions, a receiver that answers 204 at once. "+
			"The dispatcher (defaults, signing every request and producing an attempt record per attempt) and the naive franz-go consumer of `bench/internal/naive` (a goroutine per partition, serial POSTs, no signing, no attempt log, commit per poll) drain the same topic, each in a group of its own, twice each in the order dispatcher, naive, naive, dispatcher; each side's figures are over its two drains. "+
			"CPU is each process's user+system time from its start until the last delivery arrived, divided by the deliveries. "+
			"Beside it, not in the targets, the broker's CPU over each drain per delivery: what the consumer's fetches, commits and (for the dispatcher) attempt records cost Kafka, on the same 2 cores.", results.Itoa(n), subsIssue11, e.Format, partitions),
		Columns: append(slices.Clone(cols11), results.Column{Key: "cpu_broker_us", Label: "broker CPU µs/delivery", Digits: 1}),
		Chart:   results.Chart{Title: "Instant receiver: CPU per delivery", YLabel: "CPU µs per delivery", Metrics: []string{"cpu_us"}},
	}
	prefix := e.prefix("i11-instant")
	if _, err := e.setupQueued(ctx, prefix, subsIssue11, n, eventBytes11, receiver.Instant); err != nil {
		sc.Error = err.Error()
		return sc
	}
	wb, note := e.windowBytesArgs(windowBytes)
	sc.Notes = append(sc.Notes, note)
	limit := e.drainLimit(2 * time.Minute)
	// Each side drains twice, in the order dispatcher, naive, naive,
	// dispatcher, and its figures are over both drains: whatever drifts
	// during the scenario (a broker still compiling its hot paths, other
	// work on the machine) weighs on both sides alike.
	drains := map[string][]map[string]float64{}
	for i, side := range []string{"dispatcher", "naive", "naive", "dispatcher"} {
		name, group := fmt.Sprintf("i11-instant-%s-%d", side, i), fmt.Sprintf("%s%s-%d", prefix, side, i)
		m, err := e.measureDrain(ctx, n, limit, func() (*service, error) {
			if side == "naive" {
				return e.naive(name, prefix, group)
			}
			return e.dispatcher(ctx, name, prefix, group, false, wb...)
		})
		if err != nil {
			sc.Error = err.Error()
			return sc
		}
		drains[side] = append(drains[side], m)
	}
	hook, naive := combineDrains(drains["dispatcher"]...), combineDrains(drains["naive"]...)
	sc.Runs = append(sc.Runs, results.Case{Name: "hookline dispatcher", Metrics: hook}, results.Case{Name: "naive consumer", Metrics: naive})
	e.drainRate = hook["rate"]
	for _, side := range []string{"dispatcher", "naive"} {
		d := drains[side]
		sc.Notes = append(sc.Notes, fmt.Sprintf("%s, its two drains: %.0f and %.0f deliveries/s, %.1f and %.1f µs CPU per delivery",
			side, d[0]["rate"], d[1]["rate"], d[0]["cpu_us"], d[1]["cpu_us"]))
	}
	cutShort(&sc, limit)
	sc.Targets = []results.Target{
		results.NewTarget("CPU per delivery, dispatcher / naive", hook["cpu_us"]/naive["cpu_us"], 1.5, true, "x"),
		results.NewTarget("deliveries/s, dispatcher / naive", hook["rate"]/naive["rate"], 0.8, false, "x"),
	}
	return sc
}

// combineDrains sums drains of the same backlog into one: deliveries/s
// and CPU per delivery over all of them, the highest peak RSS.
func combineDrains(ds ...map[string]float64) map[string]float64 {
	out := map[string]float64{"complete": 1}
	brokerDrains := 0
	for _, d := range ds {
		for _, k := range []string{"deliveries", "queued", "seconds", "cpu_s", "requests"} {
			out[k] += d[k]
		}
		if b, ok := d["cpu_broker_s"]; ok {
			out["cpu_broker_s"] += b
			brokerDrains++
		}
		out["rss_mib"] = max(out["rss_mib"], d["rss_mib"])
		out["complete"] = min(out["complete"], d["complete"])
	}
	if out["seconds"] > 0 {
		out["rate"] = out["deliveries"] / out["seconds"]
	}
	if out["deliveries"] > 0 {
		out["cpu_us"] = out["cpu_s"] * 1e6 / out["deliveries"]
		out["duplicate_rate"] = (out["requests"] - out["deliveries"]) / out["deliveries"]
		if brokerDrains == len(ds) { // over all the drains, or not at all
			out["cpu_broker_us"] = out["cpu_broker_s"] * 1e6 / out["deliveries"]
		}
	}
	return out
}

// measureDrain resets the receiver, starts a consumer and measures its
// drain of n deliveries (at most limit), then stops it.
func (e *Env) measureDrain(ctx context.Context, n int, limit time.Duration, start func() (*service, error)) (map[string]float64, error) {
	e.Recv.Reset()
	s, err := start()
	if err != nil {
		return nil, err
	}
	m, err := e.drain(ctx, s, n, limit)
	if serr := s.Stop(60 * time.Second); err == nil && serr != nil {
		err = serr
	}
	return m, err
}

// drainLimit is how long one consumer may take to drain a backlog before
// the figures are taken over what it delivered: long enough for the
// backlog at a small fraction of the issue's rates, so that the whole run
// stays bounded on a busy machine.
func (e *Env) drainLimit(d time.Duration) time.Duration {
	return time.Duration(float64(d) * max(e.Scale, 0.25))
}

// Slow is issue 11's second scenario: 50 ms receivers, the dispatcher
// against its concurrency bound and the naive consumer.
func (e *Env) Slow(ctx context.Context, windowBytes int64) results.Scenario {
	const maxConc = 256
	n := e.scaled(20000, 1500)
	naiveFor := time.Duration(float64(10*time.Second) * max(e.Scale, 0.3))
	bound := float64(maxConc) / bigLatency.Seconds()
	sc := results.Scenario{ID: "issue11-2-slow", Issue: 11, Title: "50 ms receivers: concurrency bound and naive consumer",
		Workload: fmt.Sprintf("%s queued deliveries of 1 KiB events, %d subscriptions over %d partitions, each endpoint answering after 50 ms. "+
			"The dispatcher runs with `--max-concurrency %d`, so its bound is %d / 50 ms = %s deliveries/s; it drains the backlog. "+
			"The naive consumer (serial POSTs per partition, so at most %d / 50 ms = %d/s) runs for %s on the same topic.",
			results.Itoa(n), subsIssue11, partitions, maxConc, maxConc, results.Itoa(int(bound)), partitions, int(float64(partitions)/bigLatency.Seconds()), naiveFor),
		Columns: []results.Column{{Key: "deliveries", Label: "deliveries"}, {Key: "rate", Label: "deliveries/s"},
			{Key: "of_bound", Label: "of bound", Digits: 2}, {Key: "cpu_us", Label: "CPU µs/delivery", Digits: 1}, {Key: "rss_mib", Label: "peak RSS MiB", Digits: 1}},
		Chart: results.Chart{Title: "50 ms receivers: deliveries/s", YLabel: "deliveries/s", Metrics: []string{"rate", "bound"}, Labels: []string{"measured", "concurrency bound"}},
	}
	prefix := e.prefix("i11-slow")
	if _, err := e.setupQueued(ctx, prefix, subsIssue11, n, eventBytes11, receiver.Behaviour{Delay: bigLatency}); err != nil {
		sc.Error = err.Error()
		return sc
	}
	wb, note := e.windowBytesArgs(windowBytes)
	sc.Notes = append(sc.Notes, note)
	limit := e.drainLimit(time.Minute)
	hook, err := e.measureDrain(ctx, n, limit, func() (*service, error) {
		return e.dispatcher(ctx, "i11-slow-dispatcher", prefix, prefix+"dispatcher", false,
			append([]string{"--max-concurrency", strconv.Itoa(maxConc)}, wb...)...)
	})
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	hook["bound"], hook["of_bound"] = bound, hook["rate"]/bound
	sc.Runs = append(sc.Runs, results.Case{Name: "hookline dispatcher", Metrics: hook})
	cutShort(&sc, limit)

	e.Recv.Reset()
	nv, err := e.naive("i11-slow-naive", prefix, prefix+"naive")
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	started := time.Now()
	if err := sleep(ctx, naiveFor); err != nil {
		sc.Error = err.Error()
	}
	cpu, cerr := nv.CPU()
	rss, _ := nv.PeakRSS()
	arr := e.Recv.Arrivals()
	if err := nv.Stop(60 * time.Second); err != nil && sc.Error == "" {
		sc.Error = err.Error()
	}
	_, _, got := span(arr, nil)
	if cerr != nil || got < 2 {
		sc.Error = fmt.Sprintf("naive consumer delivered %d in %s (%v)", got, time.Since(started).Round(time.Millisecond), cerr)
		return sc
	}
	nb := float64(partitions) / bigLatency.Seconds()
	sc.Runs = append(sc.Runs, results.Case{Name: "naive consumer", Metrics: map[string]float64{
		"deliveries": float64(got), "rate": rate(arr, nil), "bound": nb, "of_bound": rate(arr, nil) / nb,
		"cpu_us": us(cpu) / float64(got), "rss_mib": mib(rss)}})
	sc.Targets = []results.Target{
		results.NewTarget("deliveries/s of the concurrency bound", hook["of_bound"], 0.9, false, ""),
	}
	sc.Notes = append(sc.Notes, fmt.Sprintf("dispatcher / naive: %.1fx the deliveries/s.", hook["rate"]/rate(arr, nil)))
	return sc
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Backlog is issue 11's third scenario: peak RSS of a dispatcher draining
// a 200,000-delivery backlog of 1 KiB events.
func (e *Env) Backlog(ctx context.Context, windowBytes int64) results.Scenario {
	n := e.scaled(200000, 5000)
	sc := results.Scenario{ID: "issue11-3-backlog", Issue: 11, Title: "Peak memory with a large backlog",
		Workload: fmt.Sprintf("%s queued deliveries of 1 KiB events (%d subscriptions over %d partitions, instant receiver) before the dispatcher starts; "+
			"peak RSS is the dispatcher's VmHWM once it has delivered them all.", results.Itoa(n), subsIssue11, partitions),
		Columns: cols11,
		Chart:   results.Chart{Title: "Peak RSS draining the backlog", YLabel: "MiB", Metrics: []string{"rss_mib"}},
	}
	prefix := e.prefix("i11-backlog")
	if _, err := e.setupQueued(ctx, prefix, subsIssue11, n, eventBytes11, receiver.Instant); err != nil {
		sc.Error = err.Error()
		return sc
	}
	wb, note := e.windowBytesArgs(windowBytes)
	sc.Notes = append(sc.Notes, note)
	limit := e.drainLimit(3 * time.Minute)
	hook, err := e.measureDrain(ctx, n, limit, func() (*service, error) {
		return e.dispatcher(ctx, "i11-backlog-dispatcher", prefix, prefix+"dispatcher", false, wb...)
	})
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	sc.Runs = append(sc.Runs, results.Case{Name: "hookline dispatcher", Metrics: hook})
	cutShort(&sc, limit)
	sc.Targets = []results.Target{results.NewTarget("peak RSS", hook["rss_mib"], 150, true, "MiB")}
	return sc
}
