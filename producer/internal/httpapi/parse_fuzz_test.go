package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/hookline/hookline/schemas/event"
)

// FuzzParseEvents feeds arbitrary request bodies and content types to the
// ingest parser: it must never panic, must answer either a request-level
// error or one slot per event, and an event it drops must be named by a
// detail. (Attribute validation happens later, in publish.Prepare.)
func FuzzParseEvents(f *testing.F) {
	f.Add("application/json", []byte(`{"type":"payment_success","amount":49.99,"customer":"a@b.c"}`))
	f.Add("application/cloudevents+json", []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"x":1}}`))
	f.Add("application/json", []byte(`{"events":[{"type":"a"},{"nope":1},7]}`))
	f.Add("application/cloudevents-batch+json", []byte(`[{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"AAE="}]`))
	f.Add("text/plain", []byte(`hello`))
	f.Add("", []byte(`[`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		evs, details, apiErr := parseEvents(h, body, 1000)
		if apiErr != nil {
			if evs != nil || details != nil {
				t.Fatalf("request error %v with events %v / details %v", apiErr.message, evs, details)
			}
			return
		}
		bad := map[int]bool{}
		for _, d := range details {
			if d.Index == nil || *d.Index < 0 || *d.Index >= len(evs) {
				t.Fatalf("detail %+v does not name one of %d events", d, len(evs))
			}
			bad[*d.Index] = true
		}
		for i, ev := range evs {
			if ev == nil && !bad[i] {
				t.Fatalf("event %d dropped without a detail", i)
			}
		}
	})
}

// FuzzParseJSONEventMatchesDecode pins the in-place scan of an event's
// members to what decoding the object into a map gives (the parser before
// the scan): the same event or the same refusal, for duplicate and escaped
// member names, non-string types and ids, and values of every kind.
func FuzzParseJSONEventMatchesDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"payment_success","amount":49.99,"customer":"a@b.c"}`,
		`{"type":"a","type":"b","id":"1","id":7}`,
		`{"\u0074ype":"t\u00e9","id":"x\"y","n":[1,{"type":2}]}`,
		`{"type":""}`, `{"type":null}`, `{"type":3}`, `{"id":"1"}`, `{}`, `[]`, `null`, `"x"`, ` {"type":"t"} `,
		`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"x":1}}`,
		`{"events":[],"type":"t"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !utf8.Valid(raw) || !json.Valid(raw) {
			return // the parser sees only valid JSON
		}
		got, gotDs := parseJSONEvent(raw)
		want, wantDs := decodeJSONEvent(raw)
		if !reflect.DeepEqual(gotDs, wantDs) {
			t.Fatalf("details %+v, want %+v", gotDs, wantDs)
		}
		if (got == nil) != (want == nil) {
			t.Fatalf("event %+v, want %+v", got, want)
		}
		if got == nil {
			return
		}
		// Plain events carry the object as data; the reference kept the
		// bytes around it too.
		want.Data = bytes.TrimSpace(want.Data)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("event %+v, want %+v", got, want)
		}
	})
}

// decodeJSONEvent is parseJSONEvent as it was written before it scanned
// the members in place: it decodes the object into a map.
func decodeJSONEvent(raw json.RawMessage) (*event.Event, []detail) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, []detail{{Message: "an event must be a JSON object"}}
	}
	if _, ok := obj["specversion"]; ok {
		var ev event.Event
		if err := ev.UnmarshalJSON(raw); err != nil {
			return nil, []detail{decodeDetail(err)}
		}
		return &ev, nil
	}
	var typ string
	if t, ok := obj["type"]; !ok || json.Unmarshal(t, &typ) != nil || typ == "" {
		return nil, []detail{{Field: "type", Message: `a non-empty string is required: plain JSON events name their type in "type" (CloudEvents carry "specversion")`}}
	}
	ev := &event.Event{Type: typ, DataContentType: event.ContentTypeJSON, Data: raw}
	if id, ok := obj["id"]; ok {
		_ = json.Unmarshal(id, &ev.ID)
	}
	return ev, nil
}
