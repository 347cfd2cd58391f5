package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hookline/hookline/producer/internal/history"
	"github.com/hookline/hookline/schemas/record"
)

// The routes of this file sum what the pipeline did, for the console's
// overview and subscription list: attempts per interval and subscription,
// the dead-letter topic by reason, consumer-group lag and circuit-breaker
// states. Each reads Kafka on request, as the other history routes do.

// WithConsole serves h, the web console, at /console/ (and redirects
// /console there). The console is static: its pages call this API with
// the key the user signs in with, so its own routes need no key.
func WithConsole(h http.Handler) Opt { return opt(func(s *Server) { s.console = h }) }

// mountConsole registers the console's routes, when there is a console.
func (s *Server) mountConsole() {
	if s.console == nil {
		return
	}
	const pattern = "GET /console/"
	s.mux.Handle(pattern, s.instrument(pattern, s.console.ServeHTTP))
	s.mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
}

// Defaults and bounds of GET /v1/attempts/stats.
const (
	defaultStatsWindow = time.Hour
	defaultStatsBucket = time.Minute
	minStatsBucket     = time.Second
)

// attemptStats answers GET /v1/attempts/stats.
func (s *Server) attemptStats(w http.ResponseWriter, r *http.Request) {
	if !s.historyReady(w) {
		return
	}
	q := r.URL.Query()
	now := s.now()
	since, until := now.Add(-defaultStatsWindow), now
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &since}, {"until", &until}} {
		if v := q.Get(f.name); v != "" {
			t, err := parseWhen(v, now)
			if err != nil {
				writeError(w, invalid(f.name+" is invalid", detail{Field: f.name, Message: err.Error()}))
				return
			}
			*f.dst = t
		}
	}
	bucket := defaultStatsBucket
	if v := q.Get("bucket"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < minStatsBucket || d%time.Second != 0 {
			writeError(w, invalid("bucket is invalid", detail{Field: "bucket", Message: "want whole seconds, at least 1s (30s, 1m, 1h)"}))
			return
		}
		bucket = d
	}
	if !since.Before(until) {
		writeError(w, invalid("since is not before until", detail{Field: "since", Message: "must be before until"}))
		return
	}
	if until.Sub(since.Truncate(bucket)) > time.Duration(history.MaxBuckets)*bucket {
		writeError(w, invalid("the window holds too many buckets", detail{Field: "bucket",
			Message: fmt.Sprintf("at most %d buckets: widen bucket or narrow since/until", history.MaxBuckets)}))
		return
	}
	st, err := s.hist.AttemptStats(r.Context(), since, until, bucket)
	if err != nil {
		writeError(w, s.historyError(err))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// deadLetterStats answers GET /v1/dead-letters/stats.
func (s *Server) deadLetterStats(w http.ResponseWriter, r *http.Request) {
	if !s.historyReady(w) {
		return
	}
	st, err := s.hist.DeadLetterStats(r.Context())
	if err != nil {
		writeError(w, s.historyError(err))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// consumerGroups answers GET /v1/consumer-groups.
func (s *Server) consumerGroups(w http.ResponseWriter, r *http.Request) {
	if !s.historyReady(w) {
		return
	}
	groups, err := s.hist.Lag(r.Context(), queryList(r.URL.Query(), "group"))
	if err != nil {
		writeError(w, s.historyError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": groups})
}

// endpointStatus answers GET /v1/endpoint-status.
func (s *Server) endpointStatus(w http.ResponseWriter, r *http.Request) {
	if !s.historyReady(w) {
		return
	}
	st, err := s.hist.EndpointStatuses(r.Context())
	if err != nil {
		writeError(w, s.historyError(err))
		return
	}
	if st == nil {
		st = []record.EndpointStatus{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": st})
}
