// Package admit answers, for each delivery about to be sent, "may it be
// sent now, and if not, when": the per-subscription rate limit (a token
// bucket, golang.org/x/time/rate), the circuit breaker (sony/gobreaker) and
// the failing clock behind auto-disable. It keeps per-subscription state in
// memory; the dispatcher's range assignment keeps all of a subscription's
// partitions, and so its state, on one member.
//
// It knows nothing of Kafka: the dispatcher acts on its answers (wait a
// little, send, or move the delivery to its next retry tier).
package admit

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// Defaults of Config.
const (
	DefaultMaxWait         = time.Second
	DefaultBreakerFailures = 5
	DefaultBreakerRatio    = 0.5
	DefaultBreakerMinCalls = 20
	DefaultBreakerWindow   = time.Minute
	DefaultBreakerOpen     = 30 * time.Second
	DefaultDisableAfter    = 5 * 24 * time.Hour
)

// Config configures a Gate. Zero fields take the defaults noted.
type Config struct {
	// MaxWait is the longest a delivery waits in process for a rate-limit
	// token; a longer wait defers it through the retry path. Default 1s.
	MaxWait time.Duration
	// BreakerFailures opens a subscription's breaker after that many
	// consecutive failures; default 5. Negative turns breakers off.
	BreakerFailures int
	// BreakerRatio opens it when at least that fraction of the requests
	// in BreakerWindow failed, once there were BreakerMinCalls of them;
	// defaults 0.5 and 20.
	BreakerRatio    float64
	BreakerMinCalls int
	// BreakerWindow is the rolling window of the ratio; default 1m.
	BreakerWindow time.Duration
	// BreakerOpen is how long an open breaker sends nothing before it
	// lets one probe through (half-open); default 30s.
	BreakerOpen time.Duration
	// DisableAfter disables a subscription that has failed, with no
	// success, for that long; default 5 days. Negative never disables.
	DisableAfter time.Duration
	// OnBreaker, when set, is told every change of a breaker's state
	// ("closed", "open", "half-open"). It is called with the breaker's
	// lock held: it must not block or call the Gate.
	OnBreaker func(subscription, state string, at time.Time)
}

func (c Config) withDefaults() Config {
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	if c.BreakerRatio <= 0 {
		c.BreakerRatio = DefaultBreakerRatio
	}
	if c.BreakerMinCalls <= 0 {
		c.BreakerMinCalls = DefaultBreakerMinCalls
	}
	if c.BreakerWindow <= 0 {
		c.BreakerWindow = DefaultBreakerWindow
	}
	if c.BreakerOpen <= 0 {
		c.BreakerOpen = DefaultBreakerOpen
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = DefaultDisableAfter
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if c.BreakerRatio > 1 {
		return errors.New("admit: breaker ratio must be at most 1")
	}
	return nil
}

// Limits are a subscription's settings the gate applies, read from its
// record at send time.
type Limits struct {
	// RateLimit is requests per second; 0 is unlimited.
	RateLimit float64
	// BreakerFailures and BreakerOpen override the gate's defaults when
	// set.
	BreakerFailures int
	BreakerOpen     time.Duration
}

// Kind is what a Verdict allows.
type Kind int

// Kinds of Verdict.
const (
	// Send now (after Wait, if any); report the result with Done.
	Send Kind = iota
	// Defer: do not send; move the delivery to its next retry tier
	// (breaker open) or park it until At (rate limit).
	Defer
)

// Reasons a delivery is deferred.
const (
	ReasonBreakerOpen = "breaker_open"
	ReasonRateLimited = "rate_limited"
)

// Verdict is the gate's answer for one delivery.
type Verdict struct {
	Kind Kind
	// Wait is how long to wait before sending (rate limit; at most
	// Config.MaxWait). Hold no request slot meanwhile.
	Wait time.Duration
	// Reason says why a delivery is deferred.
	Reason string
	// At is when a rate-limited delivery could go.
	At time.Time
	// Done, set with Send, must be called once with the result of the
	// request; it returns true when the subscription has now failed for
	// DisableAfter without a success and should be disabled.
	Done func(Result) (disable bool)
}

// Result is how a request ended, for the breaker and the failing clock.
type Result int

// Results of a request.
const (
	Success  Result = iota // 2xx
	Failure                // a failure the endpoint is responsible for: network, timeout, 408, 429, 5xx, 410
	Excluded               // counts neither way: a 4xx about the request, a refused address, cancelled
)

// Gate keeps per-subscription limiters and breakers. It is safe for
// concurrent use.
type Gate struct {
	cfg Config
	now func() time.Time

	mu   sync.Mutex
	subs map[string]*sub
}

type sub struct {
	lim      *rate.Limiter
	limRate  float64
	br       *gobreaker.TwoStepCircuitBreaker[struct{}]
	brKey    [2]int64 // failures, open: rebuild the breaker when they change
	failing  time.Time
	lastSeen time.Time
}

// New returns a Gate. now is the clock (time.Now when nil).
func New(cfg Config, now func() time.Time) *Gate {
	if now == nil {
		now = time.Now
	}
	return &Gate{cfg: cfg.withDefaults(), now: now, subs: map[string]*sub{}}
}

func (g *Gate) state(id string, l Limits) *sub {
	s := g.subs[id]
	if s == nil {
		s = &sub{}
		g.subs[id] = s
	}
	s.lastSeen = g.now()
	if l.RateLimit != s.limRate {
		s.limRate, s.lim = l.RateLimit, nil
		if l.RateLimit > 0 {
			// A small burst: one second's worth, at least one.
			burst := int(math.Max(1, math.Ceil(l.RateLimit)))
			s.lim = rate.NewLimiter(rate.Limit(l.RateLimit), burst)
		}
	}
	failures, open := g.cfg.BreakerFailures, g.cfg.BreakerOpen
	if l.BreakerFailures != 0 {
		failures = l.BreakerFailures
	}
	if l.BreakerOpen > 0 {
		open = l.BreakerOpen
	}
	if key := [2]int64{int64(failures), int64(open)}; s.br == nil || key != s.brKey {
		s.brKey, s.br = key, nil
		if failures > 0 {
			s.br = gobreaker.NewTwoStepCircuitBreaker[struct{}](g.settings(id, failures, open))
		}
	}
	return s
}

func (g *Gate) settings(id string, failures int, open time.Duration) gobreaker.Settings {
	ratio, minCalls := g.cfg.BreakerRatio, uint32(g.cfg.BreakerMinCalls)
	return gobreaker.Settings{
		Name:        id,
		MaxRequests: 1, // one probe when half-open
		Interval:    g.cfg.BreakerWindow,
		// Ten buckets: the ratio is over a rolling window.
		BucketPeriod: g.cfg.BreakerWindow / 10,
		Timeout:      open,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if c.ConsecutiveFailures >= uint32(failures) {
				return true
			}
			return c.Requests >= minCalls && float64(c.TotalFailures) >= ratio*float64(c.Requests)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errExcluded) },
		OnStateChange: func(name string, _, to gobreaker.State) {
			if g.cfg.OnBreaker != nil {
				g.cfg.OnBreaker(name, to.String(), g.now())
			}
		},
	}
}

