// Package payload renders an event as the body and headers of a webhook
// request in one of the subscription payload formats:
//
//   - standard: {"type","timestamp","data"} as application/json;
//   - cloudevents-structured: the CloudEvent as application/cloudevents+json;
//   - cloudevents-binary: the data as the body, attributes in ce- headers
//     (CloudEvents HTTP protocol binding);
//   - raw: the event data exactly as produced, with its content type.
//
// Signing and the other request headers are the caller's business.
package payload

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
)

// ErrUnknownFormat is returned by Build for a format it does not know.
var ErrUnknownFormat = errors.New("payload: unknown format")

// Build returns the body of a webhook carrying e in format, and the
// headers that describe it (Content-Type, and ce- headers in binary
// mode). An empty format is standard. now stamps standard payloads of
// events without a time. compactJSON says e.Data is known to be compact
// JSON, as record.DecodeDeliveryData reports it (valid, and embedded by
// encoding/json unchanged), so it is not checked again; with false it is.
// The body is the same either way.
func Build(format string, e *event.Event, now time.Time, compactJSON bool) ([]byte, http.Header, error) {
	h := http.Header{}
	switch format {
	case "", record.FormatStandard:
		body, err := standard(e, now, compactJSON)
		if err != nil {
			return nil, nil, err
		}
		h.Set("Content-Type", event.ContentTypeJSON)
		return body, h, nil
	case record.FormatCloudEventsStructure:
		body, err := json.Marshal(e)
		if err != nil {
			return nil, nil, fmt.Errorf("payload: %w", err)
		}
		h.Set("Content-Type", event.ContentTypeStructured)
		return body, h, nil
	case record.FormatCloudEventsBinary:
		setBinaryHeaders(h, e)
		h.Set("Content-Type", dataContentType(e))
		return e.Data, h, nil
	case record.FormatRaw:
		h.Set("Content-Type", dataContentType(e))
		return e.Data, h, nil
	default:
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownFormat, format)
	}
}

func dataContentType(e *event.Event) string {
	if e.DataContentType != "" {
		return e.DataContentType
	}
	return event.ContentTypeJSON
}

// standard renders {"type","timestamp","data"}. JSON data is embedded as
// is; other data is a JSON string when it is UTF-8 text, else base64 in
// "data_base64".
//
// The body is what encoding/json makes of it (data compacted, and '<',
// '>', '&', U+2028 and U+2029 escaped), byte for byte; it is written
// directly in the common case of data that encoding/json leaves alone.
// compactJSON is Build's: the decoder already found the data so.
func standard(e *event.Event, now time.Time, compactJSON bool) ([]byte, error) {
	ts := e.Time
	if ts.IsZero() {
		ts = now
	}
	isJSON := len(e.Data) > 0 && e.DataIsJSON() && (compactJSON || json.Valid(e.Data))
	if isJSON && !compactJSON && !settled(e.Data) || !plainString(e.Type) {
		return standardSlow(e, ts, isJSON)
	}
	size := len(e.Type) + len(e.Data) + len(`{"type":"","timestamp":"2006-01-02T15:04:05.999999999Z","data_base64":""}`)
	if !isJSON {
		size += len(e.Data)/3 + 4 // base64, or a little escaping
	}
	b := make([]byte, 0, size)
	b = append(b, `{"type":"`...)
	b = append(b, e.Type...)
	b = append(b, `","timestamp":"`...)
	b = ts.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	switch {
	case len(e.Data) == 0:
		b = append(b, `,"data":null`...)
	case isJSON:
		b = append(b, `,"data":`...)
		b = append(b, e.Data...)
	case utf8.Valid(e.Data):
		s, err := json.Marshal(string(e.Data))
		if err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		b = append(b, `,"data":`...)
		b = append(b, s...)
	default:
		b = append(b, `,"data_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, e.Data)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// standardSlow is standard through encoding/json, for data it would
// rewrite (whitespace, characters it escapes) and types with characters
// to escape.
func standardSlow(e *event.Event, ts time.Time, isJSON bool) ([]byte, error) {
	v := struct {
		Type       string          `json:"type"`
		Timestamp  string          `json:"timestamp"`
		Data       json.RawMessage `json:"data,omitempty"`
		DataBase64 string          `json:"data_base64,omitempty"`
	}{Type: e.Type, Timestamp: ts.UTC().Format(time.RFC3339Nano)}
	switch {
	case len(e.Data) == 0:
		v.Data = json.RawMessage("null")
	case isJSON:
		v.Data = e.Data
	case utf8.Valid(e.Data):
		s, err := json.Marshal(string(e.Data))
		if err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		v.Data = s
	default:
		v.DataBase64 = base64.StdEncoding.EncodeToString(e.Data)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return b, nil
}

// settled reports whether encoding/json embeds the valid JSON document b
// unchanged: no whitespace between tokens (it compacts) and none of '<',
// '>', '&', U+2028, U+2029 (it escapes them).
func settled(b []byte) bool {
	inString, escaped := false, false
	for i, c := range b {
		switch {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9):
			return false
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}

// plainString reports whether encoding/json writes s as itself between
// quotes: printable ASCII without '"', '\\', '<', '>' and '&'.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// setBinaryHeaders sets a ce- header per context attribute and extension
// (CloudEvents HTTP binding, binary mode). datacontenttype travels as
// Content-Type.
func setBinaryHeaders(h http.Header, e *event.Event) {
	set := func(name, v string) {
		if v != "" {
			h.Set("ce-"+name, encodeHeaderValue(v))
		}
	}
	set("specversion", e.SpecVersion)
	set("id", e.ID)
	set("source", e.Source)
	set("type", e.Type)
	if !e.Time.IsZero() {
		set("time", e.Time.UTC().Format(time.RFC3339Nano))
	}
	set("subject", e.Subject)
	set("dataschema", e.DataSchema)
	keys := make([]string, 0, len(e.Extensions))
	for k := range e.Extensions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch k {
		case "specversion", "id", "source", "type", "time", "subject", "dataschema", "datacontenttype", "data", "data_base64":
			continue // reserved names cannot be extensions
		}
		set(k, e.Extensions[k])
	}
}

// encodeHeaderValue percent-encodes what the CloudEvents HTTP binding
// says must be: bytes outside printable ASCII, space, '"' and '%'.
func encodeHeaderValue(v string) string {
	needs := false
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			needs = true
			break
		}
	}
	if !needs {
		return v
	}
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
