package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func sampleEvent() *event.Event {
	return &event.Event{
		ID:              "evt_1",
		Source:          "https://payments.example/gateway",
		Type:            "payment.succeeded",
		SpecVersion:     event.SpecVersion,
		Time:            time.Date(2026, 3, 4, 5, 0, 0, 123000000, time.UTC),
		Subject:         "order 42",
		DataContentType: "application/json",
		DataSchema:      "https://schemas.example/payment/v1",
		Extensions:      map[string]string{"traceparent": "00-abc-def-01", "tenant": "acme \"eu\""},
		Data:            []byte(`{"amount": 42.5, "currency":"EUR", "note":"<b>&</b>"}`),
	}
}

// seedEvent is the seed article's payment event, produced as plain JSON.
func seedEvent() *event.Event {
	return &event.Event{
		ID: "evt_seed", Source: "kafka://events", Type: "payment_success", SpecVersion: event.SpecVersion,
		DataContentType: event.ContentTypeJSON,
		Data:            []byte(`{"type": "payment_success", "amount": 99.99, "customer": "Jane Doe"}`),
	}
}

func render(h http.Header, body []byte) []byte {
	var b bytes.Buffer
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(h[k], ", "))
	}
	b.WriteString("\n")
	b.Write(body)
	b.WriteString("\n")
	return b.Bytes()
}

func TestBuildGolden(t *testing.T) {
	for _, format := range []string{record.FormatStandard, record.FormatCloudEventsStructure, record.FormatCloudEventsBinary, record.FormatRaw} {
		t.Run(format, func(t *testing.T) {
			body, h, err := Build(format, sampleEvent(), now, false)
			if err != nil {
				t.Fatal(err)
			}
			got := render(h, body)
			path := filepath.Join("testdata", format+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n%s", format, path, got)
			}
		})
	}
}

// TestRawIsTheSeedBody checks that the raw format hands the seed's Express
// listener what it reads: a JSON object with type, amount and customer at
// the top level, byte for byte as produced.
func TestRawIsTheSeedBody(t *testing.T) {
	e := seedEvent()
	body, h, err := Build(record.FormatRaw, e, now, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, e.Data) {
		t.Errorf("raw body %q, want the event data %q", body, e.Data)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json (express.json() parses only that)", ct)
	}
	var listener struct {
		Type     string  `json:"type"`
		Amount   float64 `json:"amount"`
		Customer string  `json:"customer"`
	}
	if err := json.Unmarshal(body, &listener); err != nil {
		t.Fatal(err)
	}
	if listener.Type != "payment_success" || listener.Amount != 99.99 || listener.Customer != "Jane Doe" {
		t.Errorf("listener reads %+v", listener)
	}
}

