// Package deliver is the dispatcher: it consumes deliveries from Kafka as a
// consumer-group member and POSTs each one, signed, to its subscription's
// webhook URL, with at-least-once semantics and no head-of-line blocking.
//
// # How records flow
//
// The dispatcher consumes the deliveries topic and the retry topics
// (hookline.retry.1..N, one per tier of the retry schedule) in one group.
// Each assigned partition has a bounded window (default 1000 records)
// between fetch and commit. Records enter the window in offset order and
// finish in any order; the offset committed is the low-water mark, below
// which every record's outcome is durable (a 2xx, a retry record or a dead
// letter acknowledged by Kafka). When a window is full, fetching pauses for
// that partition and records that did not fit are fetched again later, so
// memory stays bounded whatever the backlog.
//
// A retry topic holds records of one delay, so they come due in offset
// order (within the jitter): a retry partition whose head is not due yet is
// rewound to it and paused until then. No goroutine sleeps per record and
// no request slot is held while a retry waits.
//
// Inside the windows, records queue per subscription: an ordered
// subscription gets one request at a time, others up to their max
// in-flight. A global cap bounds concurrent HTTP requests; a request gives
// its slot back for the backoff between its quick retries. A slow endpoint
// therefore holds its own deliveries and window slots, never another
// endpoint's requests.
//
// After the quick retries, a failed delivery goes to the next retry tier
// (or the first tier at least as long as its Retry-After); after the last
// tier it is dead-lettered exhausted. 410 Gone dead-letters it at once and
// disables the subscription. URL, secrets, format, limits and state come
// from the live subscription table at send time: a paused subscription's
// deliveries are parked in the first retry tier (no attempt counted) and
// delivered once it resumes; a disabled one's are dead-lettered
// endpoint_disabled.
//
// # Rebalances and shutdown
//
// Partitions are assigned with the range balancer: the deliveries and
// retry topics have the same partition count and are keyed by subscription
// id, so partition i of every topic, and with it all of a subscription's
// records, goes to one member. Revoked partitions stop starting work, wait
// briefly (RevokeGrace) for requests in flight, commit what is done, and
// are fenced: a completion that arrives later changes nothing and no commit
// for them follows. On shutdown the dispatcher stops fetching, waits for
// requests in flight up to DrainTimeout, commits, and leaves the group.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/dispatcher/internal/admit"
	"github.com/hookline/hookline/dispatcher/internal/post"
	"github.com/hookline/hookline/dispatcher/internal/retry"
	"github.com/hookline/hookline/dispatcher/internal/window"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// fetchMaxWait bounds how long a fetch waits for new data (franz-go's
// default is 5s). A partition resumed (its window drained, or its retry
// head came due) joins the next fetch only once the fetch in flight
// returns, so this is also how late a resumed partition can be: a
// partition of 20-record windows moves at most 20 records per wait. An
// idle dispatcher sends one fetch per wait and broker.
const fetchMaxWait = 50 * time.Millisecond

// Subscriptions is the live subscription table the dispatcher reads at
// send time.
type Subscriptions interface {
	// Get returns a copy of subscription id, or false when it does not exist.
	Get(id string) (record.Subscription, bool)
	// WaitReady blocks until the table has caught up or ctx ends.
	WaitReady(ctx context.Context) error
}

var _ Subscriptions = (*subtable.Table)(nil)

// Opt configures a Dispatcher.
type Opt interface{ apply(*Dispatcher) }

type optFunc func(*Dispatcher)

func (f optFunc) apply(d *Dispatcher) { f(d) }

// WithLogger sets the logger; the default discards.
func WithLogger(l *zap.Logger) Opt { return optFunc(func(d *Dispatcher) { d.log = l }) }

// WithRecorder sets the recorder of measurements; the default discards.
func WithRecorder(r Recorder) Opt { return optFunc(func(d *Dispatcher) { d.rec = r }) }

// WithLookup resolves webhook host names with fn instead of the system
// resolver. The SSRF guard still checks every address it returns.
func WithLookup(fn func(ctx context.Context, host string) ([]netip.Addr, error)) Opt {
	return optFunc(func(d *Dispatcher) { d.lookup = fn })
}

// Dispatcher consumes deliveries and sends webhooks. Build it with New and
// call Run once.
type Dispatcher struct {
	cfg    Config
	subs   Subscriptions
	kopts  []kgo.Opt
	log    *zap.Logger
	rec    Recorder
	lookup func(context.Context, string) ([]netip.Addr, error)
	http   *post.Client
	gate   *admit.Gate   // rate limits, breakers, failing clocks
	kafka  *failureLog   // bounded logging of Kafka failures
	sem    chan struct{} // global cap on HTTP requests
	cl     *kgo.Client   // set by Run before consuming

	// attempts queues attempt records for Kafka (attempts.go).
	attempts *attemptLog

	// commitMu serializes commits with the fencing of revoked partitions:
	// a commit that includes a partition completes before it is fenced.
	commitMu sync.Mutex

	topics []string       // consumed: deliveries, then retry 1..N
	tiers  map[string]int // topic name to tier (0: deliveries)

	mu    sync.Mutex
	parts map[tp]*partition
	lanes map[string]*lane
	parkq map[string]*parkQueue // ordered subscriptions' parked deliveries, in order (park.go)
	// heldParked are the deliveries parked because their subscription is
	// paused (or not known yet), by id, with their partition, until they
	// come round again (park.go).
	heldParked map[string]int32
	// mixedPartitions is set when the retry topics do not all have the
	// deliveries topic's partition count: a subscription's records may
	// then be spread over members, and park queues are not kept.
	mixedPartitions bool
	// batchMax is the largest record batch produced to a topic that
	// accepts less than franz-go's default (readLimits, noteTopicMax),
	// under limitsMu.
	limitsMu sync.RWMutex
	batchMax map[string]int
	gen      uint64
	// bytes is what the records in every window count against
	// WindowBytes; starved are the partitions holding records until
	// enough of it is free. While any partition is starved the poll
	// loop takes nothing more (waitRoom); room wakes it when the last
	// one leaves.
	bytes   int64
	starved map[*partition]struct{}
	room    chan struct{}
	// work is the context jobs run under (set by Run before polling).
	work     context.Context
	jobs     sync.WaitGroup // every job goroutine (worker)
	running  int            // jobs started and not finished
	finished chan struct{}  // closed when a job ends, made anew by waitJobs; nil when nobody waits
	stop     chan struct{}  // closed when shutdown begins: start nothing new
	draining bool
	// keys decodes each signing secret once (send).
	keys webhook.Keyring
	// handoff passes a job to an idle worker (start). idle counts the
	// workers waiting on it.
	handoff chan *job
	idle    atomic.Int32
}

