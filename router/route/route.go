// Package route runs Hookline's router: a consumer-group member that reads
// events from the source topics and fans each one out to the subscriptions
// that want it, producing one Delivery record per match to the deliveries
// topic (keyed by subscription id) and a DeadLetter for input it cannot
// route.
//
// # Exactly-once fan-out
//
// Each batch of polled records is routed inside one Kafka transaction
// (franz-go's GroupTransactSession): the deliveries, the dead letters and
// the consumed offsets commit together or not at all. If the process dies
// or the group rebalances before the commit, the transaction is aborted
// (by the broker when a restarted instance with the same transactional id
// fences it, or by the session on a rebalance) and the records are routed
// again from the last committed offsets. Readers of the deliveries topic
// that use read_committed, as the dispatcher does, therefore see every
// delivery exactly once. Delivery ids are derived from (event id,
// subscription id), so even a replay yields the same ids.
//
// # Bad input
//
// Undecodable, oversize and schema-invalid events (and, if configured,
// events of unknown types) are written to the DLQ in the same transaction,
// with their raw record and provenance; the router moves on. Events that
// match no subscription are counted and dropped. A subscription filter
// that does not compile or fails on an event never stops the router: the
// subscription is treated as not matching, and the failure is logged and
// counted. A filter that fails at run time also dead-letters the event for
// that subscription, with reason filter_error, in the same transaction:
// the dead letter carries the delivery a match would have made, so that it
// can be replayed once the filter is fixed. A broken filter would
// otherwise dead-letter every event it sees, so each subscription gets at
// most one such dead letter per Config.FilterDeadLetterInterval (one
// minute); the others are counted in Batch.FilterDeadLettersSuppressed. A filter that does not compile
// is reported when the subscription is loaded and matches nothing; it is
// not dead-lettered event by event.
//
// # Subscriptions
//
// The Router reads subscriptions from a table (platform/subtable) kept
// current by its own goroutine; Run waits for the table to catch up
// before consuming, and picks up changes at the next batch.
//
// # Limits
//
// At start, Run compares Config.MaxRecordBytes with the max.message.bytes
// of the deliveries and DLQ topics and ends with ErrConfig if a topic
// accepts less: such a record would fail its transaction on every
// attempt. Check reports a loop of transactions that keep failing while
// the brokers answer (a produce error no retry fixes), so that readiness
// shows a Router that makes no progress. Filters are
// compiled once per subscription id and filter text.
//
// # Shutdown
//
// When Run's context ends, the Router stops polling, routes the batch in
// hand and ends its transaction (within Config.DrainTimeout), then leaves
// the group so that the other members take over its partitions at once.
package route

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/router/internal/fanout"
	"github.com/hookline/hookline/schemas/filter"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Subscriptions is the subscription table the Router reads; a
// *subtable.Table that the caller runs.
type Subscriptions interface {
	// All returns the subscriptions; the Router does not modify them.
	All() []*record.Subscription
	// Version changes whenever the subscriptions do.
	Version() uint64
	// WaitReady blocks until the table has caught up or ctx ends.
	WaitReady(ctx context.Context) error
}

// Validator checks event data against the schema of its type; see
// registry.Registry.Validate.
type Validator = fanout.Validator

// Option configures a Router.
type Option interface{ apply(*Router) }

type optFunc func(*Router)

func (f optFunc) apply(r *Router) { f(r) }

// WithLogger sets the logger; the default discards.
func WithLogger(l *zap.Logger) Option { return optFunc(func(r *Router) { r.log = l }) }

// WithRecorder sets the metrics recorder; the default records nothing.
func WithRecorder(rec Recorder) Option { return optFunc(func(r *Router) { r.rec = rec }) }

// WithValidator sets the schema validator, overriding the default
// registry.Default(). A nil v disables validation.
func WithValidator(v Validator) Option {
	return optFunc(func(r *Router) { r.validator, r.validatorSet = v, true })
}

