package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/producer/api"
	"github.com/hookline/hookline/producer/internal/httpapi"
)

// TestOpenAPIMatchesRoutes checks both ways that the document's paths and
// methods are the routes the server registers, that every $ref resolves,
// and that exactly the unauthenticated routes opt out of security.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI  string                                `json:"openapi"`
		Security []map[string][]string                 `json:"security"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if len(doc.Security) == 0 {
		t.Fatal("no global security requirement")
	}
	methods := map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}
	var documented []string
	public := map[string]bool{}
	for path, item := range doc.Paths {
		for m, raw := range item {
			if !methods[m] {
				continue // parameters, summary...
			}
			route := strings.ToUpper(m) + " " + path
			documented = append(documented, route)
			var op struct {
				Security  *[]map[string][]string     `json:"security"`
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %v", route, err)
			}
			if len(op.Responses) == 0 {
				t.Errorf("%s documents no responses", route)
			}
			if op.Security != nil && len(*op.Security) == 0 {
				public[route] = true
			}
		}
	}
	sort.Strings(documented)

	srv := httpapi.New(httpapi.Config{APIKeys: []string{"k"}}, nil, nil)
	registered := srv.Routes()
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(registered, r) {
			t.Errorf("openapi.json documents %s, which the server does not serve", r)
		}
	}
	// What the document calls public answers without a key; the rest 401.
	h := srv.Handler()
	for _, r := range registered {
		method, path, _ := strings.Cut(r, " ")
		path = strings.ReplaceAll(path, "{id}", "x")
		req, _ := http.NewRequest(method, path, strings.NewReader(""))
		rec := httptest.NewRecorder()
		if !public[r] {
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s without a key: %d, want 401 (the document says it needs auth)", r, rec.Code)
			}
		} else if strings.HasPrefix(path, "/v1/") {
			t.Errorf("%s is documented as public", r)
		}
	}

	// Every $ref points at something in the document.
	var whole any
	_ = json.Unmarshal(api.OpenAPI, &whole)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && resolve(whole, ref) == nil {
				t.Errorf("$ref %q does not resolve", ref)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(whole)
}

func resolve(doc any, ref string) any {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	cur := doc
	for _, tok := range strings.Split(p, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]; !ok {
			return nil
		}
	}
	return cur
}

func TestOpenAPIServed(t *testing.T) {
	srv := httpapi.New(httpapi.Config{}, nil, nil)
	req, _ := http.NewRequest("GET", "/openapi.json", nil)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != string(api.OpenAPI) {
		t.Fatalf("GET /openapi.json: %d %q, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
}
