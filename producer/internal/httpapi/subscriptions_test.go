package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/producer/internal/httpapi"
	"github.com/hookline/hookline/producer/internal/subadmin"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
)

type secretAnswer struct {
	Subscription record.Subscription `json:"subscription"`
	Secret       string              `json:"secret"`
}

// create makes a subscription and returns it with its secret.
func (e *env) create(t *testing.T, body string) secretAnswer {
	t.Helper()
	resp := e.do(t, "POST", "/v1/subscriptions", body)
	if resp.status != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.status, resp.body)
	}
	var a secretAnswer
	resp.json(t, &a)
	if resp.header.Get("Location") != "/v1/subscriptions/"+a.Subscription.ID {
		t.Errorf("Location = %q", resp.header.Get("Location"))
	}
	return a
}

// get reads a subscription through the API, failing unless it exists.
func (e *env) get(t *testing.T, id string) (record.Subscription, response) {
	t.Helper()
	resp := e.do(t, "GET", "/v1/subscriptions/"+id, "")
	if resp.status != http.StatusOK {
		t.Fatalf("get %s: %d %s", id, resp.status, resp.body)
	}
	var s record.Subscription
	resp.json(t, &s)
	return s, resp
}

// assertRedacted fails if an answer shows any secret key.
func assertRedacted(t *testing.T, resp response, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && bytes.Contains(resp.body, []byte(strings.TrimPrefix(s, webhook.SecretPrefix))) {
			t.Fatalf("answer reveals a secret: %s", resp.body)
		}
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	e := newEnv(t, envOpts{})
	created := e.create(t, `{"url":"https://hooks.example.com/in?token=abc","event_types":["payment.*","payment_success"],
		"filter":"data.amount >= 10.0","headers":{"X-Team":"billing"},"metadata":{"owner":"ops"}}`)
	sub := created.Subscription
	if !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("secret %q", created.Secret)
	}
	if _, err := webhook.ParseSecret(created.Secret); err != nil {
		t.Fatalf("secret does not parse: %v", err)
	}
	if !strings.HasPrefix(sub.ID, "sub_") || sub.State != "active" || sub.Format != "standard" || sub.CreatedAt.IsZero() {
		t.Fatalf("created %+v", sub)
	}
	// Read-your-writes: the table already has it, with the real secret.
	stored, ok := e.table.Get(sub.ID)
	if !ok || len(stored.Secrets) != 1 || stored.Secrets[0].Key != created.Secret {
		t.Fatalf("table after create: %+v %v", stored, ok)
	}
	got, resp := e.get(t, sub.ID)
	assertRedacted(t, resp, created.Secret)
	if got.URL != sub.URL || got.Filter != sub.Filter || got.Headers["X-Team"] != "billing" || len(got.Secrets) != 1 {
		t.Fatalf("get: %+v", got)
	}

	// PATCH merges: url replaced, headers merged, metadata reset by null.
	resp = e.do(t, "PATCH", "/v1/subscriptions/"+sub.ID, `{"url":"https://hooks.example.com/v2","headers":{"X-Env":"prod"},"metadata":null,"rate_limit":5,"breaker_failures":-1,"breaker_open_ms":90000}`)
	if resp.status != 200 {
		t.Fatalf("patch: %d %s", resp.status, resp.body)
	}
	got, _ = e.get(t, sub.ID)
	if got.URL != "https://hooks.example.com/v2" || got.Headers["X-Team"] != "billing" || got.Headers["X-Env"] != "prod" ||
		got.Metadata != nil || got.RateLimit != 5 || got.Filter != sub.Filter || !got.UpdatedAt.After(sub.UpdatedAt) ||
		got.BreakerFailures != -1 || got.BreakerOpenMillis != 90000 {
		t.Fatalf("after patch: %+v", got)
	}
	// PUT replaces every writable field; the secret stays.
	resp = e.do(t, "PUT", "/v1/subscriptions/"+sub.ID, `{"url":"https://hooks.example.com/v3","event_types":["order.*"],"format":"raw"}`)
	if resp.status != 200 {
		t.Fatalf("put: %d %s", resp.status, resp.body)
	}
	got, _ = e.get(t, sub.ID)
	if got.URL != "https://hooks.example.com/v3" || got.Format != "raw" || got.Filter != "" || got.Headers != nil || got.RateLimit != 0 {
		t.Fatalf("after put: %+v", got)
	}
	if stored, _ := e.table.Get(sub.ID); stored.Secrets[0].Key != created.Secret {
		t.Fatal("put changed the secret")
	}

	// Pause and resume.
	resp = e.do(t, "POST", "/v1/subscriptions/"+sub.ID+"/pause", `{"reason":"maintenance"}`)
	if got, _ = e.get(t, sub.ID); resp.status != 200 || got.State != "paused" || got.StateReason != "maintenance" {
		t.Fatalf("pause: %d %+v", resp.status, got)
	}
	resp = e.do(t, "POST", "/v1/subscriptions/"+sub.ID+"/resume", "")
	if got, _ = e.get(t, sub.ID); resp.status != 200 || got.State != "active" || got.StateReason != "" {
		t.Fatalf("resume: %d %+v", resp.status, got)
	}

	// Rotation: a new secret first, the old one expiring after the grace.
	before := time.Now()
	resp = e.do(t, "POST", "/v1/subscriptions/"+sub.ID+"/rotate-secret", "")
	if resp.status != 200 {
		t.Fatalf("rotate: %d %s", resp.status, resp.body)
	}
	var rotated secretAnswer
	resp.json(t, &rotated)
	assertRedacted(t, resp, created.Secret)
	stored, _ = e.table.Get(sub.ID)
	if len(stored.Secrets) != 2 || stored.Secrets[0].Key != rotated.Secret || stored.Secrets[1].Key != created.Secret ||
		stored.Secrets[0].ExpiresAt != nil || stored.Secrets[1].ExpiresAt == nil {
		t.Fatalf("secrets after rotation: %+v", stored.Secrets)
	}
	if exp := *stored.Secrets[1].ExpiresAt; exp.Before(before.Add(24*time.Hour-time.Minute)) || exp.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("old secret expires at %v, want about 24h from now", exp)
	}
	// Both secrets sign now; only the new one once the old expired.
	if n := len(stored.SigningSecrets(time.Now())); n != 2 {
		t.Fatalf("%d signing secrets during the grace period", n)
	}
	if n := len(stored.SigningSecrets(time.Now().Add(25 * time.Hour))); n != 1 {
		t.Fatalf("%d signing secrets after the grace period", n)
	}
	// A second rotation with no grace ends the older ones at once.
	resp = e.do(t, "POST", "/v1/subscriptions/"+sub.ID+"/rotate-secret", `{"grace_seconds":0}`)
	resp.json(t, &rotated)
	stored, _ = e.table.Get(sub.ID)
	if resp.status != 200 || len(stored.SigningSecrets(time.Now().Add(time.Second))) != 1 || stored.Secrets[0].Key != rotated.Secret {
		t.Fatalf("rotation without grace: %d %+v", resp.status, stored.Secrets)
	}

	// Test event: a delivery for this subscription alone.
	resp = e.do(t, "POST", "/v1/subscriptions/"+sub.ID+"/test", `{"data":{"hello":"world"}}`)
	if resp.status != http.StatusAccepted {
		t.Fatalf("test: %d %s", resp.status, resp.body)
	}
	var sent struct {
		EventID    string `json:"event_id"`
		DeliveryID string `json:"delivery_id"`
	}
	resp.json(t, &sent)
	recs := consume(t, e.c, e.names.Deliveries(), 1)
	d, err := record.DecodeDelivery(recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if string(recs[0].Key) != sub.ID || d.SubscriptionID != sub.ID || d.ID != sent.DeliveryID || d.Event.ID != sent.EventID ||
		d.Event.Type != subadmin.TestEventType || string(d.Event.Data) != `{"hello":"world"}` ||
		record.HeaderValue(recs[0], header.EventType) != subadmin.TestEventType {
		t.Fatalf("test delivery %+v key %q", d, recs[0].Key)
	}
	if n := count(t, e.c, e.source); n != 0 {
		t.Fatalf("the test event reached the source topic (%d records): the router would fan it out", n)
	}

	// Delete, then it is gone.
	if resp = e.do(t, "DELETE", "/v1/subscriptions/"+sub.ID, ""); resp.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.status, resp.body)
	}
	if resp = e.do(t, "GET", "/v1/subscriptions/"+sub.ID, ""); resp.status != 404 {
		t.Fatalf("get after delete: %d %s", resp.status, resp.body)
	}
	if _, ok := e.table.Get(sub.ID); ok {
		t.Fatal("table still has the deleted subscription")
	}
}