func TestStandardData(t *testing.T) {
	tests := []struct {
		name     string
		ct       string
		data     []byte
		wantData string // the "data" member, or "data_base64"'s
		base64   bool
	}{
		{name: "json", ct: "application/json", data: []byte(`{"a":1}`), wantData: `{"a":1}`},
		{name: "json by default", data: []byte(`[1,2]`), wantData: `[1,2]`},
		{name: "text", ct: "text/plain", data: []byte("hello \"you\""), wantData: `"hello \"you\""`},
		{name: "binary", ct: "application/octet-stream", data: []byte{0xff, 0x00, 0x10}, wantData: "/wAQ", base64: true},
		{name: "no data", data: nil, wantData: "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &event.Event{ID: "1", Source: "s", Type: "t", SpecVersion: "1.0", DataContentType: tt.ct, Data: tt.data}
			body, _, err := Build(record.FormatStandard, e, now, false)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Type       string          `json:"type"`
				Timestamp  string          `json:"timestamp"`
				Data       json.RawMessage `json:"data"`
				DataBase64 string          `json:"data_base64"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if got.Type != "t" || got.Timestamp != "2026-03-04T05:06:07Z" {
				t.Errorf("type %q timestamp %q", got.Type, got.Timestamp)
			}
			data := string(got.Data)
			if tt.base64 {
				data = got.DataBase64
			}
			if data != tt.wantData {
				t.Errorf("data %s, want %s", data, tt.wantData)
			}
		})
	}
}

func TestBinaryHeadersArePercentEncoded(t *testing.T) {
	e := sampleEvent()
	e.Subject = "ünïcode 100%"
	_, h, err := Build(record.FormatCloudEventsBinary, e, now, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Get("ce-subject"), "%C3%BCn%C3%AFcode%20100%25"; got != want {
		t.Errorf("ce-subject %q, want %q", got, want)
	}
	if h.Get("ce-specversion") != "1.0" || h.Get("ce-id") != "evt_1" {
		t.Errorf("missing required ce- headers: %v", h)
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, _, err := Build("xml", sampleEvent(), now, false); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Build(xml) = %v, want ErrUnknownFormat", err)
	}
}

// FuzzBuild checks the invariants of every format for arbitrary data:
// standard and structured bodies are JSON, raw and binary bodies are the
// data untouched, and header values are always legal.
func FuzzBuild(f *testing.F) {
	f.Add([]byte(`{"a":1}`), "application/json", "subject")
	f.Add([]byte("plain"), "text/plain", "ü %")
	f.Add([]byte{0xff, 0xfe}, "", "\x7f")
	f.Fuzz(func(t *testing.T, data []byte, ct, subject string) {
		e := &event.Event{ID: "1", Source: "s", Type: "t", SpecVersion: "1.0", DataContentType: ct, Subject: subject, Data: data}
		for _, format := range []string{record.FormatStandard, record.FormatCloudEventsStructure, record.FormatCloudEventsBinary, record.FormatRaw} {
			body, h, err := Build(format, e, now, false)
			if err != nil {
				if format == record.FormatCloudEventsStructure {
					continue // an event that cannot be structured JSON is refused, not mangled
				}
				t.Fatalf("%s: %v", format, err)
			}
			switch format {
			case record.FormatStandard, record.FormatCloudEventsStructure:
				if !json.Valid(body) {
					t.Fatalf("%s body is not JSON: %q", format, body)
				}
			default:
				if !bytes.Equal(body, data) {
					t.Fatalf("%s body %q, want the data %q", format, body, data)
				}
			}
			for k, vs := range h {
				for _, v := range vs {
					if strings.HasPrefix(k, "Ce-") && strings.ContainsAny(v, " \"\x7f") {
						t.Fatalf("header %s=%q is not percent-encoded", k, v)
					}
				}
			}
		}
	})
}

// TestStandardIsEncodingJSON checks the directly written standard body
// against encoding/json's, byte for byte, on data it must leave alone and
// data it must rewrite.
func TestStandardIsEncodingJSON(t *testing.T) {
	tests := []struct {
		name, typ, ct, data string
	}{
		{"compact", "t", "", `{"a":1,"b":[true,null,"x y"]}`},
		{"spaces in strings", "t", "", `{"a":"x  y\t","b":"\" \\"}`},
		{"escaped quote then space", "t", "", `["\\", "x"]`},
		{"whitespace", "t", "", "{ \"a\" : 1 }\n"},
		{"html", "t", "", `{"a":"<b>&amp;</b>"}`},
		{"line separator", "t", "", "{\"a\":\"x\u2028y\u2029\"}"},
		{"number", "t", "", `42`},
		{"string", "t", "", `"hello"`},
		{"type to escape", "a<b>\"c\"", "", `{}`},
		{"unicode type", "paiement.réussi", "", `{}`},
		{"invalid json", "t", "application/json", `{"a":`},
		{"text", "t", "text/plain", "héllo <you>"},
		{"binary", "t", "application/octet-stream", "\xff\x00"},
		{"no data", "t", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &event.Event{ID: "1", Source: "s", Type: tt.typ, SpecVersion: "1.0", DataContentType: tt.ct, Data: []byte(tt.data)}
			if tt.data == "" {
				e.Data = nil
			}
			got, err := standard(e, now, false)
			if err != nil {
				t.Fatal(err)
			}
			want, err := standardSlow(e, now, len(e.Data) > 0 && e.DataIsJSON() && json.Valid(e.Data))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("standard body\n%s\nwant (encoding/json)\n%s", got, want)
			}
		})
	}
}

// FuzzStandardIsEncodingJSON checks the directly written standard body
// against encoding/json's for arbitrary types and data.
func FuzzStandardIsEncodingJSON(f *testing.F) {
	f.Add("t", "", []byte(`{"a": "<x>"}`))
	f.Add("t", "text/plain", []byte("a\u2028b"))
	f.Add("t\x7f", "application/json", []byte(`[1, "\\\"", {}]`))
	f.Fuzz(func(t *testing.T, typ, ct string, data []byte) {
		e := &event.Event{ID: "1", Source: "s", Type: typ, SpecVersion: "1.0", DataContentType: ct, Data: data}
		got, err := standard(e, now, false)
		if err != nil {
			t.Fatal(err)
		}
		want, err := standardSlow(e, now, len(data) > 0 && e.DataIsJSON() && json.Valid(data))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("standard body\n%q\nwant (encoding/json)\n%q", got, want)
		}
	})
}

// TestBuildFromDecodedDelivery checks that what record.DecodeDeliveryData
// says of the data changes nothing in any format's body or headers: data
// it vouches for renders as data it does not, and data it does not vouch
// for (rewritten by encoding/json, invalid, from data_base64) is still
// checked.
func TestBuildFromDecodedDelivery(t *testing.T) {
	const head = `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t",`
	for _, tt := range []struct{ name, event string }{
		{"compact", `"data":{"a":[1,true,null,"x y"],"b":"\u003c"}`},
		{"whitespace", `"data":{ "a" : [1, 2] }`},
		{"html", `"data":{"a":"<b>&</b>"}`},
		{"line separator", "\"data\":\"a\u2028b\""},
		{"text type with JSON data", `"datacontenttype":"text/plain","data":{"a":1}`},
		{"text", `"datacontenttype":"text/plain","data_base64":"aGk8Pg=="`},
		{"invalid JSON in data_base64", `"data_base64":"eyJhIjo="`},
		{"spaced JSON in data_base64", `"data_base64":"eyAiYSIgOiAxIH0="`},
		{"binary", `"datacontenttype":"application/octet-stream","data_base64":"/wAQ"`},
		{"no data", `"subject":"x"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !checkDecodedBuild(t, []byte(head+tt.event+`}}`)) {
				t.Fatal("the delivery does not decode")
			}
		})
	}
}

// FuzzBuildFromDecodedDelivery is TestBuildFromDecodedDelivery for
// arbitrary delivery records.
func FuzzBuildFromDecodedDelivery(f *testing.F) {
	const head = `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t",`
	f.Add([]byte(head + `"data":{"a":"x"}}}`))
	f.Add([]byte(head + `"data":[1, "<"]}}`))
	f.Add([]byte(head + `"data_base64":"eyJhIjo="}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodedBuild(t, b)
	})
}

// checkDecodedBuild decodes the delivery record b, if it decodes (it
// reports whether it did), and checks every format's rendering of its
// event with what the decoder said of the data against the rendering
// that checks the data itself.
func checkDecodedBuild(t *testing.T, b []byte) bool {
	t.Helper()
	d, compact, err := record.DecodeDeliveryData(b)
	if err != nil {
		return false
	}
	for _, format := range []string{record.FormatStandard, record.FormatCloudEventsStructure, record.FormatCloudEventsBinary, record.FormatRaw} {
		body, h, err := Build(format, &d.Event, now, compact)
		wantBody, wantH, wantErr := Build(format, &d.Event, now, false)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(render(h, body), render(wantH, wantBody)) {
			t.Fatalf("%s with compactJSON %v:\n%s(%v)\nchecking the data again:\n%s(%v)", format, compact, render(h, body), err, render(wantH, wantBody), wantErr)
		}
	}
	isJSON := len(d.Event.Data) > 0 && d.Event.DataIsJSON() && json.Valid(d.Event.Data)
	got, err := standard(&d.Event, now, compact)
	if err != nil {
		t.Fatal(err)
	}
	want, err := standardSlow(&d.Event, now, isJSON)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("standard body\n%s\nwant (encoding/json)\n%s", got, want)
	}
	return true
}

// BenchmarkBuild measures rendering a 1 KiB JSON event in each format.
//
//	go test -run '^$' -bench BenchmarkBuild -benchmem ./internal/payload/
func BenchmarkBuild(b *testing.B) {
	e := sampleEvent()
	e.Data = fmt.Appendf(nil, `{"amount":42.5,"currency":"EUR","pad":%q}`, strings.Repeat("x", 1000))
	for _, format := range []string{record.FormatStandard, record.FormatCloudEventsStructure, record.FormatCloudEventsBinary, record.FormatRaw} {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Build(format, e, now, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// What the dispatcher does with a delivery the decoder found compact.
	b.Run(record.FormatStandard+"-compact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Build(record.FormatStandard, e, now, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}
