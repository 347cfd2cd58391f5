package registry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hookline/hookline/schemas/internal/golden"
	"github.com/hookline/hookline/schemas/registry"
)

func defaultRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	r, err := registry.Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	return r
}

func sample(t testing.TB, eventType string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "samples", eventType+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit changes one value of a JSON document; a nil value deletes, null
// sets JSON null.
type edit struct {
	path  string // a JSON pointer: "/customer/email", "/items/1/quantity"
	value any
}

var null = json.RawMessage("null")

// mutate applies edits to a copy of doc.
func mutate(t *testing.T, doc []byte, edits ...edit) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		t.Fatal(err)
	}
	for _, e := range edits {
		keys := strings.Split(strings.TrimPrefix(e.path, "/"), "/")
		for i, k := range keys {
			keys[i] = strings.ReplaceAll(strings.ReplaceAll(k, "~1", "/"), "~0", "~")
		}
		parent := root
		for _, k := range keys[:len(keys)-1] {
			switch p := parent.(type) {
			case map[string]any:
				parent = p[k]
			case []any:
				i, _ := strconv.Atoi(k)
				parent = p[i]
			default:
				t.Fatalf("edit %s: %q is not inside an object or array", e.path, k)
			}
		}
		last := keys[len(keys)-1]
		switch p := parent.(type) {
		case map[string]any:
			if e.value == nil {
				delete(p, last)
			} else {
				p[last] = e.value
			}
		case []any:
			i, _ := strconv.Atoi(last)
			p[i] = e.value
		default:
			t.Fatalf("edit %s: parent is not an object or array", e.path)
		}
	}
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTypes(t *testing.T) {
	got := defaultRegistry(t).Types()
	want := []string{"order.status_changed", "payment.succeeded", "payment_success", "pipeline.finished", "sensor.reading"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Types = %q, want %q", got, want)
	}
}

func TestDefaultIsBuiltOnce(t *testing.T) {
	first, second := defaultRegistry(t), defaultRegistry(t)
	if first != second {
		t.Fatal("Default returned two registries")
	}
}

// TestSchemaDocuments checks each embedded schema names itself the way
// producers are told to reference it.
func TestSchemaDocuments(t *testing.T) {
	r := defaultRegistry(t)
	for _, typ := range r.Types() {
		t.Run(typ, func(t *testing.T) {
			s, ok := r.Lookup(typ, 0)
			if !ok {
				t.Fatal("Lookup failed")
			}
			var doc struct {
				Schema string `json:"$schema"`
				ID     string `json:"$id"`
				Title  string `json:"title"`
			}
			if err := json.Unmarshal(s.JSON, &doc); err != nil {
				t.Fatal(err)
			}
			if want := "https://json-schema.org/draft/2020-12/schema"; doc.Schema != want {
				t.Errorf("$schema = %q, want %q", doc.Schema, want)
			}
			if want := registry.BaseURL + typ + "/v" + strconv.Itoa(s.Version); doc.ID != want {
				t.Errorf("$id = %q, want %q", doc.ID, want)
			}
			if registry.VersionOf(doc.ID) != s.Version {
				t.Errorf("VersionOf($id) = %d, want %d", registry.VersionOf(doc.ID), s.Version)
			}
			if doc.Title != typ || s.Type != typ {
				t.Errorf("title %q, Type %q, want %q", doc.Title, s.Type, typ)
			}
		})
	}
}