func TestSubscriptionList(t *testing.T) {
	e := newEnv(t, envOpts{})
	var secrets []string
	for _, id := range []string{"c", "a", "b"} {
		secrets = append(secrets, e.create(t, `{"id":"`+id+`","url":"http://127.0.0.1:3000/webhook","event_types":["*"]}`).Secret)
	}
	var page struct {
		Subscriptions []record.Subscription `json:"subscriptions"`
		NextAfter     string                `json:"next_after"`
	}
	resp := e.do(t, "GET", "/v1/subscriptions?limit=2", "")
	resp.json(t, &page)
	assertRedacted(t, resp, secrets...)
	if resp.status != 200 || len(page.Subscriptions) != 2 || page.Subscriptions[0].ID != "a" || page.Subscriptions[1].ID != "b" || page.NextAfter != "b" {
		t.Fatalf("first page: %d %s", resp.status, resp.body)
	}
	page.NextAfter = ""
	resp = e.do(t, "GET", "/v1/subscriptions?limit=2&after=b", "")
	resp.json(t, &page)
	if len(page.Subscriptions) != 1 || page.Subscriptions[0].ID != "c" || page.NextAfter != "" {
		t.Fatalf("second page: %s", resp.body)
	}
	if resp = e.do(t, "GET", "/v1/subscriptions?limit=0", ""); resp.status != 422 {
		t.Fatalf("limit=0: %d", resp.status)
	}
}

func TestSubscriptionRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	existing := e.create(t, `{"id":"sub_1","url":"https://example.com/hook","event_types":["*"]}`).Subscription
	tests := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"ftp URL", "POST", "/v1/subscriptions", `{"url":"ftp://example.com/x","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"URL without host", "POST", "/v1/subscriptions", `{"url":"https:///x","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"no event types", "POST", "/v1/subscriptions", `{"url":"https://example.com"}`, 422, "validation_failed", "event_types"},
		{"bad pattern", "POST", "/v1/subscriptions", `{"url":"https://example.com","event_types":["pay*ment"]}`, 422, "validation_failed", "event_types"},
		{"filter does not compile", "POST", "/v1/subscriptions", `{"url":"https://example.com","event_types":["*"],"filter":"data.amount >"}`, 422, "validation_failed", "filter"},
		{"filter not boolean", "POST", "/v1/subscriptions", `{"url":"https://example.com","event_types":["*"],"filter":"1 + 2"}`, 422, "validation_failed", "filter"},
		{"unknown format", "POST", "/v1/subscriptions", `{"url":"https://example.com","event_types":["*"],"format":"xml"}`, 422, "validation_failed", "format"},
		{"timeout too long", "POST", "/v1/subscriptions", `{"url":"https://example.com","event_types":["*"],"timeout_ms":600000}`, 422, "validation_failed", "timeout_ms"},
		{"reserved header", "POST", "/v1/subscriptions", `{"url":"https://example.com","event_types":["*"],"headers":{"webhook-id":"x"}}`, 422, "validation_failed", "headers"},
		{"bad id", "POST", "/v1/subscriptions", `{"id":"has space","url":"https://example.com","event_types":["*"]}`, 422, "validation_failed", "id"},
		{"unknown field", "POST", "/v1/subscriptions", `{"url":"https://example.com","event_types":["*"],"colour":"red"}`, 422, "validation_failed", "colour"},
		{"secrets are read-only", "POST", "/v1/subscriptions", `{"url":"https://example.com","event_types":["*"],"secrets":[{"key":"whsec_x"}]}`, 422, "validation_failed", "secrets"},
		{"wrong type", "POST", "/v1/subscriptions", `{"url":"https://example.com","event_types":"*"}`, 422, "validation_failed", "event_types"},
		{"malformed JSON", "POST", "/v1/subscriptions", `{"url":`, 400, "malformed_json", ""},
		{"duplicate id", "POST", "/v1/subscriptions", `{"id":"sub_1","url":"https://example.com","event_types":["*"]}`, 409, "conflict", ""},
		{"patch bad URL", "PATCH", "/v1/subscriptions/sub_1", `{"url":"javascript:alert(1)"}`, 422, "validation_failed", "url"},
		{"patch state", "PATCH", "/v1/subscriptions/sub_1", `{"state":"active"}`, 422, "validation_failed", "state"},
		{"patch id", "PATCH", "/v1/subscriptions/sub_1", `{"id":"sub_2"}`, 422, "validation_failed", "id"},
		{"put without url", "PUT", "/v1/subscriptions/sub_1", `{"event_types":["*"]}`, 422, "validation_failed", "url"},
		{"rotate with a negative grace", "POST", "/v1/subscriptions/sub_1/rotate-secret", `{"grace_seconds":-1}`, 422, "validation_failed", "grace_seconds"},
		{"rotate with an unknown field", "POST", "/v1/subscriptions/sub_1/rotate-secret", `{"grace":1}`, 422, "validation_failed", ""},
		{"get missing", "GET", "/v1/subscriptions/nope", ``, 404, "not_found", ""},
		{"patch missing", "PATCH", "/v1/subscriptions/nope", `{"url":"https://example.com"}`, 404, "not_found", ""},
		{"delete missing", "DELETE", "/v1/subscriptions/nope", ``, 404, "not_found", ""},
		{"rotate missing", "POST", "/v1/subscriptions/nope/rotate-secret", ``, 404, "not_found", ""},
		{"pause missing", "POST", "/v1/subscriptions/nope/pause", ``, 404, "not_found", ""},
		{"test missing", "POST", "/v1/subscriptions/nope/test", ``, 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(t, tt.method, tt.path, tt.body)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.status, resp.body)
			}
			a := resp.errorOf(t)
			if a.Error.Code != tt.code {
				t.Errorf("code %q, want %q: %s", a.Error.Code, tt.code, resp.body)
			}
			if tt.field != "" {
				found := false
				for _, d := range a.Error.Details {
					found = found || (d.Field == tt.field && d.Message != "")
				}
				if !found {
					t.Errorf("no detail names %q: %s", tt.field, resp.body)
				}
			}
		})
	}
	// Nothing refused was written.
	got, _ := e.get(t, "sub_1")
	if !got.UpdatedAt.Equal(existing.UpdatedAt) || got.URL != existing.URL {
		t.Fatalf("a refused request changed the subscription: %+v", got)
	}
	if n := count(t, e.c, e.names.Subscriptions()); n != 1 {
		t.Fatalf("%d subscription records, want 1", n)
	}
}

