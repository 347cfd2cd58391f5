// Package retry holds the retry schedule and the one pure function that
// turns the end of a delivery attempt into what happens next: delivered,
// retried in a later tier at a due time, or dead-lettered with a reason.
// It knows nothing of Kafka or HTTP clients; the dispatcher acts on its
// answers.
package retry

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// DefaultSchedule is the delay before each retry tier: the industry norm
// of retrying for about a day (Svix, Convoy, Hook0).
var DefaultSchedule = Schedule{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Jitter is the fraction by which each tier's delay is spread, either way.
const Jitter = 0.2

// Schedule is the delay before each retry tier: Schedule[K-1] is how long
// a delivery waits in hookline.retry.K.
type Schedule []time.Duration

// Parse reads a comma-separated list of durations ("5s,5m,30m").
func Parse(s string) (Schedule, error) {
	var out Schedule
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, fmt.Errorf("retry schedule: %w", err)
		}
		out = append(out, d)
	}
	return out, out.Validate()
}

// Validate reports a schedule with no tiers or a delay that is not
// positive.
func (s Schedule) Validate() error {
	if len(s) == 0 {
		return errors.New("retry schedule: at least one tier is required")
	}
	for i, d := range s {
		if d <= 0 {
			return fmt.Errorf("retry schedule: tier %d: delay %s is not positive", i+1, d)
		}
	}
	return nil
}

// String formats s as Parse reads it.
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// Delay returns the jittered delay of tier (1-based): Schedule[tier-1]
// spread by ±Jitter. r is a number in [0, 1), from rand.Float64.
func (s Schedule) Delay(tier int, r float64) time.Duration {
	base := s[tier-1]
	return time.Duration(float64(base) * (1 - Jitter + 2*Jitter*r))
}

// Next picks the tier after tier (0 on the deliveries topic) for a
// delivery whose endpoint asked to wait retryAfter (0 when it did not). A
// Retry-After longer than the next tier's delay skips to the first tier
// that long, since each retry topic holds records of one delay and waits
// for its head: the not-before is then at least retryAfter. ok is false
// when no tier is left.
func (s Schedule) Next(tier int, retryAfter time.Duration, now time.Time, r float64) (next int, notBefore time.Time, ok bool) {
	if tier >= len(s) {
		return 0, time.Time{}, false
	}
	next = tier + 1
	for next < len(s) && s[next-1] < retryAfter {
		next++
	}
	return next, now.Add(max(s.Delay(next, r), retryAfter)), true
}

// Rand returns a number in [0, 1) for Delay and Next.
func Rand() float64 { return rand.Float64() }
