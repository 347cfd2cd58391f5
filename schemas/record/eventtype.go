package record

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/hookline/hookline/schemas/header"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EventType is one entry of the event-type catalogue, written to the
// compacted event-types topic keyed by name; a tombstone deletes it. The
// router and the producer API read the topic as a live table: an event of
// a type with a Schema is valid when the schema accepts its data (the
// CloudEvent's data, or the whole object of a plain JSON event); an event
// of a type without one is accepted as is; an event of a type not in the
// catalogue is an unknown type.
type EventType struct {
	V    int    `json:"v"`
	Name string `json:"name"`
	// Description says what the event means, for people.
	Description string `json:"description,omitempty"`
	// Schema is an optional JSON Schema (draft 2020-12) of the event data.
	Schema json.RawMessage `json:"schema,omitempty"`
	// Example is an optional example of the event data.
	Example    json.RawMessage `json:"example,omitempty"`
	Deprecated bool            `json:"deprecated,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	// Revision counts writes: 1 when created, one more with each change;
	// the API's ETag. JSON "version"; V is the record format's version.
	Revision int64 `json:"version,omitempty"`
}

// eventTypeName is what an event type may be called: what CloudEvents'
// type attribute commonly holds, bounded.
var eventTypeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$`)

// ValidEventTypeName reports whether name may name an event type.
func ValidEventTypeName(name string) bool { return eventTypeName.MatchString(name) }

// Validate checks the fields that do not need the schema compiled: the
// name, and that schema and example, when set, are JSON.
func (t *EventType) Validate() error {
	switch {
	case !ValidEventTypeName(t.Name):
		return &FieldError{Field: "name", Message: "must be 1-255 letters, digits and _ . : - starting with a letter or digit"}
	case len(t.Description) > 2000:
		return &FieldError{Field: "description", Message: "must be at most 2000 bytes"}
	case len(t.Schema) > 0 && !json.Valid(t.Schema):
		return &FieldError{Field: "schema", Message: "must be JSON"}
	case len(t.Example) > 0 && !json.Valid(t.Example):
		return &FieldError{Field: "example", Message: "must be JSON"}
	}
	return nil
}

// ETag returns the event type's revision as an HTTP entity tag.
func (t *EventType) ETag() string { return `"` + strconv.FormatInt(t.Revision, 10) + `"` }

// Record returns the Kafka record of t on topic, keyed by name.
func (t *EventType) Record(topic string) (*kgo.Record, error) {
	if t.V == 0 {
		t.V = Version
	}
	v, err := encode(header.KindEventType, t)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: topic, Key: []byte(t.Name), Value: v, Headers: []kgo.RecordHeader{
		hdr(header.Version, strconv.Itoa(Version)),
		hdr(header.Kind, header.KindEventType),
		hdr(header.EventType, t.Name),
	}}, nil
}

// DecodeEventType parses an EventType value.
func DecodeEventType(b []byte) (EventType, error) {
	var t EventType
	if err := decode(header.KindEventType, b, &t, func() int { return t.V }); err != nil {
		return EventType{}, err
	}
	if t.Name == "" {
		return EventType{}, &DecodeError{Kind: header.KindEventType, Err: fmt.Errorf("%w: no name", ErrMalformed)}
	}
	return t, nil
}