type tp struct {
	topic     string
	partition int32
}

// partition is the state of one assigned partition for one assignment. A
// partition revoked and assigned again gets a new struct: jobs hold the
// pointer, so a late completion from a previous assignment cannot touch
// the new one (the pointer is the epoch; gen numbers it for logs).
type partition struct {
	topic     string
	id        int32
	gen       uint64
	win       *window.Window
	committed int64 // offset last committed; -1 before the first commit
	hwm       int64 // high watermark at the last fetch; -1 before
	first     int64 // offset of the first record fetched; -1 before
	jobs      map[*job]struct{}
	stop      chan struct{} // closed when revoked: start nothing new
	fenced    bool          // revoked: completions and commits ignore it
	tier      int           // 0 on the deliveries topic, K on retry topic K
	// held are records fetched but not in the window yet, in offset
	// order; fetching p is paused while there are any (feed).
	held []*job
	// rebuilding is set once p's offsets went backwards: p is about to
	// be replaced (rebuild).
	rebuilding bool
	// jobsCtx is the context p's jobs run under, a child of the
	// dispatcher's work; fencing p cancels it (cancelJobs), which
	// cancels every job of p at once. (One context per partition rather
	// than per job: creating and cancelling a context per delivery was
	// 2% of the dispatcher's CPU.)
	jobsCtx    context.Context
	cancelJobs context.CancelFunc

	// A retry partition whose head is not due is paused until due; gate
	// resumes it. headProduced is the head's produce time.
	due          time.Time
	headProduced time.Time
	gate         *time.Timer
}

// stopped reports whether p is being revoked (or was).
func (p *partition) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// lane queues the deliveries of one subscription.
type lane struct {
	id     string
	active int
	queue  []*job
}

// New returns a dispatcher that consumes with the given client options
// (seed brokers, TLS, SASL, logger, hooks) and reads subscriptions from
// subs. It validates cfg.
func New(cfg Config, subs Subscriptions, kafka []kgo.Opt, opts ...Opt) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if subs == nil {
		return nil, errors.New("deliver: a subscription table is required")
	}
	cfg = cfg.withDefaults()
	d := &Dispatcher{
		cfg:        cfg,
		subs:       subs,
		kopts:      append([]kgo.Opt(nil), kafka...),
		log:        zap.NewNop(),
		rec:        nopRecorder{},
		sem:        make(chan struct{}, cfg.MaxConcurrency),
		parts:      map[tp]*partition{},
		lanes:      map[string]*lane{},
		parkq:      map[string]*parkQueue{},
		starved:    map[*partition]struct{}{},
		room:       make(chan struct{}, 1),
		heldParked: map[string]int32{},
		batchMax:   map[string]int{},
		tiers:      map[string]int{cfg.Topics.Deliveries(): 0},
		stop:       make(chan struct{}),
		handoff:    make(chan *job),
	}
	for _, o := range opts {
		o.apply(d)
	}
	d.kafka = &failureLog{log: d.log}
	d.attempts = newAttemptLog(cfg.Topics.Attempts(), d.log)
	d.gate = admit.New(admit.Config{
		BreakerFailures: cfg.BreakerFailures,
		BreakerRatio:    cfg.BreakerRatio,
		BreakerOpen:     cfg.BreakerOpen,
		DisableAfter:    cfg.DisableAfter,
		OnBreaker:       d.breakerChanged,
	}, nil)
	d.topics = []string{cfg.Topics.Deliveries()}
	for k := range cfg.RetrySchedule {
		d.topics = append(d.topics, cfg.Topics.Retry(k+1))
		d.tiers[cfg.Topics.Retry(k+1)] = k + 1
	}
	d.http = post.New(post.Config{
		Retries:          cfg.Retries,
		WaitMin:          cfg.RetryWaitMin,
		WaitMax:          cfg.RetryWaitMax,
		RetryAfterMax:    cfg.RetryAfterMax,
		MaxResponseBytes: cfg.MaxResponseBytes,
		// An endpoint may take every slot: with fewer idle connections
		// than requests in flight, each request over the limit closes its
		// connection when done and the next one dials again.
		MaxIdleConnsPerHost: cfg.MaxConcurrency,
		// Idle connections to every endpoint ever called are capped too.
		MaxIdleConns: max(4*cfg.MaxConcurrency, 256),
		Allow:        cfg.AllowCIDRs,
		Lookup:       d.lookup,
	})
	return d, nil
}