// loading is a subscription table that has not caught up yet.
type loading struct{}

func (loading) Get(string) (record.Subscription, bool) { return record.Subscription{}, false }
func (loading) All() []*record.Subscription            { return nil }
func (loading) Check() error                           { return subtable.ErrNotReady }

func TestSubscriptionsNotReady(t *testing.T) {
	e := newEnv(t, envOpts{})
	store := subadmin.New(e.pub.Kafka(), loading{}, e.names)
	url := newServer(t, httpapi.New(httpapi.Config{APIKeys: []string{apiKey}, RetryAfter: 2 * time.Second}, e.pub, store,
		httpapi.WithCheck("subscriptions", loading{}.Check)))
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/v1/subscriptions", ""},
		{"GET", "/v1/subscriptions/a", ""},
		{"POST", "/v1/subscriptions", `{"url":"https://example.com","event_types":["*"]}`},
		{"PATCH", "/v1/subscriptions/a", `{"url":"https://example.com"}`},
		{"DELETE", "/v1/subscriptions/a", ""},
		{"POST", "/v1/subscriptions/a/rotate-secret", ""},
	} {
		resp := do(t, url, req.method, req.path, []byte(req.body), "Authorization", "Bearer "+apiKey)
		if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") != "2" || resp.errorOf(t).Error.Code != "not_ready" {
			t.Errorf("%s %s: %d %v %s, want 503 not_ready", req.method, req.path, resp.status, resp.header, resp.body)
		}
	}
	if resp := do(t, url, "GET", "/readyz", nil); resp.status != http.StatusServiceUnavailable || !strings.Contains(string(resp.body), "subscriptions") {
		t.Errorf("/readyz: %d %s", resp.status, resp.body)
	}
}

