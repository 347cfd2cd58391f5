// Command loadtool measures Hookline's live path on a real Kafka: it
// starts `hookctl dev --external` as a child process, subscribes ten
// receivers (types bench.t0 … bench.t9, one subscription each, raw
// format) to an instant HTTP receiver of its own, sends events of about
// 230 bytes and reports the delivery rate (first arrival to last), the CPU
// per delivery of the stack and the broker (from /proc), and
// produce-to-receive latency with each stage of the path broken down.
//
// It is test tooling, not part of any binary:
//
//	go build -o /tmp/hookctl ./hookctl/cmd/hookctl
//	go run ./producer/internal/loadtool -hookctl /tmp/hookctl -brokers 127.0.0.1:9092 \
//	    -broker-pid $(cat deploy/kafka-local/.run/kafka-9092/kafka.pid) -scenario live
//
// Scenarios: live (-clients concurrent clients POST single events as fast
// as they are answered), latency (one POST every 1/-rate seconds, each in
// its own goroutine) and drain (the events are written to Kafka while the
// stack is stopped, then the stack starts). Every run deletes every
// non-internal topic and Hookline's consumer groups first: use a broker of
// your own.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type options struct {
	hookctl    string
	brokers    string
	brokerPID  int
	scenario   string
	n          int
	clients    int
	rate       float64
	partitions int
	apiAddr    string
	opsPort    int
	recvAddr   string
	stackArgs  string
	keep       bool
}

const (
	adminKey  = "loadtool_admin_0123456789abcdef"
	ingestKey = "loadtool_ingest_0123456789abcdef"
	types     = 10
)

func main() {
	var o options
	flag.StringVar(&o.hookctl, "hookctl", "", "path of a built hookctl binary (required)")
	flag.StringVar(&o.brokers, "brokers", "127.0.0.1:9092", "the Kafka to use (every topic on it is deleted)")
	flag.IntVar(&o.brokerPID, "broker-pid", 0, "pid of the broker, whose CPU is counted (0: not counted)")
	flag.StringVar(&o.scenario, "scenario", "live", "live, latency or drain")
	flag.IntVar(&o.n, "n", 10000, "events to send")
	flag.IntVar(&o.clients, "clients", 32, "concurrent clients (live)")
	flag.Float64Var(&o.rate, "rate", 200, "events per second (latency)")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions of the source, deliveries and retry topics")
	flag.StringVar(&o.apiAddr, "api-addr", "127.0.0.1:29135", "address of the producer API the stack serves")
	flag.IntVar(&o.opsPort, "ops-port", 29136, "first of the stack's three ops ports")
	flag.StringVar(&o.recvAddr, "recv-addr", "127.0.0.1:29139", "address of the receiver")
	flag.StringVar(&o.stackArgs, "stack-args", "", "extra arguments of hookctl dev, space-separated")
	flag.BoolVar(&o.keep, "keep-log", false, "copy the stack's log to stderr")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		fmt.Fprintln(os.Stderr, "loadtool:", err)
		os.Exit(1)
	}
}

// sample is what is known of one event.
type sample struct {
	sent, acked, received time.Time
	copies                int
}

type bench struct {
	o       *options
	samples []sample
	mu      sync.Mutex
	got     atomic.Int64
	first   atomic.Int64 // unix ns of the first arrival
	last    atomic.Int64 // unix ns of the latest arrival
	allIn   chan struct{}
	warm    atomic.Int64
	http    *http.Client
}

func run(ctx context.Context, o *options) error {
	if o.hookctl == "" {
		return errors.New("-hookctl is required")
	}
	b := &bench{o: o, samples: make([]sample, o.n), allIn: make(chan struct{}),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 30 * time.Second}}
	ln, err := net.Listen("tcp", o.recvAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(b.receive)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	if err := reset(ctx, o.brokers); err != nil {
		return fmt.Errorf("resetting the broker: %w", err)
	}
	stack, err := startStack(ctx, o)
	if err != nil {
		return err
	}
	defer stack.stop()
	if err := b.subscribe(ctx); err != nil {
		return err
	}
	if err := b.warmUp(ctx); err != nil {
		return err
	}
	switch o.scenario {
	case "live":
		return b.live(ctx, stack)
	case "latency":
		return b.latency(ctx, stack)
	case "drain":
		stack.stop()
		return b.drain(ctx)
	}
	return fmt.Errorf("unknown scenario %q", o.scenario)
}

