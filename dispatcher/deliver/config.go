package deliver

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hookline/hookline/dispatcher/internal/admit"
	"github.com/hookline/hookline/dispatcher/internal/retry"
	"github.com/hookline/hookline/schemas/topic"
)

// Defaults of Config.
const (
	DefaultGroup            = "hookline-dispatcher"
	DefaultWindow           = 20_000
	DefaultWindowBytes      = 8 << 20
	DefaultMaxConcurrency   = 256
	DefaultRetries          = 2
	DefaultRetryWaitMin     = 250 * time.Millisecond
	DefaultRetryWaitMax     = 2 * time.Second
	DefaultRetryAfterMax    = time.Hour
	DefaultMaxResponseBytes = 64 << 10
	DefaultCommitInterval   = time.Second
	DefaultDrainTimeout     = 30 * time.Second
	DefaultRevokeGrace      = 2 * time.Second
	DefaultUnknownGrace     = time.Minute
	DefaultBreakerFailures  = admit.DefaultBreakerFailures
	DefaultBreakerRatio     = admit.DefaultBreakerRatio
	DefaultBreakerOpen      = admit.DefaultBreakerOpen
	DefaultDisableAfter     = admit.DefaultDisableAfter
	DefaultLaneBacklog      = 1000
	DefaultMaxRecordBytes   = 1_000_012 // Kafka's (and franz-go's) default batch limit
	DefaultMaxPollRecords   = 1000
	DefaultUserAgent        = "Hookline/dev"
)

// DefaultRetrySchedule is the delay before each retry tier: 5s, 5m, 30m,
// 2h, 5h, 10h, 10h (about 28 hours in all), each spread by ±20%.
func DefaultRetrySchedule() []time.Duration {
	return append([]time.Duration(nil), retry.DefaultSchedule...)
}

// Config is how a Dispatcher consumes and delivers. Zero fields take the
// defaults noted (the Default* constants).
type Config struct {
	// Topics names the deliveries, DLQ and attempts topics; default
	// topic.Default().
	Topics topic.Names
	// Group is the consumer group; default "hookline-dispatcher".
	Group string
	// Window is the most records per partition between the committed
	// offset and the last record taken in, finished ones included;
	// fetching from a partition pauses while its window is full. It
	// bounds how far a slow record lets its partition move on; it costs
	// a few bytes per record. Default 20,000.
	Window int
	// WindowBytes bounds the records (key, value and headers) held in all
	// windows together and not finished: memory, whatever the backlog. A
	// partition whose next record does not fit waits, fetching paused,
	// until a quarter of it is free. Default 8 MiB.
	WindowBytes int64
	// MaxConcurrency caps concurrent HTTP requests across all partitions
	// and subscriptions; default 256.
	MaxConcurrency int
	// Retries is the number of quick in-process retries after a first
	// failed attempt on the deliveries topic; default 2. Negative means
	// none. Attempts from retry tiers make no quick retries.
	Retries int
	// RetrySchedule is the delay before each retry tier: element K-1 is
	// how long a delivery waits in the retry topic K (spread by ±20%).
	// After the last tier a delivery is dead-lettered exhausted. It may
	// have fewer tiers than retry topics exist, not more. Default
	// DefaultRetrySchedule().
	RetrySchedule []time.Duration
	// RetryWaitMin and RetryWaitMax bound the jittered exponential backoff
	// between quick retries; defaults 250ms and 2s.
	RetryWaitMin, RetryWaitMax time.Duration
	// RetryAfterMax clamps the Retry-After an endpoint asks for on 429 and
	// 503; default 1h, and never more than the last tier's delay. Such a
	// delivery goes to the first retry tier whose delay is at least the
	// Retry-After, due no earlier than it asked.
	RetryAfterMax time.Duration
	// MaxResponseBytes is how much of a response body is read; default 64 KiB.
	MaxResponseBytes int64
	// CommitInterval is how often finished offsets are committed; default 1s.
	CommitInterval time.Duration
	// DrainTimeout bounds how long shutdown waits for requests in flight;
	// default 30s.
	DrainTimeout time.Duration
	// RevokeGrace bounds how long a rebalance waits for the requests in
	// flight on revoked partitions before committing what is done;
	// default 2s. Negative means no wait.
	RevokeGrace time.Duration
	// UnknownGrace is how long after routing a delivery whose subscription
	// the table does not know is parked (the table may lag behind the
	// router's) rather than dead-lettered as subscription_deleted; default
	// 1m.
	UnknownGrace time.Duration
	// BreakerFailures opens a subscription's circuit breaker after that
	// many consecutive failed requests (network errors, timeouts, 408,
	// 5xx); default 5, negative turns breakers off. BreakerRatio opens it
	// when that fraction of at least 20 requests in the last minute
	// failed; default 0.5. BreakerOpen is how long it stays open before
	// one probe is let through; default 30s. A subscription's
	// breaker_failures and breaker_open_ms override them.
	BreakerFailures int
	BreakerRatio    float64
	BreakerOpen     time.Duration
	// DisableAfter disables a subscription (reason "failing") whose
	// requests have failed, with no success, for that long; default 5
	// days. Negative never disables. The clock is kept in memory by the
	// dispatcher that owns the subscription's partitions.
	DisableAfter time.Duration
	// LaneBacklog is how many deliveries of one unordered subscription
	// stay queued in the windows when WindowBytes is spent; the ones
	// beyond it are parked in the first retry tier, so a backlog deeper
	// than the windows hold does not keep the records behind it in its
	// partition (another subscription's) from being read. Default 1000.
	LaneBacklog int
	// MaxRecordBytes is the largest dead letter produced; larger ones are
	// cut to fit and flagged. Keep it at or below the DLQ topic's
	// max.message.bytes (a dead letter Kafka refuses is cut further).
	// Default 1,000,012.
	MaxRecordBytes int
	// MaxPollRecords caps the records taken from the client per poll;
	// default 1000.
	MaxPollRecords int
	// SessionTimeout is the group session timeout; zero keeps franz-go's
	// default (45s).
	SessionTimeout time.Duration
	// AllowCIDRs are exempt from the SSRF guard (for local development and
	// tests, 127.0.0.0/8). Default none: every non-public address is refused.
	AllowCIDRs []netip.Prefix
	// UserAgent is sent with every webhook; default "Hookline/dev".
	UserAgent string
}

