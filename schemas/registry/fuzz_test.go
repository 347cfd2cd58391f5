package registry_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSeedEvent follows the seed's event the way the router does: decode
// the plain JSON record, then validate its data against its type's schema.
func TestSeedEvent(t *testing.T) {
	r := defaultRegistry(t)
	rec := &kgo.Record{Topic: "events", Value: sample(t, "payment_success")}
	e, err := event.Decode(rec, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(e.Type, registry.VersionOf(e.DataSchema), e.Data); err != nil {
		t.Fatalf("seed event rejected: %v", err)
	}
	rec.Value = []byte(`{"type":"payment_success","amount":"lots"}`)
	e, err = event.Decode(rec, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ve *registry.ValidationError
	if err := r.Validate(e.Type, 0, e.Data); !errors.As(err, &ve) || len(ve.Fields) != 2 {
		t.Fatalf("Validate = %v, want /amount and /customer", err)
	}
}

func FuzzValidate(f *testing.F) {
	r := defaultRegistry(f)
	types := r.Types()
	for i, typ := range types {
		b, err := os.ReadFile(filepath.Join("testdata", "samples", typ+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), int8(0), b)
	}
	f.Add(uint8(0), int8(1), []byte(`{"items":[{"quantity":1e400}],"status":null}`))
	f.Add(uint8(1), int8(0), []byte(`{"customer":{"email":"@"},"amount":-0.0,"metadata":{"~/":1}}`))
	f.Add(uint8(2), int8(0), []byte(`{"type":"payment_success","amount":49.99,"customer":"x","timestamp":"2025-02-30T00:00:00Z"}`))
	f.Add(uint8(200), int8(0), []byte(`{}`))
	f.Add(uint8(1), int8(2), []byte(`{}`))
	f.Add(uint8(3), int8(0), []byte("\xff"))
	f.Fuzz(func(t *testing.T, typeIndex uint8, version int8, data []byte) {
		typ := "unknown.type"
		if int(typeIndex) < len(types) {
			typ = types[typeIndex]
		}
		err := r.Validate(typ, int(version), data)
		if err == nil {
			return
		}
		if errors.Is(err, registry.ErrUnknownType) {
			if s, ok := r.Lookup(typ, int(version)); ok {
				t.Fatalf("unknown-type error for a schema that exists (%s v%d): %v", s.Type, s.Version, err)
			}
			return
		}
		var ve *registry.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %v is %T, not *registry.ValidationError", err, err)
		}
		if len(ve.Fields) == 0 || ve.Type != typ {
			t.Fatalf("ValidationError without fields or for another type: %#v", ve)
		}
		for _, fe := range ve.Fields {
			if fe.Message == "" || (fe.Field != "" && fe.Field[0] != '/') {
				t.Fatalf("bad FieldError %#v", fe)
			}
		}
	})
}
