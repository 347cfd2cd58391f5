package route

import "time"

// WithAfter replaces the timer that ends a Config.BatchWait, so that tests
// decide when the time bound passes.
func WithAfter(after func(time.Duration) <-chan time.Time) Option {
	return optFunc(func(r *Router) { r.after = after })
}