// Run waits for the subscription table, then consumes and delivers until
// ctx ends, then shuts down: stop fetching, finish requests in flight
// within DrainTimeout, commit, leave the group. It returns nil after a
// clean shutdown. Call it once.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.http.Close()
	// URL, secrets and state are read from the table at send time, so
	// nothing is consumed before it has caught up.
	if err := d.subs.WaitReady(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("deliver: %w", err)
	}
	if err := d.checkTopics(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("deliver: %w", err)
	}
	opts := append(append([]kgo.Opt(nil), d.kopts...),
		kgo.ConsumerGroup(d.cfg.Group),
		kgo.ConsumeTopics(d.topics...),
		// Range assigns partition i of every topic to one member: all of
		// a subscription's records, fresh and retried, live in one
		// dispatcher (per-subscription state stays in one place). The
		// price is eager rebalancing: every member gives back all its
		// partitions on a rebalance, for RevokeGrace at most.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(d.onAssigned),
		kgo.OnPartitionsRevoked(d.onRevoked),
		kgo.OnPartitionsLost(d.onLost),
		// The router writes deliveries in transactions.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// A resumed partition joins the next fetch only once the fetch in
		// flight returns, which with no new data takes FetchMaxWait: keep
		// it short so a drained window refills quickly.
		kgo.FetchMaxWait(fetchMaxWait),
		// What the client has fetched and no poll has taken yet is held
		// in memory beside the windows: keep one fetch within half the
		// windows' byte budget, so memory follows --window-bytes.
		kgo.FetchMaxBytes(int32(min(max(d.cfg.WindowBytes/2, 1<<20), 50<<20))),
		// A small share of it per partition, so that each fetch brings
		// some of every partition's backlog. With franz-go's default
		// (1 MiB), the first partitions' records filled the windows and
		// a backlog was delivered partition after partition: with 50 ms
		// receivers (bench scenario 2), the partitions of a 20,000-
		// delivery backlog finished between 2.0 and 4.35 s, the last
		// alone at its subscriptions' in-flight limit; with this, between
		// 3.2 and 4.3 s.
		kgo.FetchMaxPartitionBytes(fetchMaxPartitionBytes(d.cfg.WindowBytes)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Retry records, parked deliveries and dead letters are produced
		// synchronously by the job waiting on them, one at a time for an
		// ordered subscription: franz-go's default 10ms linger would
		// cap such a subscription at 100 records a second. Under load,
		// records still batch while a request is in flight.
		kgo.ProducerLinger(time.Millisecond),
		kgo.ProducerBatchMaxBytesFn(d.batchMaxFor),
	)
	if d.cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(d.cfg.SessionTimeout))
	}
	// Jobs run under work, which outlives ctx by up to DrainTimeout. It
	// is set before the client exists: the client joins the group at
	// once, and a partition assigned before the first poll takes its
	// jobs' context from it (newPartition).
	work, kill := context.WithCancel(context.WithoutCancel(ctx))
	defer kill()
	d.mu.Lock()
	d.work = work
	d.mu.Unlock()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	d.cl = cl
	commitCtx, stopCommits := context.WithCancel(work)
	var committer sync.WaitGroup
	committer.Go(func() { d.commitLoop(commitCtx) })
	var writer sync.WaitGroup
	writer.Go(func() { d.attempts.run(work, cl) })

	d.log.Info("dispatcher consuming", zap.Strings("topics", d.topics), zap.String("group", d.cfg.Group),
		zap.Stringer("retry_schedule", retry.Schedule(d.cfg.RetrySchedule)))
	d.poll(ctx, work)

	// Shutdown, in order: stop intake, drain with a deadline, flush
	// attempt records, commit, leave the group.
	cl.PauseFetchTopics(d.topics...)
	d.drain(kill) // ends work: the attempt writer stops too
	stopCommits()
	committer.Wait()
	writer.Wait()
	// Before the final commit, so a delivery committed has its attempt
	// records in Kafka; bounded on its own, so a slow flush does not
	// cost the commit.
	flushCtx, flushed := context.WithTimeout(context.Background(), 5*time.Second)
	d.attempts.flush(cl)
	if err := cl.Flush(flushCtx); err != nil {
		d.log.Warn("flushing attempt records", zap.Error(err))
	}
	flushed()
	final, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.commit(final, nil); err != nil {
		d.log.Warn("final commit failed; the next owner redelivers from the last commit", zap.Error(err))
	}
	cl.CloseAllowingRebalance()
	d.log.Info("dispatcher stopped")
	return nil
}