// body is an event of type bench.t(seq%10) of about 230 bytes.
func body(seq int) []byte {
	s := fmt.Sprintf(`{"type":"bench.t%d","seq":%d,"order":"ord_%08d","customer":"customer-%06d@example.com","amount":%d.99,"currency":"EUR","note":"`, seq%types, seq, seq, seq%1000000, seq%1000)
	return []byte(s + strings.Repeat("x", max(0, 228-len(s))) + `"}`)
}

func (b *bench) receive(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	raw, _ := io.ReadAll(r.Body)
	w.WriteHeader(http.StatusNoContent)
	var ev struct {
		Seq int `json:"seq"`
	}
	if json.Unmarshal(raw, &ev) != nil {
		return
	}
	if ev.Seq < 0 {
		b.warm.Add(1)
		return
	}
	if ev.Seq >= len(b.samples) {
		return
	}
	b.mu.Lock()
	s := &b.samples[ev.Seq]
	s.copies++
	first := s.copies == 1
	if first {
		s.received = now
	}
	b.mu.Unlock()
	if !first {
		return
	}
	b.first.CompareAndSwap(0, now.UnixNano())
	b.last.Store(now.UnixNano())
	if b.got.Add(1) == int64(len(b.samples)) {
		close(b.allIn)
	}
}

func (b *bench) post(ctx context.Context, path, key string, payload []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+b.o.apiAddr+path, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, nil
}

func (b *bench) subscribe(ctx context.Context) error {
	for i := range types {
		sub := fmt.Sprintf(`{"url":"http://%s/hook/%d","event_types":["bench.t%d"],"format":"raw"}`, b.o.recvAddr, i, i)
		code, out, err := b.post(ctx, "/v1/subscriptions", adminKey, []byte(sub))
		if err != nil || code/100 != 2 {
			return fmt.Errorf("subscribing: %d %s %v", code, out, err)
		}
	}
	return nil
}

// warmUp sends one event of each type and waits until all arrive: the
// router and the dispatcher then have every subscription.
func (b *bench) warmUp(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for round := 0; ; round++ {
		b.warm.Store(0)
		for i := range types {
			ev := fmt.Sprintf(`{"type":"bench.t%d","seq":-%d}`, i, round*types+i+1)
			if code, out, err := b.post(ctx, "/v1/events", ingestKey, []byte(ev)); err != nil || code != http.StatusAccepted {
				return fmt.Errorf("warm-up event: %d %s %v", code, out, err)
			}
		}
		wait := time.Now().Add(5 * time.Second)
		for b.warm.Load() < types && time.Now().Before(wait) {
			if !sleep(ctx, 20*time.Millisecond) {
				return ctx.Err()
			}
		}
		if b.warm.Load() >= types {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("warm-up events did not arrive")
		}
	}
}

func (b *bench) live(ctx context.Context, st *stack) error {
	cpu0 := st.cpu(b.o.brokerPID)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range b.o.clients {
		wg.Go(func() {
			for {
				seq := int(next.Add(1) - 1)
				if seq >= b.o.n || ctx.Err() != nil {
					return
				}
				b.send(ctx, seq, &failed)
			}
		})
	}
	wg.Wait()
	accepted := time.Since(start)
	if err := b.waitAll(ctx); err != nil {
		return err
	}
	cpu1 := st.cpu(b.o.brokerPID)
	b.report(start, accepted, failed.Load(), cpu0, cpu1)
	return nil
}

func (b *bench) send(ctx context.Context, seq int, failed *atomic.Int64) {
	sent := time.Now()
	for {
		code, out, err := b.post(ctx, "/v1/events", ingestKey, body(seq))
		if err == nil && code == http.StatusAccepted {
			break
		}
		if failed.Add(1) <= 5 {
			fmt.Fprintf(os.Stderr, "event %d: %d %s %v (sent again)\n", seq, code, bytes.TrimSpace(out), err)
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return
		}
	}
	acked := time.Now()
	b.mu.Lock()
	b.samples[seq].sent, b.samples[seq].acked = sent, acked
	b.mu.Unlock()
}

func (b *bench) latency(ctx context.Context, st *stack) error {
	cpu0 := st.cpu(b.o.brokerPID)
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	every := time.Duration(float64(time.Second) / b.o.rate)
	for seq := range b.o.n {
		if !sleepUntil(ctx, start.Add(time.Duration(seq)*every)) {
			return ctx.Err()
		}
		wg.Go(func() { b.send(ctx, seq, &failed) })
	}
	wg.Wait()
	accepted := time.Since(start)
	if err := b.waitAll(ctx); err != nil {
		return err
	}
	cpu1 := st.cpu(b.o.brokerPID)
	b.report(start, accepted, failed.Load(), cpu0, cpu1)
	return b.breakdown(ctx)
}

