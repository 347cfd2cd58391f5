// Package scenario runs the benchmark scenarios of issues 11 and 18 on a
// real Kafka broker: it creates topics with `hookctl topics init`, writes
// subscriptions and backlogs, starts the real binaries (and the naive
// baseline) as processes, drives load, and measures each process's CPU
// and peak memory, rates and latencies at the receiver.
package scenario

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookline/hookline/bench/internal/proc"
	"github.com/hookline/hookline/bench/internal/receiver"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Env is what every scenario shares: the broker, the binaries, the
// receiver and a Kafka client for seeding.
type Env struct {
	Brokers   string
	BrokerPID int // 0: the broker's CPU is not measured
	// Bins maps binary names (producer, router, dispatcher, hookctl, naive)
	// to their paths.
	Bins   map[string]string
	LogDir string
	Scale  float64
	// Format is the payload format of the benchmark subscriptions.
	Format string
	Log    io.Writer
	// RunID makes topic prefixes and groups unique per run.
	RunID string

	Recv *receiver.Server
	kc   *kgo.Client
	adm  *kadm.Client

	dispatcherFlags map[string]bool
	dispatcherHelp  string

	// drainRate is the dispatcher's deliveries/s in scenario 1, when it ran.
	drainRate float64

	topicsMu sync.Mutex
	topics   map[string]chan error // prefix to the outcome of its topics init
}

// Open connects to the broker and starts the receiver.
func (e *Env) Open(ctx context.Context) error {
	kc, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(e.Brokers, ",")...),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(50000))
	if err != nil {
		return err
	}
	e.kc, e.adm = kc, kadm.NewClient(kc)
	if e.Recv, err = receiver.Start(); err != nil {
		return err
	}
	e.dispatcherFlags = map[string]bool{}
	out, _ := exec.CommandContext(ctx, e.Bins["dispatcher"], "--help").CombinedOutput()
	e.dispatcherHelp = string(out)
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "-") {
			e.dispatcherFlags[strings.TrimLeft(f[0], "-")] = true
		}
	}
	return nil
}

// Close releases the client and the receiver.
func (e *Env) Close() {
	if e.kc != nil {
		e.kc.Close()
	}
	if e.Recv != nil {
		_ = e.Recv.Close()
	}
}