// checkTopics makes sure every retry topic the schedule needs exists, with
// as many partitions as the deliveries topic (else a subscription's
// records would not share a partition number across topics), adds retry
// topics beyond the schedule to those consumed (records left there by a
// longer schedule get one attempt and are then exhausted), and reads the
// topics' max.message.bytes. A missing topic is a configuration error;
// Kafka not answering is retried until ctx ends.
func (d *Dispatcher) checkTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(d.kopts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		details, err := adm.ListTopics(ctx)
		if err == nil {
			err = d.checkDetails(details)
			if errors.Is(err, errConfig) {
				return err
			}
			if err == nil {
				d.readLimits(ctx, adm)
				return nil
			}
		}
		d.log.Warn("checking topics; retrying", zap.Duration("backoff", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// errConfig marks a topic layout that retrying cannot fix.
var errConfig = errors.New("configuration")

func (d *Dispatcher) checkDetails(details kadm.TopicDetails) error {
	for k := len(d.cfg.RetrySchedule) + 1; ; k++ {
		t := d.cfg.Topics.Retry(k)
		if _, ok := details[t]; !ok {
			break
		}
		if _, known := d.tiers[t]; !known {
			d.topics = append(d.topics, t)
			d.tiers[t] = k
			d.log.Info("consuming a retry topic beyond the schedule: its records get one attempt, then are exhausted", zap.String("topic", t))
		}
	}
	var missing []string
	want := -1
	for _, t := range d.topics {
		td, ok := details[t]
		switch {
		case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, t)
		case td.Err != nil:
			return td.Err
		case want < 0:
			want = len(td.Partitions)
		case len(td.Partitions) != want:
			d.mixedPartitions = true
			d.log.Warn("retry topic has a different partition count than the deliveries topic; a subscription's retries may be handled by another dispatcher",
				zap.String("topic", t), zap.Int("partitions", len(td.Partitions)), zap.Int("deliveries_partitions", want))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: topics %v do not exist: the retry schedule has %d tiers; create them with hookctl topics init --retry-levels %d",
			errConfig, missing, len(d.cfg.RetrySchedule), len(d.cfg.RetrySchedule))
	}
	return nil
}

// readLimits reads max.message.bytes of the topics the dispatcher produces
// to. Record batches to each topic stay within its limit (a batch larger
// than a topic accepts is refused whole, records that would fit alone
// included), and dead letters are cut to the DLQ's. Best effort: on an
// error the defaults stay.
func (d *Dispatcher) readLimits(ctx context.Context, adm *kadm.Client) {
	produced := []string{d.cfg.Topics.DLQ(), d.cfg.Topics.Attempts(), d.cfg.Topics.Subscriptions()}
	produced = append(produced, d.topics[1:]...)
	rcs, err := adm.DescribeTopicConfigs(ctx, produced...)
	if err != nil {
		d.log.Warn("reading topic configs; keeping the default batch size", zap.Error(err))
		return
	}
	for _, rc := range rcs {
		if n := maxMessageBytes(rc); n > 0 && n < DefaultMaxRecordBytes {
			d.batchMax[rc.Name] = n
			d.log.Info("topic takes smaller batches than the default; producing within its limit",
				zap.String("topic", rc.Name), zap.Int("max_message_bytes", n))
		}
	}
}

// batchMaxFor is the largest record batch produced to topic.
func (d *Dispatcher) batchMaxFor(topic string) int32 {
	d.limitsMu.RLock()
	defer d.limitsMu.RUnlock()
	if n, ok := d.batchMax[topic]; ok {
		return int32(max(n, 512))
	}
	return DefaultMaxRecordBytes
}

// deadLetterMax is the largest dead letter to produce: MaxRecordBytes, or
// the DLQ's max.message.bytes when it is lower.
func (d *Dispatcher) deadLetterMax() int {
	d.limitsMu.RLock()
	defer d.limitsMu.RUnlock()
	if n, ok := d.batchMax[d.cfg.Topics.DLQ()]; ok {
		return min(d.cfg.MaxRecordBytes, n)
	}
	return d.cfg.MaxRecordBytes
}

// noteTopicMax records n, topic's max.message.bytes as Kafka has it now.
// franz-go fixes a partition's batch cap when it first produces to it
// (batchMaxFor), so when the limit changed the topic is purged from the
// producer: its next record rebuilds its partitions with the new cap.
// Records of the topic buffered at that moment fail and are produced
// again by the jobs waiting on them.
func (d *Dispatcher) noteTopicMax(topic string, n int) {
	if n <= 0 {
		return
	}
	d.limitsMu.Lock()
	had, ok := d.batchMax[topic]
	switch {
	case n >= DefaultMaxRecordBytes && !ok, n < DefaultMaxRecordBytes && ok && had == n:
		d.limitsMu.Unlock()
		return
	case n >= DefaultMaxRecordBytes:
		delete(d.batchMax, topic)
	default:
		d.batchMax[topic] = n
	}
	d.limitsMu.Unlock()
	d.log.Info("topic's max.message.bytes changed; producing within its new limit",
		zap.String("topic", topic), zap.Int("max_message_bytes", n))
	d.cl.PurgeTopicsFromProducing(topic)
}

// topicMaxBytes returns max.message.bytes of topic as the broker has it
// now, or 0 when it cannot be read.
func (d *Dispatcher) topicMaxBytes(ctx context.Context, topic string) int {
	rcs, err := kadm.NewClient(d.cl).DescribeTopicConfigs(ctx, topic)
	if err != nil || len(rcs) == 0 {
		return 0
	}
	return maxMessageBytes(rcs[0])
}

// maxMessageBytes returns a topic's max.message.bytes from its described
// configs, or 0 when it is not there.
func maxMessageBytes(rc kadm.ResourceConfig) int {
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" && c.Value != nil {
			if n, err := strconv.Atoi(*c.Value); err == nil {
				return n
			}
		}
	}
	return 0
}

// ErrKafkaFailing is returned by Check while the dispatcher cannot make
// progress against Kafka.
var ErrKafkaFailing = errors.New("deliver: Kafka has been failing (fetches, commits or produces)")

// notReadyAfter is how long Kafka failures last before Check reports
// them: a single failed commit is retried and says nothing yet.
const notReadyAfter = 5 * time.Second

// Check reports whether the dispatcher can make progress: it fails while
// Kafka has been failing for a few seconds. Use it as a readiness check.
func (d *Dispatcher) Check() error {
	if f := d.kafka.failingFor(); f >= notReadyAfter {
		return fmt.Errorf("%w for %s", ErrKafkaFailing, f.Round(time.Second))
	}
	return nil
}

// poll takes records from the client until ctx ends and feeds them into
// their partitions' windows. Jobs it starts run under work.
func (d *Dispatcher) poll(ctx, work context.Context) {
	for {
		if !d.waitRoom(ctx) {
			return
		}
		fetches := d.cl.PollRecords(ctx, d.cfg.MaxPollRecords)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			d.cl.AllowRebalance()
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			d.kafka.failed("fetch", err, zap.String("topic", t), zap.Int32("partition", p))
		})
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			// Retry records are decoded before taking the lock (their due
			// time decides whether they go in); the deliveries topic's
			// when they are worked.
			lazy := d.tiers[fp.Topic] == 0
			jobs := make([]*job, len(fp.Records))
			for i, r := range fp.Records {
				if lazy && len(r.Key) > 0 {
					jobs[i] = newLazyJob(r)
				} else {
					jobs[i] = newJob(r)
				}
			}
			d.admit(work, fp, jobs)
		})
		d.cl.AllowRebalance()
	}
}

// fetchMaxPartitionBytes is the most a fetch brings of one partition:
// a thirty-second of the windows' bytes, within 64 KiB and 1 MiB.
func fetchMaxPartitionBytes(windowBytes int64) int32 {
	return int32(min(max(windowBytes/32, 64<<10), 1<<20))
}

