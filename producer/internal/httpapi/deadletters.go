package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/producer/internal/history"
)

// WithHistory serves /v1/attempts and /v1/dead-letters from h. Without it
// those routes answer 503 not_configured.
func WithHistory(h *history.Reader) Opt { return opt(func(s *Server) { s.hist = h }) }

// maxListLimit bounds limit= of the list routes; defaultListLimit is what
// they return without one.
const (
	maxListLimit     = 1000
	defaultListLimit = 100
)

func (s *Server) historyReady(w http.ResponseWriter) bool {
	if s.hist == nil {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "not_configured",
			message: "this server reads no attempts or dead letters"})
		return false
	}
	return true
}

// listLimit reads limit= (default 100, at most 1000).
func listLimit(q url.Values) (int, *apiError) {
	v := q.Get("limit")
	if v == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, invalid("limit is invalid", detail{Field: "limit", Message: fmt.Sprintf("want 1 to %d", maxListLimit)})
	}
	return n, nil
}

// queryList reads a comma-separated or repeated query parameter.
func queryList(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Server) historyError(err error) *apiError {
	var ie *history.InvalidError
	switch {
	case errors.As(err, &ie):
		return invalid("the selection is invalid", detail{Field: ie.Field, Message: ie.Message})
	case errors.Is(err, history.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: "not_found", message: err.Error()}
	case errors.Is(err, history.ErrInactive):
		return &apiError{status: http.StatusConflict, code: "target_inactive", message: err.Error() + "; force replays anyway"}
	case errors.Is(err, history.ErrSelectionChanged), errors.Is(err, history.ErrGroupInUse):
		return &apiError{status: http.StatusConflict, code: "conflict", message: err.Error()}
	case errors.Is(err, history.ErrNoTopic):
		return &apiError{status: http.StatusServiceUnavailable, code: "not_ready", retryAfter: s.cfg.RetryAfter, message: err.Error()}
	}
	return &apiError{status: http.StatusServiceUnavailable, code: "kafka_unavailable", retryAfter: s.cfg.RetryAfter,
		message: "reading Kafka failed; retry later"}
}

// listAttempts answers GET /v1/attempts.
func (s *Server) listAttempts(w http.ResponseWriter, r *http.Request) {
	if !s.historyReady(w) {
		return
	}
	q := r.URL.Query()
	limit, aerr := listLimit(q)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	aq := history.AttemptQuery{EventID: q.Get("event_id"), DeliveryID: q.Get("delivery_id"),
		SubscriptionID: q.Get("subscription_id"), Results: queryList(q, "result"), Limit: limit}
	now := s.now()
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &aq.Since}, {"until", &aq.Until}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		t, err := parseWhen(v, now)
		if err != nil {
			writeError(w, invalid(f.name+" is invalid", detail{Field: f.name, Message: err.Error()}))
			return
		}
		*f.dst = t
	}
	if aq.EventID == "" && aq.DeliveryID == "" && aq.SubscriptionID == "" && aq.Since.IsZero() {
		writeError(w, invalid("say which attempts: event_id, delivery_id, subscription_id or since",
			detail{Field: "event_id", Message: "one of event_id, delivery_id, subscription_id or since is required"}))
		return
	}
	for _, res := range aq.Results {
		switch res {
		case "success", "retry", "failed":
		default:
			writeError(w, invalid("result is invalid", detail{Field: "result", Message: "want success, retry or failed"}))
			return
		}
	}
	out, total, err := s.hist.Attempts(r.Context(), aq)
	if err != nil {
		writeError(w, s.historyError(err))
		return
	}
	if out == nil {
		out = []history.Attempt{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"attempts": out, "total": total})
}

func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("want an RFC 3339 time or a duration ago (90m, 24h)")
}

// selectionOf reads a dead-letter selection from the query.
func selectionOf(q url.Values) history.Selection {
	return history.Selection{SubscriptionID: q.Get("subscription_id"), Type: q.Get("type"), Reasons: queryList(q, "reason"),
		Stage: q.Get("stage"), EventID: q.Get("event_id"), DeliveryID: q.Get("delivery_id"),
		Since: q.Get("since"), Until: q.Get("until"), Position: q.Get("position")}
}

// listDeadLetters answers GET /v1/dead-letters.
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	if !s.historyReady(w) {
		return
	}
	q := r.URL.Query()
	limit, aerr := listLimit(q)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	sel := selectionOf(q)
	if err := sel.Parse(s.now()); err != nil {
		writeError(w, s.historyError(err))
		return
	}
	out, total, err := s.hist.DeadLetters(r.Context(), sel, limit)
	if err != nil {
		writeError(w, s.historyError(err))
		return
	}
	if out == nil {
		out = []history.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": out, "total": total})
}

// replayDeadLetters answers POST /v1/dead-letters/replay. A replay keeps
// its progress, so repeating a request replays nothing twice. One request
// replays at most Config.MaxReplayItems; the answer says whether the
// selection is complete.
func (s *Server) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	if !s.historyReady(w) {
		return
	}
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var req history.ReplayRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, malformed(err.Error()))
			return
		}
	}
	if req.Limit < 0 {
		writeError(w, invalid("limit is invalid", detail{Field: "limit", Message: "must not be negative"}))
		return
	}
	if req.Limit == 0 || req.Limit > s.cfg.MaxReplayItems {
		req.Limit = s.cfg.MaxReplayItems // bounded per request; the next one continues
	}
	if err := req.Parse(s.now()); err != nil {
		writeError(w, s.historyError(err))
		return
	}
	var subs history.Subscriptions
	if s.subs != nil {
		subs = s.subs
	}
	res, err := s.hist.Replay(r.Context(), req, subs)
	if err != nil {
		writeError(w, s.historyError(err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}