// Router routes events to subscriptions; see the package documentation.
type Router struct {
	cfg          Config
	subs         Subscriptions
	log          *zap.Logger
	rec          Recorder
	validator    Validator
	validatorSet bool
	now          func() time.Time
	after        func(time.Duration) <-chan time.Time // the BatchWait timer; tests replace it

	out      outage       // touched by Run's goroutine only, except out.down and out.sinceNs
	lastRead atomic.Int64 // unix ns of the last successful read from a broker

	filterDeadLettered map[string]time.Time // last filter_error dead letter committed per subscription; Run's goroutine only

	core       *fanout.Router
	compiler   *fanout.Compiler
	set        *fanout.Set
	setVersion uint64
}

// New returns a Router of cfg reading subscriptions from subs. It fails if
// cfg is invalid or the default schema registry cannot be loaded.
func New(cfg Config, subs Subscriptions, opts ...Option) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	r := &Router{cfg: cfg, subs: subs, log: zap.NewNop(), rec: nopRecorder{}, now: time.Now, after: time.After, compiler: fanout.NewCompiler()}
	for _, o := range opts {
		o.apply(r)
	}
	r.out = outage{log: r.log, maxBackoff: cfg.MaxRetryBackoff, now: time.Now}
	if !r.validatorSet {
		reg, err := registry.Default()
		if err != nil {
			return nil, fmt.Errorf("route: loading schemas: %w", err)
		}
		r.validator = reg
	}
	r.core = fanout.New(fanout.Config{
		Deliveries:         cfg.Topics.Deliveries(),
		DLQ:                cfg.Topics.DLQ(),
		MaxEventBytes:      cfg.MaxEventBytes,
		MaxRecordBytes:     cfg.MaxRecordBytes,
		RejectUnknownTypes: cfg.RejectUnknownTypes,
		Validator:          r.validator,
	})
	return r, nil
}

// Run waits for the subscription table, then consumes and routes until ctx
// ends. Call it once per Router. It returns nil after a clean shutdown.
//
// Kafka outages do not end Run: a transaction that fails (an unreachable
// broker, a coordinator that moved or is loading, an aborted produce) is
// aborted as franz-go's GroupTransactSession documents, and its batch is
// routed again once Kafka answers, after a capped exponential backoff.
// When a commit's outcome is unknown (the connection broke during
// EndTxn), the Router starts a new session: its InitProducerID fences and
// aborts whatever the old one left open, and its group join reads the
// committed offsets back from the broker, so no batch is routed twice.
// Run ends with an error wrapping ErrFenced when a newer instance took the
// transactional id over, and ErrConfig when Kafka refuses the
// configuration; each is logged once by the caller.
func (r *Router) Run(ctx context.Context) error {
	if err := r.subs.WaitReady(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("route: waiting for subscriptions: %w", err)
	}
	if err := r.checkLimits(ctx); err != nil {
		return err
	}
	r.log.Info("router consuming",
		zap.Strings("sources", r.cfg.Sources), zap.Bool("regex", r.cfg.SourceRegex),
		zap.String("group", r.cfg.Group), zap.String("transactional_id", r.cfg.TransactionalID),
		zap.String("deliveries", r.cfg.Topics.Deliveries()))
	for {
		err := r.session(ctx)
		if ctx.Err() != nil {
			r.log.Info("router stopped; left the group")
			return nil
		}
		re := &restart{reason: "the session ended", err: errors.New("no error")}
		if err != nil && !errors.As(err, &re) {
			return err
		}
		r.log.Info("starting a new Kafka session", zap.String("reason", re.reason))
		if !sleep(ctx, r.out.fail("starting a new session", re.err)) {
			return nil
		}
	}
}

// restart asks Run for a new session.
type restart struct {
	reason string
	err    error
}

func (e *restart) Error() string { return "route: " + e.reason + ": " + e.err.Error() }
func (e *restart) Unwrap() error { return e.err }

