package record_test

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
)

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, eventType string
		want               bool
	}{
		{"*", "payment.succeeded", true},
		{"*", "payment_success", true},
		{"*", "", true},
		{"payment.*", "payment.succeeded", true},
		{"payment.*", "payment.refund.created", true},
		{"payment.*", "payment", false},
		{"payment.*", "payments.succeeded", false},
		{"payment.*", "order.payment.succeeded", false},
		{"payment.succeeded", "payment.succeeded", true},
		{"payment.succeeded", "payment.succeeded.v2", false},
		{"payment.succeeded", "Payment.Succeeded", false},
		{"payment_success", "payment_success", true},
		{"payment_success", "payment_successful", false},
		{"order.status_changed", "order.status_changed", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.eventType, func(t *testing.T) {
			if got := record.MatchPattern(tt.pattern, tt.eventType); got != tt.want {
				t.Fatalf("MatchPattern(%q, %q) = %v, want %v", tt.pattern, tt.eventType, got, tt.want)
			}
		})
	}
}

func TestValidatePattern(t *testing.T) {
	tests := []struct {
		pattern string
		ok      bool
	}{
		{"*", true},
		{"payment.*", true},
		{"payment.succeeded", true},
		{"payment_success", true},
		{"com.example.order-v2.*", true},
		{"", false},
		{"payment*", false},
		{"*.succeeded", false},
		{"payment.*.created", false},
		{"**", false},
		{"payment .succeeded", false},
		{"payment/succeeded", false},
		{"payment.**", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			err := record.ValidatePattern(tt.pattern)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidatePattern(%q) = %v, want ok=%v", tt.pattern, err, tt.ok)
			}
			if err != nil {
				assertFieldError(t, err, "event_types")
			}
		})
	}
}

func assertFieldError(t *testing.T, err error, field string) {
	t.Helper()
	var fe *record.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want *record.FieldError", err, err)
	}
	if fe.Field != field {
		t.Errorf("Field = %q, want %q (%v)", fe.Field, field, err)
	}
	if !errors.Is(err, record.ErrInvalid) {
		t.Errorf("err = %v, want errors.Is ErrInvalid", err)
	}
	if !strings.HasPrefix(err.Error(), field+": ") {
		t.Errorf("Error() = %q does not name %q first", err, field)
	}
}

func TestSubscriptionValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*record.Subscription)
		field  string // "" means valid
	}{
		{"valid", func(*record.Subscription) {}, ""},
		{"defaults left empty", func(s *record.Subscription) {
			s.Format, s.State, s.MaxInFlight, s.TimeoutMillis, s.RateLimit = "", "", 0, 0, 0
		}, ""},
		{"plain http", func(s *record.Subscription) { s.URL = "http://localhost:3000/webhook" }, ""},
		{"max timeout", func(s *record.Subscription) { s.TimeoutMillis = 60000 }, ""},
		{"ce- header with standard format", func(s *record.Subscription) { s.Headers = map[string]string{"ce-tenant": "a"} }, ""},
		{"empty id", func(s *record.Subscription) { s.ID = "" }, "id"},
		{"id with slash", func(s *record.Subscription) { s.ID = "a/b" }, "id"},
		{"id too long", func(s *record.Subscription) { s.ID = strings.Repeat("a", 129) }, "id"},
		{"no URL", func(s *record.Subscription) { s.URL = "" }, "url"},
		{"relative URL", func(s *record.Subscription) { s.URL = "/webhook" }, "url"},
		{"ftp URL", func(s *record.Subscription) { s.URL = "ftp://example.com/x" }, "url"},
		{"URL without host", func(s *record.Subscription) { s.URL = "https:///webhook" }, "url"},
		{"URL with fragment", func(s *record.Subscription) { s.URL = "https://example.com/hook#x" }, "url"},
		{"URL with bad escape", func(s *record.Subscription) { s.URL = "https://example.com/%zz" }, "url"},
		{"no event types", func(s *record.Subscription) { s.EventTypes = nil }, "event_types"},
		{"bad pattern", func(s *record.Subscription) { s.EventTypes = []string{"payment.*", "pay*"} }, "event_types"},
		{"unknown format", func(s *record.Subscription) { s.Format = "xml" }, "format"},
		{"no secrets", func(s *record.Subscription) { s.Secrets = nil }, "secrets"},
		{"bad second secret", func(s *record.Subscription) { s.Secrets = append(s.Secrets[:1], record.Secret{Key: "whsec_short"}) }, "secrets[1]"},
		{"negative rate", func(s *record.Subscription) { s.RateLimit = -1 }, "rate_limit"},
		{"NaN rate", func(s *record.Subscription) { s.RateLimit = math.NaN() }, "rate_limit"},
		{"infinite rate", func(s *record.Subscription) { s.RateLimit = math.Inf(1) }, "rate_limit"},
		{"negative in-flight", func(s *record.Subscription) { s.MaxInFlight = -1 }, "max_in_flight"},
		{"negative timeout", func(s *record.Subscription) { s.TimeoutMillis = -1 }, "timeout_ms"},
		{"timeout over max", func(s *record.Subscription) { s.TimeoutMillis = 60001 }, "timeout_ms"},
		// 9223372036855 ms overflows a Duration and used to wrap into range.
		{"timeout overflowing a Duration", func(s *record.Subscription) { s.TimeoutMillis = 9223372036855 }, "timeout_ms"},
		{"unknown state", func(s *record.Subscription) { s.State = "deleted" }, "state"},
		{"webhook- header", func(s *record.Subscription) { s.Headers = map[string]string{"Webhook-Signature": "x"} }, "headers"},
		{"content-type header", func(s *record.Subscription) { s.Headers = map[string]string{"Content-Type": "text/plain"} }, "headers"},
		{"host header", func(s *record.Subscription) { s.Headers = map[string]string{"HOST": "evil.example"} }, "headers"},
		{"transfer-encoding header", func(s *record.Subscription) { s.Headers = map[string]string{"Transfer-Encoding": "chunked"} }, "headers"},
		{"ce- header with binary format", func(s *record.Subscription) {
			s.Format = record.FormatCloudEventsBinary
			s.Headers = map[string]string{"ce-id": "x"}
		}, "headers"},
		{"header name with space", func(s *record.Subscription) { s.Headers = map[string]string{"X Shop": "a"} }, "headers"},
		{"empty header name", func(s *record.Subscription) { s.Headers = map[string]string{"": "a"} }, "headers"},
		{"header value with newline", func(s *record.Subscription) {
			s.Headers = map[string]string{"X-Shop": "a\r\nX-Injected: 1"}
		}, "headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixedSubscription()
			tt.modify(&s)
			err := s.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			assertFieldError(t, err, tt.field)
		})
	}
}