// waitRoom waits while partitions are starved for window bytes, and
// reports false if ctx ended first. Not polling, rather than pausing
// the starved partitions, keeps what the client has fetched: franz-go
// drops the buffered records of a partition that is paused and fetches
// them again once it resumes, and with a backlog deeper than the windows
// most records were fetched (and decompressed) several times over.
// While the loop waits, the client holds at most the one fetch it has
// buffered (FetchMaxBytes).
func (d *Dispatcher) waitRoom(ctx context.Context) bool {
	for {
		d.mu.Lock()
		starved := len(d.starved) > 0
		d.mu.Unlock()
		if !starved {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-d.room:
		}
	}
}

// unstarve takes p off the starved partitions and wakes the poll loop
// when it was the last. Call with d.mu held.
func (d *Dispatcher) unstarve(p *partition) {
	if _, ok := d.starved[p]; !ok {
		return
	}
	delete(d.starved, p)
	if len(d.starved) == 0 {
		signal(d.room)
	}
}

// admit feeds the fetched jobs of one partition into its window.
func (d *Dispatcher) admit(work context.Context, fp kgo.FetchTopicPartition, jobs []*job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.parts[tp{fp.Topic, fp.Partition}]
	if p == nil || p.fenced {
		// Cannot happen with BlockRebalanceOnPoll: the assignment does
		// not change between a poll and AllowRebalance.
		d.log.Warn("records for a partition not assigned", zap.String("topic", fp.Topic), zap.Int32("partition", fp.Partition))
		return
	}
	p.hwm = fp.HighWatermark
	if p.first < 0 {
		p.first = jobs[0].rec.Offset
	}
	if len(p.held) > 0 {
		// Fetched while records were held (a fetch in flight when the
		// partition paused): they queue behind the held ones.
		d.pause(p)
		p.held = append(p.held, jobs...)
		return
	}
	d.feed(work, p, jobs)
}

// feed admits jobs, in offset order, into p's window and their
// subscriptions' lanes. It stops at the first job that cannot go in yet:
// its retry tier is not due, p's window is full, or the windows' bytes
// (WindowBytes) are spent. That job and the ones after it are held in
// memory and fetching p pauses until they can go in (unhold). Holding,
// rather than rewinding the partition, keeps what the client has
// buffered for other partitions: a rewind (SetOffsets) throws all of it
// away. What is held is at most one poll's worth per partition. Call with
// d.mu held.
func (d *Dispatcher) feed(work context.Context, p *partition, jobs []*job) {
	now := time.Now()
	for i, j := range jobs {
		if p.tier > 0 {
			if due := d.dueOf(j, p.tier); due.After(now) {
				// The head of what is left is not due, and nothing behind
				// it is due sooner (one delay per topic): wait for it.
				d.hold(p, jobs[i:])
				d.gateUntil(p, due, j.rec.Timestamp)
				return
			}
		}
		if p.win.Full() {
			d.hold(p, jobs[i:])
			p.win.Pause()
			d.log.Debug("window full; pausing partition", zap.String("topic", p.topic), zap.Int32("partition", p.id))
			return
		}
		size := recordBytes(j.rec)
		parkNow := false
		if d.bytes > 0 && d.bytes+size > d.cfg.WindowBytes {
			// The windows' bytes are spent. A record whose lane is
			// already deep goes in to be parked at once (its memory is
			// held only until the retry tier has it, and never beyond
			// twice the budget), so reading a deep backlog moves at the
			// producer's pace; any other waits.
			parkNow = d.bytes+size <= 2*d.cfg.WindowBytes && d.deepLane(j.del.SubscriptionID)
			if !parkNow {
				// Held without pausing p: the poll loop takes nothing
				// more until the starved partitions are fed (waitRoom).
				p.held = jobs[i:]
				d.starved[p] = struct{}{}
				d.shed(work)
				return
			}
		}
		if ok, err := p.win.Admit(j.rec.Offset, j.rec.LeaderEpoch); !ok {
			// Offsets went backwards: the partition's log was truncated
			// (an unclean leader election) or its topic deleted and
			// created again, and the client started over. What the
			// window holds belongs to a log that is gone: the
			// partition's state is rebuilt from this record on.
			d.log.Warn("offsets went backwards (log truncated or topic re-created); rebuilding the partition's window",
				zap.String("topic", p.topic), zap.Int32("partition", p.id), zap.Error(err))
			d.hold(p, jobs[i:])
			if !p.rebuilding {
				p.rebuilding = true
				go d.rebuild(p)
			}
			return
		}
		j.part, j.size = p, size
		d.bytes += size
		if p.tier == 0 && !j.lazy {
			// A record on the deliveries topic starts the schedule (a
			// replay tool may have copied a dead letter's tier).
			j.del.Tier, j.del.ParkedAt = 0, time.Time{}
		}
		if parkNow {
			j.backlog = true
			d.start(work, j)
			continue
		}
		d.enqueue(work, j)
	}
	p.held = nil
	if p.win.Pause() {
		d.pause(p)
		d.log.Debug("window full; pausing partition", zap.String("topic", p.topic), zap.Int32("partition", p.id))
	}
}

// hold keeps jobs, which could not go into p's window yet, and pauses
// fetching p. Call with d.mu held.
func (d *Dispatcher) hold(p *partition, jobs []*job) {
	p.held = jobs
	d.pause(p)
}

func (d *Dispatcher) pause(p *partition) {
	d.cl.PauseFetchPartitions(map[string][]int32{p.topic: {p.id}})
}

// unhold feeds p's held records into its window once nothing stops them
// (its head is due, the window has drained to its resume level, bytes
// are free), and resumes fetching p when none is left. Call with d.mu
// held.
func (d *Dispatcher) unhold(work context.Context, p *partition) {
	if p.fenced || p.rebuilding || d.draining || d.parts[tp{p.topic, p.id}] != p || !p.due.IsZero() || p.win.Paused() {
		return
	}
	d.unstarve(p)
	if len(p.held) > 0 {
		d.feed(work, p, p.held)
	}
	d.resumeUnheld(p)
}

