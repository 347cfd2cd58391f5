package scenario

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/bench/internal/proc"
	"github.com/hookline/hookline/bench/internal/receiver"
	"github.com/hookline/hookline/bench/internal/results"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	types18     = 10
	eventSize18 = 230
)

// workload18 writes issue 18's subscriptions: bench.t0..bench.t9, one
// subscription each, each its own instant endpoint.
func (e *Env) workload18(ctx context.Context, prefix string) error {
	if err := e.initTopics(ctx, prefix); err != nil {
		return err
	}
	specs := make([]subSpec, types18)
	for i := range specs {
		specs[i] = subSpec{types: []string{"bench.t" + strconv.Itoa(i)}, endpoint: endpointBase(prefix) + i}
		e.Recv.Set(specs[i].endpoint, receiver.Instant)
	}
	_, err := e.putSubs(ctx, prefix, partitions, specs)
	return err
}

func event18(seq int) []byte {
	return plainEvent("bench.t"+strconv.Itoa(seq%types18), seq, eventSize18)
}

func workloadText(n int) string {
	return fmt.Sprintf("Issue 18's workload: 10 endpoints, event types `bench.t0`…`bench.t9` round-robin with one subscription each (so one delivery per event), "+
		"plain JSON events of %d B, an instant receiver, %s events, %d partitions, one router and one dispatcher with their defaults.", eventSize18, results.Itoa(n), partitions)
}

// Drain is issue 18's drain: events already in the source topic, then
// router and dispatcher start.
func (e *Env) Drain(ctx context.Context) results.Scenario {
	n := e.scaled(10000, 500)
	sc := results.Scenario{ID: "issue18-7-drain", Issue: 18, Title: "Drain: events already in Kafka",
		Workload: workloadText(n) + " The events are written to the source topic first; then router and dispatcher start. Rate from the first arrival to the last; CPU is router + dispatcher from their start, and the broker over the same time, per delivery.",
		Columns: []results.Column{{Key: "deliveries", Label: "deliveries"}, {Key: "rate", Label: "deliveries/s"},
			{Key: "cpu_ms", Label: "CPU ms/delivery (broker incl.)", Digits: 3}, {Key: "cpu_broker_ms", Label: "of it broker", Digits: 3},
			{Key: "cpu_router_ms", Label: "router", Digits: 3}, {Key: "cpu_dispatcher_ms", Label: "dispatcher", Digits: 3},
			{Key: "max_gap_ms", Label: "longest gap between arrivals ms", Digits: 1}},
		Chart: results.Chart{Title: "Drain: CPU per delivery by process", YLabel: "ms per delivery",
			Metrics: []string{"cpu_router_ms", "cpu_dispatcher_ms", "cpu_broker_ms", "cpu_ms"}, Labels: []string{"router", "dispatcher", "broker", "total"}},
	}
	prefix := e.prefix("i18-drain")
	if err := e.workload18(ctx, prefix); err != nil {
		sc.Error = err.Error()
		return sc
	}
	src := prefix + "events"
	if err := e.produce(ctx, n, func(i int) *kgo.Record { return &kgo.Record{Topic: src, Value: event18(i)} }); err != nil {
		sc.Error = err.Error()
		return sc
	}
	e.Recv.Reset()
	b0, err := e.cpu(e.BrokerPID != 0)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	r, err := e.router(ctx, "i18-drain-router", prefix, false)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	d, err := e.dispatcher(ctx, "i18-drain-dispatcher", prefix, prefix+"dispatcher", false)
	if err != nil {
		_ = stopAll(r)
		sc.Error = err.Error()
		return sc
	}
	defer func() {
		if err := stopAll(r, d); err != nil && sc.Error == "" {
			sc.Error = err.Error()
		}
	}()
	if _, err := e.Recv.WaitOK(ctx, int64(n), 90*time.Second); err != nil {
		sc.Error = err.Error()
		return sc
	}
	c, err := e.cpu(e.BrokerPID != 0, r, d)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	per := func(t time.Duration) float64 { return ms(t) / float64(n) }
	arr := e.Recv.Arrivals()
	m := map[string]float64{"deliveries": float64(n), "rate": rate(arr, nil), "max_gap_ms": ms(maxGap(arr)),
		"cpu_router_ms": per(c[0]), "cpu_dispatcher_ms": per(c[1])}
	m["cpu_ms"] = per(c[0] + c[1])
	if e.BrokerPID != 0 {
		m["cpu_broker_ms"] = per(c[2] - b0[0])
		m["cpu_ms"] += m["cpu_broker_ms"]
	}
	sc.Runs = []results.Case{{Name: "hookline", Metrics: m}}
	sc.Targets = []results.Target{results.NewTarget("drain deliveries/s", m["rate"], 5000, false, "/s")}
	return sc
}

