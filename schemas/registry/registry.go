package registry

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed schemas
var embedded embed.FS

// BaseURL is where schema <type> version <N> is published: its "$id" is
// BaseURL + "<type>/v<N>", which is what producers put in dataschema.
const BaseURL = "https://hookline.dev/schemas/"

// Schema is one version of the JSON Schema of one event type.
type Schema struct {
	Type    string
	Version int
	// JSON is the schema document as embedded. Do not modify it.
	JSON []byte

	compiled *jsonschema.Schema
}

// Registry maps event types to their schemas. It is safe for concurrent
// use and never changes after it is built.
type Registry struct {
	types map[string][]*Schema // versions in ascending order
}

var defaultRegistry = sync.OnceValues(func() (*Registry, error) {
	sub, err := fs.Sub(embedded, "schemas")
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return New(sub)
})

// Default returns the registry of the schemas embedded in this package. It
// is built once; later calls return the same registry (or error).
func Default() (*Registry, error) { return defaultRegistry() }

var (
	typeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	fileName = regexp.MustCompile(`^v([1-9][0-9]{0,8})\.json$`)
)

// noLoader refuses every URL, so a schema's $ref can only point inside the
// registry.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("registry: schemas may not load %s", url)
}

// New builds a registry from fsys, which holds <type>/v<N>.json files
// (N = 1, 2, ...). Every file must be a valid draft 2020-12 schema; any
// other file or directory is an error.
func New(fsys fs.FS) (*Registry, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})

	r := &Registry{types: make(map[string][]*Schema)}
	dirs, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	for _, dir := range dirs {
		if !dir.IsDir() || !typeName.MatchString(dir.Name()) {
			return nil, fmt.Errorf("registry: %q is not an event type directory", dir.Name())
		}
		files, err := fs.ReadDir(fsys, dir.Name())
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		for _, f := range files {
			m := fileName.FindStringSubmatch(f.Name())
			if m == nil || f.IsDir() {
				return nil, fmt.Errorf("registry: %s: want files named v<N>.json", path.Join(dir.Name(), f.Name()))
			}
			version, _ := strconv.Atoi(m[1])
			s, err := compile(c, fsys, dir.Name(), version)
			if err != nil {
				return nil, err
			}
			r.types[s.Type] = append(r.types[s.Type], s)
		}
		slices.SortFunc(r.types[dir.Name()], func(a, b *Schema) int { return a.Version - b.Version })
	}
	return r, nil
}

func compile(c *jsonschema.Compiler, fsys fs.FS, eventType string, version int) (*Schema, error) {
	name := path.Join(eventType, "v"+strconv.Itoa(version)+".json")
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", name, err)
	}
	url := BaseURL + eventType + "/v" + strconv.Itoa(version)
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("registry: %s: %w", name, err)
	}
	compiled, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", name, err)
	}
	return &Schema{Type: eventType, Version: version, JSON: b, compiled: compiled}, nil
}

// Types returns the registered event types in sorted order.
func (r *Registry) Types() []string {
	types := make([]string, 0, len(r.types))
	for t := range r.types {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// Lookup returns the schema of eventType in version, or in its latest
// version when version is 0. The result is shared: do not modify it.
func (r *Registry) Lookup(eventType string, version int) (*Schema, bool) {
	versions := r.types[eventType]
	if len(versions) == 0 || version < 0 {
		return nil, false
	}
	if version == 0 {
		return versions[len(versions)-1], true
	}
	i, ok := slices.BinarySearchFunc(versions, version, func(s *Schema, v int) int { return s.Version - v })
	if !ok {
		return nil, false
	}
	return versions[i], true
}

// Validate checks data against the schema of eventType in version (0 for
// the latest). It returns nil when data matches; an error wrapping
// ErrUnknownType (or ErrUnknownVersion) when there is no such schema; and
// otherwise a *ValidationError naming each offending field. Data that is
// not JSON is a *ValidationError with Field "". Numbers beyond the range
// of a float64 are refused too: no consumer could read them, and exact
// arithmetic on them is costly.
func (r *Registry) Validate(eventType string, version int, data []byte) error {
	s, ok := r.Lookup(eventType, version)
	if !ok {
		if _, known := r.Lookup(eventType, 0); known {
			return fmt.Errorf("%w: %q v%d", ErrUnknownVersion, eventType, version)
		}
		return fmt.Errorf("%w: %q", ErrUnknownType, eventType)
	}
	return s.validate(data)
}

func (s *Schema) validate(data []byte) error {
	invalid := func(fields []FieldError) error {
		return &ValidationError{Type: s.Type, Version: s.Version, Fields: fields}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return invalid([]FieldError{{Message: "not JSON: no data"}})
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return invalid([]FieldError{{Message: "not JSON: " + err.Error()}})
	}
	var fields []FieldError
	checkNumbers(doc, "", &fields)
	if len(fields) > 0 {
		return invalid(fields)
	}
	err = s.compiled.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return invalid([]FieldError{{Message: err.Error()}})
	}
	fields = fieldErrors(ve)
	if len(fields) == 0 {
		fields = []FieldError{{Message: ve.Error()}}
	}
	return invalid(fields)
}

// Bounds on the text of one JSON number. Longer numbers carry no precision
// anyone can use, and float64 exponents stay within ±324.
const (
	maxNumberLen = 100
	maxExponent  = 400
)

// checkNumbers reports numbers that a float64 cannot hold. The validator
// does exact arithmetic (math/big) on numbers, whose cost grows with the
// exponent: 1e1000000 alone takes tens of milliseconds.
func checkNumbers(v any, ptr string, out *[]FieldError) {
	switch v := v.(type) {
	case json.Number:
		s := string(v)
		if len(s) > maxNumberLen {
			*out = append(*out, FieldError{Field: ptr, Message: fmt.Sprintf("number has more than %d characters", maxNumberLen)})
			return
		}
		if i := strings.IndexAny(s, "eE"); i >= 0 {
			if exp, err := strconv.Atoi(s[i+1:]); err != nil || exp > maxExponent || exp < -maxExponent {
				*out = append(*out, FieldError{Field: ptr, Message: fmt.Sprintf("number exponent is beyond ±%d", maxExponent)})
				return
			}
		}
		// Underflow rounds to zero without an error; overflow is refused.
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			*out = append(*out, FieldError{Field: ptr, Message: "number is out of the range of a float64"})
		}
	case map[string]any:
		for k, e := range v {
			checkNumbers(e, ptr+"/"+escape(k), out)
		}
	case []any:
		for i, e := range v {
			checkNumbers(e, ptr+"/"+strconv.Itoa(i), out)
		}
	}
	if ptr == "" {
		sortFields(*out)
	}
}

