package record

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/event"
)

// stdDelivery decodes b with encoding/json alone, the reference.
func stdDelivery(b []byte) (Delivery, error) {
	var d Delivery
	err := json.Unmarshal(b, &d)
	return d, err
}

// fullDelivery returns a Delivery with every field set (by reflection, so
// a field added later is set too) and an event with every attribute.
func fullDelivery(t testing.TB) Delivery {
	t.Helper()
	var d Delivery
	v := reflect.ValueOf(&d).Elem()
	at := time.Date(2026, 1, 2, 3, 4, 5, 678900000, time.UTC)
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeFor[event.Event]():
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(at.Add(time.Duration(i) * time.Hour)))
		case f.Kind() == reflect.String:
			f.SetString(fmt.Sprintf("%s-%d", v.Type().Field(i).Name, i))
		case f.Kind() == reflect.Int:
			f.SetInt(int64(i + 1))
		default:
			t.Fatalf("Delivery.%s has a type (%s) this test cannot fill", v.Type().Field(i).Name, f.Type())
		}
	}
	d.V = Version
	d.Event = event.Event{
		ID: "evt_1", Source: "https://payments.example/gateway", Type: "payment.succeeded", SpecVersion: event.SpecVersion,
		Time: at, Subject: "order 42", DataContentType: "application/json", DataSchema: "https://schemas.example/p/v1",
		Extensions: map[string]string{"partitionkey": "cus_42", "traceparent": "00-abc-def-01"},
		Data:       []byte(`{"amount":42.5,"currency":"EUR","items":[1,2,{"k":null}],"ok":true}`),
	}
	return d
}

// TestFastDeliveryReadsEveryField checks that a Delivery with every field
// set, as this package encodes it, is read by the fast path and comes out
// as encoding/json reads it. A new Delivery field the fast path does not
// read fails it.
func TestFastDeliveryReadsEveryField(t *testing.T) {
	d := fullDelivery(t)
	for _, name := range []string{"json data", "base64 data", "no data", "text data"} {
		t.Run(name, func(t *testing.T) {
			d := d
			switch name {
			case "base64 data":
				d.Event.Data = []byte("{ \"spaced\": \"<html>\" }")
			case "no data":
				d.Event.Data = nil
			case "text data":
				d.Event.DataContentType, d.Event.Data = "text/plain", []byte("plain text")
			}
			r, err := d.Record("t")
			if err != nil {
				t.Fatal(err)
			}
			got, _, ok := fastDelivery(r.Value)
			if !ok {
				t.Fatalf("the fast path gave up on %s", r.Value)
			}
			want, err := stdDelivery(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fast path read\n%+v\nencoding/json read\n%+v", got, want)
			}
			if dec, err := DecodeDelivery(r.Value); err != nil || !reflect.DeepEqual(dec, want) {
				t.Fatalf("DecodeDelivery = %+v, %v", dec, err)
			}
		})
	}
}

