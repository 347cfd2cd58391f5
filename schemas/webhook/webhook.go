package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header names defined by Standard Webhooks.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every encoded signing secret.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a webhook-timestamp may be from the
// verifier's clock, in either direction, before verification fails.
const DefaultTolerance = 5 * time.Minute

const (
	minSecretBytes = 24
	maxSecretBytes = 64
	// newSecretBytes is the size of generated secrets (192 bits).
	newSecretBytes = 24
)

// Errors returned by ParseSecret and Verifier.Verify. Use errors.Is.
var (
	ErrInvalidSecret     = errors.New("webhook: invalid secret")
	ErrMissingHeaders    = errors.New("webhook: missing required headers")
	ErrInvalidTimestamp  = errors.New("webhook: invalid timestamp")
	ErrTimestampTooOld   = errors.New("webhook: timestamp too old")
	ErrTimestampTooNew   = errors.New("webhook: timestamp too new")
	ErrNoMatchingSigning = errors.New("webhook: no matching signature")
)

// Secret is a decoded signing key. Its String method never reveals the key.
type Secret struct {
	key []byte
}

// NewSecret returns a fresh random secret.
func NewSecret() (Secret, error) {
	b := make([]byte, newSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return Secret{}, fmt.Errorf("webhook: generating secret: %w", err)
	}
	return Secret{key: b}, nil
}

// ParseSecret decodes a "whsec_<base64>" secret. The prefix is optional, as
// in the reference libraries; the decoded key must be 24 to 64 bytes.
func ParseSecret(s string) (Secret, error) {
	raw := strings.TrimPrefix(s, SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return Secret{}, fmt.Errorf("%w: not base64 after %q", ErrInvalidSecret, SecretPrefix)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return Secret{}, fmt.Errorf("%w: key is %d bytes, want %d to %d", ErrInvalidSecret, len(key), minSecretBytes, maxSecretBytes)
	}
	return Secret{key: key}, nil
}

// Encode returns the secret in its "whsec_<base64>" form. Treat the result
// as sensitive: do not log it.
func (s Secret) Encode() string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(s.key)
}

// String redacts the key so that a Secret printed by accident reveals nothing.
func (s Secret) String() string { return SecretPrefix + "[redacted]" }

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// sign returns the base64 HMAC-SHA256 of "id.timestamp.body" under s.
func (s Secret) sign(id string, ts int64, body []byte) string {
	var tsText [20]byte
	return string(s.appendSign(nil, id, strconv.AppendInt(tsText[:0], ts, 10), body))
}

// appendSign appends the base64 HMAC-SHA256 of "id.timestamp.body" under
// s to b.
func (s Secret) appendSign(b []byte, id string, ts, body []byte) []byte {
	return appendMAC(b, hmac.New(sha256.New, s.key), id, ts, body)
}

// appendMAC appends the base64 MAC of "id.timestamp.body" to b; mac is
// fresh or reset.
func appendMAC(b []byte, mac hash.Hash, id string, ts, body []byte) []byte {
	// One buffer for "id.timestamp." and then the sum: what goes through
	// the hash.Hash interface escapes, a buffer per piece would be an
	// allocation each.
	buf := make([]byte, 0, len(id)+len(ts)+2+sha256.Size)
	buf = append(buf, id...)
	buf = append(buf, '.')
	buf = append(buf, ts...)
	buf = append(buf, '.')
	mac.Write(buf)
	mac.Write(body)
	return base64.StdEncoding.AppendEncode(b, mac.Sum(buf[len(buf):]))
}

// Key is a Secret ready to sign many messages: it keeps the HMAC states
// keyed with it for reuse. Get Keys from a Keyring. Safe for concurrent
// use.
type Key struct {
	secret Secret
	macs   sync.Pool // of hash.Hash keyed with secret
}

// appendSign is Secret.appendSign with a pooled HMAC state.
func (k *Key) appendSign(b []byte, id string, ts, body []byte) []byte {
	mac, _ := k.macs.Get().(hash.Hash)
	if mac == nil {
		mac = hmac.New(sha256.New, k.secret.key)
	} else {
		mac.Reset()
	}
	b = appendMAC(b, mac, id, ts, body)
	k.macs.Put(mac)
	return b
}

// Keyring turns encoded secrets ("whsec_...") into Keys, decoding each
// once: a sender signs every message to an endpoint with the same few
// secrets. It holds at most keyringMax keys and starts over when full.
// The zero value is ready; safe for concurrent use.
type Keyring struct {
	mu   sync.RWMutex
	keys map[string]*Key
}

// keyringMax bounds a Keyring (a few per subscription in use).
const keyringMax = 1 << 14

