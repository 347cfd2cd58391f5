package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hookline/hookline/schemas/header"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Idempotency is the answer the API gave to a request sent with an
// Idempotency-Key, written to the compacted idempotency topic (keyed by
// Key) so that every producer replica, and a restarted one, answers a
// retry the same way until the answer expires.
type Idempotency struct {
	V int `json:"v"`
	// Key identifies the request's key: IdempotencyKey of the API key's
	// identity and the Idempotency-Key header. It never holds an API key.
	Key string `json:"key"`
	// RequestHash is the hex SHA-256 of the request (content type,
	// CloudEvents headers, body); a retry must match it, a different
	// request under the same key is refused.
	RequestHash string `json:"request_hash"`
	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// Body is the JSON answer, such as {"ids":["..."]}.
	Body json.RawMessage `json:"body"`
	// CreatedAt is when the answer was given; it expires a TTL later.
	CreatedAt time.Time `json:"created_at"`
}

// IdempotencyKey returns the record key of an Idempotency-Key sent with
// an API key whose identity is scope (the SHA-256 of the API key, or ""
// without authentication): the hex SHA-256 of both, so neither the API
// key nor the header's value is stored.
func IdempotencyKey(scope, key string) string {
	d := sha256.New()
	d.Write([]byte(strconv.Itoa(len(scope)) + ":" + scope))
	d.Write([]byte(key))
	return hex.EncodeToString(d.Sum(nil))
}

// Expired reports whether the answer is older than ttl at now.
func (i Idempotency) Expired(now time.Time, ttl time.Duration) bool {
	return now.Sub(i.CreatedAt) > ttl
}

// Record returns the Kafka record of i on topic, keyed by i.Key.
func (i *Idempotency) Record(topic string) (*kgo.Record, error) {
	if i.V == 0 {
		i.V = Version
	}
	v, err := encode(header.KindIdempotency, i)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: topic, Key: []byte(i.Key), Value: v, Headers: []kgo.RecordHeader{
		hdr(header.Version, strconv.Itoa(Version)),
		hdr(header.Kind, header.KindIdempotency),
	}}, nil
}

// DecodeIdempotency parses an Idempotency value.
func DecodeIdempotency(b []byte) (Idempotency, error) {
	var i Idempotency
	if err := decode(header.KindIdempotency, b, &i, func() int { return i.V }); err != nil {
		return Idempotency{}, err
	}
	malformed := func(msg string) error {
		return &DecodeError{Kind: header.KindIdempotency, Err: fmt.Errorf("%w: %s", ErrMalformed, msg)}
	}
	switch {
	case i.Key == "" || i.RequestHash == "":
		return Idempotency{}, malformed("key and request_hash are required")
	case i.Status < 100 || i.Status > 599:
		return Idempotency{}, malformed("status is not an HTTP status")
	case !bytes.HasPrefix(bytes.TrimLeft(i.Body, " \t\r\n"), []byte("{")):
		return Idempotency{}, malformed("body is not a JSON object")
	}
	return i, nil
}
