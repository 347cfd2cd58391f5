package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Sentinel errors. Errors returned by a Client wrap them; match with
// errors.Is.
var (
	// ErrTooLarge means the event's record (key, value and headers) is
	// larger than the MaxEventBytes limit, or than the broker accepts.
	ErrTooLarge = errors.New("publish: event too large")

	// ErrBrokerUnavailable means Kafka did not acknowledge the record in
	// time: the brokers are unreachable, have no leader for the partition,
	// or the context's deadline passed first. The record may still be
	// written later; retrying with the same event id lets consumers
	// deduplicate. IsRetryable reports true.
	ErrBrokerUnavailable = errors.New("publish: kafka unavailable")

	// ErrClosed means the Client was closed.
	ErrClosed = errors.New("publish: client closed")
)

// FieldError is one problem with one field of an event. Field is an
// attribute name ("type", "time", "source"), "data" for the payload as a
// whole, or "data" followed by the JSON pointer the schema registry
// reported ("data/amount").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError says why an event was refused before anything was
// produced: a missing or malformed attribute, data that is not the JSON its
// content type promises, a type the registry does not know (unless
// AllowUnknownTypes), or data that fails its type's JSON Schema.
//
// Err is the cause: a *registry.ValidationError, an error wrapping
// registry.ErrUnknownType, or an *event.DecodeError; errors.Is and
// errors.As see through to it.
type ValidationError struct {
	Type    string       // the event's type
	Version int          // the schema version validated against; 0 for the latest
	Fields  []FieldError // at least one entry
	Err     error
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("publish: invalid event")
	if e.Type != "" {
		fmt.Fprintf(&b, " of type %q", e.Type)
	}
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Message)
	}
	return b.String()
}

func (e *ValidationError) Unwrap() error { return e.Err }

// BatchError reports which events of a PublishBatch failed. Errs has one
// entry per event, nil for those that succeeded (or, after a validation
// failure, were never produced because another event was invalid).
type BatchError struct {
	Errs []error
}

func (e *BatchError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if n == 1 {
		return first.Error()
	}
	return fmt.Sprintf("publish: %d of %d events failed; first: %v", n, len(e.Errs), first)
}

// Unwrap returns the non-nil errors, so errors.Is(err, ErrTooLarge) is true
// when any event was too large.
func (e *BatchError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// IsRetryable reports whether publishing the same event again may succeed
// without changing it: true for ErrBrokerUnavailable, false for validation
// errors, ErrTooLarge, ErrClosed and nil. For a *BatchError it is true when
// every failed event is retryable.
func IsRetryable(err error) bool {
	var be *BatchError
	if errors.As(err, &be) {
		errs := be.Unwrap()
		for _, e := range errs {
			if !IsRetryable(e) {
				return false
			}
		}
		return len(errs) > 0
	}
	return errors.Is(err, ErrBrokerUnavailable)
}

// Classify maps an error from a franz-go client onto this package's
// sentinels, keeping the cause: ErrTooLarge, ErrClosed,
// ErrBrokerUnavailable (timeouts, unreachable brokers, retriable Kafka
// errors), or the error wrapped as is. It returns nil for nil. Use it for
// records produced with Kafka() beside events.
func Classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, kgo.ErrClientClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, kgo.ErrRecordTimeout),
		errors.Is(err, kgo.ErrRecordRetries),
		errors.Is(err, kgo.ErrMaxBuffered),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, io.EOF),
		kerr.IsRetriable(err),
		isNetError(err):
		return fmt.Errorf("%w: %w", ErrBrokerUnavailable, err)
	default:
		return fmt.Errorf("publish: producing: %w", err)
	}
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}