// LiveAndLatency runs issue 18's live scenario and then, on the same
// processes, its latency scenario.
func (e *Env) LiveAndLatency(ctx context.Context) (results.Scenario, results.Scenario) {
	n := e.scaled(10000, 500)
	const clients = 32
	live := results.Scenario{ID: "issue18-8-live", Issue: 18, Title: "Live: 32 clients POST single events",
		Workload: workloadText(n) + fmt.Sprintf(" The producer API, router and dispatcher are running and ready, and %s events have gone through them at %d/s, not measured, to warm Kafka's transaction path (see below); then %d clients POST one event per request as fast as they are answered. "+
			"Accepted/s counts from the first request to the last 202; delivered/s from the first arrival to the last. CPU is producer + router + dispatcher + broker over the run, per delivery; the bench's own clients and receiver, on the same 2 cores, are shown beside it. "+
			"Warming: Kafka's JVM compiles its transaction paths as it runs them; on a broker a few minutes old, as in this run, one router transaction (routed_at to its commit marker) took a median of 34 ms, then 14.5, 6.5 and 4.5 ms in three more runs of these two scenarios on the same broker.", results.Itoa(e.scaled(warmEvents, warmEvents/10)), warmRate, clients),
		Columns: []results.Column{{Key: "deliveries", Label: "deliveries"}, {Key: "accepted_rate", Label: "accepted/s"}, {Key: "rate", Label: "delivered/s"},
			{Key: "cpu_ms", Label: "CPU ms/delivery (broker incl.)", Digits: 3}, {Key: "cpu_broker_ms", Label: "broker", Digits: 3},
			{Key: "cpu_producer_ms", Label: "producer", Digits: 3}, {Key: "cpu_router_ms", Label: "router", Digits: 3}, {Key: "cpu_dispatcher_ms", Label: "dispatcher", Digits: 3},
			{Key: "accept_p99_ms", Label: "202 p99 ms", Digits: 1},
			{Key: "latency_p50_ms", Label: "POST to arrival p50 ms", Digits: 1}, {Key: "latency_p99_ms", Label: "p99 ms", Digits: 1},
			{Key: "cpu_driver_ms", Label: "bench clients + receiver (not counted)", Digits: 3}},
		Chart: results.Chart{Title: "Live: CPU per delivery by process", YLabel: "ms per delivery",
			Metrics: []string{"cpu_producer_ms", "cpu_router_ms", "cpu_dispatcher_ms", "cpu_broker_ms", "cpu_ms"}, Labels: []string{"producer", "router", "dispatcher", "broker", "total"}},
	}
	nLat := e.scaled(6000, 400)
	const perSec = 200
	lat := results.Scenario{ID: "issue18-9-latency", Issue: 18, Title: "Produce-to-receive latency at 200 events/s",
		Workload: workloadText(nLat) + fmt.Sprintf(" On the live scenario's processes, one event per request is POSTed at a steady %d/s (each at its due time, whatever the earlier ones are doing). "+
			"Latency is from sending the POST to the receiver's arrival. The stages are the time-stamps the pipeline leaves on the way, ordered by their median: the driver's own (POST sent, 202), "+
			"the source record's Kafka timestamp, the Delivery's `routed_at` and record timestamp, the timestamp of the commit marker that ended the Delivery's transaction, the attempt record's time less its latency (request sent) and its time (answer), "+
			"every `hookline-*` record header and webhook request header whose value is an RFC 3339 time, and the arrival.", perSec),
		Columns: []results.Column{{Key: "count", Label: "events"}, {Key: "p50_ms", Label: "p50 ms", Digits: 1}, {Key: "p99_ms", Label: "p99 ms", Digits: 1}, {Key: "max_ms", Label: "max ms", Digits: 1}},
		Chart:   results.Chart{Title: "Latency at 200 events/s, by stage", YLabel: "ms", Metrics: []string{"p50_ms", "p99_ms"}, Labels: []string{"p50", "p99"}},
	}
	prefix := e.prefix("i18-live")
	if err := e.workload18(ctx, prefix); err != nil {
		live.Error, lat.Error = err.Error(), err.Error()
		return live, lat
	}
	st, err := e.startStack(ctx, prefix)
	if err != nil {
		live.Error, lat.Error = err.Error(), err.Error()
		return live, lat
	}
	defer func() {
		if err := stopAll(st.all()...); err != nil && lat.Error == "" {
			lat.Error = err.Error()
		}
	}()
	// Warm up connections and metadata with a few events.
	e.Recv.Reset()
	for i := range types18 {
		warm := plainEvent("bench.t"+strconv.Itoa(i), -1, eventSize18) // seq -1: not counted below
		if _, err := postAccepted(ctx, st.api, warm); err != nil {
			live.Error = "warm-up event: " + err.Error()
			lat.Error = live.Error
			return live, lat
		}
	}
	if _, err := e.Recv.WaitOK(ctx, types18, 30*time.Second); err != nil {
		live.Error, lat.Error = err.Error(), err.Error()
		return live, lat
	}
	if err := e.warmTransactions(ctx, st, e.scaled(warmEvents, warmEvents/10)); err != nil {
		live.Error, lat.Error = err.Error(), err.Error()
		return live, lat
	}
	live.Runs, live.Targets, live.Error = e.live(ctx, st, n, clients)
	lat.Runs, lat.Notes, lat.Targets, lat.Error = e.latency(ctx, st, prefix, n, nLat, perSec)
	return live, lat
}

