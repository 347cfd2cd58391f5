package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/internal/golden"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fixedTime keeps golden files stable: tests never read the clock.
var fixedTime = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// seedValue is the event of the seed article, as its payment gateway emits it.
const seedValue = `{"type":"payment_success","amount":49.99,"customer":"jane@example.com"}`

func fixedEvent() event.Event {
	return event.Event{
		ID:              "evt_01JQ3Z8K4M",
		Source:          "https://payments.example.com/gateway",
		Type:            "payment.succeeded",
		SpecVersion:     event.SpecVersion,
		Time:            fixedTime,
		Subject:         "orders/1042",
		DataContentType: event.ContentTypeJSON,
		DataSchema:      "https://hookline.dev/schemas/payment.succeeded/v1",
		Extensions: map[string]string{
			"partitionkey": "cus_42",
			"traceparent":  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		},
		Data: []byte(`{"payment_id":"pay_9f8e","amount":49.99,"currency":"USD","customer":{"id":"cus_42"},"captured_at":"2025-03-14T15:09:26Z"}`),
	}
}

// assertEvent fails the test unless got and want are the same event. Times
// compare with Equal; nil and empty data are the same.
func assertEvent(t *testing.T, got, want event.Event) {
	t.Helper()
	if !got.Time.Equal(want.Time) {
		t.Errorf("Time = %v, want %v", got.Time, want.Time)
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("Data = %q, want %q", got.Data, want.Data)
	}
	if len(got.Extensions) != 0 || len(want.Extensions) != 0 {
		if !reflect.DeepEqual(got.Extensions, want.Extensions) {
			t.Errorf("Extensions = %v, want %v", got.Extensions, want.Extensions)
		}
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	got.Data, want.Data = nil, nil
	got.Extensions, want.Extensions = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event = %+v\nwant    %+v", got, want)
	}
}

