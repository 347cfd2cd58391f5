package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/hookline/hookline/producer/internal/subadmin"
	"github.com/hookline/hookline/producer/publish"
)

// detail is one problem: with an event of the request (Index), a field, or
// both.
type detail struct {
	Index   *int   `json:"index,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// apiError is an error answer.
type apiError struct {
	status     int
	code       string
	message    string
	details    []detail
	retryAfter time.Duration // sets Retry-After when positive
	ids        []string      // event ids, on failures after producing began
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

type errorBody struct {
	Error struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Details []detail `json:"details,omitempty"`
	} `json:"error"`
	IDs []string `json:"ids,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"encoding the answer failed"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, e *apiError) {
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.Details = e.code, e.message, e.details
	body.IDs = e.ids
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, e.status, body)
}

func malformed(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "malformed_json", message: msg}
}

func invalid(msg string, details ...detail) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: "validation_failed", message: msg, details: details}
}

// storeError maps an error of the subscription store to an answer.
func (s *Server) storeError(err error) *apiError {
	var ie *subadmin.InvalidError
	switch {
	case errors.As(err, &ie):
		ds := make([]detail, len(ie.Fields))
		for i, f := range ie.Fields {
			ds[i] = detail{Field: f.Field, Message: f.Message}
		}
		return invalid("the subscription is invalid", ds...)
	case errors.Is(err, subadmin.ErrPrecondition):
		return &apiError{status: http.StatusPreconditionFailed, code: "precondition_failed",
			message: err.Error() + "; GET the subscription and retry with its ETag"}
	case errors.Is(err, subadmin.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: "not_found", message: "no such subscription"}
	case errors.Is(err, subadmin.ErrExists):
		return &apiError{status: http.StatusConflict, code: "conflict", message: "a subscription with this id already exists"}
	case errors.Is(err, subadmin.ErrNotReady):
		return &apiError{status: http.StatusServiceUnavailable, code: "not_ready", retryAfter: s.cfg.RetryAfter,
			message: "the subscription table is still loading; retry shortly"}
	}
	return s.kafkaError(err)
}

// kafkaError maps an error of producing to an answer: 503 when Kafka is
// unavailable (retry later), 413 when the record is too large, else 500.
func (s *Server) kafkaError(err error) *apiError {
	switch {
	case publish.IsRetryable(err), errors.Is(err, publish.ErrBrokerUnavailable), errors.Is(err, publish.ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, code: "kafka_unavailable", retryAfter: s.cfg.RetryAfter,
			message: "Kafka did not acknowledge the write in time; retry later"}
	case errors.Is(err, publish.ErrTooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", message: "the record is larger than Kafka accepts"}
	}
	return &apiError{status: http.StatusInternalServerError, code: "internal", message: "the write failed"}
}

func withScope(ctx context.Context, sum [sha256.Size]byte) context.Context {
	return context.WithValue(ctx, scopeKey{}, sum)
}

// scopeOf returns the hash of the request's API key ("" without auth), so
// idempotency keys of different API keys never collide.
func scopeOf(ctx context.Context) string {
	sum, ok := ctx.Value(scopeKey{}).([sha256.Size]byte)
	if !ok {
		return ""
	}
	return string(sum[:])
}
