package deliver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookline/hookline/dispatcher/internal/admit"
	"github.com/hookline/hookline/dispatcher/internal/payload"
	"github.com/hookline/hookline/dispatcher/internal/post"
	"github.com/hookline/hookline/dispatcher/internal/retry"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// job is one record of a partition window on its way to a durable outcome.
type job struct {
	rec  *kgo.Record
	del  record.Delivery
	bad  error // the record does not decode as a Delivery
	part *partition
	lane *lane // nil for undecodable records
	// compactJSON is set when the decoder found del's event data to be
	// compact JSON (record.DecodeDeliveryData): payloads embed it without
	// checking it again.
	compactJSON bool
	// ordered is set when j's subscription is ordered, so parking it
	// queues it (see park.go).
	ordered bool
	// queued is set when j was put in its subscription's park queue.
	queued bool
	// backlog is set when j arrived behind a deep lane: it is parked
	// rather than held in the window (fair shares; unordered only).
	backlog bool
	// lazy is set until a record of the deliveries topic is decoded
	// (newLazyJob).
	lazy bool
	// size is what j counts against WindowBytes while it is in a window
	// (zero before it is admitted and once it is released).
	size int64
}

func newJob(r *kgo.Record) *job {
	j := &job{rec: r}
	j.del, j.compactJSON, j.bad = record.DecodeDeliveryData(r.Value)
	return j
}

// newLazyJob is newJob for a record of the deliveries topic, decoded only
// when its turn comes (decode): its key, the subscription id, is all its
// lane needs. Reading a deep backlog is then cheap, so the records
// behind it in the partition enter their lanes at once.
func newLazyJob(r *kgo.Record) *job {
	j := &job{rec: r, lazy: true}
	j.del.SubscriptionID = string(r.Key)
	return j
}

// decode decodes a lazy job's record. A record on the deliveries topic
// starts the schedule (a replay tool may have copied a dead letter's
// tier).
func (j *job) decode() {
	if !j.lazy {
		return
	}
	j.lazy = false
	j.del, j.compactJSON, j.bad = record.DecodeDeliveryData(j.rec.Value)
	j.del.Tier, j.del.ParkedAt = 0, time.Time{}
}

// due returns when j may be worked: its not-before time (zero for an
// undecodable record, which is dead-lettered at once).
func (j *job) due() time.Time {
	if j.bad != nil {
		return time.Time{}
	}
	return j.del.NotBefore
}

// failure is why a delivery is dead-lettered.
type failure struct {
	reason   string
	status   int
	err      error
	attempts int
}

// process works j until its outcome is durable (true) or it must stop
// without one (false): its partition was revoked, shutdown began, or ctx
// ended. The outcome is one of: delivered, produced to a retry tier (a
// retry, or parked while its subscription is paused), dead-lettered.
func (d *Dispatcher) process(ctx context.Context, j *job) bool {
	j.decode()
	if j.bad == nil && j.del.Parked() {
		d.comeRound(j)
	}
	if j.bad != nil {
		return d.deadLetter(ctx, j, failure{reason: record.ReasonInvalidRecord, err: j.bad})
	}
	for {
		sub, ok := d.subs.Get(j.del.SubscriptionID)
		// Deliveries of a subscription not in the table yet are queued
		// when parked too: it may turn out ordered (the queue is read
		// only for ordered subscriptions).
		j.ordered = !ok || sub.Ordered
		switch {
		case !ok && !j.del.RoutedAt.IsZero() && time.Since(j.del.RoutedAt) < d.cfg.UnknownGrace:
			// Routed moments ago: the table may lag behind the router's.
			return d.park(ctx, j, "subscription not in the table yet")
		case !ok:
			return d.deadLetter(ctx, j, failure{reason: record.ReasonSubscriptionDeleted,
				err: fmt.Errorf("subscription %q does not exist", j.del.SubscriptionID)})
		case sub.State == record.StateDisabled:
			return d.deadLetter(ctx, j, failure{reason: record.ReasonEndpointDisabled,
				err: fmt.Errorf("subscription %q is disabled: %s", sub.ID, sub.StateReason)})
		case !sub.Active():
			// Paused (or a state this version does not know).
			return d.park(ctx, j, "subscription "+sub.State)
		case sub.Ordered && !d.parkTurn(j):
			// Earlier deliveries of this ordered subscription wait in the
			// retry path: this one goes round (again) behind them.
			return d.park(ctx, j, whyOrdered)
		}
		if j.backlog && !sub.Ordered {
			// Its lane was too deep when it arrived: it waits in the
			// retry path, not in the window, so the subscriptions behind
			// it on the partition are not held up.
			return d.park(ctx, j, whyBacklog)
		}
		// Admission: the breaker and the rate limit (internal/admit).
		v := d.gate.Admit(sub.ID, limitsOf(&sub))
		if v.Kind == admit.Defer {
			return d.deferred(ctx, j, &sub, v)
		}
		if v.Wait > 0 && !d.wait(ctx, j, v.Wait) {
			v.Done(admit.Excluded)
			return false
		}
		if !d.acquire(ctx, j) {
			v.Done(admit.Excluded)
			return false
		}
		// The wait for a slot may have been long: read the subscription
		// again, and start over if it is no longer active.
		if sub, ok = d.subs.Get(j.del.SubscriptionID); !ok || !sub.Active() {
			<-d.sem
			v.Done(admit.Excluded)
			continue
		}
		held := true
		out := d.send(ctx, j, &sub, &held)
		if held {
			<-d.sem
		}
		if v.Done(admitResult(out)) {
			d.disable(ctx, &sub, fmt.Sprintf("%s: no successful delivery for %s", ReasonFailing, d.cfg.DisableAfter))
		}
		if out.Result == post.Canceled {
			return false
		}
		dec := retry.Decide(d.cfg.RetrySchedule, resultOf(out), j.del.Tier, out.RetryAfter, time.Now(), retry.Rand())
		return d.act(ctx, j, &sub, out, dec)
	}
}