func hdrs(kv ...string) []kgo.RecordHeader {
	hs := make([]kgo.RecordHeader, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

func binaryHeaders(extra ...string) []kgo.RecordHeader {
	return hdrs(append([]string{
		"ce_specversion", "1.0", "ce_id", "evt_1", "ce_source", "/test", "ce_type", "order.status_changed",
	}, extra...)...)
}

func TestDecode(t *testing.T) {
	fixed := fixedEvent()
	structuredValue, err := json.Marshal(fixed)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rec  *kgo.Record
		want event.Event
	}{
		{
			name: "binary",
			rec:  event.BinaryRecord("events", []byte("cus_42"), &fixed),
			want: fixed,
		},
		{
			name: "binary with upper-case header names and ce_datacontenttype",
			rec: &kgo.Record{Value: []byte(`{"status":"shipped"}`), Headers: hdrs(
				"CE_SpecVersion", "1.0", "ce_ID", "evt_1", "ce_source", "/shop", "ce_type", "order.status_changed",
				"ce_datacontenttype", "application/json", "ce_time", "2025-03-14T16:09:26.535897+01:00",
			)},
			want: event.Event{ID: "evt_1", Source: "/shop", Type: "order.status_changed", SpecVersion: "1.0",
				DataContentType: "application/json", Time: fixedTime, Data: []byte(`{"status":"shipped"}`)},
		},
		{
			name: "binary without data",
			rec:  &kgo.Record{Headers: binaryHeaders()},
			want: event.Event{ID: "evt_1", Source: "/test", Type: "order.status_changed", SpecVersion: "1.0"},
		},
		{
			name: "structured",
			rec: &kgo.Record{Value: structuredValue,
				Headers: hdrs("content-type", "application/cloudevents+json; charset=UTF-8")},
			want: fixed,
		},
		{
			name: "structured without content-type",
			rec:  &kgo.Record{Value: structuredValue},
			want: fixed,
		},
		{
			name: "plain JSON of the seed",
			rec: &kgo.Record{Topic: "events", Partition: 2, Offset: 42, Timestamp: fixedTime,
				Value: []byte(seedValue)},
			want: event.Event{
				ID:              event.RecordID("events", 2, 42),
				Source:          "kafka://events",
				Type:            "payment_success",
				SpecVersion:     "1.0",
				Time:            fixedTime,
				DataContentType: "application/json",
				Data:            []byte(seedValue),
			},
		},
		{
			name: "plain JSON with its own id, pretty-printed, JSON content-type",
			rec: &kgo.Record{Topic: "events", Timestamp: fixedTime,
				Headers: hdrs("Content-Type", "application/json; charset=utf-8"),
				Value:   []byte("{\n  \"id\": \"pay_123\",\n  \"type\": \"payment_success\",\n  \"amount\": 5\n}")},
			want: event.Event{ID: "pay_123", Source: "kafka://events", Type: "payment_success", SpecVersion: "1.0",
				Time: fixedTime, DataContentType: "application/json",
				Data: []byte("{\n  \"id\": \"pay_123\",\n  \"type\": \"payment_success\",\n  \"amount\": 5\n}")},
		},
		{
			name: "plain JSON without a topic",
			rec:  &kgo.Record{Value: []byte(`{"type":"sensor.reading","id":7}`)},
			want: event.Event{ID: event.RecordID("", 0, 0), Source: "kafka", Type: "sensor.reading", SpecVersion: "1.0",
				DataContentType: "application/json", Data: []byte(`{"type":"sensor.reading","id":7}`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := event.Decode(tt.rec, 1<<20)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertEvent(t, got, tt.want)
		})
	}
}

func TestDecodeSeedIDIsStable(t *testing.T) {
	rec := func() *kgo.Record {
		return &kgo.Record{Topic: "events", Partition: 1, Offset: 7, Value: []byte(seedValue)}
	}
	a, errA := event.Decode(rec(), 0)
	b, errB := event.Decode(rec(), 0)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a.ID != b.ID {
		t.Fatalf("ids differ: %q, %q", a.ID, b.ID)
	}
	other := rec()
	other.Offset++
	c, err := event.Decode(other, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID {
		t.Fatalf("records at different offsets share id %q", a.ID)
	}
}

func TestDecodeErrors(t *testing.T) {
	plain := func(v string, kv ...string) *kgo.Record { return &kgo.Record{Value: []byte(v), Headers: hdrs(kv...)} }
	structured := func(v string) *kgo.Record {
		return &kgo.Record{Value: []byte(v), Headers: hdrs("content-type", "application/cloudevents+json")}
	}
	binary := func(v string, extra ...string) *kgo.Record {
		return &kgo.Record{Value: []byte(v), Headers: binaryHeaders(extra...)}
	}
	const okAttrs = `"id":"1","source":"/s","type":"t"`
	tests := []struct {
		name     string
		rec      *kgo.Record
		maxBytes int
		mode     event.Mode
		field    string
		want     error
	}{
		{name: "nil record", rec: nil, mode: event.ModePlain, want: event.ErrEmpty},
		{name: "empty plain", rec: plain(""), mode: event.ModePlain, want: event.ErrEmpty},
		{name: "too large", rec: plain(seedValue), maxBytes: 10, mode: event.ModePlain, want: event.ErrTooLarge},
		{name: "too large counts headers", rec: binary("", "ce_big", strings.Repeat("x", 100)), maxBytes: 100, mode: event.ModeBinary, want: event.ErrTooLarge},
		{name: "plain not JSON", rec: plain("payment_success"), mode: event.ModePlain, want: event.ErrNotJSON},
		{name: "plain truncated JSON", rec: plain(`{"type":"x"`), mode: event.ModePlain, want: event.ErrNotJSON},
		{name: "plain array", rec: plain(`[{"type":"x"}]`), mode: event.ModePlain, want: event.ErrNotObject},
		{name: "plain null", rec: plain(`null`), mode: event.ModePlain, want: event.ErrNotObject},
		{name: "plain without type", rec: plain(`{"amount":1}`), mode: event.ModePlain, field: "type", want: event.ErrMissingAttribute},
		{name: "plain empty type", rec: plain(`{"type":""}`), mode: event.ModePlain, field: "type", want: event.ErrMissingAttribute},
		{name: "plain numeric type", rec: plain(`{"type":7}`), mode: event.ModePlain, field: "type", want: event.ErrInvalidAttribute},
		{name: "plain text content-type", rec: plain(seedValue, "content-type", "text/plain"), mode: event.ModePlain, field: "content-type", want: event.ErrUnsupportedContentType},
		{name: "structured empty", rec: structured(""), mode: event.ModeStructured, want: event.ErrEmpty},
		{name: "structured not JSON", rec: structured("<event/>"), mode: event.ModeStructured, want: event.ErrNotJSON},
		{name: "structured array", rec: structured("[]"), mode: event.ModeStructured, want: event.ErrNotObject},
		{name: "structured null", rec: structured("null"), mode: event.ModeStructured, want: event.ErrNotObject},
		{name: "structured without id", rec: structured(`{"specversion":"1.0","source":"/s","type":"t"}`), mode: event.ModeStructured, field: "id", want: event.ErrMissingAttribute},
		{name: "structured without source", rec: structured(`{"specversion":"1.0","id":"1","type":"t"}`), mode: event.ModeStructured, field: "source", want: event.ErrMissingAttribute},
		{name: "structured without type", rec: structured(`{"specversion":"1.0","id":"1","source":"/s"}`), mode: event.ModeStructured, field: "type", want: event.ErrMissingAttribute},
		{name: "structured without specversion", rec: structured(`{` + okAttrs + `}`), mode: event.ModeStructured, field: "specversion", want: event.ErrMissingAttribute},
		{name: "structured specversion 0.3", rec: structured(`{"specversion":"0.3",` + okAttrs + `}`), mode: event.ModeStructured, field: "specversion", want: event.ErrUnsupportedSpecVersion},
		{name: "plain JSON with specversion is structured", rec: plain(`{"specversion":"2.0",` + okAttrs + `}`), mode: event.ModeStructured, field: "specversion", want: event.ErrUnsupportedSpecVersion},
		{name: "structured numeric id", rec: structured(`{"specversion":"1.0","id":1,"source":"/s","type":"t"}`), mode: event.ModeStructured, field: "id", want: event.ErrInvalidAttribute},
		{name: "structured bad time", rec: structured(`{"specversion":"1.0",` + okAttrs + `,"time":"yesterday"}`), mode: event.ModeStructured, field: "time", want: event.ErrInvalidAttribute},
		{name: "structured time before year 0 in UTC", rec: structured(`{"specversion":"1.0",` + okAttrs + `,"time":"0000-01-01T00:00:00+01:00"}`), mode: event.ModeStructured, field: "time", want: event.ErrInvalidAttribute},
		{name: "structured bad data_base64", rec: structured(`{"specversion":"1.0",` + okAttrs + `,"data_base64":"%%%"}`), mode: event.ModeStructured, field: "data_base64", want: event.ErrInvalidAttribute},
		{name: "structured numeric data_base64", rec: structured(`{"specversion":"1.0",` + okAttrs + `,"data_base64":12}`), mode: event.ModeStructured, field: "data_base64", want: event.ErrInvalidAttribute},
		{name: "structured data and data_base64", rec: structured(`{"specversion":"1.0",` + okAttrs + `,"data":{},"data_base64":"e30="}`), mode: event.ModeStructured, field: "data_base64", want: event.ErrInvalidAttribute},
		{name: "binary without id", rec: &kgo.Record{Headers: hdrs("ce_specversion", "1.0", "ce_source", "/s", "ce_type", "t")}, mode: event.ModeBinary, field: "id", want: event.ErrMissingAttribute},
		{name: "binary specversion 0.3", rec: &kgo.Record{Headers: hdrs("ce_specversion", "0.3", "ce_id", "1", "ce_source", "/s", "ce_type", "t")}, mode: event.ModeBinary, field: "specversion", want: event.ErrUnsupportedSpecVersion},
		{name: "binary bad time", rec: binary("{}", "ce_time", "2025-13-01T00:00:00Z"), mode: event.ModeBinary, field: "time", want: event.ErrInvalidAttribute},
		{name: "binary data not JSON", rec: binary("amount=5"), mode: event.ModeBinary, field: "data", want: event.ErrNotJSON},
		{name: "binary data not JSON as declared", rec: binary("{", "content-type", "application/vnd.shop+json"), mode: event.ModeBinary, field: "data", want: event.ErrNotJSON},
		// JSON is UTF-8: encoding/json would read these bytes as U+FFFD
		// and the event would be delivered altered.
		{name: "plain with invalid UTF-8 in a string", rec: plain("{\"type\":\"x\",\"customer\":\"\xff\"}"), mode: event.ModePlain, want: event.ErrNotJSON},
		{name: "structured with invalid UTF-8 in data", rec: structured("{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"x\",\"data\":{\"c\":\"\xc3\x28\"}}"), mode: event.ModeStructured, want: event.ErrNotJSON},
		{name: "binary JSON data with invalid UTF-8", rec: binary("{\"c\":\"\xff\"}"), mode: event.ModeBinary, field: "data", want: event.ErrNotJSON},
		{name: "binary reserved extension name", rec: binary("{}", "ce_data", "x"), mode: event.ModeBinary, field: "data", want: event.ErrInvalidAttribute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := event.Decode(tt.rec, tt.maxBytes)
			var de *event.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode err = %v (%T), want *event.DecodeError", err, err)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.want)
			}
			if de.Field != tt.field {
				t.Errorf("Field = %q, want %q", de.Field, tt.field)
			}
			if de.Mode != tt.mode {
				t.Errorf("Mode = %q, want %q", de.Mode, tt.mode)
			}
			if !strings.HasPrefix(err.Error(), "event: ") {
				t.Errorf("Error() = %q, want an \"event: \" prefix", err)
			}
		})
	}
}

// roundTripEvents are events both binary and structured mode carry without
// loss.
func roundTripEvents() map[string]event.Event {
	fixed := fixedEvent()
	minimal := event.Event{ID: "1", Source: "/s", Type: "t", SpecVersion: "1.0"}
	text := fixedEvent()
	text.DataContentType = "text/plain; charset=utf-8"
	text.Data = []byte("payment pay_9f8e succeeded")
	bin := fixedEvent()
	bin.DataContentType = "application/octet-stream"
	bin.Data = []byte{0x00, 0x01, 0xfe, 0xff, '"', '{'}
	bin.Extensions = nil
	jsonString := fixedEvent()
	jsonString.Data = []byte(`"just a string"`)
	return map[string]event.Event{
		"full": fixed, "minimal": minimal, "text data": text, "binary data": bin, "JSON string data": jsonString,
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	for name, e := range roundTripEvents() {
		t.Run(name, func(t *testing.T) {
			rec := event.BinaryRecord("events", []byte("k"), &e)
			got, err := event.Decode(rec, 0)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertEvent(t, got, e)
		})
	}
}

func TestStructuredRoundTrip(t *testing.T) {
	for name, e := range roundTripEvents() {
		t.Run(name, func(t *testing.T) {
			rec, err := event.StructuredRecord("events", []byte("k"), &e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := event.Decode(rec, 0)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertEvent(t, got, e)
		})
	}
}

// recordText renders a Kafka record for a golden file: key, headers in
// order, then the value.
func recordText(r *kgo.Record) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "topic: %s\nkey: %s\n", r.Topic, r.Key)
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "header %s: %s\n", h.Key, h.Value)
	}
	fmt.Fprintf(&b, "value: %s\n", r.Value)
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	fixed := fixedEvent()
	t.Run("binary", func(t *testing.T) {
		golden.Assert(t, "binary.golden", recordText(event.BinaryRecord("events", []byte("cus_42"), &fixed)))
	})
	t.Run("structured", func(t *testing.T) {
		rec, err := event.StructuredRecord("events", []byte("cus_42"), &fixed)
		if err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "structured.golden", recordText(rec))
	})
	t.Run("structured binary data", func(t *testing.T) {
		e := fixedEvent()
		e.DataContentType = "image/png"
		e.Data = []byte("\x89PNG\r\n\x1a\n")
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "structured-base64.json", append(b, '\n'))
	})
	t.Run("exact", func(t *testing.T) {
		e := fixedEvent()
		e.Data = []byte("{\"note\": \"<b>&\"}")
		b, err := e.MarshalExact()
		if err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "exact.json", append(b, '\n'))
	})
}

