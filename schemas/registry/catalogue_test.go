package registry_test

import (
	"errors"
	"testing"

	"github.com/hookline/hookline/schemas/registry"
)

func TestCatalogue(t *testing.T) {
	c := registry.NewCatalogue()
	err := c.Validate("order.created", 0, []byte(`{}`))
	if !errors.Is(err, registry.ErrUnknownType) {
		t.Fatalf("unknown type: %v", err)
	}
	if want := `registry: unknown event type: "order.created" is not in the event-type catalogue`; err.Error() != want {
		t.Errorf("unknown type: %q, want %q", err, want)
	}
	if err := c.Put("order.created", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate("order.created", 0, []byte(`"anything"`)); err != nil {
		t.Fatalf("a type without a schema refused data: %v", err)
	}
	if err := c.Put("order.created", []byte(`{"type":"object","required":["order_id"]}`)); err != nil {
		t.Fatal(err)
	}
	var ve *registry.ValidationError
	if err := c.Validate("order.created", 0, []byte(`{}`)); !errors.As(err, &ve) || ve.Fields[0].Field != "/order_id" {
		t.Fatalf("missing order_id: %v", err)
	}
	if err := c.Validate("order.created", 0, []byte(`{"order_id":"o1"}`)); err != nil {
		t.Fatal(err)
	}
	var ce *registry.CompileError
	if err := c.Put("broken", []byte(`{"type":"no-such-type"}`)); !errors.As(err, &ce) {
		t.Fatalf("bad schema: %v", err)
	}
	if err := c.Validate("broken", 0, []byte(`{}`)); !errors.As(err, &ce) {
		t.Fatalf("events of a type whose schema does not compile: %v, want the compile error", err)
	}
	if err := c.Put("remote", []byte(`{"$ref":"https://example.com/s.json"}`)); err == nil {
		t.Fatal("a schema referring to another document compiled")
	}
	c.Delete("order.created")
	if c.Has("order.created") {
		t.Fatal("deleted type still known")
	}
}

// TestPaymentSuccessBothShapes checks the seed's type accepts its plain
// JSON event (type inside) and a CloudEvent's data without type.
func TestPaymentSuccessBothShapes(t *testing.T) {
	ex, ok := registry.LookupExample("payment_success")
	if !ok {
		t.Fatal("no payment_success example")
	}
	c := registry.NewCatalogue()
	if err := c.Put(ex.Name, ex.Schema); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{
		`{"type":"payment_success","amount":49.99,"customer":"jane@example.com"}`,
		`{"amount":7,"customer":"carol"}`,
		string(ex.Data),
	} {
		if err := c.Validate(ex.Name, 0, []byte(data)); err != nil {
			t.Errorf("%s: %v", data, err)
		}
	}
	if err := c.Validate(ex.Name, 0, []byte(`{"type":"refund","amount":7,"customer":"carol"}`)); err == nil {
		t.Error("a plain JSON object of another type passed")
	}
}

func TestExamples(t *testing.T) {
	exs, err := registry.Examples()
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 5 {
		t.Fatalf("%d examples, want 5", len(exs))
	}
	for _, ex := range exs {
		s, err := registry.Compile(ex.Name, ex.Schema)
		if err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
		if err := s.Validate(ex.Data); err != nil {
			t.Errorf("%s: its example is invalid: %v", ex.Name, err)
		}
		if ex.Description == "" {
			t.Errorf("%s has no description", ex.Name)
		}
	}
}
