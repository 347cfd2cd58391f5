package record

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Payload formats a subscription can ask for.
const (
	FormatStandard             = "standard"               // {"type","timestamp","data"}
	FormatCloudEventsStructure = "cloudevents-structured" // application/cloudevents+json body
	FormatCloudEventsBinary    = "cloudevents-binary"     // ce- headers, data as body
	FormatRaw                  = "raw"                    // the event data exactly as produced
)

// Subscription states.
const (
	StateActive   = "active"
	StatePaused   = "paused"
	StateDisabled = "disabled"
)

// Defaults applied by Subscription.Normalize.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxInFlight = 10
	MaxTimeout         = 60 * time.Second
)

// Secret is one signing secret of a subscription. Key is a "whsec_..."
// string: never log it. A secret with an ExpiresAt in the past is no longer
// used to sign (it lingers after a rotation until then).
type Secret struct {
	Key       string     `json:"key"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Subscription is one webhook endpoint and the events it wants.
type Subscription struct {
	V   int    `json:"v"`
	ID  string `json:"id"`
	URL string `json:"url"`
	// EventTypes are patterns: an exact type, a prefix ending in ".*"
	// ("payment.*"), or "*" for every type.
	EventTypes []string `json:"event_types"`
	// Filter is an optional CEL expression over the event; the event is
	// delivered only when it evaluates to true.
	Filter  string   `json:"filter,omitempty"`
	Secrets []Secret `json:"secrets"`
	Format  string   `json:"format"`
	// RateLimit is the most requests per second; 0 means unlimited.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// BreakerFailures and BreakerOpenMillis override the dispatcher's
	// circuit breaker for this endpoint: consecutive failures that open it
	// (-1 turns it off) and how long it stays open before a probe. Zero
	// keeps the dispatcher's defaults.
	BreakerFailures   int `json:"breaker_failures,omitempty"`
	BreakerOpenMillis int `json:"breaker_open_ms,omitempty"`
	// MaxInFlight is the most concurrent requests; default 10.
	MaxInFlight int  `json:"max_in_flight,omitempty"`
	Ordered     bool `json:"ordered,omitempty"`
	// TimeoutMillis is the per-request timeout; default 10 s.
	TimeoutMillis int               `json:"timeout_ms,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	State         string            `json:"state"`
	StateReason   string            `json:"state_reason,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	// Revision counts the writes of the admin API and hookctl: 1 when
	// created, one more with each change. The API returns it as the ETag
	// and compares it with If-Match. Records written before revisions
	// existed have 0. (V, in contrast, is the record format's version.)
	Revision int64 `json:"version,omitempty"`
}

// ETag returns the subscription's revision as an HTTP entity tag: the
// decimal revision in double quotes.
func (s *Subscription) ETag() string { return `"` + strconv.FormatInt(s.Revision, 10) + `"` }

// Timeout returns the request timeout: DefaultTimeout when unset, at most
// MaxTimeout.
func (s *Subscription) Timeout() time.Duration {
	if s.TimeoutMillis <= 0 {
		return DefaultTimeout
	}
	if int64(s.TimeoutMillis) > MaxTimeout.Milliseconds() {
		return MaxTimeout
	}
	return time.Duration(s.TimeoutMillis) * time.Millisecond
}

// Active reports whether deliveries should be sent now.
func (s *Subscription) Active() bool { return s.State == "" || s.State == StateActive }

// Normalize fills defaults: version, format, state and max in-flight.
func (s *Subscription) Normalize() {
	if s.V == 0 {
		s.V = Version
	}
	if s.Format == "" {
		s.Format = FormatStandard
	}
	if s.State == "" {
		s.State = StateActive
	}
	if s.MaxInFlight <= 0 {
		s.MaxInFlight = DefaultMaxInFlight
	}
}

// SigningSecrets returns the secrets to sign with at now, skipping expired
// and unparsable ones.
func (s *Subscription) SigningSecrets(now time.Time) []webhook.Secret {
	out := make([]webhook.Secret, 0, len(s.Secrets))
	for _, sec := range s.Secrets {
		if !sec.inForce(now) {
			continue
		}
		parsed, err := webhook.ParseSecret(sec.Key)
		if err != nil {
			continue
		}
		out = append(out, parsed)
	}
	return out
}

// SigningKeys is SigningSecrets as Keys of ring, which decodes each
// secret once for all the messages signed with it.
func (s *Subscription) SigningKeys(now time.Time, ring *webhook.Keyring) []*webhook.Key {
	out := make([]*webhook.Key, 0, len(s.Secrets))
	for _, sec := range s.Secrets {
		if !sec.inForce(now) {
			continue
		}
		if k, err := ring.Key(sec.Key); err == nil {
			out = append(out, k)
		}
	}
	return out
}

// inForce reports whether sec signs at now: it has not expired.
func (sec *Secret) inForce(now time.Time) bool {
	return sec.ExpiresAt == nil || now.Before(*sec.ExpiresAt)
}

// MaxSecrets bounds how many signing secrets a subscription keeps through
// rotations; the oldest beyond it are dropped.
const MaxSecrets = 5

// RotateSecrets puts fresh in front of secrets, lets each older secret
// expire at now+grace at the latest (0: at once) so receivers have time to
// switch, drops those already expired, and keeps at most MaxSecrets. The
// producer's admin API and hookctl both rotate through it.
func RotateSecrets(secrets []Secret, fresh string, now time.Time, grace time.Duration) []Secret {
	expiry := now.Add(grace)
	kept := []Secret{{Key: fresh}}
	for _, old := range secrets {
		if old.ExpiresAt != nil && !now.Before(*old.ExpiresAt) {
			continue
		}
		if old.ExpiresAt == nil || old.ExpiresAt.After(expiry) {
			at := expiry
			old.ExpiresAt = &at
		}
		if len(kept) < MaxSecrets {
			kept = append(kept, old)
		}
	}
	return kept
}

// Redacted returns a copy of s without secret keys, for display. The copy
// shares no slices or maps with s.
func (s Subscription) Redacted() Subscription {
	var secs []Secret
	if s.Secrets != nil {
		secs = make([]Secret, len(s.Secrets))
	}
	for i, sec := range s.Secrets {
		secs[i] = Secret{Key: webhook.SecretPrefix + "[redacted]"}
		if sec.ExpiresAt != nil {
			at := *sec.ExpiresAt
			secs[i].ExpiresAt = &at
		}
	}
	s.Secrets = secs
	s.EventTypes = slices.Clone(s.EventTypes)
	s.Headers = maps.Clone(s.Headers)
	s.Metadata = maps.Clone(s.Metadata)
	return s
}

// Matches reports whether eventType matches any of the patterns.
func (s *Subscription) Matches(eventType string) bool {
	for _, p := range s.EventTypes {
		if MatchPattern(p, eventType) {
			return true
		}
	}
	return false
}

// MatchPattern reports whether eventType matches pattern: "*" matches every
// type, "a.b.*" every type that starts with "a.b.", anything else only
// itself.
func MatchPattern(pattern, eventType string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(eventType, prefix)
	}
	return pattern == eventType
}

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	typePattern = regexp.MustCompile(`^(\*|[A-Za-z0-9_.-]+(\.\*)?)$`)
)

// ValidatePattern checks one event type pattern.
func ValidatePattern(p string) error {
	if p == "*" {
		return nil
	}
	if !typePattern.MatchString(p) || strings.Contains(strings.TrimSuffix(p, ".*"), "*") {
		return &FieldError{Field: "event_types", Message: fmt.Sprintf("invalid pattern %q: want an exact type, a prefix ending in \".*\", or \"*\"", p)}
	}
	return nil
}

// Validate checks every field a dispatcher and router rely on. It does not
// compile the filter expression; the router's filter package does that.
func (s *Subscription) Validate() error {
	if !idPattern.MatchString(s.ID) {
		return &FieldError{Field: "id", Message: "must be 1-128 characters of letters, digits, '_', '.', '-'"}
	}
	if err := ValidateURL(s.URL); err != nil {
		return err
	}
	if len(s.EventTypes) == 0 {
		return &FieldError{Field: "event_types", Message: "at least one pattern is required"}
	}
	for _, p := range s.EventTypes {
		if err := ValidatePattern(p); err != nil {
			return err
		}
	}
	switch s.Format {
	case "", FormatStandard, FormatCloudEventsStructure, FormatCloudEventsBinary, FormatRaw:
	default:
		return &FieldError{Field: "format", Message: fmt.Sprintf("unknown format %q", s.Format)}
	}
	if len(s.Secrets) == 0 {
		return &FieldError{Field: "secrets", Message: "at least one signing secret is required"}
	}
	for i, sec := range s.Secrets {
		if _, err := webhook.ParseSecret(sec.Key); err != nil {
			return &FieldError{Field: "secrets[" + strconv.Itoa(i) + "]", Message: "not a valid whsec_ secret"}
		}
	}
	if s.RateLimit < 0 || math.IsNaN(s.RateLimit) || math.IsInf(s.RateLimit, 0) {
		return &FieldError{Field: "rate_limit", Message: "must be a finite number, not negative"}
	}
	if s.BreakerFailures < -1 {
		return &FieldError{Field: "breaker_failures", Message: "must be -1 (off), 0 (the dispatcher's default) or positive"}
	}
	if s.BreakerOpenMillis < 0 {
		return &FieldError{Field: "breaker_open_ms", Message: "must not be negative"}
	}
	if s.MaxInFlight < 0 {
		return &FieldError{Field: "max_in_flight", Message: "must not be negative"}
	}
	// Compare milliseconds: converting a huge value to a Duration first
	// overflows and can wrap into range.
	if s.TimeoutMillis < 0 || int64(s.TimeoutMillis) > MaxTimeout.Milliseconds() {
		return &FieldError{Field: "timeout_ms", Message: fmt.Sprintf("must be between 0 and %d", MaxTimeout.Milliseconds())}
	}
	switch s.State {
	case "", StateActive, StatePaused, StateDisabled:
	default:
		return &FieldError{Field: "state", Message: fmt.Sprintf("unknown state %q", s.State)}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Headers)) {
		if !validHeaderName(k) {
			return &FieldError{Field: "headers", Message: fmt.Sprintf("header name %q is not an HTTP token", k)}
		}
		if !validHeaderValue(s.Headers[k]) {
			return &FieldError{Field: "headers", Message: fmt.Sprintf("header %q has a control character in its value", k)}
		}
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "webhook-") || reservedHeaders[lk] ||
			(s.Format == FormatCloudEventsBinary && strings.HasPrefix(lk, "ce-")) {
			return &FieldError{Field: "headers", Message: fmt.Sprintf("header %q is set by Hookline", k)}
		}
	}
	return nil
}

// reservedHeaders are set by Hookline or by the HTTP client; a
// subscription may not override them.
var reservedHeaders = map[string]bool{
	"content-type": true, "content-length": true, "host": true,
	"transfer-encoding": true, "connection": true,
}

// validHeaderName reports whether k is an RFC 9110 token, which net/http
// requires of header names.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v has no control characters other than
// horizontal tab, as net/http requires of header values.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// ValidateURL accepts absolute http and https URLs with a host and no
// fragment.
func ValidateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return &FieldError{Field: "url", Message: "not a URL"}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return &FieldError{Field: "url", Message: "scheme must be http or https"}
	}
	if u.Host == "" || u.Hostname() == "" {
		return &FieldError{Field: "url", Message: "host is required"}
	}
	if u.Fragment != "" {
		return &FieldError{Field: "url", Message: "must not have a fragment"}
	}
	return nil
}

// RedactURL returns raw without user info and query, safe to log.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "invalid-url"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.String()
}

// Record returns the Kafka record of s on topic (hookline.subscriptions).
func (s *Subscription) Record(topic string) (*kgo.Record, error) {
	if s.V == 0 {
		s.V = Version
	}
	v, err := encode(header.KindSubscription, s)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: topic, Key: []byte(s.ID), Value: v, Headers: []kgo.RecordHeader{
		hdr(header.Version, strconv.Itoa(Version)),
		hdr(header.Kind, header.KindSubscription),
	}}, nil
}

// Tombstone returns the record that deletes subscription id.
func Tombstone(topic, id string) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(id), Value: nil}
}

// DecodeSubscription parses a Subscription value.
func DecodeSubscription(b []byte) (Subscription, error) {
	var s Subscription
	if err := decode(header.KindSubscription, b, &s, func() int { return s.V }); err != nil {
		return Subscription{}, err
	}
	if s.ID == "" {
		return Subscription{}, &DecodeError{Kind: header.KindSubscription, Err: fmt.Errorf("%w: id is required", ErrMalformed)}
	}
	s.Normalize()
	return s, nil
}