func (c Config) withDefaults() Config {
	if c.Topics == (topic.Names{}) {
		c.Topics = topic.Default()
	}
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	set(&c.Window, DefaultWindow)
	if c.WindowBytes == 0 {
		c.WindowBytes = DefaultWindowBytes
	}
	set(&c.MaxConcurrency, DefaultMaxConcurrency)
	set(&c.MaxPollRecords, DefaultMaxPollRecords)
	switch {
	case c.Retries == 0:
		c.Retries = DefaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	setD(&c.RetryWaitMin, DefaultRetryWaitMin)
	setD(&c.RetryWaitMax, DefaultRetryWaitMax)
	setD(&c.RetryAfterMax, DefaultRetryAfterMax)
	setD(&c.CommitInterval, DefaultCommitInterval)
	setD(&c.DrainTimeout, DefaultDrainTimeout)
	setD(&c.RevokeGrace, DefaultRevokeGrace)
	setD(&c.UnknownGrace, DefaultUnknownGrace)
	set(&c.BreakerFailures, DefaultBreakerFailures)
	if c.BreakerRatio == 0 {
		c.BreakerRatio = DefaultBreakerRatio
	}
	setD(&c.BreakerOpen, DefaultBreakerOpen)
	setD(&c.DisableAfter, DefaultDisableAfter)
	set(&c.LaneBacklog, DefaultLaneBacklog)
	set(&c.MaxRecordBytes, DefaultMaxRecordBytes)
	if len(c.RetrySchedule) == 0 {
		c.RetrySchedule = DefaultRetrySchedule()
	}
	if n := len(c.RetrySchedule); n > 0 && c.RetrySchedule[n-1] > 0 {
		// A retry topic waits for its head: a Retry-After longer than the
		// last tier's delay would hold that tier up for everyone.
		c.RetryAfterMax = min(c.RetryAfterMax, c.RetrySchedule[n-1])
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return c
}

// Validate checks the config after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	positive := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("deliver: %s must be positive, got %d", name, v))
		}
	}
	positive("window", int64(c.Window))
	positive("window bytes", c.WindowBytes)
	positive("max concurrency", int64(c.MaxConcurrency))
	positive("max poll records", int64(c.MaxPollRecords))
	positive("max response bytes", c.MaxResponseBytes)
	positive("max record bytes", int64(c.MaxRecordBytes))
	positive("lane backlog", int64(c.LaneBacklog))
	if c.BreakerRatio <= 0 || c.BreakerRatio > 1 {
		errs = append(errs, fmt.Errorf("deliver: breaker ratio must be in (0, 1], got %g", c.BreakerRatio))
	}
	if err := retry.Schedule(c.RetrySchedule).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("deliver: %w", err))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"retry wait min", c.RetryWaitMin}, {"retry wait max", c.RetryWaitMax}, {"retry-after max", c.RetryAfterMax},
		{"commit interval", c.CommitInterval}, {"drain timeout", c.DrainTimeout}, {"unknown grace", c.UnknownGrace},
	} {
		positive(d.name, int64(d.v))
	}
	if c.RetryWaitMax < c.RetryWaitMin {
		errs = append(errs, fmt.Errorf("deliver: retry wait max %s is below retry wait min %s", c.RetryWaitMax, c.RetryWaitMin))
	}
	if c.SessionTimeout < 0 {
		errs = append(errs, errors.New("deliver: session timeout must not be negative"))
	}
	return errors.Join(errs...)
}
