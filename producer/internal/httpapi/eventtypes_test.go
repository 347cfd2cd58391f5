package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/typetable"
	"github.com/hookline/hookline/producer/internal/httpapi"
	"github.com/hookline/hookline/producer/internal/typeadmin"
	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/hookline/hookline/schemas/topic"
)

// typesEnv serves the API with a live event-type catalogue, as the binary
// does; strict refuses unknown types.
func typesEnv(t *testing.T, strict bool) (*env, string) {
	t.Helper()
	e := newEnv(t, envOpts{})
	for _, s := range e.names.Specs(topic.SpecOpts{Partitions: 1}) {
		if s.Name == e.names.EventTypes() {
			e.c.CreateTopics(t, s)
		}
	}
	cat := registry.NewCatalogue()
	table := typetable.New(e.c.Opts(), e.names.EventTypes(), typetable.WithSink(cat))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = table.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer wcancel()
	if err := table.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	opts := []publish.Opt{publish.SeedBrokers(e.c.Brokers...), publish.Topic(e.source), publish.Source(testSource), publish.Registry(cat)}
	if !strict {
		opts = append(opts, publish.AllowUnknownTypes())
	}
	pub, err := publish.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	api := httpapi.New(httpapi.Config{APIKeys: []string{apiKey}}, pub, e.store,
		httpapi.WithEventTypes(typeadmin.New(pub.Kafka(), table, e.names.EventTypes(), nil, 0)))
	return e, newServer(t, api)
}