// resumeUnheld resumes fetching p unless something still holds it:
// records waiting to go in, a head not due, a full window. Call with d.mu
// held.
func (d *Dispatcher) resumeUnheld(p *partition) {
	if len(p.held) == 0 && p.due.IsZero() && !p.win.Paused() {
		d.cl.ResumeFetchPartitions(map[string][]int32{p.topic: {p.id}})
	}
}

// release gives back the window bytes of j, which left its window. Call
// with d.mu held.
func (d *Dispatcher) release(j *job) {
	d.bytes -= j.size
	j.size = 0
}

// wakeStarved lets in the records of partitions that waited for window
// bytes, once a quarter of the budget is free: not at every record, so
// they take turns rather than flap. Call with d.mu held.
func (d *Dispatcher) wakeStarved(work context.Context) {
	if len(d.starved) == 0 || d.bytes > d.cfg.WindowBytes-d.cfg.WindowBytes/4 {
		return
	}
	starved := make([]*partition, 0, len(d.starved))
	for p := range d.starved {
		starved = append(starved, p)
	}
	for _, p := range starved {
		d.unhold(work, p)
	}
}

// recordBytes is what a record counts against WindowBytes: its key,
// value and headers as fetched.
func recordBytes(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// deepLane reports whether the lane of subscription id, which must be
// unordered, has LaneBacklog deliveries queued or more. Call with d.mu
// held.
func (d *Dispatcher) deepLane(id string) bool {
	l := d.lanes[id]
	if l == nil || len(l.queue) < d.cfg.LaneBacklog {
		return false
	}
	sub, ok := d.subs.Get(id)
	return ok && !sub.Ordered
}

// shed makes room when the windows' bytes are spent: deliveries queued
// beyond LaneBacklog in a lane of an unordered subscription are parked
// in the first retry tier, newest first, so the records behind them in
// their partitions (maybe another subscription's few) can be read. A
// backlog that fits the windows is never parked. Call with d.mu held.
func (d *Dispatcher) shed(work context.Context) {
	for _, l := range d.lanes {
		if !d.deepLane(l.id) {
			continue
		}
		for _, j := range l.queue[d.cfg.LaneBacklog:] {
			if j.part.stopped() {
				d.release(j)
				continue
			}
			j.backlog = true
			d.start(work, j)
		}
		clear(l.queue[d.cfg.LaneBacklog:])
		l.queue = l.queue[:d.cfg.LaneBacklog]
	}
}

// dueOf returns when j, read from retry tier, may be worked: its
// not-before time, but no later than its tier's longest delay (+20%)
// after it was produced, so a record whose due time is off (a clock that
// ran ahead, a producer that ignored the schedule) cannot hold up its
// partition for longer than the tier's records wait anyway.
func (d *Dispatcher) dueOf(j *job, tier int) time.Time {
	due := j.due()
	sched := d.cfg.RetrySchedule
	longest := sched[min(tier, len(sched))-1]
	if limit := j.rec.Timestamp.Add(time.Duration(float64(longest)*(1+retry.Jitter)) + time.Second); due.After(limit) {
		return limit
	}
	return due
}

// gateUntil pauses fetching p until due, when gate resumes it. Call with
// d.mu held.
func (d *Dispatcher) gateUntil(p *partition, due, produced time.Time) {
	p.due, p.headProduced = due, produced
	d.cl.PauseFetchPartitions(map[string][]int32{p.topic: {p.id}})
	if p.gate != nil {
		p.gate.Stop()
	}
	p.gate = time.AfterFunc(time.Until(due), func() { d.ungate(p) })
}

// ungate lets p's held records in once its head is due.
func (d *Dispatcher) ungate(p *partition) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p.due, p.headProduced = time.Time{}, time.Time{}
	d.unhold(d.work, p)
}

// enqueue queues j on its subscription's lane and starts what the lane's
// limit allows. Undecodable records have no subscription and start at
// once. Call with d.mu held.
func (d *Dispatcher) enqueue(work context.Context, j *job) {
	if j.bad != nil {
		d.start(work, j)
		return
	}
	l := d.lanes[j.del.SubscriptionID]
	if l == nil {
		l = &lane{id: j.del.SubscriptionID}
		d.lanes[l.id] = l
	}
	l.queue = append(l.queue, j)
	d.pump(work, l)
}

// limit is how many deliveries of subscription id may be in flight: one
// when it is ordered, else its max in-flight.
func (d *Dispatcher) limit(id string) int {
	sub, ok := d.subs.Get(id)
	switch {
	case !ok:
		return record.DefaultMaxInFlight // they are dead-lettered quickly
	case sub.Ordered:
		return 1
	case sub.MaxInFlight > 0:
		return sub.MaxInFlight
	}
	return record.DefaultMaxInFlight
}

// pump starts queued jobs of l up to its limit. Call with d.mu held.
func (d *Dispatcher) pump(work context.Context, l *lane) {
	if len(l.queue) > 0 && !d.draining {
		limit := d.limit(l.id)
		for l.active < limit && len(l.queue) > 0 {
			j := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			if j.part.stopped() {
				d.release(j)
				continue // revoked: abandoned, the next owner has it
			}
			l.active++
			j.lane = l
			d.start(work, j)
		}
	}
	if l.active == 0 && len(l.queue) == 0 && d.lanes[l.id] == l {
		delete(d.lanes, l.id)
	}
}

// start runs j in a goroutine: an idle worker's, else a new worker's.
// Call with d.mu held.
func (d *Dispatcher) start(work context.Context, j *job) {
	j.part.jobs[j] = struct{}{}
	d.running++
	select {
	case d.handoff <- j:
	default:
		d.jobs.Go(func() { d.worker(work, j) })
	}
}

