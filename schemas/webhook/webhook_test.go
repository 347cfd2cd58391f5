package webhook_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/internal/golden"
	"github.com/hookline/hookline/schemas/webhook"
)

// The test vector published in the Standard Webhooks specification and used
// by its reference libraries.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t *testing.T, s string) webhook.Secret {
	t.Helper()
	sec, err := webhook.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func TestSignMatchesSpecVector(t *testing.T) {
	sec := mustSecret(t, specSecret)
	got := webhook.Sign(specID, time.Unix(specTimestamp, 0), []byte(specPayload), sec)
	if got != specSignature {
		t.Fatalf("Sign = %q, want %q", got, specSignature)
	}
}

func TestVerify(t *testing.T) {
	at := time.Unix(specTimestamp, 0)
	other, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	spec := mustSecret(t, specSecret)
	tests := []struct {
		name    string
		secrets []string
		now     time.Time
		id, ts  string
		sig     string
		body    string
		want    error
	}{
		{name: "spec vector", secrets: []string{specSecret}, now: at, id: specID, ts: fmt.Sprint(specTimestamp), sig: specSignature, body: specPayload},
		{name: "one of several signatures", secrets: []string{specSecret}, now: at, id: specID, ts: fmt.Sprint(specTimestamp),
			sig: webhook.Sign(specID, at, []byte(specPayload), other, spec), body: specPayload},
		{name: "verifier holds old and new", secrets: []string{other.Encode(), specSecret}, now: at, id: specID, ts: fmt.Sprint(specTimestamp), sig: specSignature, body: specPayload},
		{name: "skew inside tolerance", secrets: []string{specSecret}, now: at.Add(4 * time.Minute), id: specID, ts: fmt.Sprint(specTimestamp), sig: specSignature, body: specPayload},
		{name: "too old", secrets: []string{specSecret}, now: at.Add(6 * time.Minute), id: specID, ts: fmt.Sprint(specTimestamp), sig: specSignature, body: specPayload, want: webhook.ErrTimestampTooOld},
		{name: "too new", secrets: []string{specSecret}, now: at.Add(-6 * time.Minute), id: specID, ts: fmt.Sprint(specTimestamp), sig: specSignature, body: specPayload, want: webhook.ErrTimestampTooNew},
		{name: "tampered body", secrets: []string{specSecret}, now: at, id: specID, ts: fmt.Sprint(specTimestamp), sig: specSignature, body: `{"test": 2432232315}`, want: webhook.ErrNoMatchingSigning},
		{name: "other id", secrets: []string{specSecret}, now: at, id: "msg_other", ts: fmt.Sprint(specTimestamp), sig: specSignature, body: specPayload, want: webhook.ErrNoMatchingSigning},
		{name: "wrong secret", secrets: []string{other.Encode()}, now: at, id: specID, ts: fmt.Sprint(specTimestamp), sig: specSignature, body: specPayload, want: webhook.ErrNoMatchingSigning},
		{name: "unknown version", secrets: []string{specSecret}, now: at, id: specID, ts: fmt.Sprint(specTimestamp), sig: strings.Replace(specSignature, "v1,", "v2,", 1), body: specPayload, want: webhook.ErrNoMatchingSigning},
		{name: "missing id", secrets: []string{specSecret}, now: at, ts: fmt.Sprint(specTimestamp), sig: specSignature, body: specPayload, want: webhook.ErrMissingHeaders},
		{name: "bad timestamp", secrets: []string{specSecret}, now: at, id: specID, ts: "soon", sig: specSignature, body: specPayload, want: webhook.ErrInvalidTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := webhook.NewVerifier(tt.secrets, webhook.WithClock(func() time.Time { return tt.now }))
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h.Set(webhook.HeaderID, tt.id)
			h.Set(webhook.HeaderTimestamp, tt.ts)
			h.Set(webhook.HeaderSignature, tt.sig)
			err = v.Verify(h, []byte(tt.body))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{specSecret, false},
		{strings.TrimPrefix(specSecret, "whsec_"), false},
		{"whsec_", true},
		{"whsec_!!!", true},
		{"whsec_c2hvcnQ=", true}, // "short": under 24 bytes
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := webhook.ParseSecret(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSecret(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, webhook.ErrInvalidSecret) {
				t.Fatalf("error %v is not ErrInvalidSecret", err)
			}
		})
	}
}