var printer = message.NewPrinter(language.English)

// fieldErrors flattens the validator's error tree into one FieldError per
// failed assertion, pointing at the value (or missing property) at fault.
func fieldErrors(root *jsonschema.ValidationError) []FieldError {
	var out []FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		loc := pointer(e.InstanceLocation)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, p := range k.Missing {
				out = append(out, FieldError{Field: loc + "/" + escape(p), Message: "is required"})
			}
			return
		case *kind.DependentRequired:
			for _, p := range k.Missing {
				out = append(out, FieldError{Field: loc + "/" + escape(p), Message: fmt.Sprintf("is required when %q is present", k.Prop)})
			}
			return
		case *kind.Dependency:
			for _, p := range k.Missing {
				out = append(out, FieldError{Field: loc + "/" + escape(p), Message: fmt.Sprintf("is required when %q is present", k.Prop)})
			}
			return
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				out = append(out, FieldError{Field: loc + "/" + escape(p), Message: "is not allowed here"})
			}
			return
		case *kind.AnyOf, *kind.OneOf:
			// The causes are the alternatives' failures; listing each as a
			// separate problem would mislead.
			var alts []string
			for _, c := range e.Causes {
				alts = append(alts, leafMessages(c)...)
			}
			msg := e.ErrorKind.LocalizedString(printer)
			if len(alts) > 0 {
				msg = "matches no alternative: " + strings.Join(alts, ", or ")
			}
			out = append(out, FieldError{Field: loc, Message: msg})
			return
		}
		if len(e.Causes) == 0 {
			out = append(out, FieldError{Field: loc, Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(root)
	sortFields(out)
	return slices.Compact(out)
}

func leafMessages(e *jsonschema.ValidationError) []string {
	if len(e.Causes) == 0 {
		return []string{e.ErrorKind.LocalizedString(printer)}
	}
	var msgs []string
	for _, c := range e.Causes {
		msgs = append(msgs, leafMessages(c)...)
	}
	return msgs
}

func sortFields(fs []FieldError) {
	slices.SortFunc(fs, func(a, b FieldError) int {
		if c := strings.Compare(a.Field, b.Field); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
}

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escape(t))
	}
	return b.String()
}

// escape encodes one JSON pointer token (RFC 6901).
func escape(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~", "~0"), "/", "~1")
}

// VersionOf returns the schema version named by an event's dataschema
// attribute: N when it ends in "/v<N>" (as every $id in this registry
// does), "/v<N>.json" or ".v<N>.json"; otherwise 0, meaning the latest.
func VersionOf(dataschema string) int {
	s, isFile := strings.CutSuffix(dataschema, ".json")
	i := strings.LastIndexByte(s, 'v')
	if i < 1 {
		return 0
	}
	if sep := s[i-1]; sep != '/' && (sep != '.' || !isFile) {
		return 0
	}
	digits := s[i+1:]
	if len(digits) == 0 || len(digits) > 9 || digits[0] == '0' {
		return 0
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0
		}
	}
	n, _ := strconv.Atoi(digits)
	return n
}
