package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SpecVersion is the only CloudEvents version Hookline accepts.
const SpecVersion = "1.0"

// Media types of the binding.
const (
	ContentTypeJSON       = "application/json"
	ContentTypeStructured = "application/cloudevents+json"
)

// Mode is how an event was (or is to be) carried in a Kafka record.
type Mode string

// Binding modes.
const (
	ModeBinary     Mode = "binary"
	ModeStructured Mode = "structured"
	ModePlain      Mode = "plain"
)

// Event is a CloudEvents 1.0 event. Data holds the payload bytes exactly as
// produced; for JSON content types it is a JSON document.
type Event struct {
	ID              string
	Source          string
	Type            string
	SpecVersion     string
	Time            time.Time // zero when absent
	Subject         string
	DataContentType string
	DataSchema      string
	// Extensions holds other context attributes, lower-case names.
	Extensions map[string]string
	Data       []byte
}

// DataIsJSON reports whether Data is declared (or defaults) to be JSON.
func (e *Event) DataIsJSON() bool {
	ct := e.DataContentType
	if ct == "" {
		return true
	}
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(strings.ToLower(mt))
	return mt == ContentTypeJSON || strings.HasSuffix(mt, "+json") || mt == "text/json"
}

// Validate checks the required attributes (id, source, type, specversion).
func (e *Event) Validate(mode Mode) error {
	for _, f := range []struct{ name, v string }{
		{"id", e.ID}, {"source", e.Source}, {"type", e.Type}, {"specversion", e.SpecVersion},
	} {
		if f.v == "" {
			return &DecodeError{Mode: mode, Field: f.name, Err: ErrMissingAttribute}
		}
	}
	if e.SpecVersion != SpecVersion {
		return &DecodeError{Mode: mode, Field: "specversion", Err: fmt.Errorf("%w: %q", ErrUnsupportedSpecVersion, e.SpecVersion)}
	}
	return nil
}

// structured is the JSON form of a CloudEvent.
type structured struct {
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	SpecVersion     string          `json:"specversion"`
	Type            string          `json:"type"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	DataSchema      string          `json:"dataschema,omitempty"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      string          `json:"data_base64,omitempty"`
}

var knownAttrs = map[string]bool{
	"id": true, "source": true, "specversion": true, "type": true, "datacontenttype": true,
	"dataschema": true, "subject": true, "time": true, "data": true, "data_base64": true,
}

// MarshalJSON encodes e as a structured-mode CloudEvent. JSON data is
// embedded as is; other data is carried as data_base64.
func (e Event) MarshalJSON() ([]byte, error) {
	s := structured{
		ID: e.ID, Source: e.Source, SpecVersion: e.SpecVersion, Type: e.Type,
		DataContentType: e.DataContentType, DataSchema: e.DataSchema, Subject: e.Subject,
	}
	if !e.Time.IsZero() {
		s.Time = e.Time.UTC().Format(time.RFC3339Nano)
	}
	if len(e.Data) > 0 {
		if e.DataIsJSON() && json.Valid(e.Data) {
			s.Data = json.RawMessage(e.Data)
		} else {
			s.DataBase64 = base64.StdEncoding.EncodeToString(e.Data)
		}
	}
	if len(e.Extensions) == 0 {
		return json.Marshal(s)
	}
	// Extensions sit beside the known attributes at the top level.
	base, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	ext, err := json.Marshal(e.Extensions)
	if err != nil {
		return nil, err
	}
	if len(ext) <= 2 { // "{}"
		return base, nil
	}
	out := append(base[:len(base)-1:len(base)-1], ',')
	return append(out, ext[1:]...), nil
}

// UnmarshalJSON decodes a structured-mode CloudEvent without validating the
// required attributes; DecodeStructured does both.
func (e *Event) UnmarshalJSON(b []byte) error {
	ev, err := parseStructured(b)
	if err != nil {
		return err
	}
	*e = ev
	return nil
}

func parseStructured(b []byte) (Event, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		if !json.Valid(b) {
			return Event{}, &DecodeError{Mode: ModeStructured, Err: ErrNotJSON}
		}
		return Event{}, &DecodeError{Mode: ModeStructured, Err: ErrNotObject}
	}
	var e Event
	str := func(name string, dst *string) error {
		v, ok := raw[name]
		if !ok || string(v) == "null" {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return &DecodeError{Mode: ModeStructured, Field: name, Err: fmt.Errorf("%w: want a string", ErrInvalidAttribute)}
		}
		return nil
	}
	var ts string
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"id", &e.ID}, {"source", &e.Source}, {"specversion", &e.SpecVersion}, {"type", &e.Type},
		{"datacontenttype", &e.DataContentType}, {"dataschema", &e.DataSchema}, {"subject", &e.Subject}, {"time", &ts},
	} {
		if err := str(f.name, f.dst); err != nil {
			return Event{}, err
		}
	}
	if ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return Event{}, &DecodeError{Mode: ModeStructured, Field: "time", Err: fmt.Errorf("%w: not RFC 3339: %q", ErrInvalidAttribute, ts)}
		}
		e.Time = t
	}
	if d, ok := raw["data"]; ok && string(d) != "null" {
		e.Data = compactOrCopy(d)
	}
	if d, ok := raw["data_base64"]; ok && string(d) != "null" {
		var s string
		if err := json.Unmarshal(d, &s); err != nil {
			return Event{}, &DecodeError{Mode: ModeStructured, Field: "data_base64", Err: fmt.Errorf("%w: want a string", ErrInvalidAttribute)}
		}
		data, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return Event{}, &DecodeError{Mode: ModeStructured, Field: "data_base64", Err: fmt.Errorf("%w: not base64", ErrInvalidAttribute)}
		}
		e.Data = data
	}
	for k, v := range raw {
		if knownAttrs[k] {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			// CloudEvents extension values may be booleans, integers and so
			// on; keep their JSON text.
			s = string(bytes.TrimSpace(v))
		}
		if e.Extensions == nil {
			e.Extensions = make(map[string]string)
		}
		e.Extensions[k] = s
	}
	return e, nil
}

// compactOrCopy returns a private copy of raw JSON.
func compactOrCopy(b []byte) []byte {
	return append([]byte(nil), b...)
}