func (e *Env) logf(format string, args ...any) {
	fmt.Fprintf(e.Log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// scaled returns n times the scale, at least min.
func (e *Env) scaled(n, least int) int { return max(least, int(math.Round(float64(n)*e.Scale))) }

// prefix is the topic prefix (and group stem) of one scenario.
func (e *Env) prefix(name string) string { return "bench-" + e.RunID + "-" + name + "." }

// Prepare creates the topics of the scenarios named (see prefix) one
// after the other in the background, in the order given; each scenario's
// initTopics then waits for its own. Creating topics takes seconds per
// scenario on a busy broker, which the scenarios before it overlap.
func (e *Env) Prepare(ctx context.Context, names ...string) {
	var chans []chan error
	var prefixes []string
	e.topicsMu.Lock()
	if e.topics == nil {
		e.topics = map[string]chan error{}
	}
	for _, n := range names {
		p := e.prefix(n)
		if _, ok := e.topics[p]; ok {
			continue
		}
		c := make(chan error, 1)
		e.topics[p] = c
		chans, prefixes = append(chans, c), append(prefixes, p)
	}
	e.topicsMu.Unlock()
	go func() {
		for i, p := range prefixes {
			chans[i] <- e.runInit(ctx, p, partitions)
		}
	}()
}

// initTopics creates the scenario's topics with hookctl topics init, the
// source topic <prefix>events among them, or waits for Prepare's.
func (e *Env) initTopics(ctx context.Context, prefix string) error {
	e.topicsMu.Lock()
	c, ok := e.topics[prefix]
	e.topicsMu.Unlock()
	if !ok {
		return e.runInit(ctx, prefix, partitions)
	}
	select {
	case err := <-c:
		c <- err // for a second wait on the same prefix
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (e *Env) runInit(ctx context.Context, prefix string, partitions int) error {
	cmd := exec.CommandContext(ctx, e.Bins["hookctl"], "topics", "init", "--brokers", e.Brokers,
		"--topic-prefix", prefix, "--partitions", strconv.Itoa(partitions), "--source", prefix+"events", "-o", "json", "--timeout", "2m")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("hookctl topics init --topic-prefix %s: %w\n%s", prefix, err, out)
	}
	return nil
}

// spreadIDs returns n subscription ids whose keys hash evenly over the
// partitions (as Kafka's default partitioner places them), so every
// partition, and every dispatcher of a group, gets an even share.
func spreadIDs(stem string, n, partitions int) []string {
	part := kgo.StickyKeyPartitioner(nil).ForTopic("x")
	base, extra := n/partitions, n%partitions // extra partitions get one more
	count := make([]int, partitions)
	var ids []string
	for k := 0; len(ids) < n; k++ {
		id := fmt.Sprintf("%s-%04d", stem, k)
		p := part.Partition(&kgo.Record{Key: []byte(id)}, partitions)
		switch {
		case count[p] < base:
		case count[p] == base && extra > 0:
			extra--
		default:
			continue
		}
		count[p]++
		ids = append(ids, id)
	}
	return ids
}

// subSpec says what one subscription wants and where it is delivered.
type subSpec struct {
	types    []string
	endpoint int
}

// putSubs writes subscriptions to the scenario's subscriptions topic, as
// the admin API and hookctl do, and returns them.
func (e *Env) putSubs(ctx context.Context, prefix string, partitions int, specs []subSpec) ([]record.Subscription, error) {
	ids := spreadIDs(strings.TrimSuffix(prefix, "."), len(specs), partitions)
	now := time.Now().UTC()
	subs := make([]record.Subscription, len(specs))
	var recs []*kgo.Record
	for i, sp := range specs {
		sec, err := webhook.NewSecret()
		if err != nil {
			return nil, err
		}
		s := record.Subscription{ID: ids[i], URL: e.Recv.URL(sp.endpoint), EventTypes: sp.types,
			Secrets: []record.Secret{{Key: sec.Encode()}}, Format: e.Format, CreatedAt: now, UpdatedAt: now, Revision: 1}
		s.Normalize()
		subs[i] = s
		r, err := s.Record(topic.New(prefix).Subscriptions())
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return subs, e.kc.ProduceSync(ctx, recs...).FirstErr()
}

// produce writes records, as fast as the client batches them.
func (e *Env) produce(ctx context.Context, n int, rec func(i int) *kgo.Record) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for i := range n {
		wg.Add(1)
		e.kc.Produce(ctx, rec(i), func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				first = firstErr(first, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	return first
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// data returns a JSON object of about size bytes carrying seq.
func data(seq, size int) []byte {
	head := `{"seq":` + strconv.Itoa(seq) + `,"pad":"`
	pad := max(0, size-len(head)-2)
	return []byte(head + strings.Repeat("x", pad) + `"}`)
}

// freeAddr returns a free 127.0.0.1 address.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// service is a started binary with its ops server.
type service struct {
	*proc.Proc
	ops string // http://host:port of the ops server
}

// start runs one of the binaries with args, an ops server on a free port
// (--admin-addr) and waits until it is ready unless wait is false.
func (e *Env) start(ctx context.Context, bin, name string, args []string, wait bool) (*service, error) {
	ops, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args = append([]string{"--brokers", e.Brokers, "--admin-addr", ops}, args...)
	p, err := proc.Start(name, e.Bins[bin], args, nil, e.LogDir)
	if err != nil {
		return nil, err
	}
	s := &service{Proc: p, ops: "http://" + ops}
	if wait {
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		if err := p.WaitReady(wctx, s.ops+"/readyz"); err != nil {
			_ = p.Stop(5 * time.Second)
			return nil, err
		}
	}
	return s, nil
}

// dispatcher starts a dispatcher of prefix in group with extra flags.
func (e *Env) dispatcher(ctx context.Context, name, prefix, group string, wait bool, extra ...string) (*service, error) {
	args := []string{"--topic-prefix", prefix, "--group", group, "--allow-cidrs", "127.0.0.0/8"}
	return e.start(ctx, "dispatcher", name, append(args, extra...), wait)
}

// hasDispatcherFlag reports whether `dispatcher --help` lists flag.
func (e *Env) hasDispatcherFlag(flag string) bool { return e.dispatcherFlags[flag] }

// router starts a router of prefix reading <prefix>events.
func (e *Env) router(ctx context.Context, name, prefix string, wait bool) (*service, error) {
	return e.start(ctx, "router", name, []string{"--topic-prefix", prefix, "--source-topics", prefix + "events",
		"--group", prefix + "router", "--transactional-id", prefix + "router-" + name}, wait)
}

// producerAPI starts the ingest API of prefix and returns it and its URL.
func (e *Env) producerAPI(ctx context.Context, prefix, key string) (*service, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	s, err := e.start(ctx, "producer", "producer", []string{"--topic-prefix", prefix, "--source-topic", prefix + "events",
		"--addr", addr, "--ingest-api-keys", key}, true)
	return s, "http://" + addr, err
}

// naive starts the baseline consumer of prefix in group.
func (e *Env) naive(name, prefix, group string) (*service, error) {
	p, err := proc.Start(name, e.Bins["naive"], []string{"--brokers", e.Brokers, "--topic-prefix", prefix, "--group", group}, nil, e.LogDir)
	if err != nil {
		return nil, err
	}
	return &service{Proc: p}, nil
}

// stopAll stops services, collecting their errors.
func stopAll(svcs ...*service) error {
	var errs []error
	for _, s := range svcs {
		if s != nil {
			errs = append(errs, s.Stop(60*time.Second))
		}
	}
	return errors.Join(errs...)
}

// waitGroupStable waits until group has members members, all assigned.
func (e *Env) waitGroupStable(ctx context.Context, group string, members int) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		gs, err := e.adm.DescribeGroups(ctx, group)
		if err == nil {
			if g, ok := gs[group]; ok && g.State == "Stable" && len(g.Members) == members {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s not stable with %d members: %w", group, members, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// cpu reads the CPU time of services (and the broker when broker is
// set), in that order.
func (e *Env) cpu(broker bool, svcs ...*service) ([]time.Duration, error) {
	var out []time.Duration
	for _, s := range svcs {
		c, err := s.CPU()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if broker {
		if e.BrokerPID == 0 {
			return nil, errors.New("the broker's pid is unknown: its CPU cannot be measured")
		}
		c, err := proc.CPU(e.BrokerPID)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

func sub(a, b []time.Duration) []time.Duration {
	out := make([]time.Duration, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// span is the first and last 2xx arrival among arrivals that keep says
// count, and how many there were.
func span(arr []receiver.Arrival, keep func(receiver.Arrival) bool) (first, last time.Time, n int) {
	for _, a := range arr {
		if !a.OK || (keep != nil && !keep(a)) {
			continue
		}
		if n == 0 || a.At.Before(first) {
			first = a.At
		}
		if n == 0 || a.At.After(last) {
			last = a.At
		}
		n++
	}
	return first, last, n
}

// rate is deliveries per second from the first arrival to the last.
func rate(arr []receiver.Arrival, keep func(receiver.Arrival) bool) float64 {
	first, last, n := span(arr, keep)
	if n < 2 || !last.After(first) {
		return 0
	}
	return float64(n-1) / last.Sub(first).Seconds()
}

// maxGap is the longest time between two consecutive successful
// arrivals: a stall shows here while the rate only looks slow.
func maxGap(arr []receiver.Arrival) time.Duration {
	at := make([]time.Time, 0, len(arr))
	for _, a := range arr {
		if a.OK {
			at = append(at, a.At)
		}
	}
	slices.SortFunc(at, time.Time.Compare)
	var gap time.Duration
	for i := 1; i < len(at); i++ {
		gap = max(gap, at[i].Sub(at[i-1]))
	}
	return gap
}

// percentile returns the p-quantile (0..1) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// profileDuring takes a CPU profile of each service for d, in the
// background, when HOOKLINE_BENCH_PROFILES names a directory and the
// services serve /debug/pprof (HOOKLINE_PPROF=true). It writes
// <dir>/<name>.pprof; the returned wait reports when all are written.
func (e *Env) profileDuring(d time.Duration, svcs ...*service) (wait func()) {
	dir := os.Getenv("HOOKLINE_BENCH_PROFILES")
	if dir == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	// The bench's own clients and receiver too.
	if f, err := os.Create(filepath.Join(dir, "bench.pprof")); err != nil {
		e.logf("  profile bench: %v", err)
	} else if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		e.logf("  profile bench: %v", err)
	} else {
		wg.Go(func() {
			time.Sleep(d)
			pprof.StopCPUProfile()
			f.Close()
		})
	}
	for _, s := range svcs {
		wg.Go(func() {
			b, err := s.get(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())))
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, s.Name+".pprof"), b, 0o644)
			}
			if err != nil {
				e.logf("  profile %s: %v", s.Name, err)
			}
		})
	}
	return wg.Wait
}

// kafkaRequests reads each service's hookline_kafka_requests_total from its
// /metrics and returns the counts by "service request" (summed over the
// service's clients).
func kafkaRequests(svcs ...*service) (map[string]float64, error) {
	out := map[string]float64{}
	for _, s := range svcs {
		b, err := s.get("/metrics")
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(b)) {
			rest, ok := strings.CutPrefix(line, "hookline_kafka_requests_total{")
			if !ok {
				continue
			}
			labels, value, ok := strings.Cut(rest, "} ")
			if !ok {
				continue
			}
			_, req, ok := strings.Cut(labels, `request="`)
			if !ok {
				continue
			}
			req, _, _ = strings.Cut(req, `"`)
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				return nil, fmt.Errorf("%s /metrics: %q: %w", s.Name, line, err)
			}
			out[s.role()+" "+req] += v
		}
	}
	return out, nil
}

// opsClient reads services' ops endpoints; a CPU profile takes seconds.
var opsClient = &http.Client{Timeout: time.Minute}

// get reads path from the service's ops server; any answer but 200 is an
// error.
func (s *service) get(path string) ([]byte, error) {
	resp, err := opsClient.Get(s.ops + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s: %s: %s", s.Name, path, resp.Status, b)
	}
	return b, err
}

// role is the binary a service runs (producer, router, dispatcher).
func (s *service) role() string { return filepath.Base(s.Bin) }

// perEvent formats the requests of after less before, per event, largest
// first.
func perEvent(after, before map[string]float64, n int) string {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	total := 0.0
	for k, v := range after {
		if d := (v - before[k]) / float64(n); d > 0 {
			all = append(all, kv{k, d})
			total += d
		}
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Compare(b.v, a.v) })
	var b strings.Builder
	fmt.Fprintf(&b, "%.3f in all", total)
	for _, x := range all {
		fmt.Fprintf(&b, ", %s %.3f", x.k, x.v)
	}
	return b.String()
}