// Key returns the Key of an encoded secret, or ParseSecret's error.
func (r *Keyring) Key(encoded string) (*Key, error) {
	r.mu.RLock()
	k := r.keys[encoded]
	r.mu.RUnlock()
	if k != nil {
		return k, nil
	}
	s, err := ParseSecret(encoded)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if k := r.keys[encoded]; k != nil {
		return k, nil
	}
	if r.keys == nil || len(r.keys) >= keyringMax {
		r.keys = map[string]*Key{}
	}
	k = &Key{secret: s}
	r.keys[encoded] = k
	return k, nil
}

// Sign returns the value of the webhook-signature header for a message:
// "v1,<signature>" once per secret, separated by spaces. It signs with every
// secret given, which is how secret rotation works: receivers holding either
// the old or the new secret accept the message.
func Sign(id string, ts time.Time, body []byte, secrets ...Secret) string {
	var tsText [20]byte
	return signature(id, strconv.AppendInt(tsText[:0], ts.Unix(), 10), body, secrets)
}

// signer is a Secret or a *Key.
type signer interface {
	appendSign(b []byte, id string, ts, body []byte) []byte
}

// signature is Sign with the timestamp as text.
func signature[S signer](id string, ts, body []byte, secrets []S) string {
	// "v1," and 44 characters of base64 per secret, a space between.
	var buf [2 * (3 + 44 + 1)]byte
	b := buf[:0]
	for i, s := range secrets {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, "v1,"...)
		b = s.appendSign(b, id, ts, body)
	}
	return string(b)
}

// The header names as http.Header keeps them (canonical), so SetHeaders
// need not canonicalize them on every message.
var (
	keyID        = http.CanonicalHeaderKey(HeaderID)
	keyTimestamp = http.CanonicalHeaderKey(HeaderTimestamp)
	keySignature = http.CanonicalHeaderKey(HeaderSignature)
)

// SetHeaders sets the three Standard Webhooks headers on h.
func SetHeaders(h http.Header, id string, ts time.Time, body []byte, secrets ...Secret) {
	setHeaders(h, id, ts, body, secrets)
}

// SetHeadersKeys is SetHeaders with Keys from a Keyring.
func SetHeadersKeys(h http.Header, id string, ts time.Time, body []byte, keys ...*Key) {
	setHeaders(h, id, ts, body, keys)
}

func setHeaders[S signer](h http.Header, id string, ts time.Time, body []byte, secrets []S) {
	var tsText [20]byte
	unix := strconv.AppendInt(tsText[:0], ts.Unix(), 10)
	// As h.Set does: one value each, under the canonical name.
	h[keyID] = []string{id}
	h[keyTimestamp] = []string{string(unix)}
	h[keySignature] = []string{signature(id, unix, body, secrets)}
}

// Verifier checks Standard Webhooks signatures. The zero value is not
// usable; build one with NewVerifier.
type Verifier struct {
	secrets   []Secret
	tolerance time.Duration
	now       func() time.Time
}

// VerifierOpt configures a Verifier.
type VerifierOpt interface{ apply(*Verifier) }

type verifierOpt func(*Verifier)

func (f verifierOpt) apply(v *Verifier) { f(v) }

// WithTolerance overrides DefaultTolerance (5 minutes).
func WithTolerance(d time.Duration) VerifierOpt {
	return verifierOpt(func(v *Verifier) { v.tolerance = d })
}

// WithClock overrides time.Now, for tests.
func WithClock(now func() time.Time) VerifierOpt {
	return verifierOpt(func(v *Verifier) { v.now = now })
}

// NewVerifier returns a Verifier that accepts a message signed by any of
// the given secrets ("whsec_..." strings).
func NewVerifier(secrets []string, opts ...VerifierOpt) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secrets given", ErrInvalidSecret)
	}
	v := &Verifier{tolerance: DefaultTolerance, now: time.Now}
	for _, s := range secrets {
		sec, err := ParseSecret(s)
		if err != nil {
			return nil, err
		}
		v.secrets = append(v.secrets, sec)
	}
	for _, o := range opts {
		o.apply(v)
	}
	return v, nil
}

// Verify checks the headers of one webhook request against its raw body.
// It returns nil when the timestamp is within tolerance and at least one v1
// signature matches one secret; comparisons are constant-time.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	return v.VerifyValues(h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body)
}

// VerifyValues is Verify with the three header values given directly.
func (v *Verifier) VerifyValues(id, timestamp, signature string, body []byte) error {
	if id == "" || timestamp == "" || signature == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrInvalidTimestamp, timestamp)
	}
	now := v.now().Unix()
	tol := int64(v.tolerance / time.Second)
	switch {
	case ts < now-tol:
		return ErrTimestampTooOld
	case ts > now+tol:
		return ErrTimestampTooNew
	}
	for _, s := range v.secrets {
		want := []byte(s.sign(id, ts, body))
		for _, part := range strings.Fields(signature) {
			version, sig, ok := strings.Cut(part, ",")
			if !ok || version != "v1" {
				continue
			}
			if hmac.Equal([]byte(sig), want) {
				return nil
			}
		}
	}
	return ErrNoMatchingSigning
}