// session runs one transactional group session until ctx ends (nil), the
// session must be replaced (*restart), or a fatal error.
func (r *Router) session(ctx context.Context) error {
	sess, err := kgo.NewGroupTransactSession(append(r.cfg.clientOpts(), kgo.WithHooks(readHook{r}))...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	// Shutdown order: ctx ends polling; the batch in hand is routed and
	// its transaction ended under work, which outlives ctx by at most
	// DrainTimeout; then Close leaves the group.
	defer sess.Close()
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	defer context.AfterFunc(ctx, func() {
		// Ends with session at the latest (cancelWork is deferred).
		t := time.NewTimer(r.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelWork()
		case <-work.Done():
		}
	})()

	// Fence any previous incarnation of this transactional id before the
	// first poll: initializing the producer id aborts the transaction a
	// crashed incarnation (or this process's previous session) left open,
	// whose pending offsets would otherwise stall this member's offset
	// fetches until that transaction timed out.
	for {
		_, _, err := sess.Client().ProducerID(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := r.fatal(err, time.Time{}); err != nil {
			return fmt.Errorf("initializing transactional producer %q: %w", r.cfg.TransactionalID, err)
		}
		if !sleep(ctx, r.out.fail("initializing the transactional producer", err)) {
			return nil
		}
	}

	var (
		missingSince, lastBegin time.Time
		pace                    cadence
	)
	for {
		// Records already fetched when the poll begins waited for the
		// router: more may have reached the broker since.
		behind := sess.Client().BufferedFetchRecords() > 0
		fetches := sess.PollRecords(ctx, r.cfg.MaxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil && fetches.Empty() {
			return nil
		}
		if !fetches.Empty() {
			wait, settle := r.batchWait(pace.rate())
			fetches = r.gather(ctx, sess, fetches, lastBegin, behind, wait, settle)
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || fetchErr != nil {
				return
			}
			fetchErr = fmt.Errorf("fetching %s[%d]: %w", t, p, err)
		})
		if fetchErr != nil {
			if isConfigErr(fetchErr) {
				return fmt.Errorf("%w: %w", ErrConfig, fetchErr)
			}
			if fetches.Empty() && !sleep(ctx, r.out.fail("fetching", fetchErr)) {
				return nil
			}
		}
		if fetches.Empty() {
			continue
		}
		began := time.Now()
		if !lastBegin.IsZero() {
			pace.observe(fetches.NumRecords(), began.Sub(lastBegin))
		}
		lastBegin = began
		committed, produceErr, endErr := r.transact(work, sess, fetches)
		switch {
		case endErr != nil:
			if work.Err() != nil {
				r.log.Warn("shutdown: the drain timeout ended the transaction in hand; the next instance aborts it", zap.Error(endErr))
				return nil
			}
			if err := r.fatal(endErr, began); err != nil {
				return err
			}
			if err := r.recoverEnd(ctx, work, sess, produceErr == nil, endErr, began); err != nil {
				return err
			}
		case produceErr != nil:
			if work.Err() != nil {
				return nil
			}
			if err := r.fatal(produceErr, began); err != nil {
				return err
			}
			if isMissingTopic(produceErr) {
				if missingSince.IsZero() {
					missingSince = time.Now()
				} else if time.Since(missingSince) >= r.cfg.MissingTopicGrace {
					return fmt.Errorf("%w: a topic is still missing after %v: %w", ErrConfig, r.cfg.MissingTopicGrace, produceErr)
				}
			} else {
				missingSince = time.Time{}
			}
			// Kafka refused a record; the transaction was aborted and
			// the batch is consumed again after a pause.
			if !sleep(ctx, r.out.fail("producing (transaction aborted; the batch is routed again)", produceErr)) {
				return nil
			}
		case committed:
			missingSince = time.Time{}
			r.out.ok()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// gather adds to fetches what arrives before the batch's time is up, until
// the batch holds MaxPollRecords: the time and size bounds of a
// transaction.
//
// batchWait is the batch's time bound: Config.BatchWait, or
// Config.BusyBatchWait under load (Router.batchWait).
//
//   - A batch that begins within batchWait of the previous
//     transaction's start (lastBegin) collects until batchWait has passed
//     since then: polling as events arrive, or, when settle is set,
//     letting them settle at the broker and fetching them at the end
//     (Router.settle).
//   - A batch that begins later was either a trickle (the poll waited for
//     it: it starts at once) or fetched while the router was busy with
//     the previous transaction (behind). franz-go sends the next fetch only once a poll has taken
//     the fetch it holds, so records that reached the broker after that
//     fetch returned are still there: the batch takes in the next fetch
//     too (at most batchWait), instead of leaving them for one more
//     transaction.
//
// Fetch errors met while gathering are left for the next poll to report;
// records that came with them are kept.
func (r *Router) gather(ctx context.Context, sess *kgo.GroupTransactSession, fetches kgo.Fetches, lastBegin time.Time, behind bool, batchWait time.Duration, settle bool) kgo.Fetches {
	n := fetches.NumRecords()
	if batchWait <= 0 || n >= r.cfg.MaxPollRecords {
		return fetches
	}
	if lastBegin.IsZero() {
		return fetches // a session's first batch
	}
	wait, catchUp := batchWait-time.Since(lastBegin), false
	if wait <= 0 {
		if !behind {
			return fetches
		}
		wait, catchUp = batchWait, true
	}
	if settle && !catchUp {
		return r.settle(ctx, sess, fetches, n, wait)
	}
	gctx, cancel := r.until(ctx, wait)
	defer cancel()
	for n < r.cfg.MaxPollRecords {
		more := sess.PollRecords(gctx, r.cfg.MaxPollRecords-n)
		if more.IsClientClosed() {
			break
		}
		fetches, n = keepRecords(fetches, n, more)
		if gctx.Err() != nil || catchUp && more.NumRecords() > 0 {
			break
		}
	}
	return fetches
}

// settle is gather's wait under load. Polling as events arrive costs a
// fetch for every few of them (the client sends the next fetch as soon as
// a poll takes the last, and the broker answers it with the first event
// that follows), and a fetch costs the broker and the router about the
// same whatever it carries. Instead the router sleeps through the wait:
// the client holds at most the one fetch it had sent, and the rest of the
// batch settles at the broker. Then it takes what the client holds, which
// sends the next fetch, and takes that one too (waiting at most
// Config.BatchWait for it): about two fetches per batch instead of one
// per few events. Router.batchWait asks for this only when the wait is
// not expected to fill the batch, as polling ends a full batch sooner.
func (r *Router) settle(ctx context.Context, sess *kgo.GroupTransactSession, fetches kgo.Fetches, n int, wait time.Duration) kgo.Fetches {
	select {
	case <-r.after(wait):
	case <-ctx.Done():
		return fetches
	}
	// franz-go documents a nil context as "return only what is buffered";
	// a cancelled one would return nothing.
	//lint:ignore SA1012 the nil context is PollRecords' non-blocking form
	held := sess.PollRecords(nil, r.cfg.MaxPollRecords-n)
	if held.IsClientClosed() || held.NumRecords() == 0 {
		return fetches // nothing arrived, or it comes with the next poll
	}
	fetches, n = keepRecords(fetches, n, held)
	if n >= r.cfg.MaxPollRecords {
		return fetches
	}
	cctx, cancel := r.until(ctx, r.cfg.BatchWait)
	defer cancel()
	more := sess.PollRecords(cctx, r.cfg.MaxPollRecords-n)
	if !more.IsClientClosed() {
		fetches, _ = keepRecords(fetches, n, more)
	}
	return fetches
}

// until returns a context of ctx that ends when the timer of d (r.after)
// fires or cancel is called; call cancel when done with it.
func (r *Router) until(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	tctx, cancel := context.WithCancel(ctx)
	timer := r.after(d)
	go func() { // ends with cancel at the latest
		select {
		case <-timer:
			cancel()
		case <-tctx.Done():
		}
	}()
	return tctx, cancel
}

// keepRecords appends to fetches the partitions of more that carry
// records, without their errors (gather leaves those for the next poll),
// and returns n plus the records added.
func keepRecords(fetches kgo.Fetches, n int, more kgo.Fetches) (kgo.Fetches, int) {
	more.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) > 0 {
			p.Err = nil
			fetches = append(fetches, kgo.Fetch{Topics: []kgo.FetchTopic{{Topic: p.Topic, Partitions: []kgo.FetchPartition{p.FetchPartition}}}})
			n += len(p.Records)
		}
	})
	return fetches, n
}

// batchWait is the time bound of the next batch: Config.BusyBatchWait
// while events arrive at Config.BusyRate or more, else Config.BatchWait.
// A router told never to wait (BatchWait negative) never does. settle
// reports that the batch may sleep through a busy wait (Router.settle):
// at the rate measured, the wait is not expected to fill it.
func (r *Router) batchWait(rate float64) (wait time.Duration, settle bool) {
	if r.cfg.BatchWait > 0 && r.cfg.BusyBatchWait > r.cfg.BatchWait && rate >= r.cfg.BusyRate {
		return r.cfg.BusyBatchWait, rate*r.cfg.BusyBatchWait.Seconds() < float64(r.cfg.MaxPollRecords)
	}
	return r.cfg.BatchWait, false
}

// cadence estimates the rate at which events reach the router from the
// transactions it began: exponentially weighted averages of the records
// each carried and of the time since the start of the one before. The
// time is counted as at most a second, so that after a quiet spell a
// burst is recognised soon: 3,000 events/s in transactions 5 ms apart
// passes 1,000/s after about 17 of them, under a tenth of a second.
type cadence struct{ records, seconds float64 }

// cadenceWeight is the weight of the newest transaction in the averages.
const cadenceWeight = 0.25

func (c *cadence) observe(records int, since time.Duration) {
	secs := min(since, time.Second).Seconds()
	if c.seconds == 0 {
		c.records, c.seconds = float64(records), secs
		return
	}
	c.records += cadenceWeight * (float64(records) - c.records)
	c.seconds += cadenceWeight * (secs - c.seconds)
}

// rate is the estimate in events/s; 0 before any transaction.
func (c *cadence) rate() float64 {
	if c.seconds <= 0 {
		return 0
	}
	return c.records / c.seconds
}

// recoverEnd handles a transaction whose End failed. As franz-go
// documents, it ends it again with an abort until Kafka confirms. If the
// failed End tried to commit, the commit may have happened (the reply was
// lost), and the session's idea of the committed offsets may be stale:
// the session is then replaced, so that the new one fences the old
// producer epoch and reads the committed offsets from the broker.
func (r *Router) recoverEnd(ctx, work context.Context, sess *kgo.GroupTransactSession, triedCommit bool, endErr error, began time.Time) error {
	err := endErr
	for {
		if !sleep(ctx, r.out.fail("ending a transaction", err)) {
			return nil
		}
		if _, err = sess.End(work, kgo.TryAbort); err == nil {
			break
		}
		if work.Err() != nil {
			return nil
		}
		if err := r.fatal(err, began); err != nil {
			return err
		}
	}
	if !triedCommit {
		return nil // the session rewound to its committed offsets
	}
	// Leave the group only once a broker answers, so that the next
	// session does not wait for this member's session to time out.
	for {
		err := sess.Client().Ping(ctx)
		if err == nil {
			break
		}
		if !sleep(ctx, r.out.fail("reaching a broker", err)) {
			return nil
		}
	}
	return &restart{reason: "the outcome of a commit is unknown", err: endErr}
}

// fatal returns the error that ends Run for err, or nil if err is to be
// ridden out. A fencing error is fatal unless the transaction has been
// open longer than the transaction timeout (began is its start; zero if
// none is open): the broker then aborted it itself and bumped the epoch,
// and a new session recovers.
func (r *Router) fatal(err error, began time.Time) error {
	switch {
	case isConfigErr(err):
		return fmt.Errorf("%w: %w", ErrConfig, err)
	case isFencing(err):
		if !began.IsZero() && time.Since(began) >= r.cfg.TransactionTimeout {
			return &restart{reason: "the broker aborted a transaction that outlived the transaction timeout", err: err}
		}
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return nil
}

// notice is something to log once the transaction that produced it has
// committed.
type notice struct {
	rec *kgo.Record
	res *fanout.Result
}

// transact routes one batch in one transaction. It reports whether the
// transaction committed, the first produce error (the transaction was then
// aborted), and an error ending the transaction; see recoverEnd.
func (r *Router) transact(ctx context.Context, sess *kgo.GroupTransactSession, fetches kgo.Fetches) (committed bool, produceErr, endErr error) {
	start := time.Now()
	set := r.snapshot()
	if err := sess.Begin(); err != nil {
		return false, nil, fmt.Errorf("beginning transaction: %w", err)
	}
	b := Batch{Events: map[string]int{}, DeadLetters: map[string]int{}, FilterErrors: map[string]int{}}
	var notices []notice
	promise := kgo.AbortingFirstErrPromise(sess.Client())
	now := r.now()
	recs := make([]*kgo.Record, 0, fetches.NumRecords())
	fetches.EachRecord(func(rec *kgo.Record) { recs = append(recs, rec) })
	// Route a chunk of records on every core, then produce its records in
	// consumption order; chunks bound the records held in memory.
	const chunk = 64
	results := make([]fanout.Result, min(chunk, len(recs)))
	for len(recs) > 0 {
		part := recs[:min(chunk, len(recs))]
		recs = recs[len(part):]
		r.routeAll(set, part, results[:len(part)], now)
		for i, rec := range part {
			r.collect(ctx, sess, promise, rec, &results[i], &b, &notices)
			results[i] = fanout.Result{}
		}
	}
	// Wait for every produce before choosing commit or abort: a record
	// that fails during End's own flush would otherwise go unnoticed
	// until the commit.
	if err := sess.Client().Flush(ctx); err != nil {
		produceErr = err
	} else {
		produceErr = promise.Err()
	}
	committed, endErr = sess.End(ctx, kgo.TransactionEndTry(produceErr == nil))
	took := time.Since(start)
	if endErr != nil {
		r.rec.Aborted(took)
		return false, produceErr, fmt.Errorf("ending transaction: %w", endErr)
	}
	if !committed {
		r.rec.Aborted(took)
		if produceErr == nil {
			r.log.Info("transaction aborted by a rebalance; the batch will be routed again",
				zap.Int("records", fetches.NumRecords()))
		}
		return false, produceErr, nil
	}
	r.rec.Committed(&b, took)
	r.noteFilterDeadLetters(&b, now)
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if n := len(p.Records); n > 0 {
			r.rec.Lag(p.Topic, p.Partition, max(0, p.HighWatermark-p.Records[n-1].Offset-1))
		}
	})
	for _, n := range notices {
		r.report(n.rec, n.res)
	}
	return true, nil, nil
}

// staleRead is how long without any answer from a broker (fetches and
// group heartbeats answer every few seconds) makes the Router not ready,
// even before a transaction step fails (a flush waiting for an
// unreachable broker, say).
const staleRead = 15 * time.Second

// Check reports ErrUnavailable while Kafka does not let the Router make
// progress: from the first failure of an outage until a transaction
// commits or, with no events to route, a broker answers the Router's
// client again; and whenever no broker has answered for staleRead. Use it
// as a readiness check; it is safe to call from any goroutine.
func (r *Router) Check() error {
	last := r.lastRead.Load()
	if r.out.down.Load() && last <= r.out.sinceNs.Load() {
		return ErrUnavailable
	}
	if err := r.stuck(); err != nil {
		return err
	}
	if last > 0 && time.Since(time.Unix(0, last)) > staleRead {
		return fmt.Errorf("%w: no answer from Kafka for %s", ErrUnavailable, time.Since(time.Unix(0, last)).Round(time.Second))
	}
	return nil
}

// readHook notes every successful read from a broker, for Check.
type readHook struct{ r *Router }

var _ kgo.HookBrokerRead = readHook{}

func (h readHook) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		h.r.lastRead.Store(time.Now().UnixNano())
	}
}

