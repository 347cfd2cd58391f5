package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/producer/internal/subadmin"
	"github.com/hookline/hookline/schemas/record"
	"go.uber.org/zap"
)

// fields are the subscription fields a client writes. Secrets, state and
// times are not among them: rotate-secret, pause and resume change those.
type fields struct {
	ID            string            `json:"id,omitempty"`
	URL           string            `json:"url"`
	EventTypes    []string          `json:"event_types"`
	Filter        string            `json:"filter,omitempty"`
	Format        string            `json:"format,omitempty"`
	RateLimit     float64           `json:"rate_limit,omitempty"`
	MaxInFlight   int               `json:"max_in_flight,omitempty"`
	Ordered       bool              `json:"ordered,omitempty"`
	TimeoutMillis int               `json:"timeout_ms,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	// Circuit-breaker overrides of the dispatcher's defaults.
	BreakerFailures   int `json:"breaker_failures,omitempty"`
	BreakerOpenMillis int `json:"breaker_open_ms,omitempty"`
}

// readOnly are Subscription fields clients may see but not write, with
// what to do instead.
var readOnly = map[string]string{
	"secrets":      "read-only: use POST /v1/subscriptions/{id}/rotate-secret",
	"state":        "read-only: use POST /v1/subscriptions/{id}/pause or /resume",
	"state_reason": "read-only: use POST /v1/subscriptions/{id}/pause with a reason",
	"created_at":   "read-only",
	"updated_at":   "read-only",
	"v":            "read-only",
	"version":      "read-only: send the version you read as If-Match to refuse the write if it changed",
}

var writable = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range []string{"id", "url", "event_types", "filter", "format", "rate_limit",
		"max_in_flight", "ordered", "timeout_ms", "headers", "metadata", "breaker_failures", "breaker_open_ms"} {
		m[f] = true
	}
	return m
}()

func fieldsOf(s *record.Subscription) fields {
	return fields{ID: s.ID, URL: s.URL, EventTypes: slices.Clone(s.EventTypes), Filter: s.Filter, Format: s.Format,
		RateLimit: s.RateLimit, MaxInFlight: s.MaxInFlight, Ordered: s.Ordered, TimeoutMillis: s.TimeoutMillis,
		Headers: maps.Clone(s.Headers), Metadata: maps.Clone(s.Metadata),
		BreakerFailures: s.BreakerFailures, BreakerOpenMillis: s.BreakerOpenMillis}
}

func (f *fields) applyTo(s *record.Subscription) {
	s.URL, s.EventTypes, s.Filter, s.Format = f.URL, f.EventTypes, f.Filter, f.Format
	s.RateLimit, s.MaxInFlight, s.Ordered, s.TimeoutMillis = f.RateLimit, f.MaxInFlight, f.Ordered, f.TimeoutMillis
	s.Headers, s.Metadata = f.Headers, f.Metadata
	s.BreakerFailures, s.BreakerOpenMillis = f.BreakerFailures, f.BreakerOpenMillis
}

// decodeObject parses a JSON object body, refusing read-only and unknown
// members with errors naming them.
func decodeObject(body []byte) (map[string]json.RawMessage, *apiError) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, malformed("the body is empty; send a JSON object")
	}
	if err := syntaxError(trimmed); err != nil {
		return nil, malformed(err.Error())
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil || obj == nil {
		return nil, malformed("the body must be a JSON object")
	}
	var ds []detail
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if msg, ok := readOnly[k]; ok {
			ds = append(ds, detail{Field: k, Message: msg})
		} else if !writable[k] {
			ds = append(ds, detail{Field: k, Message: "unknown field"})
		}
	}
	if len(ds) > 0 {
		return nil, invalid("the body has fields that cannot be written", ds...)
	}
	return obj, nil
}

// decodeFields turns a checked object into fields, naming the member of
// the wrong type if any.
func decodeFields(obj map[string]json.RawMessage) (fields, *apiError) {
	var f fields
	b, _ := json.Marshal(obj)
	if err := json.Unmarshal(b, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fields{}, invalid("a field has the wrong type", detail{Field: te.Field, Message: "must be " + jsonKind(te.Type.Kind().String())})
		}
		return fields{}, invalid("the body does not describe a subscription", detail{Message: err.Error()})
	}
	return f, nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "a boolean"
	case "float64", "int":
		return "a number"
	}
	return "of another type"
}

type secretBody struct {
	Subscription record.Subscription `json:"subscription"`
	// Secret is the new signing secret, shown only in this answer.
	Secret string `json:"secret"`
}

type listBody struct {
	Subscriptions []record.Subscription `json:"subscriptions"`
	// NextAfter is the after= value of the next page; absent on the last.
	NextAfter string `json:"next_after,omitempty"`
}

func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request) {
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	obj, aerr := decodeObject(body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	f, aerr := decodeFields(obj)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	sub := record.Subscription{ID: f.ID}
	f.applyTo(&sub)
	ctx, cancel := s.writeContext(r)
	defer cancel()
	created, secret, err := s.subs.Create(ctx, sub)
	if err != nil {
		writeError(w, s.storeError(err))
		return
	}
	s.log.Info("subscription created", zapSub(&created)...)
	w.Header().Set("Location", "/v1/subscriptions/"+created.ID)
	w.Header().Set("ETag", created.ETag())
	writeJSON(w, http.StatusCreated, secretBody{Subscription: created.Redacted(), Secret: secret})
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, invalid("bad query", detail{Field: "limit", Message: "must be an integer from 1 to 1000"}))
			return
		}
		limit = n
	}
	subs, next, err := s.subs.List(r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, s.storeError(err))
		return
	}
	out := listBody{Subscriptions: make([]record.Subscription, len(subs)), NextAfter: next}
	for i := range subs {
		out.Subscriptions[i] = subs[i].Redacted()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) {
	sub, err := s.subs.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, s.storeError(err))
		return
	}
	w.Header().Set("ETag", sub.ETag())
	writeJSON(w, http.StatusOK, sub.Redacted())
}

// putSubscription replaces every writable field; absent ones take their
// defaults.
func (s *Server) putSubscription(w http.ResponseWriter, r *http.Request) {
	s.update(w, r, func(_ *record.Subscription, obj map[string]json.RawMessage) (map[string]json.RawMessage, *apiError) {
		return obj, nil
	})
}

// patchSubscription applies a JSON merge patch (RFC 7396) to the writable
// fields: members present replace, null resets to the default, objects
// (headers, metadata) merge member by member.
func (s *Server) patchSubscription(w http.ResponseWriter, r *http.Request) {
	s.update(w, r, func(cur *record.Subscription, patch map[string]json.RawMessage) (map[string]json.RawMessage, *apiError) {
		b, _ := json.Marshal(fieldsOf(cur))
		var base map[string]json.RawMessage
		_ = json.Unmarshal(b, &base)
		return mergePatch(base, patch)
	})
}

// update runs a PUT or PATCH: merge builds the new writable fields from
// the current subscription and the request's object.
func (s *Server) update(w http.ResponseWriter, r *http.Request,
	merge func(*record.Subscription, map[string]json.RawMessage) (map[string]json.RawMessage, *apiError)) {
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	obj, aerr := decodeObject(body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	id := r.PathValue("id")
	check := ifMatch(r)
	ctx, cancel := s.writeContext(r)
	defer cancel()
	updated, err := s.subs.Update(ctx, id, func(sub *record.Subscription) error {
		if err := check(sub); err != nil {
			return err
		}
		merged, aerr := merge(sub, obj)
		if aerr != nil {
			return aerr
		}
		f, aerr := decodeFields(merged)
		if aerr != nil {
			return aerr
		}
		if f.ID != "" && f.ID != id {
			return invalid("the id cannot change", detail{Field: "id", Message: fmt.Sprintf("must be %q (the id in the path) or absent", id)})
		}
		f.applyTo(sub)
		return nil
	})
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		writeError(w, ae)
	case err != nil:
		writeError(w, s.storeError(err))
	default:
		s.log.Info("subscription updated", zapSub(&updated)...)
		w.Header().Set("ETag", updated.ETag())
		writeJSON(w, http.StatusOK, updated.Redacted())
	}
}

// mergePatch applies an RFC 7396 merge patch to target.
func mergePatch(target, patch map[string]json.RawMessage) (map[string]json.RawMessage, *apiError) {
	out := maps.Clone(target)
	if out == nil {
		out = map[string]json.RawMessage{}
	}
	for k, v := range patch {
		if string(bytes.TrimSpace(v)) == "null" {
			delete(out, k)
			continue
		}
		var sub map[string]json.RawMessage
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) && json.Unmarshal(v, &sub) == nil {
			var cur map[string]json.RawMessage
			_ = json.Unmarshal(out[k], &cur)
			merged, aerr := mergePatch(cur, sub)
			if aerr != nil {
				return nil, aerr
			}
			b, _ := json.Marshal(merged)
			out[k] = b
			continue
		}
		out[k] = v
	}
	return out, nil
}

func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.writeContext(r)
	defer cancel()
	if err := s.subs.DeleteIf(ctx, r.PathValue("id"), ifMatch(r)); err != nil {
		writeError(w, s.storeError(err))
		return
	}
	s.log.Info("subscription deleted", zap.String("subscription_id", r.PathValue("id")))
	w.WriteHeader(http.StatusNoContent)
}

// optionalObject parses an optional JSON object body into dst.
func (s *Server) optionalObject(w http.ResponseWriter, r *http.Request, dst any) *apiError {
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		return aerr
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := syntaxError(bytes.TrimSpace(body)); err != nil {
		return malformed(err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalid("a field has the wrong type", detail{Field: te.Field, Message: "must be " + jsonKind(te.Type.Kind().String())})
		}
		return invalid("the body has an unexpected shape", detail{Message: err.Error()})
	}
	return nil
}

// MaxRotationGrace bounds grace_seconds of rotate-secret.
const MaxRotationGrace = 30 * 24 * time.Hour

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request) {
	var in struct {
		GraceSeconds *int64 `json:"grace_seconds"`
	}
	if aerr := s.optionalObject(w, r, &in); aerr != nil {
		writeError(w, aerr)
		return
	}
	grace := s.cfg.RotationGrace
	if in.GraceSeconds != nil {
		if *in.GraceSeconds < 0 || *in.GraceSeconds > int64(MaxRotationGrace/time.Second) {
			writeError(w, invalid("bad grace period", detail{Field: "grace_seconds",
				Message: fmt.Sprintf("must be from 0 to %d", int64(MaxRotationGrace/time.Second))}))
			return
		}
		grace = time.Duration(*in.GraceSeconds) * time.Second
	}
	ctx, cancel := s.writeContext(r)
	defer cancel()
	sub, secret, err := s.subs.Rotate(ctx, r.PathValue("id"), grace)
	if err != nil {
		writeError(w, s.storeError(err))
		return
	}
	s.log.Info("subscription secret rotated", append(zapSub(&sub), zap.Duration("grace", grace))...)
	w.Header().Set("ETag", sub.ETag())
	writeJSON(w, http.StatusOK, secretBody{Subscription: sub.Redacted(), Secret: secret})
}

func (s *Server) pauseSubscription(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	if aerr := s.optionalObject(w, r, &in); aerr != nil {
		writeError(w, aerr)
		return
	}
	if len(in.Reason) > 500 {
		writeError(w, invalid("reason too long", detail{Field: "reason", Message: "must be at most 500 bytes"}))
		return
	}
	s.setState(w, r, record.StatePaused, in.Reason)
}

func (s *Server) resumeSubscription(w http.ResponseWriter, r *http.Request) {
	if aerr := s.optionalObject(w, r, &struct{}{}); aerr != nil {
		writeError(w, aerr)
		return
	}
	s.setState(w, r, record.StateActive, "")
}

func (s *Server) setState(w http.ResponseWriter, r *http.Request, state, reason string) {
	ctx, cancel := s.writeContext(r)
	defer cancel()
	check := ifMatch(r)
	sub, err := s.subs.Update(ctx, r.PathValue("id"), func(sub *record.Subscription) error {
		if err := check(sub); err != nil {
			return err
		}
		sub.State, sub.StateReason = state, reason
		return nil
	})
	if err != nil {
		writeError(w, s.storeError(err))
		return
	}
	s.log.Info("subscription state changed", zapSub(&sub)...)
	w.Header().Set("ETag", sub.ETag())
	writeJSON(w, http.StatusOK, sub.Redacted())
}

type testBody struct {
	EventID    string `json:"event_id"`
	DeliveryID string `json:"delivery_id"`
}

func (s *Server) sendTest(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Data json.RawMessage `json:"data"`
	}
	if aerr := s.optionalObject(w, r, &in); aerr != nil {
		writeError(w, aerr)
		return
	}
	if string(bytes.TrimSpace(in.Data)) == "null" {
		in.Data = nil
	}
	ctx, cancel := s.writeContext(r)
	defer cancel()
	d, err := s.subs.SendTest(ctx, r.PathValue("id"), in.Data)
	if err != nil {
		writeError(w, s.storeError(err))
		return
	}
	writeJSON(w, http.StatusAccepted, testBody{EventID: d.Event.ID, DeliveryID: d.ID})
}

// ifMatch returns the precondition of r's If-Match header (RFC 9110
// 13.1.1): absent, it always holds; "*" holds for any current subscription;
// otherwise one of the listed entity tags must equal the subscription's
// ETag. Weak tags (W/"...") never match, as If-Match compares strongly.
func ifMatch(r *http.Request) subadmin.Precondition {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return func(*record.Subscription) error { return nil }
	}
	tags := splitTags(values)
	return func(cur *record.Subscription) error {
		etag := cur.ETag()
		for _, t := range tags {
			if t == "*" || t == etag {
				return nil
			}
		}
		return fmt.Errorf("%w: the subscription is at version %d (ETag %s), If-Match asked for %s",
			subadmin.ErrPrecondition, cur.Revision, etag, strings.Join(tags, ", "))
	}
}

// writeContext bounds a write: producing plus waiting for the table.
func (s *Server) writeContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.ProduceTimeout)
}

// zapSub describes a subscription for logs: never its secrets, and its URL
// without credentials or query.
func zapSub(sub *record.Subscription) []zap.Field {
	return []zap.Field{zap.String("subscription_id", sub.ID), zap.String("url", record.RedactURL(sub.URL)), zap.String("state", sub.State)}
}
