package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/hookline/hookline/producer/api"
	"github.com/hookline/hookline/producer/internal/httpapi"
)

// openAPIRouter is openapi.json loaded, validated and routable, once per
// test binary.
var openAPIRouter = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	// Match any host: the test servers listen on random ports.
	doc.Servers = nil
	return gorillamux.NewRouter(doc)
})

// conforming wraps h so that every answer it gives is validated against
// openapi.json with kin-openapi's openapi3filter: the status must be one
// the operation documents, and the headers and body must match its
// schema. Requests for no documented operation (an unknown path or
// method) must still get the JSON error shape. Every API test serves
// through it (newEnv, newServer), so each answer they provoke is checked.
func conforming(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	router, err := openAPIRouter()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		res := rec.Result()
		body := rec.Body.Bytes()
		if err := checkAnswer(router, r, res, body); err != nil {
			t.Errorf("%s %s answered %d, which openapi.json does not allow: %v\nbody: %s", r.Method, r.URL.Path, res.StatusCode, err, body)
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
	})
}

// checkAnswer validates one answer to r against the document.
func checkAnswer(router routers.Router, r *http.Request, res *http.Response, body []byte) error {
	// The router matches on the URL the server saw; give it an absolute one.
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	req := r.Clone(r.Context())
	req.URL = &u
	route, params, err := router.FindRoute(req)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		var shape struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if jerr := json.Unmarshal(body, &shape); jerr != nil || shape.Error.Code == "" || shape.Error.Message == "" {
			return errors.New("an undocumented route must still answer the JSON error shape")
		}
		return nil
	}
	if err != nil {
		return err
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(r.Context(), in)
}

// TestConformingCatchesDrift checks the validator itself: an answer whose
// status the document does not list, and one whose body breaks its
// schema, are reported; a documented one is not.
func TestConformingCatchesDrift(t *testing.T) {
	router, err := openAPIRouter()
	if err != nil {
		t.Fatal(err)
	}
	get := httptest.NewRequest("GET", "http://api.test/v1/subscriptions/sub_1", nil)
	header := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"documented error", 404, `{"error":{"code":"not_found","message":"no such subscription"}}`, true},
		{"undocumented status", 418, `{"error":{"code":"teapot","message":"short and stout"}}`, false},
		{"body off schema", 404, `{"error":"not found"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkAnswer(router, get, &http.Response{StatusCode: tc.status, Header: header}, []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Errorf("checkAnswer = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestEveryRouteDocumentsErrors: every /v1 operation documents 500 (an
// unexpected failure can happen anywhere) and every operation that takes
// a body documents 413 (every body is read within MaxRequestBytes).
func TestEveryRouteDocumentsErrors(t *testing.T) {
	router, err := openAPIRouter()
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range httpapi.New(httpapi.Config{}, nil, nil).Routes() {
		method, path, _ := strings.Cut(pattern, " ")
		req := httptest.NewRequest(method, "http://api.test"+strings.NewReplacer("{id}", "x", "{name}", "x").Replace(path), nil)
		route, _, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s: %v", pattern, err)
			continue
		}
		responses := route.Operation.Responses
		if strings.HasPrefix(path, "/v1/") && responses.Value("500") == nil {
			t.Errorf("%s documents no 500", pattern)
		}
		if (method == "POST" || method == "PUT" || method == "PATCH") && responses.Value("413") == nil {
			t.Errorf("%s takes a body but documents no 413", pattern)
		}
	}
}

// TestErrorShapeEverywhere: a method a path does not serve is a JSON 405
// naming the allowed methods, and an unknown path a JSON 404, like every
// other error of the API (the mux alone answers them in plain text).
func TestErrorShapeEverywhere(t *testing.T) {
	url := newServer(t, httpapi.New(httpapi.Config{APIKeys: []string{apiKey}}, nil, nil))
	cases := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/v1/events", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"DELETE", "/v1/event-types", http.StatusMethodNotAllowed, "method_not_allowed", "GET, POST"},
		{"GET", "/v1/nothing-here", http.StatusNotFound, "not_found", ""},
	}
	for _, tc := range cases {
		resp := do(t, url, tc.method, tc.path, nil, "Authorization", "Bearer "+apiKey)
		if resp.status != tc.status || resp.header.Get("Content-Type") != "application/json" || resp.errorOf(t).Error.Code != tc.code {
			t.Errorf("%s %s: %d %q %s, want %d JSON %s", tc.method, tc.path, resp.status, resp.header.Get("Content-Type"), resp.body, tc.status, tc.code)
		}
		if got := resp.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

// TestReadyzHidesCauses: the public /readyz names a failing check but not
// its error, which carries broker addresses.
func TestReadyzHidesCauses(t *testing.T) {
	cause := errors.New("dial tcp 10.1.2.3:9092: connect: connection refused")
	url := newServer(t, httpapi.New(httpapi.Config{APIKeys: []string{apiKey}}, nil, nil,
		httpapi.WithCheck("kafka", func() error { return cause })))
	resp := do(t, url, "GET", "/readyz", nil)
	var got struct {
		Status string            `json:"status"`
		Failed map[string]string `json:"failed"`
	}
	resp.json(t, &got)
	if resp.status != http.StatusServiceUnavailable || got.Status != "not ready" || got.Failed["kafka"] == "" {
		t.Fatalf("/readyz = %d %s, want 503 naming the kafka check", resp.status, resp.body)
	}
	if strings.Contains(string(resp.body), "10.1.2.3") || strings.Contains(string(resp.body), "dial tcp") {
		t.Errorf("/readyz on the public port shows the cause: %s", resp.body)
	}
}

// TestOversizeBodies: every POST reads its body within MaxRequestBytes, so
// each answers an oversize one 413 in the JSON error shape, as the
// document says (the conforming server checks the answer against it).
func TestOversizeBodies(t *testing.T) {
	url := newServer(t, httpapi.New(httpapi.Config{APIKeys: []string{apiKey}, MaxRequestBytes: 1024}, nil, nil))
	body := []byte(`{"pad":"` + strings.Repeat("x", 2048) + `"}`)
	for _, pattern := range httpapi.New(httpapi.Config{}, nil, nil).Routes() {
		method, path, _ := strings.Cut(pattern, " ")
		if method != "POST" || path == "/v1/events" { // ingest has tests of its own
			continue
		}
		path = strings.NewReplacer("{id}", "sub_1", "{name}", "x").Replace(path)
		resp := do(t, url, method, path, body, "Authorization", "Bearer "+apiKey, "Idempotency-Key", "k1")
		if resp.status != http.StatusRequestEntityTooLarge || resp.errorOf(t).Error.Code != "request_too_large" {
			t.Errorf("%s with a 2 KiB body over a 1 KiB limit: %d %s, want 413 request_too_large", pattern, resp.status, resp.body)
		}
	}
}