// Before scenarios 8 and 9 measure, warmTransactions sends warmEvents
// through the pipeline at warmRate, unmeasured. Kafka's JVM compiles its
// transaction paths as it runs them: on a broker a few minutes old, as in
// a bench run, one router transaction (routed_at to its commit marker)
// took a median of 34 ms, then 14.5, 6.5 and 4.5 ms in the three runs of
// scenarios 8 and 9 that followed on the same broker (about 16,000 events
// and a few thousand transactions each); a broker in service has long
// run them.
const (
	warmEvents = 36000
	warmRate   = 400 // events/s: small transactions, many of them
)

func (e *Env) warmTransactions(ctx context.Context, st *stack, n int) error {
	e.Recv.Reset()
	e.logf("  warming Kafka's transaction path: %d events at %d/s, not measured", n, warmRate)
	var (
		mu   sync.Mutex
		ferr error
	)
	if err := paced(ctx, n, warmRate, func(i int) {
		body := plainEvent("bench.t"+strconv.Itoa(i%types18), -1, eventSize18) // seq -1: never counted
		if _, err := postAccepted(ctx, st.api, body); err != nil {
			mu.Lock()
			ferr = firstErr(ferr, fmt.Errorf("warm-up: %w", err))
			mu.Unlock()
		}
	}); err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	_, err := e.Recv.WaitOK(ctx, int64(n), 60*time.Second)
	return err
}

// paced calls send(i) for each i below n, each in a goroutine of its own
// started at its due time at perSec (whatever the earlier ones are
// doing), and waits for them all.
func paced(ctx context.Context, n, perSec int, send func(i int)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := 0; i < n; {
		due := min(n, int(time.Since(start).Seconds()*float64(perSec))+1)
		for ; i < due; i++ {
			k := i // i moves on before send runs
			wg.Go(func() { send(k) })
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-tick.C:
		}
	}
	return nil
}