func TestExtensions(t *testing.T) {
	t.Run("structured", func(t *testing.T) {
		v := `{"specversion":"1.0","id":"1","source":"/s","type":"t","partitionkey":"cus_42",` +
			`"sequence":7,"sampled":true,"comexampleobj":{"a":1},"gone":null}`
		e, err := event.DecodeStructured([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"partitionkey": "cus_42", "sequence": "7", "sampled": "true", "comexampleobj": `{"a":1}`}
		if !reflect.DeepEqual(e.Extensions, want) {
			t.Fatalf("Extensions = %v, want %v", e.Extensions, want)
		}
	})
	t.Run("binary", func(t *testing.T) {
		rec := &kgo.Record{Value: []byte(`{}`), Headers: binaryHeaders("ce_PartitionKey", "cus_42", "x-other", "ignored")}
		e, err := event.Decode(rec, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"partitionkey": "cus_42"}; !reflect.DeepEqual(e.Extensions, want) {
			t.Fatalf("Extensions = %v, want %v", e.Extensions, want)
		}
	})
	t.Run("reserved names are refused", func(t *testing.T) {
		for _, name := range []string{"data", "data_base64", "id", "type"} {
			e := fixedEvent()
			e.Extensions = map[string]string{name: "x"}
			if _, err := json.Marshal(e); err == nil {
				t.Errorf("MarshalJSON with extension %q succeeded", name)
			}
			if err := e.Validate(event.ModeBinary); !errors.Is(err, event.ErrInvalidAttribute) {
				t.Errorf("Validate with extension %q = %v, want ErrInvalidAttribute", name, err)
			}
			for _, h := range event.BinaryHeaders(&e) {
				if h.Key == "ce_"+name && string(h.Value) == "x" {
					t.Errorf("BinaryHeaders wrote reserved extension %q", name)
				}
			}
		}
	})
}

func TestDataEncoding(t *testing.T) {
	tests := []struct {
		name     string
		ct       string
		data     []byte
		wantKey  string // "data" or "data_base64"
		wantJSON string // the member's JSON value
	}{
		{name: "JSON object", ct: "application/json", data: []byte(`{"a":1}`), wantKey: "data", wantJSON: `{"a":1}`},
		{name: "default content type", ct: "", data: []byte(`[1,2]`), wantKey: "data", wantJSON: `[1,2]`},
		{name: "+json suffix", ct: "application/vnd.shop.order+json", data: []byte(`{"a":1}`), wantKey: "data", wantJSON: `{"a":1}`},
		{name: "bytes", ct: "application/octet-stream", data: []byte{0, 1, 2, 0xff}, wantKey: "data_base64", wantJSON: `"AAEC/w=="`},
		{name: "text", ct: "text/plain", data: []byte("hello"), wantKey: "data_base64", wantJSON: `"aGVsbG8="`},
		{name: "invalid JSON declared JSON", ct: "application/json", data: []byte(`{"a":`), wantKey: "data_base64", wantJSON: `"eyJhIjo="`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := event.Event{ID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", DataContentType: tt.ct, Data: tt.data}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if got := string(m[tt.wantKey]); got != tt.wantJSON {
				t.Fatalf("%s = %s, want %s (document %s)", tt.wantKey, got, tt.wantJSON, b)
			}
			other := map[string]string{"data": "data_base64", "data_base64": "data"}[tt.wantKey]
			if _, ok := m[other]; ok {
				t.Fatalf("document has both data members: %s", b)
			}
			back, err := event.DecodeStructured(b)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.Data, tt.data) {
				t.Fatalf("decoded data = %q, want %q", back.Data, tt.data)
			}
		})
	}
}