// ReasonFailing is the state reason of a subscription disabled because
// its endpoint failed for DisableAfter without a success.
const ReasonFailing = "failing"

// limitsOf returns the settings of sub the admission gate applies.
func limitsOf(sub *record.Subscription) admit.Limits {
	return admit.Limits{
		RateLimit:       sub.RateLimit,
		BreakerFailures: sub.BreakerFailures,
		BreakerOpen:     time.Duration(sub.BreakerOpenMillis) * time.Millisecond,
	}
}

// admitResult maps a send's outcome to what the breaker and the failing
// clock count: the endpoint's failures, not the request's (a 4xx, a
// refused address) nor its asking to slow down (429).
func admitResult(out post.Outcome) admit.Result {
	switch {
	case out.Result == post.Delivered:
		return admit.Success
	case out.Result == post.Failed && out.Status != http.StatusTooManyRequests:
		return admit.Failure
	}
	return admit.Excluded
}

// deferred acts on a delivery the gate did not let through: a breaker that
// is open sends it to its next retry tier without a request (dead-lettered
// exhausted after the last); a rate limit that would keep it waiting long
// parks it.
func (d *Dispatcher) deferred(ctx context.Context, j *job, sub *record.Subscription, v admit.Verdict) bool {
	if v.Reason == admit.ReasonRateLimited {
		return d.park(ctx, j, "rate limited until "+v.At.Format(time.RFC3339Nano))
	}
	d.rec.BreakerDeferred()
	if d.gate.Deferred(sub.ID) {
		d.disable(ctx, sub, fmt.Sprintf("%s: no successful delivery for %s", ReasonFailing, d.cfg.DisableAfter))
	}
	out := post.Outcome{Result: post.Failed, Err: errBreakerOpen}
	dec := retry.Decide(d.cfg.RetrySchedule, retry.Failed, j.del.Tier, 0, time.Now(), retry.Rand())
	return d.act(ctx, j, sub, out, dec)
}

var errBreakerOpen = errors.New("circuit breaker open: no request sent")

// breakerChanged logs a breaker's new state and writes it to the
// endpoint-status topic for hookctl subs get (best effort, never
// blocking: it runs under the breaker's lock).
func (d *Dispatcher) breakerChanged(sub, state string, at time.Time) {
	d.log.Info("circuit breaker "+state, zap.String("subscription_id", sub))
	st := record.EndpointStatus{SubscriptionID: sub, Breaker: state, Since: at.UTC()}
	r, err := st.Record(d.cfg.Topics.EndpointStatus())
	if err != nil || d.cl == nil {
		return
	}
	d.cl.TryProduce(context.Background(), r, func(_ *kgo.Record, err error) {
		if err != nil {
			d.log.Debug("endpoint status not written", zap.String("subscription_id", sub), zap.Error(err))
		}
	})
}