func (e *Env) live(ctx context.Context, st *stack, n, clients int) ([]results.Case, []results.Target, string) {
	e.Recv.Reset()
	svcs := []*service{st.prod, st.rout, st.dispatch}
	// Read before the CPU, so that serving /metrics is not counted.
	r0, err := kafkaRequests(svcs...)
	if err != nil {
		return nil, nil, err.Error()
	}
	c0, err := e.cpu(e.BrokerPID != 0, svcs...)
	if err != nil {
		return nil, nil, err.Error()
	}
	self0, err := proc.CPU(os.Getpid())
	if err != nil {
		return nil, nil, err.Error()
	}
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		mu      sync.Mutex
		ferr    error
		accepts []time.Duration
		last202 time.Time
		sent    = make([]time.Time, n) // by seq
	)
	// At about 2,000 events/s the run lasts about 4-5 s.
	profiled := e.profileDuring(3*time.Second, svcs...)
	defer profiled()
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				sent[i] = t0
				_, err := postAccepted(ctx, st.api, event18(i))
				t1 := time.Now()
				mu.Lock()
				if err != nil {
					ferr = firstErr(ferr, err)
					mu.Unlock()
					return
				}
				accepts = append(accepts, t1.Sub(t0))
				if t1.After(last202) {
					last202 = t1
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ferr != nil {
		return nil, nil, ferr.Error()
	}
	if _, err := e.Recv.WaitOK(ctx, int64(n), 60*time.Second); err != nil {
		return nil, nil, err.Error()
	}
	c1, err := e.cpu(e.BrokerPID != 0, svcs...)
	if err != nil {
		return nil, nil, err.Error()
	}
	d := sub(c1, c0)
	per := func(t time.Duration) float64 { return ms(t) / float64(n) }
	r1, err := kafkaRequests(svcs...)
	if err != nil {
		return nil, nil, err.Error()
	}
	e.logf("  live: Kafka requests per event: %s", perEvent(r1, r0, n))
	self1, err := proc.CPU(os.Getpid())
	if err != nil {
		return nil, nil, err.Error()
	}
	arr := e.Recv.Arrivals()
	_, lastArrival, _ := span(arr, nil)
	var lat []time.Duration // POST sent to arrival, under this load
	for _, a := range arr {
		if a.OK && a.Seq >= 0 && a.Seq < int64(n) && !sent[a.Seq].IsZero() {
			lat = append(lat, a.At.Sub(sent[a.Seq]))
		}
	}
	m := map[string]float64{"deliveries": float64(n), "accepted_rate": float64(n) / last202.Sub(start).Seconds(), "rate": rate(arr, nil),
		"end_to_end_rate": float64(n) / lastArrival.Sub(start).Seconds(),
		"cpu_producer_ms": per(d[0]), "cpu_router_ms": per(d[1]), "cpu_dispatcher_ms": per(d[2]), "cpu_ms": per(sum(d)),
		"accept_p50_ms": ms(percentile(accepts, 0.5)), "accept_p99_ms": ms(percentile(accepts, 0.99)),
		"latency_p50_ms": ms(percentile(lat, 0.5)), "latency_p99_ms": ms(percentile(lat, 0.99)),
		// The bench's own clients and receiver share the machine; not
		// part of the target.
		"cpu_driver_ms": per(self1 - self0)}
	if len(d) > 3 {
		m["cpu_broker_ms"] = per(d[3])
	}
	e.logf("  live: %.0f accepted/s, %.0f delivered/s, %.3f ms CPU per delivery, POST to arrival p50 %.1f ms p99 %.1f ms",
		m["accepted_rate"], m["rate"], m["cpu_ms"], m["latency_p50_ms"], m["latency_p99_ms"])
	return []results.Case{{Name: "hookline", Metrics: m}}, []results.Target{
		results.NewTarget("delivered/s with 32 single-event clients", m["rate"], 3000, false, "/s"),
		results.NewTarget("CPU per delivery, broker included", m["cpu_ms"], 0.6, true, "ms"),
	}, ""
}