func TestStructuredStringDataOfNonJSONType(t *testing.T) {
	v := `{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/xml","data":"<much wow=\"xml\"/>"}`
	e, err := event.DecodeStructured([]byte(v))
	if err != nil {
		t.Fatal(err)
	}
	if want := `<much wow="xml"/>`; string(e.Data) != want {
		t.Fatalf("Data = %q, want %q", e.Data, want)
	}
}

func TestMarshalExact(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		wantBase64 bool
	}{
		{name: "compact", data: `{"a":1,"b":"x"}`},
		{name: "whitespace", data: "{\"a\": 1}", wantBase64: true},
		{name: "trailing newline", data: "{\"a\":1}\n", wantBase64: true},
		{name: "HTML characters", data: `{"a":"<b>&"}`, wantBase64: true},
		{name: "escaped HTML characters", data: `{"a":"\u003cb\u003e"}`},
		{name: "line separator", data: "{\"a\":\"\u2028\"}", wantBase64: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := event.Event{ID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", DataContentType: "application/json", Data: []byte(tt.data)}
			b, err := e.MarshalExact()
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Contains(b, []byte(`"data_base64"`)); got != tt.wantBase64 {
				t.Errorf("data_base64 used = %v, want %v: %s", got, tt.wantBase64, b)
			}
			// Embedded in another document, as records do.
			outer, err := json.Marshal(map[string]json.RawMessage{"event": b})
			if err != nil {
				t.Fatal(err)
			}
			var back struct{ Event event.Event }
			if err := json.Unmarshal(outer, &back); err != nil {
				t.Fatal(err)
			}
			if string(back.Event.Data) != tt.data {
				t.Fatalf("data = %q, want %q", back.Event.Data, tt.data)
			}
		})
	}
}

