package deliver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookline/hookline/dispatcher/internal/payload"
	"github.com/hookline/hookline/dispatcher/internal/post"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// job is one record of a partition window on its way to a durable outcome.
type job struct {
	rec    *kgo.Record
	del    record.Delivery
	bad    error // the record does not decode as a Delivery
	part   *partition
	lane   *lane              // nil for undecodable records
	cancel context.CancelFunc // set by start
}

func newJob(r *kgo.Record) *job {
	j := &job{rec: r}
	j.del, j.bad = record.DecodeDelivery(r.Value)
	return j
}

// failure is why a delivery is handed off instead of delivered.
type failure struct {
	reason   string
	status   int
	err      error
	attempts int
	// retryAfter is what the endpoint asked for, for a retry topic to
	// honour as not-before.
	retryAfter time.Duration
}

// process works j until its outcome is durable (true) or it must stop
// without one (false): its partition was revoked, shutdown began, or ctx
// ended.
func (d *Dispatcher) process(ctx context.Context, j *job) bool {
	if j.bad != nil {
		return d.giveUp(ctx, j, failure{reason: record.ReasonInvalidRecord, err: j.bad})
	}
	for {
		sub, ok := d.subs.Get(j.del.SubscriptionID)
		switch {
		case !ok:
			return d.giveUp(ctx, j, failure{reason: record.ReasonSubscriptionDeleted,
				err: fmt.Errorf("subscription %q does not exist", j.del.SubscriptionID)})
		case sub.State == record.StateDisabled:
			return d.giveUp(ctx, j, failure{reason: record.ReasonSubscriptionDisable,
				err: fmt.Errorf("subscription %q is disabled: %s", sub.ID, sub.StateReason)})
		case !sub.Active():
			// Paused (or a state this version does not know): hold the
			// delivery in the window; nothing past it is committed until
			// the subscription resumes.
			if !d.wait(ctx, j, d.cfg.PausedRecheck) {
				return false
			}
			continue
		}
		if !d.acquire(ctx, j) {
			return false
		}
		// The wait for a slot may have been long: read the subscription
		// again, and start over if it is no longer active.
		if sub, ok = d.subs.Get(j.del.SubscriptionID); !ok || !sub.Active() {
			<-d.sem
			continue
		}
		out := d.send(ctx, j, &sub)
		<-d.sem
		switch out.Result {
		case post.Delivered:
			at := j.del.Event.Time
			if at.IsZero() {
				at = j.del.RoutedAt
			}
			if !at.IsZero() {
				d.rec.Delivered(time.Since(at))
			}
			return true
		case post.Canceled:
			return false
		}
		return d.giveUp(ctx, j, failureOf(out))
	}
}

func failureOf(out post.Outcome) failure {
	f := failure{status: out.Status, err: out.Err, attempts: out.Attempts, retryAfter: out.RetryAfter}
	switch out.Result {
	case post.Gone:
		f.reason = record.ReasonEndpointGone
	case post.Rejected:
		f.reason = record.ReasonRejected
	case post.Refused:
		f.reason = record.ReasonRefused
	default:
		f.reason = record.ReasonExhausted
	}
	return f
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

// acquire takes a slot of the global HTTP cap, reporting false if j must
// stop instead.
func (d *Dispatcher) acquire(ctx context.Context, j *job) bool {
	select {
	case <-d.stop:
		return false
	case <-j.part.stop:
		return false
	default:
	}
	select {
	case d.sem <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-d.stop:
	case <-j.part.stop:
	}
	return false
}

// send renders, signs and posts j to sub.
func (d *Dispatcher) send(ctx context.Context, j *job, sub *record.Subscription) post.Outcome {
	now := time.Now()
	body, ph, err := payload.Build(sub.Format, &j.del.Event, now)
	if err != nil {
		return post.Outcome{Result: post.Rejected, Err: err}
	}
	secrets := sub.SigningSecrets(now)
	if len(secrets) == 0 {
		return post.Outcome{Result: post.Rejected, Err: errNoSecret}
	}
	h := make(http.Header, len(sub.Headers)+len(ph)+4)
	for k, v := range sub.Headers {
		h.Set(k, v)
	}
	for k, v := range ph {
		h[k] = v
	}
	h.Set("User-Agent", d.cfg.UserAgent)
	url := record.RedactURL(sub.URL)
	return d.http.Send(ctx, post.Request{
		URL:     sub.URL,
		Header:  h,
		Body:    body,
		Timeout: sub.Timeout(),
		// The same webhook-id on every attempt; a fresh timestamp.
		Sign: func(h http.Header) { webhook.SetHeaders(h, j.del.ID, time.Now(), body, secrets...) },
		OnAttempt: func(a post.Attempt) {
			d.attempt(j, url, a)
		},
	})
}

var errNoSecret = errors.New("subscription has no signing secret in force")

// attempt records one HTTP attempt: metrics, a debug log line and an
// attempt record (best effort: dropped when the producer is saturated).
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
			zap.String("url", url), zap.Int("attempt", n), zap.Int("status", a.Status),
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
	r, err := rec.Record(d.cfg.Topics.Attempts())
	if err != nil {
		return
	}
	// Background, not the job's context: a cancelled first record of a
	// batch would fail the records batched behind it.
	d.cl.TryProduce(context.Background(), r, func(_ *kgo.Record, err error) {
		if err != nil {
			d.log.Debug("attempt record dropped", zap.Error(err))
		}
	})
}

// giveUp hands off a delivery that will not be delivered by this
// dispatcher now, and reports whether the hand-off is durable (acked by
// Kafka). It is the one place where failed deliveries leave the
// partition: today every failure is dead-lettered; when retry topics
// exist, the exhausted case becomes a retry record (attempt+1, not-before
// from the schedule or f.retryAfter) and the rest stay dead letters.
func (d *Dispatcher) giveUp(ctx context.Context, j *job, f failure) bool {
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
	if errors.Is(f.err, errNoSecret) {
		// No secret in force (all expired): sending it unsigned would be worse.
		dl.Reason = record.ReasonNoSigningSecret
	}
	if j.bad == nil {
		dl.Delivery = &j.del
	} else {
		dl.Raw = record.RawOf(j.rec)
	}
	r, err := dl.Record(d.cfg.Topics.DLQ())
	if err != nil {
		// Unreachable for a delivery that decoded; keep the bytes instead.
		dl.Delivery, dl.Raw = nil, record.RawOf(j.rec)
		if r, err = dl.Record(d.cfg.Topics.DLQ()); err != nil {
			d.log.Error("cannot encode dead letter", zap.Error(err))
			return false
		}
	}
	if !d.produce(ctx, r) {
		return false
	}
	d.rec.DeadLettered(dl.Reason)
	d.log.Info("dead-lettered", zap.String("delivery_id", j.del.ID), zap.String("subscription_id", j.del.SubscriptionID),
		zap.String("reason", dl.Reason), zap.Int("last_status", dl.LastStatus), zap.String("last_error", dl.LastError),
		zap.Stringer("source", dl.Source))
	return true
}

// produce writes r and waits for Kafka's acknowledgement, retrying until
// it is acked or ctx ends (the record stays unfinished, so it is neither
// committed nor lost).
func (d *Dispatcher) produce(ctx context.Context, r *kgo.Record) bool {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := d.cl.ProduceSync(ctx, r).FirstErr()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.log.Warn("producing dead letter failed; retrying", zap.String("topic", r.Topic), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}