var (
	errFailed   = errors.New("failed")
	errExcluded = errors.New("excluded")
)

// Admit decides whether a delivery of subscription id with limits l may
// be sent now.
func (g *Gate) Admit(id string, l Limits) Verdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.state(id, l)
	var done func(error)
	if s.br != nil {
		d, err := s.br.Allow()
		if err != nil {
			// Open, or half-open with its probe out: no request.
			return Verdict{Kind: Defer, Reason: ReasonBreakerOpen}
		}
		done = d
	}
	var wait time.Duration
	if s.lim != nil {
		now := g.now()
		r := s.lim.ReserveN(now, 1)
		wait = r.DelayFrom(now)
		if wait > g.cfg.MaxWait {
			r.CancelAt(now)
			if done != nil {
				done(errExcluded) // give the breaker's probe back
			}
			return Verdict{Kind: Defer, Reason: ReasonRateLimited, At: now.Add(wait)}
		}
	}
	return Verdict{Kind: Send, Wait: wait, Done: func(res Result) bool { return g.done(id, s, done, res) }}
}

func (g *Gate) done(id string, s *sub, brDone func(error), res Result) bool {
	if brDone != nil {
		switch res {
		case Success:
			brDone(nil)
		case Failure:
			brDone(errFailed)
		default:
			brDone(errExcluded)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	switch res {
	case Success:
		s.failing = time.Time{}
	case Failure:
		if s.failing.IsZero() {
			s.failing = now
		}
		if g.cfg.DisableAfter > 0 && now.Sub(s.failing) >= g.cfg.DisableAfter {
			s.failing = time.Time{} // once
			return true
		}
	}
	return false
}

// Deferred notes that a delivery of id moved to its next tier without a
// request because the breaker is open: it keeps the failing clock running,
// so a subscription whose breaker stays open is still disabled in time.
// It reports whether it should be disabled now.
func (g *Gate) Deferred(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.subs[id]
	if s == nil || s.failing.IsZero() || g.cfg.DisableAfter <= 0 {
		return false
	}
	if g.now().Sub(s.failing) >= g.cfg.DisableAfter {
		s.failing = time.Time{}
		return true
	}
	return false
}

// Breaker is one breaker that is not closed.
type Breaker struct {
	Subscription string
	State        string // "open" or "half-open"
}

// Breakers returns the breakers that are not closed, for metrics and
// status.
func (g *Gate) Breakers() []Breaker {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Breaker
	for id, s := range g.subs {
		if s.br == nil {
			continue
		}
		if st := s.br.State(); st != gobreaker.StateClosed {
			out = append(out, Breaker{Subscription: id, State: st.String()})
		}
	}
	return out
}

// Forget drops the state of subscriptions not seen for idle, so deleted
// ones do not accumulate. Breakers that are not closed are kept.
func (g *Gate) Forget(idle time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cut := g.now().Add(-idle)
	for id, s := range g.subs {
		if s.lastSeen.Before(cut) && (s.br == nil || s.br.State() == gobreaker.StateClosed) && s.failing.IsZero() {
			delete(g.subs, id)
		}
	}
}