// point names of the latency stages that the driver and the records give.
const (
	ptSent     = "POST sent"
	ptAccepted = "202 answered"
	ptReceived = "arrived at the receiver"
	// ptCommitted is the timestamp of the commit marker that ended the
	// transaction of a delivery record.
	ptCommitted = "transaction committed (commit marker timestamp)"
)

// commitMarker reports whether the control record r marks a commit (its
// key is a version and a type, 1 for commit, as int16s).
func commitMarker(r *kgo.Record) bool {
	return len(r.Key) >= 4 && binary.BigEndian.Uint16(r.Key[2:4]) == 1
}

func (e *Env) latency(ctx context.Context, st *stack, prefix string, first, n, perSec int) ([]results.Case, []string, []results.Target, string) {
	e.Recv.Reset()
	e.Recv.KeepStamps(true)
	defer e.Recv.KeepStamps(false)
	points := make([]map[string]time.Time, n)
	for i := range points {
		points[i] = map[string]time.Time{}
	}
	var (
		mu   sync.Mutex
		ferr error
	)
	if err := paced(ctx, n, perSec, func(k int) {
		t0 := time.Now()
		ans, err := postAccepted(ctx, st.api, event18(first+k))
		t1 := time.Now()
		var a struct {
			IDs []string `json:"ids"`
		}
		if err == nil {
			err = json.Unmarshal(ans, &a)
		}
		if err == nil && len(a.IDs) != 1 {
			err = fmt.Errorf("ingest accepted %d events for one: %s", len(a.IDs), ans)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			ferr = firstErr(ferr, err)
			return
		}
		points[k][ptSent], points[k][ptAccepted] = t0, t1
	}); err != nil {
		return nil, nil, nil, err.Error()
	}
	if ferr != nil {
		return nil, nil, nil, ferr.Error()
	}
	if _, err := e.Recv.WaitOK(ctx, int64(n), 60*time.Second); err != nil {
		return nil, nil, nil, err.Error()
	}
	idx := func(seq int64) (int, bool) {
		i := int(seq) - first
		return i, i >= 0 && i < n
	}
	for _, a := range e.Recv.Arrivals() {
		if i, ok := idx(a.Seq); ok && a.OK {
			if _, seen := points[i][ptReceived]; !seen {
				points[i][ptReceived] = a.At
			}
			for h, t := range a.Stamps {
				points[i]["webhook header "+h] = t
			}
		}
	}
	// The records the pipeline wrote on the way, read back.
	names := topic.New(prefix)
	bySeq := func(v []byte) (int, bool) { return idx(receiver.Seq(v)) }
	if err := e.readTopic(ctx, prefix+"events", false, func(r *kgo.Record) {
		if i, ok := bySeq(r.Value); ok {
			points[i]["source record timestamp"] = r.Timestamp
			headerStamps(points[i], "source header ", r)
		}
	}); err != nil {
		return nil, nil, nil, err.Error()
	}
	delivery := map[string]int{} // delivery id to index
	open := map[int32][]int{}    // per partition, the indexes awaiting their transaction's end
	if err := e.readTopic(ctx, names.Deliveries(), true, func(r *kgo.Record) {
		if r.Attrs.IsControl() {
			// The commit marker's timestamp is when the router's EndTxn
			// reached the transaction coordinator.
			if commitMarker(r) {
				for _, i := range open[r.Partition] {
					points[i][ptCommitted] = r.Timestamp
				}
			}
			open[r.Partition] = open[r.Partition][:0]
			return
		}
		d, err := record.DecodeDelivery(r.Value)
		if err != nil {
			return
		}
		if i, ok := bySeq(d.Event.Data); ok {
			delivery[d.ID] = i
			open[r.Partition] = append(open[r.Partition], i)
			points[i]["routed_at (Delivery)"] = d.RoutedAt
			points[i]["delivery record timestamp"] = r.Timestamp
			headerStamps(points[i], "delivery header ", r)
		}
	}); err != nil {
		return nil, nil, nil, err.Error()
	}
	if err := e.readTopic(ctx, names.Attempts(), false, func(r *kgo.Record) {
		a, err := record.DecodeAttempt(r.Value)
		if err != nil || a.Attempt > 1 {
			return
		}
		if i, ok := delivery[a.DeliveryID]; ok {
			points[i]["attempt answered (attempt at)"] = a.At
			points[i]["attempt sent (at − latency)"] = a.At.Add(-time.Duration(a.LatencyMillis * float64(time.Millisecond)))
			headerStamps(points[i], "attempt header ", r)
		}
	}); err != nil {
		return nil, nil, nil, err.Error()
	}
	runs, notes := breakdown(points)
	if len(runs) == 0 {
		return nil, nil, nil, "no latencies measured"
	}
	e2e := runs[len(runs)-1].Metrics
	e.logf("  latency at %d/s: p50 %.1f ms, p99 %.1f ms, max %.1f ms", perSec, e2e["p50_ms"], e2e["p99_ms"], e2e["max_ms"])
	return runs, notes, []results.Target{
		results.NewTarget("p50 produce-to-receive", e2e["p50_ms"], 15, true, "ms"),
		results.NewTarget("p99 produce-to-receive", e2e["p99_ms"], 50, true, "ms"),
	}, ""
}

