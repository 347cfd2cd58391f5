package deliver

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hookline/hookline/schemas/topic"
)

// Defaults of Config.
const (
	DefaultGroup            = "hookline-dispatcher"
	DefaultWindow           = 1000
	DefaultMaxConcurrency   = 256
	DefaultRetries          = 2
	DefaultRetryWaitMin     = 250 * time.Millisecond
	DefaultRetryWaitMax     = 2 * time.Second
	DefaultRetryAfterMax    = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	DefaultCommitInterval   = time.Second
	DefaultDrainTimeout     = 30 * time.Second
	DefaultRevokeGrace      = 2 * time.Second
	DefaultPausedRecheck    = 5 * time.Second
	DefaultMaxPollRecords   = 1000
	DefaultUserAgent        = "Hookline/dev"
)

// Config is how a Dispatcher consumes and delivers. Zero fields take the
// defaults noted (the Default* constants).
type Config struct {
	// Topics names the deliveries, DLQ and attempts topics; default
	// topic.Default().
	Topics topic.Names
	// Group is the consumer group; default "hookline-dispatcher".
	Group string
	// Window is the most records per partition held between fetch and
	// commit; fetching from a partition pauses while its window is full.
	// Default 1000.
	Window int
	// MaxConcurrency caps concurrent HTTP requests across all partitions
	// and subscriptions; default 256.
	MaxConcurrency int
	// Retries is the number of quick in-process retries after a first
	// failed attempt; default 2. Negative means none.
	Retries int
	// RetryWaitMin and RetryWaitMax bound the jittered exponential backoff
	// between quick retries; defaults 250ms and 2s.
	RetryWaitMin, RetryWaitMax time.Duration
	// RetryAfterMax clamps the Retry-After an endpoint asks for on 429 and
	// 503; default 10s.
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
	// PausedRecheck is how often deliveries held for a paused subscription
	// look at it again; default 5s.
	PausedRecheck time.Duration
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
	setD(&c.PausedRecheck, DefaultPausedRecheck)
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
	positive("max concurrency", int64(c.MaxConcurrency))
	positive("max poll records", int64(c.MaxPollRecords))
	positive("max response bytes", c.MaxResponseBytes)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"retry wait min", c.RetryWaitMin}, {"retry wait max", c.RetryWaitMax}, {"retry-after max", c.RetryAfterMax},
		{"commit interval", c.CommitInterval}, {"drain timeout", c.DrainTimeout}, {"paused recheck", c.PausedRecheck},
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