// TestIdempotencyKeyOnOtherPosts: POSTs other than /v1/events honour
// Idempotency-Key too. A retried create answers the same subscription
// (with its secret redacted: it is shown once) and creates no second one;
// the same key with another body is refused with 422; a refusal is not
// kept, so a fixed request may reuse its key.
func TestIdempotencyKeyOnOtherPosts(t *testing.T) {
	e := newEnv(t, envOpts{})
	body := `{"url":"https://hooks.example.com/idem","event_types":["payment.*"]}`
	first := e.do(t, "POST", "/v1/subscriptions", body, "Idempotency-Key", "create-1")
	if first.status != http.StatusCreated {
		t.Fatalf("create: %d %s", first.status, first.body)
	}
	var created struct {
		Subscription record.Subscription `json:"subscription"`
		Secret       string              `json:"secret"`
	}
	first.json(t, &created)
	again := e.do(t, "POST", "/v1/subscriptions", body, "Idempotency-Key", "create-1")
	var replayed struct {
		Subscription record.Subscription `json:"subscription"`
		Secret       string              `json:"secret"`
	}
	again.json(t, &replayed)
	if again.status != http.StatusCreated || again.header.Get("Idempotent-Replayed") != "true" ||
		replayed.Subscription.ID != created.Subscription.ID {
		t.Fatalf("retried create: %d %s %s, want the first answer replayed", again.status, again.header, again.body)
	}
	assertRedacted(t, again, created.Secret)
	list := e.do(t, "GET", "/v1/subscriptions", "")
	if n := bytes.Count(list.body, []byte("hooks.example.com/idem")); n != 1 {
		t.Errorf("%d subscriptions after a retried create, want 1", n)
	}
	if other := e.do(t, "POST", "/v1/subscriptions", `{"url":"https://hooks.example.com/other","event_types":["*"]}`,
		"Idempotency-Key", "create-1"); other.status != http.StatusUnprocessableEntity {
		t.Errorf("another body under the same key: %d %s, want 422", other.status, other.body)
	}
	bad := `{"url":"not a url","event_types":["*"]}`
	if r := e.do(t, "POST", "/v1/subscriptions", bad, "Idempotency-Key", "create-2"); r.status/100 != 4 {
		t.Fatalf("bad create: %d", r.status)
	}
	fixed := `{"url":"https://hooks.example.com/fixed","event_types":["*"]}`
	if r := e.do(t, "POST", "/v1/subscriptions", fixed, "Idempotency-Key", "create-2"); r.status == http.StatusUnprocessableEntity {
		t.Errorf("a fixed request reusing the key of a refused one: %d %s", r.status, r.body)
	}
}
