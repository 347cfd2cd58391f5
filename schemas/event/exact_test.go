package event_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/event"
)

var refKnownAttrs = map[string]bool{
	"id": true, "source": true, "specversion": true, "type": true, "datacontenttype": true,
	"dataschema": true, "subject": true, "time": true, "data": true, "data_base64": true,
}

// refMarshal is Event.marshal as it was before MarshalExact wrote its
// output by hand: encoding/json does the work. It is the reference both
// MarshalExact and MarshalJSON must match byte for byte.
func refMarshal(e *event.Event, exact bool) ([]byte, error) {
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
	stableJSON := func(b []byte) bool {
		var compact, escaped bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			return false
		}
		json.HTMLEscape(&escaped, compact.Bytes())
		return bytes.Equal(escaped.Bytes(), b) && string(b) != "null"
	}

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
		case isJSON && string(bytes.TrimSpace(e.Data)) == "null" && !exact:
		case isJSON && (!exact || stableJSON(e.Data)):
			s.Data = json.RawMessage(e.Data)
		default:
			s.DataBase64 = base64.StdEncoding.EncodeToString(e.Data)
		}
	}
	if len(e.Extensions) == 0 {
		return json.Marshal(s)
	}
	for k := range e.Extensions {
		if refKnownAttrs[k] {
			return nil, fmt.Errorf("event: extension %q reuses a reserved attribute name", k)
		}
	}
	base, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	ext, err := json.Marshal(e.Extensions)
	if err != nil {
		return nil, err
	}
	if len(ext) <= 2 {
		return base, nil
	}
	out := append(base[:len(base)-1:len(base)-1], ',')
	return append(out, ext[1:]...), nil
}