func (b *bench) drain(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.o.brokers), kgo.DefaultProduceTopic("events"))
	if err != nil {
		return err
	}
	for seq := range b.o.n {
		cl.Produce(ctx, &kgo.Record{Value: body(seq)}, func(_ *kgo.Record, err error) {
			if err != nil {
				fmt.Fprintln(os.Stderr, "producing:", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	cl.Close()
	now := time.Now()
	for i := range b.samples {
		b.samples[i].sent, b.samples[i].acked = now, now
	}
	cpuB0 := procCPU(b.o.brokerPID)
	start := time.Now()
	st, err := startStack(ctx, b.o)
	if err != nil {
		return err
	}
	defer st.stop()
	if err := b.waitAll(ctx); err != nil {
		return err
	}
	cpu1 := st.cpu(b.o.brokerPID)
	b.report(start, 0, 0, cpuTimes{broker: cpuB0}, cpu1)
	return nil
}

func (b *bench) waitAll(ctx context.Context) error {
	select {
	case <-b.allIn:
		return nil
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("only %d of %d events arrived", b.got.Load(), len(b.samples))
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *bench) report(start time.Time, accepted time.Duration, failed int64, cpu0, cpu1 cpuTimes) {
	first, last := time.Unix(0, b.first.Load()), time.Unix(0, b.last.Load())
	n := len(b.samples)
	dup := 0
	lat := make([]time.Duration, 0, n)
	for _, s := range b.samples {
		dup += max(0, s.copies-1)
		lat = append(lat, s.received.Sub(s.sent))
	}
	span := last.Sub(first)
	stack, broker := cpu1.stack-cpu0.stack, cpu1.broker-cpu0.broker
	fmt.Printf("scenario %s: n=%d partitions=%d clients=%d rate=%g\n", b.o.scenario, n, b.o.partitions, b.o.clients, b.o.rate)
	fmt.Printf("  delivered %d/s (first to last arrival %v), duplicates %d, refused or failed requests %d\n",
		int(float64(n-1)/span.Seconds()), span.Round(time.Millisecond), dup, failed)
	if accepted > 0 {
		fmt.Printf("  accepted %d/s (%v for all requests)\n", int(float64(n)/accepted.Seconds()), accepted.Round(time.Millisecond))
	}
	fmt.Printf("  CPU per delivery %.3f ms (stack %.3f ms, broker %.3f ms; since %s)\n",
		ms(stack+broker)/float64(n), ms(stack)/float64(n), ms(broker)/float64(n), map[bool]string{true: "stack start", false: "first request"}[b.o.scenario == "drain"])
	if b.o.scenario != "drain" {
		p := percentiles(lat)
		fmt.Printf("  produce-to-receive p50 %s p90 %s p99 %s max %s\n", p[0], p[1], p[2], p[3])
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentiles returns p50, p90, p99 and max of ds, in milliseconds.
func percentiles(ds []time.Duration) [4]string {
	if len(ds) == 0 {
		return [4]string{"-", "-", "-", "-"}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) string { return fmt.Sprintf("%.1fms", ms(s[min(len(s)-1, int(q*float64(len(s))))])) }
	return [4]string{at(0.5), at(0.9), at(0.99), fmt.Sprintf("%.1fms", ms(s[len(s)-1]))}
}

// breakdown reads the deliveries (with their transaction markers) and the
// attempts back from Kafka and prints when each stage of every event's
// path happened, relative to the client sending it.
func (b *bench) breakdown(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.o.brokers),
		kgo.ConsumeTopics("hookline.deliveries", "hookline.attempts"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords())
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, "hookline.deliveries", "hookline.attempts")
	if err != nil {
		return err
	}
	type tp struct {
		t string
		p int32
	}
	left := map[tp]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	type pending struct {
		seq     int
		offset  int64
		routed  time.Time
		written time.Time
		accept  time.Time
	}
	type done struct{ at, sent time.Time }
	byPart := map[int32][]pending{}
	commits := map[int32][][2]int64{} // offset, unix ms
	byDelivery := map[string]int{}
	attempts := map[string]done{}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) {
			k := tp{r.Topic, r.Partition}
			if r.Offset+1 >= left[k] {
				delete(left, k)
			}
			if r.Attrs.IsControl() {
				if len(r.Key) >= 4 && binary.BigEndian.Uint16(r.Key[2:4]) == 1 && r.Topic == "hookline.deliveries" {
					commits[r.Partition] = append(commits[r.Partition], [2]int64{r.Offset, r.Timestamp.UnixMilli()})
				}
				return
			}
			switch r.Topic {
			case "hookline.deliveries":
				d, err := record.DecodeDelivery(r.Value)
				if err != nil {
					return
				}
				var ev struct {
					Seq int `json:"seq"`
				}
				if json.Unmarshal(d.Event.Data, &ev) != nil || ev.Seq < 0 || ev.Seq >= len(b.samples) {
					return
				}
				byDelivery[d.ID] = ev.Seq
				byPart[r.Partition] = append(byPart[r.Partition], pending{seq: ev.Seq, offset: r.Offset, routed: d.RoutedAt, written: r.Timestamp, accept: acceptedAt(r, &d)})
			case "hookline.attempts":
				a, err := record.DecodeAttempt(r.Value)
				if err != nil {
					return
				}
				attempts[a.DeliveryID] = done{at: a.At, sent: a.At.Add(-time.Duration(a.LatencyMillis * float64(time.Millisecond)))}
			}
		})
	}
	stages := []string{"accepted (API read the request)", "produced (202 at the client)", "routed (router's transaction began)",
		"written (delivery produced, record timestamp)", "committed (commit marker)", "sent (attempt start)", "received (receiver)", "answered (attempt end)"}
	at := make([][]time.Duration, len(stages))
	deliveryOf := make(map[int]string, len(byDelivery))
	for id, seq := range byDelivery {
		deliveryOf[seq] = id
	}
	for p, ds := range byPart {
		cs := commits[p]
		for _, d := range ds {
			s := b.samples[d.seq]
			var committed time.Time
			for _, c := range cs {
				if c[0] > d.offset {
					committed = time.UnixMilli(c[1])
					break
				}
			}
			a := attempts[deliveryOf[d.seq]]
			for i, t := range []time.Time{d.accept, s.acked, d.routed, d.written, committed, a.sent, s.received, a.at} {
				if !t.IsZero() {
					at[i] = append(at[i], t.Sub(s.sent))
				}
			}
		}
	}
	fmt.Println("  stage (time since the client sent the event)        p50      p90      p99      events")
	for i, name := range stages {
		p := percentiles(at[i])
		fmt.Printf("  %-50s %-8s %-8s %-8s %d\n", name, p[0], p[1], p[2], len(at[i]))
	}
	return nil
}

// acceptedAt is when the API accepted the event, if the delivery says
// (a stack before Delivery.AcceptedAt leaves it out).
func acceptedAt(_ *kgo.Record, d *record.Delivery) time.Time {
	return d.AcceptedAt
}

type cpuTimes struct{ stack, broker time.Duration }

// procCPU is the user and system CPU pid has used, from /proc.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start at ")".
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // CLK_TCK = 100
}

type stack struct {
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

func (s *stack) cpu(brokerPID int) cpuTimes {
	return cpuTimes{stack: procCPU(s.cmd.Process.Pid), broker: procCPU(brokerPID)}
}

func (s *stack) stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

func startStack(ctx context.Context, o *options) (*stack, error) {
	args := []string{"--brokers", o.brokers, "dev", "--external", "--api-addr", o.apiAddr,
		"--ops-port", strconv.Itoa(o.opsPort), "--partitions", strconv.Itoa(o.partitions),
		"--api-key", adminKey, "--ingest-api-key", ingestKey, "--log-level", "warn"}
	if o.stackArgs != "" {
		args = append(args, strings.Fields(o.stackArgs)...)
	}
	cmd := exec.Command(o.hookctl, args...)
	cmd.Stdout = io.Discard
	if o.keep {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &stack{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for i := range 3 {
		url := fmt.Sprintf("http://127.0.0.1:%d/readyz", o.opsPort+i)
		for {
			resp, err := http.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-s.done:
				return nil, errors.New("the stack ended before it was ready (run with -keep-log)")
			default:
			}
			if time.Now().After(deadline) {
				s.stop()
				return nil, fmt.Errorf("%s not ready after 2 minutes", url)
			}
			if !sleep(ctx, 100*time.Millisecond) {
				s.stop()
				return nil, ctx.Err()
			}
		}
	}
	return s, nil
}

// reset deletes every non-internal topic and Hookline's groups, so that
// each run starts empty.
func reset(ctx context.Context, brokers string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	_, _ = adm.DeleteGroups(ctx, "hookline-router", "hookline-dispatcher")
	for range 100 {
		ts, err := adm.ListTopics(ctx)
		if err != nil {
			return err
		}
		names := ts.Names()
		if len(names) == 0 {
			return nil
		}
		if _, err := adm.DeleteTopics(ctx, names...); err != nil {
			return err
		}
		if !sleep(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
	return errors.New("topics are still there")
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	if d := time.Until(t); d > 0 {
		return sleep(ctx, d)
	}
	return ctx.Err() == nil
}