func TestValidSamples(t *testing.T) {
	r := defaultRegistry(t)
	for _, typ := range r.Types() {
		t.Run(typ, func(t *testing.T) {
			for _, v := range []int{0, 1} {
				if err := r.Validate(typ, v, sample(t, typ)); err != nil {
					t.Fatalf("Validate(v%d) = %v", v, err)
				}
			}
		})
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		edits []edit
	}{
		{"seed with extra fields", "payment_success", []edit{{"/currency", "EUR"}, {"/note", "thanks"}, {"/id", "pay_1"}}},
		{"seed with timestamp", "payment_success", []edit{{"/timestamp", "2025-03-14T15:09:26+01:00"}}},
		{"seed zero amount", "payment_success", []edit{{"/amount", 0}}},
		{"seed amount underflowing to zero", "payment_success", []edit{{"/amount", json.Number("1e-400")}}},
		{"seed largest float64 amount", "payment_success", []edit{{"/amount", json.Number("1.7976931348623157e308")}}},
		{"payment minimal", "payment.succeeded", []edit{{"/order_id", nil}, {"/payment_method", nil}, {"/fee", nil}, {"/metadata", nil}, {"/customer/email", nil}, {"/customer/name", nil}}},
		{"payment integer amount", "payment.succeeded", []edit{{"/amount", 5000}, {"/currency", "JPY"}}},
		{"new order", "order.status_changed", []edit{{"/status", "pending"}, {"/previous_status", null}}},
		{"order without optional parts", "order.status_changed", []edit{{"/items", nil}, {"/tracking", nil}, {"/total", nil}, {"/previous_status", nil}}},
		{"negative temperature", "sensor.reading", []edit{{"/value", -12.5}}},
		{"reading without location", "sensor.reading", []edit{{"/location", nil}, {"/tags", nil}}},
		{"pipeline short sha", "pipeline.finished", []edit{{"/commit", "9fceb02"}, {"/status", "success"}}},
	}
	r := defaultRegistry(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := mutate(t, sample(t, tt.typ), tt.edits...)
			if err := r.Validate(tt.typ, 0, data); err != nil {
				t.Fatalf("Validate(%s) = %v", data, err)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		data   []byte // used when edits is empty
		edits  []edit
		fields []string
	}{
		{name: "seed without customer", typ: "payment_success", edits: []edit{{"/customer", nil}}, fields: []string{"/customer"}},
		{name: "seed without amount and customer", typ: "payment_success", edits: []edit{{"/customer", nil}, {"/amount", nil}}, fields: []string{"/amount", "/customer"}},
		{name: "seed amount as string", typ: "payment_success", edits: []edit{{"/amount", "49.99"}}, fields: []string{"/amount"}},
		{name: "seed negative amount", typ: "payment_success", edits: []edit{{"/amount", -1}}, fields: []string{"/amount"}},
		{name: "seed other type", typ: "payment_success", edits: []edit{{"/type", "payment_failed"}}, fields: []string{"/type"}},
		{name: "seed lower-case currency", typ: "payment_success", edits: []edit{{"/currency", "usd"}}, fields: []string{"/currency"}},
		{name: "seed bad timestamp", typ: "payment_success", edits: []edit{{"/timestamp", "yesterday"}}, fields: []string{"/timestamp"}},
		{name: "seed huge exponent", typ: "payment_success", data: []byte(`{"type":"payment_success","amount":1e999999,"customer":"c"}`), fields: []string{"/amount"}},
		{name: "seed number beyond float64", typ: "payment_success", data: []byte(`{"type":"payment_success","amount":2e308,"customer":"c"}`), fields: []string{"/amount"}},
		{name: "seed tiny exponent", typ: "payment_success", data: []byte(`{"type":"payment_success","amount":1e-401,"customer":"c"}`), fields: []string{"/amount"}},
		{name: "seed very long number", typ: "payment_success", data: []byte(`{"type":"payment_success","amount":1` + strings.Repeat("0", 200) + `,"customer":"c"}`), fields: []string{"/amount"}},
		{name: "not JSON", typ: "payment_success", data: []byte(`type=payment_success`), fields: []string{""}},
		{name: "truncated JSON", typ: "payment_success", data: []byte(`{"type":"payment_success",`), fields: []string{""}},
		{name: "two documents", typ: "payment_success", data: []byte(`{} {}`), fields: []string{""}},
		{name: "empty", typ: "payment_success", data: []byte(``), fields: []string{""}},
		{name: "array", typ: "payment.succeeded", data: []byte(`[]`), fields: []string{""}},
		{name: "payment without captured_at", typ: "payment.succeeded", edits: []edit{{"/captured_at", nil}}, fields: []string{"/captured_at"}},
		{name: "payment zero amount", typ: "payment.succeeded", edits: []edit{{"/amount", 0}}, fields: []string{"/amount"}},
		{name: "payment bad email", typ: "payment.succeeded", edits: []edit{{"/customer/email", "jane at example"}}, fields: []string{"/customer/email"}},
		{name: "payment customer without id", typ: "payment.succeeded", edits: []edit{{"/customer/id", nil}}, fields: []string{"/customer/id"}},
		{name: "payment card extra field", typ: "payment.succeeded", edits: []edit{{"/payment_method/cvc", "123"}}, fields: []string{"/payment_method/cvc"}},
		{name: "payment short last4", typ: "payment.succeeded", edits: []edit{{"/payment_method/last4", "42"}}, fields: []string{"/payment_method/last4"}},
		{name: "payment unknown method", typ: "payment.succeeded", edits: []edit{{"/payment_method/type", "cheque"}}, fields: []string{"/payment_method/type"}},
		{name: "payment metadata number", typ: "payment.succeeded", edits: []edit{{"/metadata/a~0b~1c", 5}}, fields: []string{"/metadata/a~0b~1c"}},
		{name: "payment date without time", typ: "payment.succeeded", edits: []edit{{"/captured_at", "2025-03-14"}}, fields: []string{"/captured_at"}},
		{name: "payment customer as string", typ: "payment.succeeded", edits: []edit{{"/customer", "cus_42"}}, fields: []string{"/customer"}},
		{name: "order unknown status", typ: "order.status_changed", edits: []edit{{"/status", "teleported"}}, fields: []string{"/status"}},
		{name: "order unknown previous status", typ: "order.status_changed", edits: []edit{{"/previous_status", "lost"}}, fields: []string{"/previous_status"}},
		{name: "order zero quantity", typ: "order.status_changed", edits: []edit{{"/items/1/quantity", 0}}, fields: []string{"/items/1/quantity"}},
		{name: "order fractional quantity", typ: "order.status_changed", edits: []edit{{"/items/0/quantity", 1.5}}, fields: []string{"/items/0/quantity"}},
		{name: "order item without sku", typ: "order.status_changed", edits: []edit{{"/items/0/sku", nil}}, fields: []string{"/items/0/sku"}},
		{name: "order tracking url", typ: "order.status_changed", edits: []edit{{"/tracking/url", "not a url"}}, fields: []string{"/tracking/url"}},
		{name: "order total extra field", typ: "order.status_changed", edits: []edit{{"/total/tax", 1}}, fields: []string{"/total/tax"}},
		{name: "order without id and time", typ: "order.status_changed", edits: []edit{{"/order_id", nil}, {"/changed_at", nil}}, fields: []string{"/changed_at", "/order_id"}},
		{name: "reading value as string", typ: "sensor.reading", edits: []edit{{"/value", "21.4"}}, fields: []string{"/value"}},
		{name: "reading latitude", typ: "sensor.reading", edits: []edit{{"/location/lat", 91}}, fields: []string{"/location/lat"}},
		{name: "reading location extra field", typ: "sensor.reading", edits: []edit{{"/location/accuracy", 3}}, fields: []string{"/location/accuracy"}},
		{name: "reading battery", typ: "sensor.reading", edits: []edit{{"/battery_pct", 101}}, fields: []string{"/battery_pct"}},
		{name: "reading metric case", typ: "sensor.reading", edits: []edit{{"/metric", "Temperature"}}, fields: []string{"/metric"}},
		{name: "reading without read_at", typ: "sensor.reading", edits: []edit{{"/read_at", nil}}, fields: []string{"/read_at"}},
		{name: "pipeline status", typ: "pipeline.finished", edits: []edit{{"/status", "passed"}}, fields: []string{"/status"}},
		{name: "pipeline commit", typ: "pipeline.finished", edits: []edit{{"/commit", "HEAD"}}, fields: []string{"/commit"}},
		{name: "pipeline stage status", typ: "pipeline.finished", edits: []edit{{"/stages/1/status", "broken"}}, fields: []string{"/stages/1/status"}},
		{name: "pipeline finished_at", typ: "pipeline.finished", edits: []edit{{"/finished_at", "later"}}, fields: []string{"/finished_at"}},
		{name: "pipeline several problems", typ: "pipeline.finished", edits: []edit{{"/repository", nil}, {"/duration_s", -1}, {"/stages/0/name", ""}}, fields: []string{"/duration_s", "/repository", "/stages/0/name"}},
	}
	r := defaultRegistry(t)
	var all bytes.Buffer
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			if len(tt.edits) > 0 {
				data = mutate(t, sample(t, tt.typ), tt.edits...)
			}
			err := r.Validate(tt.typ, 0, data)
			var ve *registry.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v (%T), want *registry.ValidationError", err, err)
			}
			if ve.Type != tt.typ || ve.Version != 1 {
				t.Errorf("Type, Version = %q, %d; want %q, 1", ve.Type, ve.Version, tt.typ)
			}
			var fields []string
			for _, f := range ve.Fields {
				fields = append(fields, f.Field)
				if f.Message == "" {
					t.Errorf("field %q has no message", f.Field)
				}
			}
			if !reflect.DeepEqual(fields, tt.fields) {
				t.Errorf("fields = %q, want %q\n%v", fields, tt.fields, err)
			}
			for _, f := range tt.fields {
				if f != "" && !strings.Contains(err.Error(), f+": ") {
					t.Errorf("Error() = %q does not name %q", err, f)
				}
			}
			all.WriteString(tt.name + "\n\t" + err.Error() + "\n")
		})
	}
	golden.Assert(t, "errors.golden", all.Bytes())
}

