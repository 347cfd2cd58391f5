package publish

import (
	"errors"
	"sort"
	"strings"

	"github.com/hookline/hookline/schemas/registry"
)

func defaultValidator() (Validator, error) {
	r, err := registry.Default()
	if err != nil {
		return nil, err
	}
	return r, nil
}

func versionOf(dataschema string) int { return registry.VersionOf(dataschema) }

func isUnknownType(err error) bool { return errors.Is(err, registry.ErrUnknownType) }

// schemaFields lists the registry's field errors as fields of data.
func schemaFields(err error) []FieldError {
	var ve *registry.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	out := make([]FieldError, 0, len(ve.Fields))
	for _, f := range ve.Fields {
		out = append(out, FieldError{Field: dataField(f.Field), Message: f.Message})
	}
	return out
}

// dataField names a location inside data: "data" for the document itself,
// "data/amount" for the JSON pointer "/amount".
func dataField(pointer string) string {
	p := strings.TrimPrefix(pointer, "#")
	if p == "" || p == "/" {
		return "data"
	}
	return "data/" + strings.TrimPrefix(p, "/")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