// maxIdleWorkers bounds the workers kept waiting for a job, as a
// multiple of MaxConcurrency.
const maxIdleWorkers = 2

// worker runs j, then the jobs handed to it while it waits, until
// shutdown begins or enough other workers wait. Reusing goroutines
// spares each delivery a goroutine start and the growth of its stack
// from the minimum to what decoding and the HTTP client need
// (runtime.newstack was 2% of the dispatcher's CPU with a goroutine per
// job).
func (d *Dispatcher) worker(work context.Context, j *job) {
	for {
		done := d.process(j.part.jobsCtx, j)
		d.finish(work, j, done)
		if d.idle.Add(1) > int32(maxIdleWorkers*d.cfg.MaxConcurrency) {
			d.idle.Add(-1)
			return
		}
		select {
		case j = <-d.handoff:
			d.idle.Add(-1)
		case <-d.stop:
			d.idle.Add(-1)
			return
		}
	}
}

// leaveLane gives j's lane slot back before j finishes (park does, once
// its record is handed to the client); finish then leaves the lane alone.
func (d *Dispatcher) leaveLane(j *job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l := j.lane; l != nil {
		j.lane = nil
		l.active--
		d.pump(d.work, l) // jobs run under d.work (start's work)
	}
}

// finish records the end of j: when its outcome is durable and its
// partition still ours, the window moves (and fetching resumes if it was
// paused); then its lane may start the next job.
func (d *Dispatcher) finish(work context.Context, j *job, done bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := j.part
	delete(p.jobs, j)
	if done || p.stopped() || d.draining {
		d.release(j)
		defer d.wakeStarved(work)
	}
	if done && !p.fenced {
		if p.win.Done(j.rec.Offset) {
			d.log.Debug("window drained; resuming partition", zap.String("topic", p.topic), zap.Int32("partition", p.id))
			d.unhold(work, p)
		}
	} else if !done && !p.stopped() && !d.draining {
		// process gives up only when stopped; this is a bug, and the
		// record would hold its window forever. Run it again.
		d.log.Error("job ended without an outcome; restarting it", zap.String("delivery_id", j.del.ID))
		if j.lane != nil {
			j.lane.active--
			j.lane.queue = append([]*job{j}, j.lane.queue...)
			d.pump(work, j.lane)
		} else {
			d.start(work, j)
		}
		d.ended()
		return
	}
	if l := j.lane; l != nil {
		l.active--
		d.pump(work, l)
	}
	d.ended()
}

// ended notes that a job is ending. Call with d.mu held.
func (d *Dispatcher) ended() {
	d.running--
	if d.finished != nil {
		// Someone waits (waitJobs): wake them. Without a waiter, no
		// channel is made and closed per job.
		close(d.finished)
		d.finished = nil
	}
}

// waitJobs waits until cond (called with d.mu held) is true, re-checking
// whenever a job ends, or until timeout. It reports whether cond held.
func (d *Dispatcher) waitJobs(timeout time.Duration, cond func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		d.mu.Lock()
		ok := cond()
		if !ok && d.finished == nil {
			d.finished = make(chan struct{})
		}
		ch := d.finished
		d.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}

// drain stops starting jobs and releases held ones, waits up to
// DrainTimeout for requests in flight, then cancels what is left and
// waits for every job goroutine to return.
func (d *Dispatcher) drain(kill context.CancelFunc) {
	d.mu.Lock()
	d.draining = true
	close(d.stop)
	d.mu.Unlock()
	if !d.waitJobs(d.cfg.DrainTimeout, func() bool { return d.running == 0 }) {
		d.log.Warn("drain timeout: cancelling requests in flight; they will be redelivered", zap.Duration("timeout", d.cfg.DrainTimeout))
	}
	kill()
	d.jobs.Wait()
}

// onAssigned starts fresh state for newly assigned partitions. It holds
// commitMu, as fence does: a partition assigned again without a revoke
// fences its old state, and a commit of the old state's mark must not
// land after that.
func (d *Dispatcher) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, ps := range assigned {
		for _, id := range ps {
			if old := d.parts[tp{t, id}]; old != nil && !old.fenced {
				// Assigned again without a revoke in between: nothing of
				// the old assignment may touch the new one.
				if !old.stopped() {
					close(old.stop)
				}
				old.fenced = true
				old.cancelJobs()
				// What it held will be fetched again by the new state;
				// left starved, it would keep the poll loop waiting.
				old.held = nil
				d.unstarve(old)
			}
			// Park queues of this partition number are from before: their
			// deliveries may have been handled elsewhere meanwhile.
			d.forgetParked(id)
			d.parts[tp{t, id}] = d.newPartition(t, id)
			d.log.Info("partition assigned", zap.String("topic", t), zap.Int32("partition", id), zap.Uint64("gen", d.gen))
		}
	}
	// A partition paused in an earlier assignment stays paused in the
	// client until resumed.
	cl.ResumeFetchPartitions(assigned)
}

// newPartition returns fresh state for partition id of topic t. Call with
// d.mu held.
func (d *Dispatcher) newPartition(t string, id int32) *partition {
	d.gen++
	work := d.work // set by Run before it makes the client, and so before any assignment
	if work == nil {
		work = context.Background() // tests that drive a Dispatcher by hand
	}
	p := &partition{
		topic: t, id: id, gen: d.gen,
		win:       window.New(d.cfg.Window),
		committed: -1, hwm: -1, first: -1, tier: d.tiers[t],
		jobs: map[*job]struct{}{},
		stop: make(chan struct{}),
	}
	p.jobsCtx, p.cancelJobs = context.WithCancel(work)
	return p
}