// wait waits for dur, reporting false if j must stop instead.
func (d *Dispatcher) wait(ctx context.Context, j *job, dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-d.stop:
	case <-j.part.stop:
	}
	return false
}

// resultOf maps a post outcome to the retry package's view of it.
func resultOf(out post.Outcome) retry.Result {
	switch out.Result {
	case post.Delivered:
		return retry.Success
	case post.Gone:
		return retry.Gone
	case post.Rejected:
		if errors.Is(out.Err, errNoSecret) {
			return retry.NoSecret
		}
		return retry.Rejected
	case post.Refused:
		return retry.Refused
	}
	return retry.Failed
}

// act carries out dec for j after a send that ended with out, and reports
// whether the outcome is durable.
func (d *Dispatcher) act(ctx context.Context, j *job, sub *record.Subscription, out post.Outcome, dec retry.Decision) bool {
	switch dec.Kind {
	case retry.Delivered:
		at := j.del.Event.Time
		if at.IsZero() {
			at = j.del.RoutedAt
		}
		if !at.IsZero() {
			d.rec.Delivered(time.Since(at))
		}
		d.unpark(j)
		return true
	case retry.Retry:
		next := j.del
		next.Attempt += out.Attempts
		next.Tier = dec.Tier
		next.NotBefore = dec.NotBefore.UTC()
		next.ParkedAt = time.Time{}
		if next.FirstAttemptAt.IsZero() {
			next.FirstAttemptAt = time.Now().UTC()
		}
		durable, produced := d.produceDelivery(ctx, j, next, dec.Tier)
		if !produced {
			return durable
		}
		d.rec.Scheduled(dec.Tier)
		if ce := d.log.Check(zap.DebugLevel, "retry scheduled"); ce != nil {
			ce.Write(zap.String("delivery_id", j.del.ID), zap.String("subscription_id", j.del.SubscriptionID),
				zap.Int("tier", dec.Tier), zap.Time("not_before", next.NotBefore), zap.Int("attempts", next.Attempt),
				zap.Int("last_status", out.Status), zap.Error(out.Err))
		}
		d.unpark(j)
		return true
	}
	f := failure{reason: dec.Reason, status: out.Status, err: out.Err, attempts: out.Attempts}
	if !d.deadLetter(ctx, j, f) {
		return false
	}
	if dec.Disable {
		d.disable(ctx, sub, fmt.Sprintf("%s: the endpoint answered %d %s", dec.Reason, out.Status, http.StatusText(out.Status)))
	}
	return true
}

// produceDelivery writes next to retry tier and waits for Kafka's
// acknowledgement. A record Kafka refuses for good (too large) is
// dead-lettered instead, so the partition moves on. durable reports
// whether j has a durable outcome, produced whether that is next.
func (d *Dispatcher) produceDelivery(ctx context.Context, j *job, next record.Delivery, tier int) (durable, produced bool) {
	r, err := next.Record(d.cfg.Topics.Retry(tier))
	if err == nil {
		err = d.produce(ctx, r)
		if err == nil {
			return true, true
		}
		if ctx.Err() != nil {
			return false, false
		}
	}
	return d.deadLetter(ctx, j, failure{reason: record.ReasonTooLarge, attempts: next.Attempt - j.del.Attempt,
		err: fmt.Errorf("retry tier %d refused the delivery: %w", tier, err)}), false
}