// routeAll routes recs into results, spread over up to Config.Workers
// goroutines.
func (r *Router) routeAll(set *fanout.Set, recs []*kgo.Record, results []fanout.Result, now time.Time) {
	workers := min(r.cfg.Workers, len(recs))
	if workers <= 1 {
		for i, rec := range recs {
			results[i] = r.core.Route(set, rec, now)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(recs); i = int(next.Add(1) - 1) {
				results[i] = r.core.Route(set, recs[i], now)
			}
		})
	}
	wg.Wait()
}

// collect produces the records of one routed event in the transaction and
// adds it to the batch's counts and notices.
func (r *Router) collect(ctx context.Context, sess *kgo.GroupTransactSession, promise *kgo.FirstErrPromise,
	rec *kgo.Record, res *fanout.Result, b *Batch, notices *[]notice,
) {
	b.Events[rec.Topic]++
	filterDLs := 0
	for _, out := range res.Records {
		if res.Reason == "" && out.Topic == r.cfg.Topics.DLQ() { // a filter_error dead letter
			if !r.admitFilterDeadLetter(out, b) {
				continue
			}
			filterDLs++
		}
		sess.Produce(ctx, out, promise.Promise())
	}
	res.FilterDeadLetters = filterDLs
	for _, fe := range res.FilterErrors {
		b.FilterErrors[filterKind(fe.Err)]++
	}
	switch {
	case res.Reason != "":
		b.DeadLetters[res.Reason]++
	case res.Deliveries == 0:
		b.Unmatched++
	}
	if res.FilterDeadLetters > 0 {
		b.DeadLetters[record.ReasonFilterError] += res.FilterDeadLetters
	}
	if res.Reason == "" {
		b.Matches = append(b.Matches, res.Deliveries)
		b.Deliveries += res.Deliveries
	}
	if res.Reason != "" || len(res.FilterErrors) > 0 {
		kept := *res
		kept.Records = nil // produced; only logged from here on
		*notices = append(*notices, notice{rec: rec, res: &kept})
	} else if ce := r.log.Check(zap.DebugLevel, "event routed"); ce != nil {
		ce.Write(eventFields(rec, res, zap.Int("deliveries", res.Deliveries))...)
	}
}