// headerStamps adds r's time-valued hookline-* headers to pts.
func headerStamps(pts map[string]time.Time, label string, r *kgo.Record) {
	for _, h := range r.Headers {
		k := strings.ToLower(h.Key)
		if !strings.HasPrefix(k, "hookline-") || len(h.Value) < 20 {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, string(h.Value)); err == nil {
			pts[label+k] = t
		}
	}
}

// breakdown orders the points by their median offset from the POST and
// returns one case per step between consecutive points, then the whole
// path (POST sent to arrival) as the last case.
func breakdown(points []map[string]time.Time) ([]results.Case, []string) {
	offsets := map[string][]time.Duration{}
	for _, p := range points {
		sent, ok := p[ptSent]
		if !ok {
			continue
		}
		for name, t := range p {
			offsets[name] = append(offsets[name], t.Sub(sent))
		}
	}
	var names []string
	for name := range offsets {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		ma, mb := percentile(offsets[a], 0.5), percentile(offsets[b], 0.5)
		if ma != mb {
			return int(ma - mb)
		}
		return strings.Compare(a, b)
	})
	var runs []results.Case
	for i := 1; i < len(names); i++ {
		a, b := names[i-1], names[i]
		var ds []time.Duration
		for _, p := range points {
			ta, oka := p[a]
			tb, okb := p[b]
			if oka && okb {
				ds = append(ds, tb.Sub(ta))
			}
		}
		runs = append(runs, results.Case{Name: a + " → " + b, Metrics: map[string]float64{"count": float64(len(ds)),
			"p50_ms": ms(percentile(ds, 0.5)), "p99_ms": ms(percentile(ds, 0.99)), "max_ms": ms(percentile(ds, 1))}})
	}
	total := offsets[ptReceived]
	runs = append(runs, results.Case{Name: "end to end: " + ptSent + " → " + ptReceived, Metrics: map[string]float64{"count": float64(len(total)),
		"p50_ms": ms(percentile(total, 0.5)), "p99_ms": ms(percentile(total, 0.99)), "max_ms": ms(percentile(total, 1))}})
	notes := []string{"Stages seen, in median order: " + strings.Join(names, ", ") + ". Each step's p50/p99 is of the per-event differences, so the steps' p99s do not add up to the total's."}
	return runs, notes
}

// readTopic reads t from the start until a poll brings nothing new for a
// second (the records of interest are all written by then).
func (e *Env) readTopic(ctx context.Context, t string, committed bool, fn func(*kgo.Record)) error {
	opts := []kgo.Opt{kgo.SeedBrokers(strings.Split(e.Brokers, ",")...), kgo.ConsumeTopics(t),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200 * time.Millisecond)}
	if committed {
		// Read the transactions' markers too, for their timestamps.
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	idle := 0
	for idle < 3 {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if fs.NumRecords() == 0 {
			idle++
			continue
		}
		idle = 0
		fs.EachRecord(fn)
	}
	return nil
}
