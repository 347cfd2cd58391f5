package retry

import (
	"time"
)

// Kind is what happens to a delivery after an attempt.
type Kind int

// Kinds of Decision.
const (
	// Delivered: the endpoint answered 2xx; the record is done.
	Delivered Kind = iota
	// Retry: produce the delivery to retry tier Decision.Tier, due at
	// Decision.NotBefore.
	Retry
	// DeadLetter: produce a dead letter with Decision.Reason.
	DeadLetter
)

// Result is how one send of a delivery ended, as the dispatcher saw it.
type Result int

// Results of a send.
const (
	Success  Result = iota // 2xx
	Failed                 // network error, timeout, 408, 429, 5xx: may succeed later
	Gone                   // 410 Gone
	Rejected               // another 4xx, a redirect, an unusable request
	Refused                // the SSRF guard refused the address
	NoSecret               // no signing secret in force
)

// Reasons a Decision dead-letters with; the same strings as
// record.Reason*, repeated here so this package depends on nothing.
const (
	ReasonExhausted       = "exhausted"
	ReasonEndpointGone    = "endpoint_gone"
	ReasonRejected        = "rejected"
	ReasonRefused         = "refused"
	ReasonNoSigningSecret = "no_signing_secret"
)

// Decision is what to do with a delivery after a send.
type Decision struct {
	Kind      Kind
	Tier      int       // Retry: the tier to produce to (1-based)
	NotBefore time.Time // Retry: when it is due
	Reason    string    // DeadLetter: why
	// Disable is set with endpoint_gone: the endpoint asked never to be
	// called again, so its subscription is disabled.
	Disable bool
}

// Decide turns the end of a send into a Decision. tier is the delivery's
// current tier (0 on the deliveries topic), retryAfter what the endpoint
// asked for on 429 or 503 (already clamped), r a number in [0, 1) for the
// jitter.
func Decide(s Schedule, res Result, tier int, retryAfter time.Duration, now time.Time, r float64) Decision {
	switch res {
	case Success:
		return Decision{Kind: Delivered}
	case Gone:
		return Decision{Kind: DeadLetter, Reason: ReasonEndpointGone, Disable: true}
	case Rejected:
		return Decision{Kind: DeadLetter, Reason: ReasonRejected}
	case Refused:
		return Decision{Kind: DeadLetter, Reason: ReasonRefused}
	case NoSecret:
		return Decision{Kind: DeadLetter, Reason: ReasonNoSigningSecret}
	}
	next, nb, ok := s.Next(tier, retryAfter, now, r)
	if !ok {
		return Decision{Kind: DeadLetter, Reason: ReasonExhausted}
	}
	return Decision{Kind: Retry, Tier: next, NotBefore: nb}
}