func TestSigningSecrets(t *testing.T) {
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	s := record.Subscription{Secrets: []record.Secret{
		{Key: secretA},                               // no expiry
		{Key: secretB, ExpiresAt: at(time.Hour)},     // rotating out later
		{Key: secretB, ExpiresAt: at(-time.Hour)},    // expired
		{Key: secretA, ExpiresAt: at(0)},             // expires now: expired
		{Key: "whsec_not-base64!", ExpiresAt: nil},   // unparsable
		{Key: strings.TrimPrefix(secretB, "whsec_")}, // prefix is optional
	}}
	got := s.SigningSecrets(t0)
	want := []string{secretA, secretB, secretB}
	if len(got) != len(want) {
		t.Fatalf("SigningSecrets returned %d secrets, want %d", len(got), len(want))
	}
	for i, sec := range got {
		if sec.Encode() != want[i] {
			t.Errorf("secret %d = %s, want %s", i, sec.Encode(), want[i])
		}
	}
	// Signing with them matches what a receiver holding either key verifies.
	v, err := webhook.NewVerifier([]string{secretB}, webhook.WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	sig := webhook.Sign("msg_1", t0, []byte("{}"), got...)
	if err := v.VerifyValues("msg_1", "1741964966", sig, []byte("{}")); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if n := len(s.SigningSecrets(t0.Add(2 * time.Hour))); n != 2 {
		t.Fatalf("two hours later: %d secrets, want 2", n)
	}
	// SigningKeys picks the same secrets and signs the same.
	var ring webhook.Keyring
	keys := s.SigningKeys(t0, &ring)
	if len(keys) != len(want) {
		t.Fatalf("SigningKeys returned %d keys, want %d", len(keys), len(want))
	}
	h, hk := http.Header{}, http.Header{}
	webhook.SetHeaders(h, "msg_1", t0, []byte("{}"), got...)
	webhook.SetHeadersKeys(hk, "msg_1", t0, []byte("{}"), keys...)
	if h.Get(webhook.HeaderSignature) != hk.Get(webhook.HeaderSignature) {
		t.Errorf("keys signed %q, secrets %q", hk.Get(webhook.HeaderSignature), h.Get(webhook.HeaderSignature))
	}
	if n := len(s.SigningKeys(t0.Add(2*time.Hour), &ring)); n != 2 {
		t.Fatalf("two hours later: %d keys, want 2", n)
	}
}

func TestRedacted(t *testing.T) {
	s := fixedSubscription()
	r := s.Redacted()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{secretA, secretB, strings.TrimPrefix(secretA, "whsec_"), strings.TrimPrefix(secretB, "whsec_")} {
		if strings.Contains(string(b), key) {
			t.Fatalf("redacted subscription reveals a key: %s", b)
		}
	}
	if len(r.Secrets) != len(s.Secrets) || r.Secrets[1].ExpiresAt == nil || !r.Secrets[1].ExpiresAt.Equal(*s.Secrets[1].ExpiresAt) {
		t.Fatalf("redacted secrets lost their count or expiry: %+v", r.Secrets)
	}
	// The copy shares nothing the caller could change by accident.
	r.Headers["X-Shop"] = "changed"
	r.Metadata["team"] = "changed"
	r.EventTypes[0] = "changed"
	*r.Secrets[1].ExpiresAt = time.Time{}
	if s.Headers["X-Shop"] != "acme" || s.Metadata["team"] != "payments" || s.EventTypes[0] != "payment.*" || s.Secrets[1].ExpiresAt.IsZero() {
		t.Fatal("changing the redacted copy changed the original")
	}
	if s.Secrets[0].Key != secretB {
		t.Fatal("Redacted changed the original's keys")
	}
}

func TestTimeout(t *testing.T) {
	for ms, want := range map[int]time.Duration{
		0: record.DefaultTimeout, -5: record.DefaultTimeout, 1500: 1500 * time.Millisecond,
		60000: record.MaxTimeout, 9223372036855: record.MaxTimeout,
	} {
		s := record.Subscription{TimeoutMillis: ms}
		if got := s.Timeout(); got != want {
			t.Errorf("Timeout with %d ms = %v, want %v", ms, got, want)
		}
	}
}

func TestNormalizeAndActive(t *testing.T) {
	var s record.Subscription
	if !s.Active() {
		t.Fatal("zero state should be active")
	}
	s.Normalize()
	if s.V != record.Version || s.Format != record.FormatStandard || s.State != record.StateActive || s.MaxInFlight != record.DefaultMaxInFlight {
		t.Fatalf("Normalize = %+v", s)
	}
	s.State = record.StatePaused
	if s.Active() {
		t.Fatal("paused subscription is active")
	}
}

func TestMatches(t *testing.T) {
	s := fixedSubscription()
	for typ, want := range map[string]bool{"payment.succeeded": true, "payment_success": true, "order.status_changed": false} {
		if got := s.Matches(typ); got != want {
			t.Errorf("Matches(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://user:pass@hooks.example.com/webhook?token=abc": "https://hooks.example.com/webhook?redacted",
		"https://hooks.example.com/webhook":                     "https://hooks.example.com/webhook",
		"http://localhost:3000/webhook":                         "http://localhost:3000/webhook",
		"https://example.com/%zz":                               "invalid-url",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := record.RedactURL(in); got != want {
				t.Fatalf("RedactURL(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func TestRotateSecrets(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	tests := []struct {
		name string
		old  []record.Secret
		want []record.Secret
	}{
		{"one", []record.Secret{{Key: "a"}}, []record.Secret{{Key: "new"}, {Key: "a", ExpiresAt: at(time.Hour)}}},
		{"expired dropped", []record.Secret{{Key: "a"}, {Key: "b", ExpiresAt: at(-time.Second)}},
			[]record.Secret{{Key: "new"}, {Key: "a", ExpiresAt: at(time.Hour)}}},
		{"sooner expiry kept", []record.Secret{{Key: "a", ExpiresAt: at(time.Minute)}},
			[]record.Secret{{Key: "new"}, {Key: "a", ExpiresAt: at(time.Minute)}}},
		{"at most five", []record.Secret{{Key: "a"}, {Key: "b"}, {Key: "c"}, {Key: "d"}, {Key: "e"}},
			[]record.Secret{{Key: "new"}, {Key: "a", ExpiresAt: at(time.Hour)}, {Key: "b", ExpiresAt: at(time.Hour)},
				{Key: "c", ExpiresAt: at(time.Hour)}, {Key: "d", ExpiresAt: at(time.Hour)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := record.RotateSecrets(tt.old, "new", now, time.Hour)
			if strings.Join(secretsText(got), " ") != strings.Join(secretsText(tt.want), " ") {
				t.Fatalf("got %v, want %v", secretsText(got), secretsText(tt.want))
			}
		})
	}
}

func secretsText(ss []record.Secret) []string {
	var out []string
	for _, s := range ss {
		e := "never"
		if s.ExpiresAt != nil {
			e = s.ExpiresAt.Format(time.RFC3339)
		}
		out = append(out, s.Key+"@"+e)
	}
	return out
}