// TestFastDeliveryGivesUp lists values the fast path leaves to
// encoding/json, and checks DecodeDelivery still reads them (or refuses
// them) exactly as encoding/json does.
func TestFastDeliveryGivesUp(t *testing.T) {
	const ev = `"event":{"specversion":"1.0","id":"1","source":"/s","type":"t"}`
	for _, tt := range []struct{ name, value string }{
		{"escape in a string", `{"v":1,"id":"d\u0041","subscription_id":"s",` + ev + `}`},
		{"escaped slash", `{"v":1,"id":"d\/1","subscription_id":"s",` + ev + `}`},
		{"null member", `{"v":1,"id":"d","subscription_id":"s","replay_of":null,` + ev + `}`},
		{"duplicate member", `{"v":1,"id":"d","id":"e","subscription_id":"s",` + ev + `}`},
		{"member in other case", `{"v":1,"ID":"d","subscription_id":"s",` + ev + `}`},
		{"unknown member", `{"v":1,"id":"d","subscription_id":"s","extra":1,` + ev + `}`},
		{"float attempt", `{"v":1,"id":"d","subscription_id":"s","attempt":1.0,` + ev + `}`},
		{"exponent attempt", `{"v":1,"id":"d","subscription_id":"s","attempt":1e1,` + ev + `}`},
		{"huge attempt", `{"v":1,"id":"d","subscription_id":"s","attempt":99999999999999999999,` + ev + `}`},
		{"leading zero", `{"v":01,"id":"d","subscription_id":"s",` + ev + `}`},
		{"invalid UTF-8", "{\"v\":1,\"id\":\"d\xff\",\"subscription_id\":\"s\"," + ev + "}"},
		{"trailing garbage", `{"v":1,"id":"d","subscription_id":"s",` + ev + `}}`},
		{"bad time", `{"v":1,"id":"d","subscription_id":"s","routed_at":"yesterday",` + ev + `}`},
		{"text data as a string", `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/plain","data":"hi"}}`},
		{"data and data_base64", `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","data":1,"data_base64":"AA=="}}`},
		{"null data", `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","data":null}}`},
		{"number extension", `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","n":5}}`},
		{"duplicate attribute", `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","id":"2","source":"/s","type":"t"}}`},
		{"invalid data", `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":tru}}}`},
		{"deep data", `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","data":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}}`},
		{"bad base64", `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"!!"}}`},
		{"not an object", `[1]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, ok := fastDelivery([]byte(tt.value)); ok {
				t.Fatalf("the fast path read %s", tt.value)
			}
			want, wantErr := stdDelivery([]byte(tt.value))
			got, err := DecodeDelivery([]byte(tt.value))
			if wantErr != nil {
				if err == nil {
					t.Fatalf("DecodeDelivery accepted what encoding/json refuses (%v)", wantErr)
				}
				return
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("DecodeDelivery read\n%+v\nencoding/json read\n%+v", got, want)
			}
		})
	}
}

// FuzzFastDelivery checks the fast path against encoding/json: whatever it
// reads, encoding/json reads without an error, to the same Delivery.
func FuzzFastDelivery(f *testing.F) {
	d := fullDelivery(f)
	r, err := d.Record("t")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.Value)
	for _, s := range []string{
		`{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"eyJhIjogMX0=","x":"y"}}`,
		` { "v" : 1 , "attempt" : -3, "tier":0, "not_before":"2025-01-01T00:00:00+01:00", "event" : { "time":"2025-01-01T00:00:00.5-07:00", "data" : [ 1.5e3 , -0 , "\u00e9\n" , { } , [ ] ] } } `,
		`{"event":{"":"","data":"x"},"routed_at":"0001-01-01T00:00:00Z"}`,
		`{}`,
		"{\"event\":{\"data\":{\"\xf7\":true}}}", // invalid UTF-8 in the data: the fast path must give up
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, compact, ok := fastDelivery(b)
		if !ok {
			return
		}
		want, err := stdDelivery(b)
		if err != nil {
			t.Fatalf("the fast path read what encoding/json refuses (%v): %q", err, b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast path read\n%#v\nencoding/json read\n%#v\nfrom %q", got, want, b)
		}
		if compact && !embedsUnchanged(got.Event.Data) {
			t.Fatalf("data %q reported compact JSON, but encoding/json embeds it as %q", got.Event.Data, embedded(got.Event.Data))
		}
	})
}

// embedded returns what encoding/json makes of b as an embedded JSON
// value, or nil when it refuses it (not valid JSON).
func embedded(b []byte) []byte {
	out, err := json.Marshal(json.RawMessage(b))
	if err != nil {
		return nil
	}
	return out
}

// embedsUnchanged reports whether b is what DecodeDeliveryData calls
// compact JSON: valid, and embedded by encoding/json byte for byte.
func embedsUnchanged(b []byte) bool {
	return len(b) > 0 && json.Valid(b) && bytes.Equal(embedded(b), b)
}

// TestDecodeDeliveryDataCompact checks when DecodeDeliveryData vouches for
// the event's data as compact JSON: only for data it read from a "data"
// member and found valid and unchanged by encoding/json, never for what
// encoding/json would rewrite, data_base64, or a delivery the fast path
// leaves to encoding/json.
func TestDecodeDeliveryDataCompact(t *testing.T) {
	const head = `{"v":1,"id":"d","subscription_id":"s","event":{"specversion":"1.0","id":"1","source":"/s","type":"t",`
	for _, tt := range []struct {
		name, event string
		want        bool
	}{
		{"object", `"data":{"a":[1,true,null,"x"],"b":{}}`, true},
		{"string", `"data":"plain"`, true},
		{"number", `"data":-1.5e3`, true},
		{"escapes kept as they are", `"data":{"a":"\u003c\n\"\u2028"}`, true},
		{"non-ASCII text", `"data":"é ü 日本"`, true},
		{"JSON data of a text type", `"datacontenttype":"text/plain","data":{"a":1}`, true},
		{"whitespace in an object", `"data":{"a": 1}`, false},
		{"whitespace in an array", `"data":[1 ,2]`, false},
		{"newline between tokens", "\"data\":{\n\"a\":1}", false},
		{"whitespace around the value only", `"data": {"a":1} `, true},
		{"less than", `"data":{"a":"<"}`, false},
		{"greater than", `"data":{"a":">"}`, false},
		{"ampersand", `"data":{"a":"&"}`, false},
		{"ampersand in a key", `"data":{"&":1}`, false},
		{"U+2028", "\"data\":\"a\u2028b\"", false},
		{"U+2029", "\"data\":\"a\u2029b\"", false},
		{"other E2 characters", "\"data\":\"\u2019\u2027\u202a\"", true},
		{"data_base64", `"data_base64":"eyJhIjoxfQ=="`, false},
		{"no data", `"subject":"x"`, false},
		{"left to encoding/json (escaped attribute)", `"subject":"\u0078","data":{"a":1}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(head + tt.event + `}}`)
			d, compact, err := DecodeDeliveryData(b)
			if err != nil {
				t.Fatalf("DecodeDeliveryData: %v (%s)", err, b)
			}
			if compact != tt.want {
				t.Fatalf("compact = %v, want %v (data %q)", compact, tt.want, d.Event.Data)
			}
			if compact && !embedsUnchanged(d.Event.Data) {
				t.Fatalf("data %q is not compact JSON", d.Event.Data)
			}
			plain, err := DecodeDelivery(b)
			if err != nil || !reflect.DeepEqual(plain, d) {
				t.Fatalf("DecodeDelivery = %+v, %v; DecodeDeliveryData read %+v", plain, err, d)
			}
		})
	}
}

