package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hookline/hookline/schemas/event"
	"github.com/twmb/franz-go/pkg/kgo"
)

var sentinels = []error{
	event.ErrEmpty, event.ErrNotJSON, event.ErrNotObject, event.ErrMissingAttribute,
	event.ErrInvalidAttribute, event.ErrUnsupportedSpecVersion, event.ErrUnsupportedContentType, event.ErrTooLarge,
}

// fuzzRecord builds a record from fuzz input. mode picks which headers go
// with the value; attr is a header value the fuzzer also controls.
func fuzzRecord(mode uint8, value []byte, attr string) *kgo.Record {
	r := &kgo.Record{Topic: "events", Partition: 1, Offset: 9, Value: value}
	switch mode % 7 {
	case 0: // plain JSON, no headers
	case 1:
		r.Headers = hdrs("content-type", event.ContentTypeStructured)
	case 2:
		r.Headers = binaryHeaders("content-type", attr)
	case 3:
		r.Headers = binaryHeaders("ce_time", attr)
	case 4:
		r.Headers = hdrs("content-type", attr)
	case 5:
		r.Headers = binaryHeaders("ce_"+attr, "x")
	case 6:
		r.Headers = hdrs("ce_specversion", attr, "ce_id", attr, "ce_source", "/s", "ce_type", attr)
	}
	return r
}

func FuzzDecode(f *testing.F) {
	fixed := fixedEvent()
	structured, err := json.Marshal(fixed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), []byte(seedValue), "")
	f.Add(uint8(0), []byte(`{"type":"payment_success","id":"pay_1"}`), "")
	f.Add(uint8(0), []byte(`null`), "")
	f.Add(uint8(1), structured, "")
	f.Add(uint8(1), []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/plain","data":"hi","x":1}`), "")
	f.Add(uint8(1), []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"AAEC","time":"2025-01-01T00:00:00+01:00"}`), "")
	f.Add(uint8(2), fixed.Data, "application/json")
	f.Add(uint8(2), []byte{0, 1, 2}, "application/octet-stream")
	f.Add(uint8(3), []byte(`{}`), "2025-03-14T15:09:26.535897Z")
	f.Add(uint8(4), []byte(seedValue), "application/json; charset=utf-8")
	f.Add(uint8(5), []byte(`{}`), "partitionkey")
	f.Add(uint8(6), []byte(`{}`), "1.0")
	f.Fuzz(func(t *testing.T, mode uint8, value []byte, attr string) {
		rec := fuzzRecord(mode, value, attr)
		e, err := event.Decode(rec, 1<<16)
		if err != nil {
			var de *event.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, not *event.DecodeError", err, err)
			}
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if err := e.Validate(event.ModeStructured); err != nil {
			t.Fatalf("decoded event fails Validate: %v", err)
		}

		// The structured form re-decodes to the same document.
		first, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("MarshalJSON of a decoded event: %v", err)
		}
		back, err := event.DecodeStructured(first)
		if err != nil {
			t.Fatalf("DecodeStructured(MarshalJSON(e)) = %v; document %s", err, first)
		}
		second, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("structured form not stable:\n%s\n%s", first, second)
		}

		// The exact form keeps data byte for byte.
		exact, err := e.MarshalExact()
		if err != nil {
			t.Fatalf("MarshalExact: %v", err)
		}
		back, err = event.DecodeStructured(exact)
		if err != nil {
			t.Fatalf("DecodeStructured(MarshalExact(e)) = %v; document %s", err, exact)
		}
		if !bytes.Equal(back.Data, e.Data) {
			t.Fatalf("exact data = %q, want %q", back.Data, e.Data)
		}
	})
}