// disable marks the subscription used for a request disabled with
// reason (410 Gone, or failing for DisableAfter), unless it changed since.
// Best effort: the delivery's outcome is already durable, and the next
// verdict tries again.
func (d *Dispatcher) disable(ctx context.Context, used *record.Subscription, reason string) {
	sub, ok := d.subs.Get(used.ID)
	if !ok || sub.State == record.StateDisabled {
		return
	}
	if sub.URL != used.URL || sub.Revision != used.Revision || !sub.UpdatedAt.Equal(used.UpdatedAt) {
		// Changed since the request (a new URL, say): the verdict was on
		// the old settings, and writing this copy back would undo the
		// change.
		d.log.Info("not disabling a subscription changed since its failed request", zap.String("subscription_id", sub.ID), zap.String("reason", reason))
		return
	}
	sub.State, sub.StateReason, sub.UpdatedAt = record.StateDisabled, reason, time.Now().UTC()
	sub.Revision++ // a write like the admin API's: a stale If-Match now fails
	r, err := sub.Record(d.cfg.Topics.Subscriptions())
	if err == nil {
		// Bounded: the delivery's own outcome is already durable, and a
		// dispatcher that may not write subscriptions must not stall.
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = d.cl.ProduceSync(pctx, r).FirstErr()
		cancel()
	}
	if err != nil {
		d.rec.ProduceFailed(d.cfg.Topics.Subscriptions())
		d.log.Warn("could not disable subscription; the next verdict tries again", zap.String("subscription_id", sub.ID), zap.String("reason", reason), zap.Error(err))
		return
	}
	d.log.Info("subscription disabled", zap.String("subscription_id", sub.ID), zap.String("reason", reason))
}

// acquire takes a slot of the global HTTP cap, reporting false if j must
// stop instead.
func (d *Dispatcher) acquire(ctx context.Context, j *job) bool {
	return d.acquireErr(ctx, j) == nil
}

var errStopped = errors.New("stopping")

// acquireErr is acquire with the reason it did not get a slot.
//
// A job already started goes on during a graceful shutdown (the drain
// waits for it, up to DrainTimeout, then cancels ctx): abandoning it
// before its request while later ones finish would leave a gap below
// which nothing can be committed. A revoked partition's jobs stop at
// once: another member owns them.
func (d *Dispatcher) acquireErr(ctx context.Context, j *job) error {
	select {
	case <-j.part.stop:
		return errStopped
	default:
	}
	select {
	case d.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-j.part.stop:
	}
	return errStopped
}

// send renders, signs and posts j to sub. It is called holding a slot of
// the global cap; the slot is given back for the backoff between quick
// retries and taken again after, and *held says whether it is held when
// send returns.
func (d *Dispatcher) send(ctx context.Context, j *job, sub *record.Subscription, held *bool) post.Outcome {
	now := time.Now()
	body, ph, err := payload.Build(sub.Format, &j.del.Event, now, j.compactJSON)
	if err != nil {
		return post.Outcome{Result: post.Rejected, Err: err}
	}
	secrets := sub.SigningKeys(now, &d.keys)
	if len(secrets) == 0 {
		return post.Outcome{Result: post.Rejected, Err: errNoSecret}
	}
	// The payload's headers (Content-Type, ce-*) win over the
	// subscription's own; the map is the request's (post.Send takes it).
	h := ph
	for k, v := range sub.Headers {
		if k = http.CanonicalHeaderKey(k); h[k] == nil {
			h[k] = []string{v}
		}
	}
	h.Set("User-Agent", d.cfg.UserAgent)
	return d.http.Send(ctx, post.Request{
		URL:     sub.URL,
		Header:  h,
		Body:    body,
		Timeout: sub.Timeout(),
		// Quick retries on the first pass only; a retry tier is one
		// attempt, as its schedule says.
		NoRetry: j.del.Tier > 0,
		// The same webhook-id on every attempt; a fresh timestamp.
		Sign: func(h http.Header) { webhook.SetHeadersKeys(h, j.del.ID, time.Now(), body, secrets...) },
		OnAttempt: func(a post.Attempt) {
			d.attempt(j, sub.URL, a)
		},
		Release: func() { <-d.sem; *held = false },
		Acquire: func(ctx context.Context) error {
			if err := d.acquireErr(ctx, j); err != nil {
				return err
			}
			*held = true
			return nil
		},
	})
}

var errNoSecret = errors.New("subscription has no signing secret in force")

// attempt records one HTTP attempt to url: metrics, a debug log line and
// an attempt record, queued on the attempt log (best effort: dropped when
// the log or the producer is saturated).
func (d *Dispatcher) attempt(j *job, url string, a post.Attempt) {
	result := ResultFailed
	switch {
	case a.Err == nil && a.Status >= 200 && a.Status < 300:
		result = ResultSuccess
	case a.Retry:
		result = ResultRetry
	}
	d.rec.Attempt(result, a.Status, a.Latency)
	n := j.del.Attempt + a.N
	if ce := d.log.Check(zap.DebugLevel, "attempt"); ce != nil {
		ce.Write(zap.String("delivery_id", j.del.ID), zap.String("subscription_id", j.del.SubscriptionID),
			zap.String("url", record.RedactURL(url)), zap.Int("attempt", n), zap.Int("tier", j.del.Tier), zap.Int("status", a.Status),
			zap.Duration("latency", a.Latency), zap.String("result", result), zap.Error(a.Err))
	}
	rec := record.Attempt{
		DeliveryID: j.del.ID, SubscriptionID: j.del.SubscriptionID, EventID: j.del.Event.ID,
		Attempt: n, Status: a.Status, LatencyMillis: float64(a.Latency.Microseconds()) / 1000,
		Result: result, At: time.Now().UTC(),
	}
	if a.Err != nil {
		rec.Error = a.Err.Error()
	}
	d.attempts.add(rec)
}

