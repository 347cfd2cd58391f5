package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// schemaDir holds the JSON schemas kubeconform validates the manifests
// with (`make lint`), since CI has no network to fetch them. The
// Kubernetes ones are generated here from the k8s.io/api Go types; the
// KEDA ScaledObject one is written by hand (KEDA's Go module is too large
// to import for one type).
var schemaDir = filepath.Join(repoRoot, "deploy", "kubernetes", "schemas")

// kubeKinds are the kinds the manifests use, by kubeconform's file name
// ({{ .ResourceKind }}{{ .KindSuffix }}.json).
var kubeKinds = []struct {
	file       string
	apiVersion string
	kind       string
	obj        any
}{
	{"namespace-v1.json", "v1", "Namespace", corev1.Namespace{}},
	{"configmap-v1.json", "v1", "ConfigMap", corev1.ConfigMap{}},
	{"secret-v1.json", "v1", "Secret", corev1.Secret{}},
	{"service-v1.json", "v1", "Service", corev1.Service{}},
	{"deployment-apps-v1.json", "apps/v1", "Deployment", appsv1.Deployment{}},
	{"statefulset-apps-v1.json", "apps/v1", "StatefulSet", appsv1.StatefulSet{}},
	{"job-batch-v1.json", "batch/v1", "Job", batchv1.Job{}},
	{"poddisruptionbudget-policy-v1.json", "policy/v1", "PodDisruptionBudget", policyv1.PodDisruptionBudget{}},
}

// TestKubernetesSchemas regenerates the Kubernetes JSON schemas from the
// Go types and fails when the files differ; -update rewrites them. The
// schemas are strict: a field the type lacks (a typo, a wrong level) is
// an error.
func TestKubernetesSchemas(t *testing.T) {
	for _, k := range kubeKinds {
		got := kubeSchema(t, k.apiVersion, k.kind, reflect.TypeOf(k.obj))
		path := filepath.Join(schemaDir, k.file)
		if *update {
			if err := os.MkdirAll(schemaDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date with k8s.io/api; regenerate with (cd deploy && go test -run TestKubernetesSchemas -update)", k.file)
		}
	}
}

func kubeSchema(t *testing.T, apiVersion, kind string, typ reflect.Type) []byte {
	t.Helper()
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(typ)
	props := root["properties"].(map[string]any)
	props["apiVersion"] = map[string]any{"type": "string", "enum": []string{apiVersion}}
	props["kind"] = map[string]any{"type": "string", "enum": []string{kind}}
	root["required"] = []string{"apiVersion", "kind", "metadata"}
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	root["description"] = kind + " " + apiVersion + ", generated from k8s.io/api by deploy/kubeschema_test.go"
	root["definitions"] = g.defs
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// schemaGen turns Go types into JSON Schema (draft 07), each struct a
// definition referenced by name.
type schemaGen struct {
	defs map[string]any
}

var (
	quantityType    = reflect.TypeOf(resource.Quantity{})
	intOrStringType = reflect.TypeOf(intstr.IntOrString{})
	timeType        = reflect.TypeOf(metav1.Time{})
	microTimeType   = reflect.TypeOf(metav1.MicroTime{})
	durationType    = reflect.TypeOf(metav1.Duration{})
	rawType         = reflect.TypeOf(runtime.RawExtension{})
	fieldsV1Type    = reflect.TypeOf(metav1.FieldsV1{})
)

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case quantityType, intOrStringType:
		return map[string]any{"type": []string{"string", "integer", "number"}}
	case timeType, microTimeType:
		return map[string]any{"type": []string{"string", "null"}}
	case durationType:
		return map[string]any{"type": "string"}
	case rawType, fieldsV1Type:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string"} // base64
		}
		return map[string]any{"type": []string{"array", "null"}, "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		name := strings.NewReplacer("/", ".", "k8s.io.", "io.k8s.").Replace(t.PkgPath()) + "." + t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // a placeholder stops recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/definitions/" + name}
	default:
		return map[string]any{}
	}
}

// object is the schema of struct type t: its JSON fields, inline ones
// merged, and no others.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if name == "" && (f.Anonymous || strings.Contains(opts, "inline")) {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				walk(ft)
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
		}
	}
	walk(t)
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}