// exactCases are events whose encoding is easy to get wrong by hand.
func exactCases() map[string]event.Event {
	base := func(data string) event.Event {
		return event.Event{ID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", DataContentType: "application/json", Data: []byte(data)}
	}
	with := func(data string, edit func(*event.Event)) event.Event {
		e := base(data)
		edit(&e)
		return e
	}
	tokyo := time.FixedZone("JST", 9*3600)
	return map[string]event.Event{
		"fixed":                fixedEvent(),
		"compact object":       base(`{"a":1,"b":"x"}`),
		"nil data":             with("", func(e *event.Event) { e.Data = nil }),
		"empty data":           with("", func(e *event.Event) { e.Data = []byte{} }),
		"null data":            base(`null`),
		"null with space":      base(` null`),
		"whitespace in data":   base("{\"a\": 1}"),
		"whitespace in string": base(`{"a":"b c\td"}`),
		"trailing newline":     base("{\"a\":1}\n"),
		"leading tab":          base("\t[1]"),
		"HTML in data":         base(`{"a":"<b>&"}`),
		"escaped HTML in data": base(`{"a":"\u003cb\u003e\u0026"}`),
		"U+2028 in data":       base("{\"a\":\"\u2028\"}"),
		"U+2029 in data":       base("{\"a\":\"x\u2029\"}"),
		"E2 80 AA in data":     base("{\"a\":\"\u202a\"}"),
		"truncated E2 80":      base("\"\xe2\x80\""),
		"escaped quote":        base(`{"a":"\" \\ \/ \n"}`),
		"backslash then quote": base(`["\\", " "]`),
		// json.Valid does not check UTF-8 in strings: this data is
		// embedded as it is (DecodeStructured would then refuse it).
		"invalid UTF-8 in data":  base("{\"a\":\"\xff\xfe\"}"),
		"invalid UTF-8 spaced":   base("{\"a\": \"\xff\"}"),
		"invalid JSON":           base(`{"a":`),
		"numbers":                base(`[0,-1,1.5e10,2E-3,123456789012345678901234567890]`),
		"number with space":      base(`1 `),
		"literals":               base(`[true,false,null]`),
		"nested":                 base(`{"a":{"b":[{"c":{}},[]]},"d":""}`),
		"bare string":            base(`"hi"`),
		"control char in string": base("\"a\x01b\""),
		"default content type":   with(`{"a":1}`, func(e *event.Event) { e.DataContentType = "" }),
		"upper content type":     with(`{"a":1}`, func(e *event.Event) { e.DataContentType = "Application/JSON; charset=utf-8" }),
		"+json content type":     with(`{"a":1}`, func(e *event.Event) { e.DataContentType = "application/vnd.x+json" }),
		"binary data":            with("\x89PNG\r\n\x1a\n", func(e *event.Event) { e.DataContentType = "image/png" }),
		"text data":              with(`{"a":1}`, func(e *event.Event) { e.DataContentType = "text/plain" }),
		"quotes in attributes": with(`{}`, func(e *event.Event) {
			e.ID, e.Source, e.Type = `a"b`, `c\d`, `"\"`
		}),
		"control chars in attributes": with(`{}`, func(e *event.Event) {
			e.ID, e.Subject, e.DataSchema = "\b\f\n\r\t", "\x00\x1f\x7f", "x\x0by"
		}),
		"HTML in attributes": with(`{}`, func(e *event.Event) {
			e.Source, e.Subject = "<script>&", "a>b"
		}),
		"U+2028 in attributes": with(`{}`, func(e *event.Event) {
			e.Type, e.Subject = "a\u2028b", "\u2029"
		}),
		"non-ASCII attributes": with(`{}`, func(e *event.Event) {
			e.Source, e.Subject = "/café", "日本"
		}),
		"invalid UTF-8 in attributes": with(`{}`, func(e *event.Event) {
			e.ID, e.Source, e.DataContentType = "\xff", "a\xe2\x80", "application/json\xc0"
		}),
		"empty attributes": with(`{}`, func(e *event.Event) {
			e.ID, e.Source, e.Type, e.SpecVersion = "", "", "", ""
		}),
		"time UTC": with(`{}`, func(e *event.Event) {
			e.Time = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
		}),
		"time nanos in zone": with(`{}`, func(e *event.Event) {
			e.Time = time.Date(2025, 3, 14, 15, 9, 26, 535897001, tokyo)
		}),
		"time local": with(`{}`, func(e *event.Event) {
			e.Time = time.Date(1999, 12, 31, 23, 59, 59, 100, time.Local)
		}),
		"time year 10000": with(`{}`, func(e *event.Event) {
			e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}),
		"time negative year": with(`{}`, func(e *event.Event) {
			e.Time = time.Date(-5, 1, 1, 0, 0, 0, 0, tokyo)
		}),
		"extensions": with(`{"a":1}`, func(e *event.Event) {
			e.Extensions = map[string]string{"zeta": "1", "alpha": "<&>", "mid": "\u2028\xff\"", "b": ""}
		}),
		"empty extensions": with(`{"a":1}`, func(e *event.Event) {
			e.Extensions = map[string]string{}
		}),
		"odd extension name": with(`{"a":1}`, func(e *event.Event) {
			e.Extensions = map[string]string{"a<b\"": "x", "ü": "y"}
		}),
		"reserved extension": with(`{"a":1}`, func(e *event.Event) {
			e.Extensions = map[string]string{"data": "x"}
		}),
		"extensions with base64 data": with("{\"a\": 1}", func(e *event.Event) {
			e.Extensions = map[string]string{"partitionkey": "k"}
		}),
	}
}

// assertSameAsReference fails the test unless MarshalExact and MarshalJSON
// of e give what refMarshal gives: the same bytes, or both an error with
// the same message.
func assertSameAsReference(t *testing.T, e event.Event) {
	t.Helper()
	for _, exact := range []bool{true, false} {
		want, wantErr := refMarshal(&e, exact)
		var got []byte
		var err error
		if exact {
			got, err = e.MarshalExact()
		} else {
			got, err = e.MarshalJSON()
		}
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("exact=%v: error %v, want %v", exact, err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("exact=%v:\n got %q\nwant %q", exact, got, want)
		}
	}
}

func TestMarshalMatchesReference(t *testing.T) {
	for name, e := range exactCases() {
		t.Run(name, func(t *testing.T) { assertSameAsReference(t, e) })
	}
}

func FuzzMarshalExact(f *testing.F) {
	for _, e := range exactCases() {
		var ext, val string
		for k, v := range e.Extensions {
			ext, val = k, v // one is enough for a seed
		}
		var sec int64
		var zone int16
		if !e.Time.IsZero() {
			sec = e.Time.Unix()
			_, off := e.Time.Zone()
			zone = int16(off / 60)
		}
		f.Add(e.Data, e.DataContentType, e.ID+e.Source+e.Type+e.Subject, ext, val, sec, uint32(e.Time.Nanosecond()), zone, uint8(0xff))
	}
	f.Fuzz(func(t *testing.T, data []byte, ct, attr, ext, val string, sec int64, nsec uint32, zone int16, flags uint8) {
		e := event.Event{ID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", DataContentType: ct, Data: data}
		// flags picks which attributes take the fuzzed value, and whether
		// there is a time and an extension.
		for i, dst := range []*string{&e.ID, &e.Source, &e.Type, &e.SpecVersion, &e.Subject, &e.DataSchema} {
			if flags&(1<<i) != 0 {
				*dst = attr
			}
		}
		if flags&(1<<6) != 0 {
			e.Time = time.Unix(sec, int64(nsec%1e9)).In(time.FixedZone("z", int(zone)*60))
		}
		if flags&(1<<7) != 0 {
			e.Extensions = map[string]string{ext: val, "partitionkey": attr}
		}
		assertSameAsReference(t, e)
	})
}

func BenchmarkMarshalExact(b *testing.B) {
	e := event.Event{
		ID:              "3f1c9a52-7b4e-4d8a-9c1f-2e6b5a7d8c90",
		Source:          "/bench/producer",
		Type:            "bench.t3",
		SpecVersion:     event.SpecVersion,
		Time:            time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC),
		DataContentType: event.ContentTypeJSON,
	}
	head := `{"seq":1,"pad":"`
	e.Data = []byte(head + strings.Repeat("x", 230-len(head)-2) + `"}`)
	for _, bm := range []struct {
		name    string
		marshal func(*event.Event) ([]byte, error)
	}{
		{"reference", func(e *event.Event) ([]byte, error) { return refMarshal(e, true) }},
		{"current", (*event.Event).MarshalExact},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bm.marshal(&e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
