package registry

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrUnknownType means no schema is registered for the event type.
	ErrUnknownType = errors.New("registry: unknown event type")
	// ErrUnknownVersion means the event type is registered but not in the
	// version asked for. It wraps ErrUnknownType, so callers that allow
	// unknown types allow unknown versions too.
	ErrUnknownVersion = fmt.Errorf("%w version", ErrUnknownType)
)

// FieldError is one reason data fails its schema.
type FieldError struct {
	// Field is a JSON pointer (RFC 6901) to the offending value, such as
	// "/amount" or "/customer/email"; for a missing property it points at
	// where the property should be. "" means the whole document.
	Field string
	// Message says what is wrong, in English.
	Message string
}

func (f FieldError) String() string {
	if f.Field == "" {
		return "(document): " + f.Message
	}
	return f.Field + ": " + f.Message
}

// ValidationError says why data does not match the schema of its event
// type: one FieldError per problem, sorted by field.
type ValidationError struct {
	Type    string
	Version int
	Fields  []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "registry: %s v%d: invalid data", e.Type, e.Version)
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	return b.String()
}
