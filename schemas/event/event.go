package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
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

// Validate checks the required attributes (id, source, type, specversion)
// and that no extension reuses the name of a context attribute or of
// data/data_base64, which would make the event ambiguous in either mode.
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
	for _, k := range slices.Sorted(maps.Keys(e.Extensions)) {
		if knownAttrs[k] {
			return &DecodeError{Mode: mode, Field: k, Err: fmt.Errorf("%w: %q is reserved, not an extension name", ErrInvalidAttribute, k)}
		}
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
// embedded as a JSON value (encoding/json compacts it, so insignificant
// whitespace is not kept); other data is carried as data_base64. It fails
// when an extension reuses a reserved attribute name.
func (e Event) MarshalJSON() ([]byte, error) {
	s := structured{
		ID: e.ID, Source: e.Source, SpecVersion: e.SpecVersion, Type: e.Type,
		DataContentType: e.DataContentType, DataSchema: e.DataSchema, Subject: e.Subject,
	}
	if !e.Time.IsZero() {
		s.Time = e.Time.UTC().Format(time.RFC3339Nano)
	}
	if len(e.Data) > 0 {
		isJSON := e.DataIsJSON() && json.Valid(e.Data)
		switch {
		case isJSON && string(bytes.TrimSpace(e.Data)) == "null":
			// "data": null reads back as no data, so say that plainly.
		case isJSON:
			s.Data = json.RawMessage(e.Data)
		default:
			s.DataBase64 = base64.StdEncoding.EncodeToString(e.Data)
		}
	}
	if len(e.Extensions) == 0 {
		return json.Marshal(s)
	}
	for k := range e.Extensions {
		if knownAttrs[k] {
			return nil, errReservedExtension(k)
		}
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

func errReservedExtension(name string) error {
	return fmt.Errorf("event: extension %q reuses a reserved attribute name", name)
}

// MarshalExact is MarshalJSON for Hookline's own records: JSON data that a
// JSON encoder would rewrite (insignificant whitespace, or characters
// encoding/json escapes such as '<', '>', '&') is carried in data_base64
// instead, so decoding the result yields Data byte for byte. Raw-format
// deliveries depend on this; webhook bodies use MarshalJSON.
//
// It writes the bytes json.Marshal would write for the structured struct
// (field order, omitempty, HTML-safe string escaping), without
// encoding/json: the router calls it once per event, and JSON data it has
// proven stable needs no second pass to be compacted and escaped.
func (e *Event) MarshalExact() ([]byte, error) {
	embed := e.DataIsJSON() && stableJSON(e.Data)
	n := len(e.ID) + len(e.Source) + len(e.SpecVersion) + len(e.Type) +
		len(e.DataContentType) + len(e.DataSchema) + len(e.Subject) +
		160 // the names, quotes and commas of every member, and the time
	if embed {
		n += len(e.Data)
	} else {
		n += base64.StdEncoding.EncodedLen(len(e.Data))
	}
	for k, v := range e.Extensions {
		if knownAttrs[k] {
			return nil, errReservedExtension(k)
		}
		n += len(k) + len(v) + 6
	}

	b := make([]byte, 0, n)
	b = appendMember(b, `{"id":`, e.ID)
	b = appendMember(b, `,"source":`, e.Source)
	b = appendMember(b, `,"specversion":`, e.SpecVersion)
	b = appendMember(b, `,"type":`, e.Type)
	if e.DataContentType != "" {
		b = appendMember(b, `,"datacontenttype":`, e.DataContentType)
	}
	if e.DataSchema != "" {
		b = appendMember(b, `,"dataschema":`, e.DataSchema)
	}
	if e.Subject != "" {
		b = appendMember(b, `,"subject":`, e.Subject)
	}
	if !e.Time.IsZero() {
		// RFC 3339 text is digits and "-:.+TZ": nothing to escape.
		b = append(b, `,"time":"`...)
		b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	switch {
	case len(e.Data) == 0:
	case embed:
		b = append(b, `,"data":`...)
		b = append(b, e.Data...)
	default:
		// The base64 alphabet needs no escaping either.
		b = append(b, `,"data_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, e.Data)
		b = append(b, '"')
	}
	if len(e.Extensions) > 0 { // Sorted allocates even for no keys
		// Extensions sit beside the known attributes at the top level,
		// in the sorted order json.Marshal writes a map in.
		for _, k := range slices.Sorted(maps.Keys(e.Extensions)) {
			b = append(b, ',')
			b = appendString(b, k)
			b = appendMember(b, ":", e.Extensions[k])
		}
	}
	return append(b, '}'), nil
}

// appendMember appends prefix and s as a JSON string.
func appendMember(b []byte, prefix, s string) []byte {
	return appendString(append(b, prefix...), s)
}

// appendString appends s as json.Marshal writes a string. Attributes are
// nearly always plain ASCII, copied as they are; anything else is left to
// encoding/json (control characters, invalid UTF-8, U+2028 and so on).
func appendString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// notable marks the bytes stableJSON looks at; most bytes of a document
// are none of them.
var notable = [256]bool{'"': true, '\\': true, '<': true, '>': true, '&': true, 0xE2: true, ' ': true, '\t': true, '\n': true, '\r': true}

// stableJSON reports whether b survives being embedded as "data" byte for
// byte: whether it is valid JSON that json.Marshal of a json.RawMessage
// neither compacts (no whitespace outside strings) nor HTML-escapes (no
// '<', '>', '&', U+2028 or U+2029), and is not null, which reads back as
// no data. Like json.Valid, it does not check UTF-8 within strings.
func stableJSON(b []byte) bool {
	if !json.Valid(b) || string(b) == "null" {
		return false
	}
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !notable[c] {
			continue
		}
		switch {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8:
			return false
		case inString && c == '\\':
			i++ // an escaped character is ASCII and never ends the string
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

// UnmarshalJSON decodes a structured-mode CloudEvent without validating the
// required attributes; DecodeStructured does both. JSON null leaves e
// unchanged, as encoding/json expects of an Unmarshaler.
func (e *Event) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	ev, err := parseStructured(b)
	if err != nil {
		return err
	}
	*e = ev
	return nil
}

func parseStructured(b []byte) (Event, error) {
	if !utf8.Valid(b) {
		return Event{}, &DecodeError{Mode: ModeStructured, Err: errNotUTF8}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		if !json.Valid(b) {
			return Event{}, &DecodeError{Mode: ModeStructured, Err: ErrNotJSON}
		}
		return Event{}, &DecodeError{Mode: ModeStructured, Err: ErrNotObject}
	}
	if raw == nil { // the JSON literal null
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
		t, err := parseTime(ModeStructured, ts)
		if err != nil {
			return Event{}, err
		}
		e.Time = t
	}
	d, hasData := raw["data"]
	hasData = hasData && string(d) != "null"
	if hasData {
		e.Data = append([]byte(nil), d...)
		// In the JSON format, a string "data" of a non-JSON content type
		// is the data itself (text/plain, application/xml...), not a
		// JSON document.
		if !e.DataIsJSON() && len(d) > 0 && d[0] == '"' {
			var text string
			if err := json.Unmarshal(d, &text); err == nil {
				e.Data = []byte(text)
			}
		}
	}
	if d, ok := raw["data_base64"]; ok && string(d) != "null" {
		if hasData {
			return Event{}, &DecodeError{Mode: ModeStructured, Field: "data_base64", Err: fmt.Errorf("%w: data and data_base64 are mutually exclusive", ErrInvalidAttribute)}
		}
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
		if knownAttrs[k] || string(v) == "null" {
			// A null extension is an absent one.
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

// parseTime parses an RFC 3339 time attribute. It refuses times whose UTC
// form falls outside years 0-9999, which RFC 3339 cannot write back.
func parseTime(mode Mode, ts string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, &DecodeError{Mode: mode, Field: "time", Err: fmt.Errorf("%w: not RFC 3339: %q", ErrInvalidAttribute, ts)}
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return time.Time{}, &DecodeError{Mode: mode, Field: "time", Err: fmt.Errorf("%w: year out of range: %q", ErrInvalidAttribute, ts)}
	}
	return t, nil
}
