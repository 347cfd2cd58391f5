package event

import (
	"errors"
	"fmt"
)

// Sentinel causes carried by *DecodeError. Match them with errors.Is.
var (
	// ErrEmpty means the record has no value and no binary-mode headers.
	ErrEmpty = errors.New("empty record")
	// ErrNotJSON means a JSON value was expected and the bytes are not JSON.
	ErrNotJSON = errors.New("value is not valid JSON")
	// ErrNotObject means the JSON value is not an object.
	ErrNotObject = errors.New("JSON value is not an object")
	// ErrMissingAttribute means a required attribute is absent or empty.
	ErrMissingAttribute = errors.New("missing required attribute")
	// ErrInvalidAttribute means an attribute has the wrong type or format.
	ErrInvalidAttribute = errors.New("invalid attribute")
	// ErrUnsupportedSpecVersion means specversion is not "1.0".
	ErrUnsupportedSpecVersion = errors.New("unsupported specversion")
	// ErrUnsupportedContentType means the record is neither binary mode,
	// structured JSON, nor plain JSON.
	ErrUnsupportedContentType = errors.New("unsupported content type")
	// ErrTooLarge means the record exceeds the size limit given to Decode.
	ErrTooLarge = errors.New("record too large")
)

// DecodeError says why a record is not an event: which binding mode was
// tried, which attribute (if any) is at fault, and the cause.
type DecodeError struct {
	Mode  Mode   // the binding mode the record was read as
	Field string // the attribute at fault, if any
	Err   error  // one of the sentinels above, possibly wrapped
}

func (e *DecodeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("event: %s mode: %s: %v", e.Mode, e.Field, e.Err)
	}
	return fmt.Sprintf("event: %s mode: %v", e.Mode, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
