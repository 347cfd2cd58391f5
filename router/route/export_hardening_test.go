package route

import "time"

// WithClock replaces the clock that stamps records and paces filter_error
// dead letters, so that tests decide when Config.FilterDeadLetterInterval
// has passed.
func WithClock(now func() time.Time) Option {
	return optFunc(func(r *Router) { r.now = now })
}
