package record

import (
	"errors"
	"fmt"
)

// Sentinel causes carried by *DecodeError and returned by Validate methods.
var (
	ErrMalformed          = errors.New("malformed record")
	ErrUnsupportedVersion = errors.New("unsupported record version")
	ErrInvalid            = errors.New("invalid record")
)

// DecodeError says which record kind failed to decode and why.
type DecodeError struct {
	Kind string // "subscription", "delivery", "dead-letter", "attempt"
	Err  error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("record: decoding %s: %v", e.Kind, e.Err) }
func (e *DecodeError) Unwrap() error { return e.Err }

// FieldError says which field of a record is invalid.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }
func (e *FieldError) Unwrap() error { return ErrInvalid }
