package httpapi

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// TestParseStopsAtTheBatchLimit: a batch is read one event at a time and
// refused at the first event past the limit, so a request of many small
// events allocates for the limit's worth, not for the whole body (issue
// 16: a 4 MiB request of small events cost about 100 MB of heap when it
// was parsed whole before the limit was checked).
func TestParseStopsAtTheBatchLimit(t *testing.T) {
	const limit = 100
	event := `{"type":"a","n":1},`
	for _, tt := range []struct{ name, body string }{
		{"array", "[" + strings.Repeat(event, 200_000) + `{"type":"a"}]`},
		{"events object", `{"events":[` + strings.Repeat(event, 200_000) + `{"type":"a"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			h := http.Header{"Content-Type": {"application/json"}}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			evs, details, aerr := parseEvents(h, body, limit)
			runtime.ReadMemStats(&after)
			if aerr == nil || aerr.status != http.StatusRequestEntityTooLarge || aerr.code != "too_many_events" {
				t.Fatalf("parse of %d events with a limit of %d: %v %v %+v, want 413 too_many_events", 200_001, limit, len(evs), details, aerr)
			}
			// The events object copies its array once; the events read
			// before the limit cost a few KiB.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(body))+1<<20 {
				t.Errorf("parsing a %d-byte body allocated %d bytes, want at most the body plus 1 MiB", len(body), alloc)
			}
		})
	}
	// Within the limit, every event is read.
	evs, details, aerr := parseEvents(http.Header{}, []byte("["+strings.Repeat(event, limit-1)+`{"type":"a"}]`), limit)
	if aerr != nil || len(details) != 0 || len(evs) != limit {
		t.Fatalf("a batch at the limit: %d events, %v, %v", len(evs), details, aerr)
	}
}
