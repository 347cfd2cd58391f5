package httpapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/producer/internal/httpapi"
	"github.com/hookline/hookline/producer/internal/subadmin"
)

// TestSubscriptionPreconditions checks that subscriptions carry a version,
// returned as ETag, and that PUT, PATCH and DELETE with a stale If-Match get
// 412 and change nothing, also when the change that made it stale was made
// through another replica (a second API with its own table).
func TestSubscriptionPreconditions(t *testing.T) {
	e := newEnv(t, envOpts{})
	created := e.create(t, `{"url":"https://example.com/hook","event_types":["payment.*"]}`)
	id := created.Subscription.ID
	if created.Subscription.Revision != 1 {
		t.Fatalf("created at version %d, want 1", created.Subscription.Revision)
	}
	sub, resp := e.get(t, id)
	if etag := resp.header.Get("ETag"); etag != `"1"` || sub.Revision != 1 {
		t.Fatalf("GET: ETag %q version %d, want \"1\" and 1", etag, sub.Revision)
	}

	path := "/v1/subscriptions/" + id
	resp = e.do(t, "PATCH", path, `{"rate_limit":5}`, "If-Match", `"1"`)
	if resp.status != http.StatusOK || resp.header.Get("ETag") != `"2"` {
		t.Fatalf("PATCH with a fresh If-Match: %d ETag %q %s", resp.status, resp.header.Get("ETag"), resp.body)
	}
	stale := func(t *testing.T, url, method, body, tag string) {
		t.Helper()
		resp := do(t, url, method, path, []byte(body), "Authorization", "Bearer "+apiKey, "If-Match", tag)
		if resp.status != http.StatusPreconditionFailed {
			t.Fatalf("%s with If-Match %s: %d %s, want 412", method, tag, resp.status, resp.body)
		}
		if a := resp.errorOf(t); a.Error.Code != "precondition_failed" {
			t.Fatalf("%s: code %q, want precondition_failed", method, a.Error.Code)
		}
	}
	stale(t, e.srv.URL, "PATCH", `{"rate_limit":7}`, `"1"`)
	stale(t, e.srv.URL, "PUT", `{"url":"https://evil.example/hook","event_types":["*"]}`, `"1"`)
	stale(t, e.srv.URL, "DELETE", "", `"1"`)
	stale(t, e.srv.URL, "PATCH", `{"rate_limit":7}`, `W/"2"`) // If-Match compares strongly
	if sub, _ := e.get(t, id); sub.Revision != 2 || sub.RateLimit != 5 || sub.URL != "https://example.com/hook" {
		t.Fatalf("refused writes changed the subscription: %+v", sub)
	}

	// A second replica: its own table and store on the same topic.
	table := subtable.New(e.c.Opts(), e.names.Subscriptions())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = table.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	other := newServer(t, httpapi.New(httpapi.Config{APIKeys: []string{apiKey}}, e.pub, subadmin.New(e.pub.Kafka(), table, e.names)))

	// A rotation on the first replica, then a PATCH on the second by a
	// client that read the subscription before the rotation: refused, so
	// the new secret is not reverted.
	resp = e.do(t, "POST", path+"/rotate-secret", `{}`)
	if resp.status != http.StatusOK || resp.header.Get("ETag") != `"3"` {
		t.Fatalf("rotate: %d ETag %q %s", resp.status, resp.header.Get("ETag"), resp.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if got, ok := table.Get(id); ok && got.Revision == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second replica's table never read the rotation")
		}
		time.Sleep(10 * time.Millisecond) // test code: polling another replica's table
	}
	stale(t, other, "PATCH", `{"rate_limit":9}`, `"2"`)
	resp = do(t, other, "PATCH", path, []byte(`{"rate_limit":9}`), "Authorization", "Bearer "+apiKey, "If-Match", `"3"`)
	if resp.status != http.StatusOK || resp.header.Get("ETag") != `"4"` {
		t.Fatalf("PATCH on the second replica with the current ETag: %d %q %s", resp.status, resp.header.Get("ETag"), resp.body)
	}
	if sub, _ := e.get(t, id); len(sub.Secrets) != 2 || sub.RateLimit != 9 {
		t.Fatalf("after the rotation and the PATCH: %d secrets, rate limit %v; want 2 and 9", len(sub.Secrets), sub.RateLimit)
	}
	stale(t, e.srv.URL, "DELETE", "", `"3"`)
	if resp := e.do(t, "DELETE", path, "", "If-Match", `"4"`); resp.status != http.StatusNoContent {
		t.Fatalf("DELETE with the current ETag: %d %s", resp.status, resp.body)
	}
}