// BenchmarkDecodeDelivery measures decoding a delivery of a 1 KiB JSON
// event with the fast path and with encoding/json alone.
//
//	go test -run '^$' -bench BenchmarkDecodeDelivery -benchmem ./record/
func BenchmarkDecodeDelivery(b *testing.B) {
	d := fullDelivery(b)
	d.Event.Data = fmt.Appendf(nil, `{"amount":42.5,"currency":"EUR","pad":%q}`, strings.Repeat("x", 1000))
	r, err := d.Record("t")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("DecodeDelivery", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeDelivery(r.Value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stdDelivery(r.Value); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPlain8 checks str's eight-byte test against its byte table: every
// byte value at every position among plain bytes, and pairs of bytes.
func TestPlain8(t *testing.T) {
	plain := func(c byte) bool { return strClass[c] == strPlain && c < 0x80 }
	for c := range 256 {
		for pos := range 8 {
			w := []byte("xxxxxxxx")
			w[pos] = byte(c)
			if got := plain8(binary.LittleEndian.Uint64(w)); got != plain(byte(c)) {
				t.Fatalf("plain8(%q) = %v, want %v", w, got, !got)
			}
		}
	}
	for a := range 256 {
		for b := range 256 {
			w := []byte{byte(a), 'x', 'x', 'x', 'x', 'x', 'x', byte(b)}
			if got, want := plain8(binary.LittleEndian.Uint64(w)), plain(byte(a)) && plain(byte(b)); got != want {
				t.Fatalf("plain8(%q) = %v, want %v", w, got, want)
			}
			w = []byte{'x', 'x', 'x', byte(a), byte(b), 'x', 'x', 'x'}
			if got, want := plain8(binary.LittleEndian.Uint64(w)), plain(byte(a)) && plain(byte(b)); got != want {
				t.Fatalf("plain8(%q) = %v, want %v", w, got, want)
			}
		}
	}
}