func TestUnknown(t *testing.T) {
	r := defaultRegistry(t)
	tests := []struct {
		name    string
		typ     string
		version int
		want    error
	}{
		{"unknown type", "payment.failed", 0, registry.ErrUnknownType},
		{"unknown type with version", "payment.failed", 1, registry.ErrUnknownType},
		{"empty type", "", 0, registry.ErrUnknownType},
		{"unknown version", "payment.succeeded", 2, registry.ErrUnknownVersion},
		{"negative version", "payment.succeeded", -1, registry.ErrUnknownVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Validate(tt.typ, tt.version, []byte(`{}`))
			if !errors.Is(err, tt.want) || !errors.Is(err, registry.ErrUnknownType) {
				t.Fatalf("Validate = %v, want %v (and ErrUnknownType)", err, tt.want)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tt.typ)) {
				t.Errorf("Error() = %q does not name the type", err)
			}
			if _, ok := r.Lookup(tt.typ, tt.version); ok {
				t.Error("Lookup found it")
			}
		})
	}
	if errors.Is(registry.ErrUnknownType, registry.ErrUnknownVersion) {
		t.Error("ErrUnknownType matches ErrUnknownVersion")
	}
}

func TestVersionOf(t *testing.T) {
	tests := map[string]int{
		"https://hookline.dev/schemas/payment.succeeded/v1":      1,
		"https://hookline.dev/schemas/payment.succeeded/v12":     12,
		"https://hookline.dev/schemas/payment.succeeded/v2.json": 2,
		"https://example.com/schemas/payment.succeeded.v3.json":  3,
		"payment.succeeded.v3.json":                              3,
		"/v7":                                                    7,
		"":                                                       0,
		"v1":                                                     0,
		"https://example.com/payment.succeeded.v3":               0, // ".v<N>" only as a .json file name
		"https://example.com/schemas/payment.succeeded":          0,
		"https://example.com/v1/payment.succeeded":               0,
		"https://example.com/schemas/x/v":                        0,
		"https://example.com/schemas/x/v0":                       0,
		"https://example.com/schemas/x/v01":                      0,
		"https://example.com/schemas/x/v-1":                      0,
		"https://example.com/schemas/x/v1a":                      0,
		"https://example.com/schemas/x/v1.json.bak":              0,
		"https://example.com/schemas/x/v99999999999999999999":    0,
		"https://example.com/schemas/x/V1":                       0,
		"https://example.com/schemas/x/v1/":                      0,
		"https://example.com/schemas/x/v1?rev=2":                 0,
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := registry.VersionOf(in); got != want {
				t.Fatalf("VersionOf(%q) = %d, want %d", in, got, want)
			}
		})
	}
}