// TestEventTypesAPI registers a type through the API and validates events
// against it, one rule for CloudEvents (data) and plain JSON (the whole
// object); checks versions, 412, a schema that does not compile, and
// strict mode.
func TestEventTypesAPI(t *testing.T) {
	_, url := typesEnv(t, false)
	call := func(method, path, body string, headers ...string) response {
		t.Helper()
		return do(t, url, method, path, []byte(body), append([]string{"Authorization", "Bearer " + apiKey}, headers...)...)
	}

	// Before registering: unknown types are accepted.
	if resp := call("POST", "/v1/events", `{"type":"order.created","total":"lots"}`); resp.status != http.StatusAccepted {
		t.Fatalf("unknown type: %d %s", resp.status, resp.body)
	}
	resp := call("POST", "/v1/event-types", `{"name":"order.created","description":"An order was placed",
		"schema":{"type":"object","required":["total"],"properties":{"total":{"type":"number"}}},"example":{"total":3}}`)
	if resp.status != http.StatusCreated || resp.header.Get("ETag") != `"1"` {
		t.Fatalf("register: %d %q %s", resp.status, resp.header.Get("ETag"), resp.body)
	}
	if resp := call("POST", "/v1/event-types", `{"name":"order.created"}`); resp.status != http.StatusConflict {
		t.Fatalf("register twice: %d %s", resp.status, resp.body)
	}
	if resp := call("GET", "/v1/event-types/order.created", ""); resp.status != http.StatusOK || resp.header.Get("ETag") != `"1"` ||
		!strings.Contains(string(resp.body), `"description":"An order was placed"`) {
		t.Fatalf("get: %d %q %s", resp.status, resp.header.Get("ETag"), resp.body)
	}

	// One rule: plain JSON is checked whole, a CloudEvent by its data.
	for _, tt := range []struct {
		name, body string
		headers    []string
		status     int
	}{
		{"plain JSON, valid", `{"type":"order.created","total":3}`, nil, http.StatusAccepted},
		{"plain JSON, invalid", `{"type":"order.created","total":"lots"}`, nil, http.StatusUnprocessableEntity},
		{"structured CloudEvent, valid", `{"specversion":"1.0","id":"o1","source":"/shop","type":"order.created","data":{"total":3}}`, nil, http.StatusAccepted},
		{"structured CloudEvent, invalid", `{"specversion":"1.0","id":"o2","source":"/shop","type":"order.created","data":{"total":"x"}}`, nil, http.StatusUnprocessableEntity},
		{"binary CloudEvent, valid", `{"total":3}`, []string{"Ce-Specversion", "1.0", "Ce-Id", "o3", "Ce-Source", "/shop", "Ce-Type", "order.created"}, http.StatusAccepted},
		{"binary CloudEvent, invalid", `{}`, []string{"Ce-Specversion", "1.0", "Ce-Id", "o4", "Ce-Source", "/shop", "Ce-Type", "order.created"}, http.StatusUnprocessableEntity},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := call("POST", "/v1/events", tt.body, append([]string{"Content-Type", "application/json"}, tt.headers...)...)
			if resp.status != tt.status {
				t.Fatalf("%d %s, want %d", resp.status, resp.body, tt.status)
			}
		})
	}

	// A schema that does not compile is refused, naming the problem.
	resp = call("PUT", "/v1/event-types/broken", `{"schema":{"type":"no-such-type"}}`)
	if resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad schema: %d %s", resp.status, resp.body)
	}
	if a := resp.errorOf(t); len(a.Error.Details) != 1 || a.Error.Details[0].Field != "schema" || a.Error.Details[0].Message == "" {
		t.Fatalf("bad schema: %s", resp.body)
	}
	if resp := call("PUT", "/v1/event-types/order.created", `{"schema":{"type":"object"},"example":[]}`); resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("an example the schema refuses: %d %s", resp.status, resp.body)
	}

	// Versions and preconditions.
	if resp := call("PUT", "/v1/event-types/order.created", `{"description":"v2"}`, "If-Match", `"7"`); resp.status != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d %s", resp.status, resp.body)
	}
	if resp := call("PUT", "/v1/event-types/order.created", `{"description":"v2"}`, "If-Match", `"1"`); resp.status != http.StatusOK || resp.header.Get("ETag") != `"2"` {
		t.Fatalf("replace: %d %q %s", resp.status, resp.header.Get("ETag"), resp.body)
	}
	// Replaced without a schema: anything goes for the type now.
	if resp := call("POST", "/v1/events", `{"type":"order.created","total":"lots"}`); resp.status != http.StatusAccepted {
		t.Fatalf("after dropping the schema: %d %s", resp.status, resp.body)
	}
	if resp := call("DELETE", "/v1/event-types/order.created", "", "If-Match", `"1"`); resp.status != http.StatusPreconditionFailed {
		t.Fatalf("stale DELETE: %d %s", resp.status, resp.body)
	}
	if resp := call("DELETE", "/v1/event-types/order.created", ""); resp.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", resp.status, resp.body)
	}
	if resp := call("GET", "/v1/event-types", ""); resp.status != http.StatusOK || strings.Contains(string(resp.body), "order.created") {
		t.Fatalf("list after delete: %d %s", resp.status, resp.body)
	}
}

// TestRejectUnknownTypes: in strict mode an event of a type not in the
// catalogue is refused with 422, and accepted once the type is registered.
func TestRejectUnknownTypes(t *testing.T) {
	_, url := typesEnv(t, true)
	call := func(method, path, body string) response {
		t.Helper()
		return do(t, url, method, path, []byte(body), "Authorization", "Bearer "+apiKey)
	}
	resp := call("POST", "/v1/events", `{"type":"order.created","total":3}`)
	if resp.status != http.StatusUnprocessableEntity || !strings.Contains(string(resp.body), "order.created") {
		t.Fatalf("strict, unknown type: %d %s", resp.status, resp.body)
	}
	if resp := call("PUT", "/v1/event-types/order.created", `{}`); resp.status != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.status, resp.body)
	}
	if resp := call("POST", "/v1/events", `{"type":"order.created","total":3}`); resp.status != http.StatusAccepted {
		t.Fatalf("strict, registered type: %d %s", resp.status, resp.body)
	}
}