func TestNewSecretRoundTripsAndRedacts(t *testing.T) {
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	back, err := webhook.ParseSecret(s.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if back.Encode() != s.Encode() {
		t.Fatal("secret did not round-trip")
	}
	if strings.Contains(fmt.Sprint(s), strings.TrimPrefix(s.Encode(), "whsec_")) {
		t.Fatal("String reveals the key")
	}
}

// TestHeadersGolden pins the exact headers produced for a message signed
// with two secrets, as a receiver sees them.
func TestHeadersGolden(t *testing.T) {
	h := http.Header{}
	second := mustSecret(t, "whsec_"+strings.Repeat("QUJD", 8))
	webhook.SetHeaders(h, specID, time.Unix(specTimestamp, 0), []byte(specPayload), mustSecret(t, specSecret), second)
	var b strings.Builder
	for _, k := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
		fmt.Fprintf(&b, "%s: %s\n", k, h.Get(k))
	}
	golden.Assert(t, "headers.golden", []byte(b.String()))
}

func FuzzVerify(f *testing.F) {
	f.Add(specID, fmt.Sprint(specTimestamp), specSignature, []byte(specPayload))
	f.Add("", "", "", []byte(nil))
	f.Add("x", "-1", "v1, v1,,v2,abc", []byte("{}"))
	v, err := webhook.NewVerifier([]string{specSecret}, webhook.WithClock(func() time.Time { return time.Unix(specTimestamp, 0) }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		err := v.VerifyValues(id, ts, sig, body)
		if err == nil && (id != specID || string(body) != specPayload) {
			// Only the genuine message may verify; anything else passing
			// would be a forgery.
			t.Fatalf("forged message verified: id=%q body=%q", id, body)
		}
	})
}

func FuzzParseSecret(f *testing.F) {
	f.Add(specSecret)
	f.Add("whsec_")
	f.Fuzz(func(t *testing.T, s string) {
		sec, err := webhook.ParseSecret(s)
		if err != nil {
			if !errors.Is(err, webhook.ErrInvalidSecret) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if _, err := webhook.ParseSecret(sec.Encode()); err != nil {
			t.Fatalf("re-parse of encoded secret failed: %v", err)
		}
	})
}

// BenchmarkSetHeaders measures signing a 1 KiB body with one secret, as
// the dispatcher does for every request.
//
//	go test -run '^$' -bench BenchmarkSetHeaders -benchmem ./webhook/
func BenchmarkSetHeaders(b *testing.B) {
	sec, err := webhook.ParseSecret(specSecret)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"pad":"` + strings.Repeat("x", 1010) + `"}`)
	at := time.Unix(specTimestamp, 0)
	b.ReportAllocs()
	for b.Loop() {
		webhook.SetHeaders(http.Header{}, specID, at, body, sec)
	}
}

// TestKeyringSignsAsSecrets: Keys from a Keyring sign as the Secrets they
// decode (the spec vector, and two keys mid-rotation), over and over and
// from many goroutines, with their pooled HMAC states reset between
// messages.
func TestKeyringSignsAsSecrets(t *testing.T) {
	var ring webhook.Keyring
	k, err := ring.Key(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ring.Key(specSecret); again != k {
		t.Error("the same secret decoded twice")
	}
	at := time.Unix(specTimestamp, 0)
	h := http.Header{}
	webhook.SetHeadersKeys(h, specID, at, []byte(specPayload), k)
	if got := h.Get(webhook.HeaderSignature); got != specSignature {
		t.Fatalf("signature %q, want the spec's %q", got, specSignature)
	}
	other, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	ok, err := ring.Key(other.Encode())
	if err != nil {
		t.Fatal(err)
	}
	sec := mustSecret(t, specSecret)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				body := fmt.Appendf(nil, `{"g":%d,"i":%d}`, g, i)
				want, got := http.Header{}, http.Header{}
				webhook.SetHeaders(want, specID, at, body, sec, other)
				webhook.SetHeadersKeys(got, specID, at, body, k, ok)
				if got.Get(webhook.HeaderSignature) != want.Get(webhook.HeaderSignature) {
					t.Errorf("goroutine %d message %d: keys signed %q, secrets %q", g, i, got.Get(webhook.HeaderSignature), want.Get(webhook.HeaderSignature))
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := ring.Key("whsec_not base64!"); !errors.Is(err, webhook.ErrInvalidSecret) {
		t.Errorf("a bad secret: %v, want ErrInvalidSecret", err)
	}
}

// BenchmarkSetHeadersKeys is BenchmarkSetHeaders with a Key from a
// Keyring, looked up for every message as the dispatcher does.
func BenchmarkSetHeadersKeys(b *testing.B) {
	var ring webhook.Keyring
	body := []byte(`{"pad":"` + strings.Repeat("x", 1010) + `"}`)
	at := time.Unix(specTimestamp, 0)
	b.ReportAllocs()
	for b.Loop() {
		k, err := ring.Key(specSecret)
		if err != nil {
			b.Fatal(err)
		}
		webhook.SetHeadersKeys(http.Header{}, specID, at, body, k)
	}
}