// deadLetter produces the dead letter of j and reports whether it is
// durable (acked by Kafka). A dead letter larger than the DLQ accepts is
// cut to fit and flagged, as the router does: the whole record stays at
// its source coordinates.
func (d *Dispatcher) deadLetter(ctx context.Context, j *job, f failure) bool {
	dl := record.DeadLetter{
		Stage:      record.StageDispatch,
		Reason:     f.reason,
		LastStatus: f.status,
		Attempts:   j.del.Attempt + f.attempts,
		FailedAt:   time.Now().UTC(),
		Source:     record.ProvenanceOf(j.rec),
	}
	if f.err != nil {
		dl.LastError = f.err.Error()
	}
	if j.bad == nil {
		dl.Delivery = &j.del
	} else {
		dl.Raw = record.RawOf(j.rec)
	}
	build := func() (*kgo.Record, error) { return dl.Record(d.cfg.Topics.DLQ()) }
	limit, refused := d.deadLetterMax(), 0
	for {
		r, err := dl.Fit(limit, j.rec, build)
		if err != nil {
			// Unreachable for a delivery that decoded; keep the bytes instead.
			dl.Delivery, dl.Raw = nil, record.RawOf(j.rec)
			if r, err = dl.Fit(limit, nil, build); err != nil {
				d.log.Error("cannot encode dead letter", zap.Error(err))
				return false
			}
		}
		err = d.produce(ctx, r)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		// Refused as too large: the topic's max.message.bytes is below
		// our limit (lowered since start), or the batch this record went
		// in was. Cut it to the topic's limit if it is over that alone,
		// else try it again as it is, a few times, before halving.
		refused++
		topicMax := d.topicMaxBytes(ctx, r.Topic)
		d.noteTopicMax(r.Topic, topicMax)
		switch size := record.RecordSize(r); {
		case topicMax > 0 && size > topicMax:
			limit = topicMax
		case refused > 3 || topicMax <= 0:
			limit = max(size/2, 1)
		}
		d.log.Warn("dead letter refused as too large for the DLQ", zap.String("delivery_id", j.del.ID),
			zap.Int("limit", limit), zap.Int("topic_max_message_bytes", topicMax), zap.Error(err))
		// Back off: a DLQ that refuses even a bare dead letter is a
		// configuration to fix, not a loop to spin.
		t := time.NewTimer(min(100*time.Millisecond<<min(refused, 6), 5*time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	d.unpark(j)
	d.rec.DeadLettered(dl.Reason)
	d.log.Info("dead-lettered", zap.String("delivery_id", j.del.ID), zap.String("subscription_id", j.del.SubscriptionID),
		zap.String("reason", dl.Reason), zap.Int("last_status", dl.LastStatus), zap.String("last_error", dl.LastError),
		zap.Int("attempts", dl.Attempts), zap.Stringer("source", dl.Source))
	return true
}

// errTooLarge marks a record Kafka refuses for its size, for good.
var errTooLarge = errors.New("record too large for the topic")

// produce writes r and waits for Kafka's acknowledgement, retrying until
// it is acked or ctx ends (the record stays unfinished, so it is neither
// committed nor lost). A record refused for its size is not retried: the
// error wraps errTooLarge. Failures are counted and logged with their
// cause.
func (d *Dispatcher) produce(ctx context.Context, r *kgo.Record) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := d.cl.ProduceSync(ctx, r).FirstErr()
		if err == nil {
			d.kafka.ok()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.rec.ProduceFailed(r.Topic)
		if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
			return fmt.Errorf("%w: %w", errTooLarge, err)
		}
		d.kafka.failed("producing to "+r.Topic, err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