// rebuild replaces p, whose offsets went backwards, by fresh state for
// the same partition and feeds it p's held records. p is fenced first,
// with commitMu held, so no commit of its old mark lands after; the new
// state commits from the new offsets on.
func (d *Dispatcher) rebuild(p *partition) {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if p.fenced || p.stopped() || d.parts[tp{p.topic, p.id}] != p {
		return // revoked or lost meanwhile: the next owner starts afresh
	}
	held := p.held
	if !p.stopped() {
		close(p.stop)
	}
	d.fenceLocked([]*partition{p}, "rebuilt")
	np := d.newPartition(p.topic, p.id)
	np.hwm = p.hwm
	if len(held) > 0 {
		np.first = held[0].rec.Offset
	}
	d.parts[tp{p.topic, p.id}] = np
	d.feed(d.work, np, held)
	d.resumeUnheld(np)
}

// onRevoked gives revoked partitions RevokeGrace to finish their requests
// in flight, commits what is done, and fences them.
func (d *Dispatcher) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	parts := d.stopPartitions(revoked)
	if len(parts) == 0 {
		return
	}
	if d.cfg.RevokeGrace > 0 {
		d.waitJobs(d.cfg.RevokeGrace, func() bool {
			for _, p := range parts {
				if len(p.jobs) > 0 {
					return false
				}
			}
			return true
		})
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	if err := d.commitLocked(cctx, cl, parts); err != nil {
		d.log.Warn("commit on revoke failed; the next owner redelivers from the last commit", zap.Error(err))
	}
	d.fence(parts, "revoked")
}

// onLost fences lost partitions at once: another member may own them
// already, so nothing is committed.
func (d *Dispatcher) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	parts := d.stopPartitions(lost)
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	d.fence(parts, "lost")
}

// stopPartitions stops starting work on the given partitions and returns
// them.
func (d *Dispatcher) stopPartitions(tps map[string][]int32) []*partition {
	d.mu.Lock()
	defer d.mu.Unlock()
	var parts []*partition
	for t, ps := range tps {
		for _, id := range ps {
			if p := d.parts[tp{t, id}]; p != nil && !p.fenced {
				if !p.stopped() {
					close(p.stop)
				}
				parts = append(parts, p)
			}
		}
	}
	return parts
}

// fence forgets parts: their jobs are cancelled, their queued deliveries
// dropped, and late completions ignored. Call with d.commitMu held, so no
// commit of theirs can follow.
func (d *Dispatcher) fence(parts []*partition, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fenceLocked(parts, why)
}

// fenceLocked is fence with d.mu held.
func (d *Dispatcher) fenceLocked(parts []*partition, why string) {
	for _, p := range parts {
		p.fenced = true
		if p.gate != nil {
			p.gate.Stop()
		}
		p.held = nil
		d.unstarve(p)
		if d.parts[tp{p.topic, p.id}] == p {
			delete(d.parts, tp{p.topic, p.id})
		}
		d.forgetParked(p.id)
		p.cancelJobs()
		d.log.Info("partition "+why, zap.String("topic", p.topic), zap.Int32("partition", p.id),
			zap.Uint64("gen", p.gen), zap.Int64("committed", p.committed), zap.Int("abandoned", p.win.Pending()))
	}
	for _, l := range d.lanes {
		l.queue = d.dropStopped(l.queue)
		if l.active == 0 && len(l.queue) == 0 {
			delete(d.lanes, l.id)
		}
	}
}

// dropStopped removes the jobs of stopped partitions from q and gives
// their window bytes back. Call with d.mu held.
func (d *Dispatcher) dropStopped(q []*job) []*job {
	out := q[:0]
	for _, j := range q {
		if !j.part.stopped() {
			out = append(out, j)
		} else {
			d.release(j)
		}
	}
	clear(q[len(out):])
	return out
}

func (d *Dispatcher) commitLoop(ctx context.Context) {
	t := time.NewTicker(d.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := d.commit(cctx, nil); err != nil && ctx.Err() == nil {
			d.kafka.failed("offset commit (retried at the next interval)", err)
		}
		cancel()
	}
}

// commit commits the low-water marks that moved, of the given partitions
// or (nil) of every partition still owned.
func (d *Dispatcher) commit(ctx context.Context, parts []*partition) error {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	return d.commitLocked(ctx, d.cl, parts)
}

// commitLocked is commit with d.commitMu held. It takes the client as an
// argument because rebalance callbacks get it from franz-go directly.
func (d *Dispatcher) commitLocked(ctx context.Context, cl *kgo.Client, parts []*partition) error {
	type pending struct {
		p   *partition
		off int64
	}
	var todo []pending
	offsets := map[string]map[int32]kgo.EpochOffset{}
	d.mu.Lock()
	if parts == nil {
		for _, p := range d.parts {
			parts = append(parts, p)
		}
	}
	for _, p := range parts {
		m, ok := p.win.Mark()
		if p.fenced || !ok || m.Offset <= p.committed {
			continue
		}
		if offsets[p.topic] == nil {
			offsets[p.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[p.topic][p.id] = kgo.EpochOffset{Epoch: m.Epoch, Offset: m.Offset}
		todo = append(todo, pending{p, m.Offset})
	}
	d.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	failed := map[tp]error{}
	var reqErr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			reqErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					failed[tp{t.Topic, p.Partition}] = err
				}
			}
		}
	})
	if reqErr != nil {
		d.rec.Committed(reqErr)
		return fmt.Errorf("deliver: committing offsets: %w", reqErr)
	}
	var errs []error
	d.mu.Lock()
	for _, c := range todo {
		if err := failed[tp{c.p.topic, c.p.id}]; err != nil {
			errs = append(errs, fmt.Errorf("%s/%d: %w", c.p.topic, c.p.id, err))
			continue
		}
		c.p.committed = max(c.p.committed, c.off)
	}
	d.mu.Unlock()
	err := errors.Join(errs...)
	d.rec.Committed(err)
	if err == nil {
		d.kafka.ok()
	}
	if err != nil {
		return fmt.Errorf("deliver: committing offsets: %w", err)
	}
	return nil
}