const minimalSchema = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","required":["n"]}`

func TestNewVersions(t *testing.T) {
	r, err := registry.New(fstest.MapFS{
		"thing/v1.json":  {Data: []byte(minimalSchema)},
		"thing/v2.json":  {Data: []byte(`{"type":"object","required":["n","m"]}`)},
		"thing/v10.json": {Data: []byte(`{"type":"object","required":["x"]}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[int]int{0: 10, 1: 1, 2: 2, 10: 10} {
		s, ok := r.Lookup("thing", v)
		if !ok || s.Version != want || s.Type != "thing" {
			t.Fatalf("Lookup(thing, %d) = %+v, %v; want version %d", v, s, ok, want)
		}
	}
	if _, ok := r.Lookup("thing", 3); ok {
		t.Fatal("Lookup(thing, 3) found a schema")
	}
	if err := r.Validate("thing", 1, []byte(`{"n":1}`)); err != nil {
		t.Fatalf("v1: %v", err)
	}
	if err := r.Validate("thing", 2, []byte(`{"n":1}`)); err == nil {
		t.Fatal("v2 accepted data without m")
	}
	if err := r.Validate("thing", 0, []byte(`{"x":1}`)); err != nil {
		t.Fatalf("latest: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"file at the root":     {"README.md": {Data: []byte("x")}},
		"bad type name":        {"pay ment/v1.json": {Data: []byte(minimalSchema)}},
		"bad file name":        {"thing/latest.json": {Data: []byte(minimalSchema)}},
		"version zero":         {"thing/v0.json": {Data: []byte(minimalSchema)}},
		"not JSON":             {"thing/v1.json": {Data: []byte(`{`)}},
		"not a schema":         {"thing/v1.json": {Data: []byte(`{"type":5}`)}},
		"bad pattern":          {"thing/v1.json": {Data: []byte(`{"pattern":"("}`)}},
		"external reference":   {"thing/v1.json": {Data: []byte(`{"$ref":"https://example.com/schema.json"}`)}},
		"file reference":       {"thing/v1.json": {Data: []byte(`{"$ref":"file:///etc/passwd"}`)}},
		"unresolvable pointer": {"thing/v1.json": {Data: []byte(`{"$ref":"#/$defs/missing"}`)}},
	}
	for name, fsys := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := registry.New(fsys); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestValidationErrorMessage(t *testing.T) {
	e := &registry.ValidationError{Type: "payment_success", Version: 1, Fields: []registry.FieldError{
		{Field: "", Message: "not JSON: unexpected EOF"},
		{Field: "/customer", Message: "is required"},
	}}
	want := "registry: payment_success v1: invalid data: (document): not JSON: unexpected EOF; /customer: is required"
	if got := e.Error(); got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