func TestUnmarshalJSONNullIsNoOp(t *testing.T) {
	e := fixedEvent()
	if err := json.Unmarshal([]byte("null"), &e); err != nil {
		t.Fatal(err)
	}
	assertEvent(t, e, fixedEvent())
}

func TestDataIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"": true, "application/json": true, "Application/JSON; charset=utf-8": true, "text/json": true,
		"application/cloudevents+json": true, "application/vnd.api+json": true,
		"text/plain": false, "application/xml": false, "application/octet-stream": false,
	} {
		t.Run(ct, func(t *testing.T) {
			e := event.Event{DataContentType: ct}
			if got := e.DataIsJSON(); got != want {
				t.Fatalf("DataIsJSON(%q) = %v, want %v", ct, got, want)
			}
		})
	}
}

func TestNullData(t *testing.T) {
	e := event.Event{ID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", DataContentType: "application/json", Data: []byte("null")}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"data"`)) || bytes.Contains(b, []byte(`"data_base64"`)) {
		t.Errorf("MarshalJSON wrote data for JSON null: %s", b)
	}
	exact, err := e.MarshalExact()
	if err != nil {
		t.Fatal(err)
	}
	back, err := event.DecodeStructured(exact)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Data) != "null" {
		t.Errorf("MarshalExact lost JSON null data: %s", exact)
	}
}