// report logs a dead letter or filter failure that has been committed.
func (r *Router) report(rec *kgo.Record, res *fanout.Result) {
	if res.Reason != "" {
		r.log.Warn("event dead-lettered", eventFields(rec, res, zap.String("reason", res.Reason), zap.Error(res.Err))...)
	}
	for _, fe := range res.FilterErrors {
		msg := "subscription filter failed; treated as not matching"
		if !errors.Is(fe.Err, filter.ErrCompile) && res.FilterDeadLetters > 0 {
			msg = "subscription filter failed; treated as not matching and dead-lettered"
		}
		r.log.Warn(msg, eventFields(rec, res,
			zap.String("subscription_id", fe.SubscriptionID), zap.String("kind", filterKind(fe.Err)), zap.Error(fe.Err))...)
	}
}

func eventFields(rec *kgo.Record, res *fanout.Result, more ...zap.Field) []zap.Field {
	fs := make([]zap.Field, 0, 5+len(more))
	if res.Event != nil {
		fs = append(fs, zap.String("event_id", res.Event.ID), zap.String("event_type", res.Event.Type))
	}
	fs = append(fs, zap.String("topic", rec.Topic), zap.Int32("partition", rec.Partition), zap.Int64("offset", rec.Offset))
	return append(fs, more...)
}

func filterKind(err error) string {
	if errors.Is(err, filter.ErrCompile) {
		return "compile"
	}
	return "eval"
}

// snapshot returns the compiled subscription set, rebuilt when the table
// has changed since the last batch.
func (r *Router) snapshot() *fanout.Set {
	v := r.subs.Version()
	if r.set != nil && v == r.setVersion {
		return r.set
	}
	set, failed := r.compiler.Compile(r.subs.All())
	for _, f := range failed {
		r.log.Warn("subscription filter does not compile; the subscription matches nothing until it is fixed",
			zap.String("subscription_id", f.SubscriptionID), zap.Error(f.Err))
	}
	r.set, r.setVersion = set, v
	r.rec.Subscriptions(set.Active())
	return set
}
