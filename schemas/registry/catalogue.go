package registry

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// CompileError is a JSON Schema that does not compile, with why.
type CompileError struct {
	Type string
	Err  error
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("registry: schema of %s: %v", e.Type, e.Err)
}

func (e *CompileError) Unwrap() error { return e.Err }

// Compile compiles schema, a JSON Schema of the data of eventType (draft
// 2020-12 unless it says otherwise in $schema). Formats are asserted, and
// references to other documents are refused: a schema must be whole. The
// error is a *CompileError naming the problem.
func Compile(eventType string, schema []byte) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, &CompileError{Type: eventType, Err: fmt.Errorf("not JSON: %w", err)}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	url := BaseURL + "catalogue/" + eventType
	if err := c.AddResource(url, doc); err != nil {
		return nil, &CompileError{Type: eventType, Err: err}
	}
	compiled, err := c.Compile(url)
	if err != nil {
		return nil, &CompileError{Type: eventType, Err: err}
	}
	return &Schema{Type: eventType, JSON: schema, compiled: compiled}, nil
}

// Validate checks data against s: nil, or a *ValidationError naming the
// offending fields.
func (s *Schema) Validate(data []byte) error { return s.validate(data) }

// Catalogue is the live set of event types the router and the producer API
// validate against: a type is known once Put and until Deleted, with or
// without a schema. It is safe for concurrent use; it satisfies the
// validator interfaces of router and producer.
type Catalogue struct {
	mu    sync.RWMutex
	types map[string]entry
}

type entry struct {
	schema *Schema // nil: known, without a schema
	err    error   // a schema that did not compile
}

// NewCatalogue returns an empty catalogue.
func NewCatalogue() *Catalogue { return &Catalogue{types: map[string]entry{}} }

// Put makes eventType known with schema (none when empty), replacing what
// it had. A schema that does not compile is kept as such: events of the
// type then fail validation with its *CompileError, rather than pass
// unchecked. The error is returned too.
func (c *Catalogue) Put(eventType string, schema []byte) error {
	var e entry
	if len(bytes.TrimSpace(schema)) > 0 {
		e.schema, e.err = Compile(eventType, schema)
	}
	c.mu.Lock()
	c.types[eventType] = e
	c.mu.Unlock()
	return e.err
}

// Delete forgets eventType.
func (c *Catalogue) Delete(eventType string) {
	c.mu.Lock()
	delete(c.types, eventType)
	c.mu.Unlock()
}

// Has reports whether eventType is known.
func (c *Catalogue) Has(eventType string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.types[eventType]
	return ok
}

// Types returns the known types, sorted.
func (c *Catalogue) Types() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.types))
	for t := range c.types {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Validate checks data, an event's data (a CloudEvent's data, or the whole
// object of a plain JSON event), against the schema of eventType. It
// returns nil when valid or when the type has no schema, an error wrapping
// ErrUnknownType when the type is not in the catalogue, a
// *ValidationError, or the *CompileError of a schema that does not
// compile. version is ignored: the catalogue holds one schema per type.
func (c *Catalogue) Validate(eventType string, _ int, data []byte) error {
	c.mu.RLock()
	e, ok := c.types[eventType]
	c.mu.RUnlock()
	switch {
	case !ok:
		return notInCatalogue(eventType)
	case e.err != nil:
		return e.err
	case e.schema == nil:
		return nil
	}
	return e.schema.validate(data)
}

// notInCatalogue is Validate's error for a type the catalogue does not
// hold. Pipelines that route unregistered types meet it for every event,
// so it is one small value, its message written only when asked for.
type notInCatalogue string

func (e notInCatalogue) Error() string {
	return fmt.Sprintf("%v: %q is not in the event-type catalogue", ErrUnknownType, string(e))
}

func (notInCatalogue) Unwrap() error { return ErrUnknownType }

//go:embed examples
var exampleData embed.FS

// Example is a built-in event type that hookctl dev registers and hookctl
// types add --example registers on request: the seed's payment_success
// and one type of each of the four example applications.
type Example struct {
	Name        string
	Description string
	Schema      []byte // the JSON Schema of the data
	Data        []byte // an example of the data
}

// Examples returns the built-in example event types, sorted by name.
func Examples() ([]Example, error) {
	r, err := Default()
	if err != nil {
		return nil, err
	}
	var out []Example
	for _, name := range r.Types() {
		s, _ := r.Lookup(name, 0)
		var doc struct {
			Description string `json:"description"`
		}
		_ = json.Unmarshal(s.JSON, &doc)
		data, err := fs.ReadFile(exampleData, "examples/"+name+".json")
		if err != nil {
			return nil, fmt.Errorf("registry: example of %s: %w", name, err)
		}
		out = append(out, Example{Name: name, Description: strings.TrimSpace(doc.Description), Schema: s.JSON, Data: data})
	}
	return out, nil
}

// LookupExample returns the built-in example called name.
func LookupExample(name string) (Example, bool) {
	exs, err := Examples()
	if err != nil {
		return Example{}, false
	}
	for _, e := range exs {
		if e.Name == name {
			return e, true
		}
	}
	return Example{}, false
}

// Check compiles schema, when set, and validates example, when set,
// against it: what registering an event type requires. The error is a
// *CompileError or a *ValidationError of the example.
func Check(eventType string, schema, example []byte) error {
	if len(bytes.TrimSpace(schema)) == 0 {
		return nil
	}
	s, err := Compile(eventType, schema)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(example)) > 0 {
		if err := s.validate(example); err != nil {
			return fmt.Errorf("the example does not satisfy the schema: %w", err)
		}
	}
	return nil
}
