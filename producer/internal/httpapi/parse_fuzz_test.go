package httpapi

import (
	"net/http"
	"testing"
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
