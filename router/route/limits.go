package route

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hookline/hookline/schemas/header"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// limitsTimeout bounds the start-up check of the topics' limits; a Kafka
// that does not answer by then is not waited for (see checkLimits).
const limitsTimeout = 10 * time.Second

// stuckAfter is how many attempts in a row must fail, while the brokers
// answer, before Check reports the Router stuck.
const stuckAfter = 5

// checkLimits ends Run with ErrConfig when the deliveries or DLQ topic
// accepts smaller records (max.message.bytes, the topic's setting or the
// broker's default) than Config.MaxRecordBytes, the largest record the
// Router produces: every transaction holding such a record would fail,
// and no retry can fix it. A topic that does not exist yet, or a Kafka
// that does not answer within limitsTimeout, is not checked: producing to
// it is retried, and Check reports a loop of failing transactions.
func (r *Router) checkLimits(ctx context.Context) error {
	cl, err := kgo.NewClient(r.cfg.ClientOpts...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	defer cl.Close()
	dctx, cancel := context.WithTimeout(ctx, limitsTimeout)
	defer cancel()
	topics := []string{r.cfg.Topics.Deliveries(), r.cfg.Topics.DLQ()}
	described, err := kadm.NewClient(cl).DescribeTopicConfigs(dctx, topics...)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("could not read the limits of the deliveries and DLQ topics at start; not checked", zap.Error(err))
		}
		return nil
	}
	for _, rc := range described {
		if rc.Err != nil {
			continue // missing: producing to it is retried, then ErrConfig after MissingTopicGrace
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			n, err := strconv.Atoi(*c.Value)
			if err == nil && n < r.cfg.MaxRecordBytes {
				return fmt.Errorf("%w: topic %s accepts records up to %d bytes (max.message.bytes), less than --max-record-bytes %d: "+
					"lower --max-record-bytes to %d or raise the topic's max.message.bytes", ErrConfig, rc.Name, n, r.cfg.MaxRecordBytes, n)
			}
		}
	}
	return nil
}

// stuck reports ErrUnavailable while attempts keep failing although the
// brokers answer: at least stuckAfter in a row, the last one recent
// (within the longest backoff plus one transaction). A produce error no
// retry fixes, such as a topic policy refusing the records, loops like
// that; an outage is reported by Check before this.
func (r *Router) stuck() error {
	n := r.out.inRow.Load()
	if n < stuckAfter || !r.out.down.Load() {
		return nil
	}
	last := time.Unix(0, r.out.lastFailNs.Load())
	if time.Since(last) > r.cfg.MaxRetryBackoff+r.cfg.TransactionTimeout {
		return nil
	}
	cause := "unknown"
	if err := r.out.lastErr.Load(); err != nil && *err != nil {
		cause = (*err).Error()
	}
	return fmt.Errorf("%w: %d attempts in a row failed although Kafka answers; the last: %s", ErrUnavailable, n, cause)
}

// admitFilterDeadLetter reports whether the filter_error dead letter out
// is produced: not if its subscription got one within
// Config.FilterDeadLetterInterval, or already in this batch; that one is
// counted in b instead.
func (r *Router) admitFilterDeadLetter(out *kgo.Record, b *Batch) bool {
	sub := string(out.Key)
	for _, h := range out.Headers {
		if h.Key == header.SubscriptionID {
			sub = string(h.Value)
		}
	}
	last, ok := r.filterDeadLettered[sub]
	if ok && r.now().Sub(last) < r.cfg.FilterDeadLetterInterval {
		b.FilterDeadLettersSuppressed++
		return false
	}
	for _, s := range b.filterDeadLettered {
		if s == sub {
			b.FilterDeadLettersSuppressed++
			return false
		}
	}
	b.filterDeadLettered = append(b.filterDeadLettered, sub)
	return true
}

// noteFilterDeadLetters remembers the subscriptions given a filter_error
// dead letter by a committed batch, and forgets those whose interval has
// passed.
func (r *Router) noteFilterDeadLetters(b *Batch, now time.Time) {
	if len(b.filterDeadLettered) == 0 {
		return
	}
	if r.filterDeadLettered == nil {
		r.filterDeadLettered = map[string]time.Time{}
	}
	for sub, at := range r.filterDeadLettered {
		if now.Sub(at) >= r.cfg.FilterDeadLetterInterval {
			delete(r.filterDeadLettered, sub)
		}
	}
	for _, sub := range b.filterDeadLettered {
		r.filterDeadLettered[sub] = now
	}
}
