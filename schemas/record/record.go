package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/header"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Version is the current format version of every record kind.
const Version = 1

// DeliveryID derives the id of the delivery of one event to one
// subscription. An event's identity is (source, id), as CloudEvents
// defines it, so two events that share an id but come from different
// sources get different delivery ids. The id is the same across retries,
// router restarts and replays, and is sent as webhook-id so receivers can
// deduplicate.
func DeliveryID(source, eventID, subscriptionID string) string {
	h := sha256.New()
	// Length prefixes keep ("a", "bc") and ("ab", "c") apart whatever
	// bytes the parts contain.
	for _, part := range []string{source, eventID, subscriptionID} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return "msg_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Delivery is one event to be delivered to one subscription.
type Delivery struct {
	V              int         `json:"v"`
	ID             string      `json:"id"`
	SubscriptionID string      `json:"subscription_id"`
	Event          event.Event `json:"event"`
	// Attempt is the number of attempts already made (0 for a fresh delivery).
	Attempt int `json:"attempt"`
	// NotBefore is when the delivery is next due; zero means now.
	NotBefore time.Time `json:"not_before,omitzero"`
	// FirstAttemptAt is when the first attempt was made; zero before it.
	FirstAttemptAt time.Time `json:"first_attempt_at,omitzero"`
	// ReplayOf is the dead-letter record this delivery replays, as
	// "topic/partition/offset"; empty unless replayed.
	ReplayOf string `json:"replay_of,omitempty"`
	// RoutedAt is when the router produced the delivery.
	RoutedAt time.Time `json:"routed_at,omitzero"`
	// AcceptedAt is when the ingest API accepted the event (the source
	// record's hookline-accepted-at header); zero for events written to
	// Kafka by other means. With RoutedAt, the record timestamps and the
	// attempt record it times each stage of an event's path.
	AcceptedAt time.Time `json:"accepted_at,omitzero"`
	// Tier is the retry tier the delivery is in: 0 on the deliveries
	// topic, K on hookline.retry.K.
	Tier int `json:"tier,omitempty"`
	// ParkedAt is set while the delivery waits in a retry topic for its
	// subscription to resume (or to appear in a lagging table) rather than
	// for a retry: it made no attempt to get there. It is when it was
	// first parked and stays the same while it is parked again, so the
	// deliveries of an ordered subscription keep their order.
	ParkedAt time.Time `json:"parked_at,omitzero"`
}

// Parked reports whether d waits for its subscription rather than for a
// retry.
func (d *Delivery) Parked() bool { return !d.ParkedAt.IsZero() }

// MarshalJSON encodes d with its event in exact form (see
// event.Event.MarshalExact), so the event data reaches the dispatcher byte
// for byte, as the raw payload format promises.
func (d Delivery) MarshalJSON() ([]byte, error) {
	type fields Delivery // the same fields without this method
	ev, err := d.Event.MarshalExact()
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		fields
		Event json.RawMessage `json:"event"` // shadows fields.Event
	}{fields(d), ev})
}

// NewDelivery builds the fresh delivery of e to subscriptionID.
func NewDelivery(e event.Event, subscriptionID string, now time.Time) Delivery {
	return Delivery{V: Version, ID: DeliveryID(e.Source, e.ID, subscriptionID), SubscriptionID: subscriptionID, Event: e, RoutedAt: now.UTC()}
}

// AcceptedAt returns the time in r's hookline-accepted-at header (set by
// the ingest API on the event records it writes), or the zero time when
// r has none or it does not parse.
func AcceptedAt(r *kgo.Record) time.Time {
	for _, h := range r.Headers {
		if h.Key == header.AcceptedAt {
			t, err := time.Parse(time.RFC3339Nano, string(h.Value))
			if err != nil {
				return time.Time{}
			}
			return t
		}
	}
	return time.Time{}
}

// Provenance is where a record came from.
type Provenance struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// String formats p as "topic/partition/offset".
func (p Provenance) String() string { return fmt.Sprintf("%s/%d/%d", p.Topic, p.Partition, p.Offset) }

// ProvenanceOf returns the coordinates of r.
func ProvenanceOf(r *kgo.Record) Provenance {
	return Provenance{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
}

// Stages of the pipeline at which a record can fail.
const (
	StageRoute    = "route"
	StageDispatch = "dispatch"
)

// Reasons a record is dead-lettered.
const (
	ReasonInvalidEvent        = "invalid_event"        // undecodable or not a valid CloudEvent
	ReasonSchemaViolation     = "schema_violation"     // data fails its event type's JSON Schema
	ReasonUnknownType         = "unknown_type"         // no schema registered and unknown types are rejected
	ReasonTooLarge            = "too_large"            // over the size limit
	ReasonInvalidRecord       = "invalid_record"       // a Hookline record that does not decode
	ReasonExhausted           = "exhausted"            // every attempt failed
	ReasonEndpointGone        = "endpoint_gone"        // 410 Gone
	ReasonRejected            = "rejected"             // a 4xx that retrying cannot fix
	ReasonSubscriptionDeleted = "subscription_deleted" // subscription no longer exists
	ReasonEndpointDisabled    = "endpoint_disabled"    // the subscription is disabled (by an operator or 410 Gone)
	ReasonRefused             = "refused"              // the SSRF guard refused the address
	ReasonFilterError         = "filter_error"         // the subscription's filter failed on the event
	ReasonNoSigningSecret     = "no_signing_secret"    // every secret of the subscription has expired
)

// RawRecord keeps a record that could not be decoded, so nothing is lost.
type RawRecord struct {
	Key     []byte            `json:"key,omitempty"`
	Value   []byte            `json:"value,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Truncated is set when the record was cut short to fit the
	// dead-letter topic; the whole record is at the dead letter's Source.
	Truncated bool `json:"truncated,omitempty"`
}

// RawOf copies r's key, value and headers.
func RawOf(r *kgo.Record) *RawRecord {
	raw := &RawRecord{Key: r.Key, Value: r.Value}
	if len(r.Headers) > 0 {
		raw.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			raw.Headers[h.Key] = string(h.Value)
		}
	}
	return raw
}

// DeadLetter is a delivery or input record that could not be handled.
type DeadLetter struct {
	V int `json:"v"`
	// Delivery is set when the failure concerns a decoded delivery.
	Delivery *Delivery `json:"delivery,omitempty"`
	// Raw is set when the input could not be decoded (route stage).
	Raw        *RawRecord `json:"raw,omitempty"`
	Stage      string     `json:"stage"`
	Reason     string     `json:"reason"`
	LastStatus int        `json:"last_status,omitempty"`
	LastError  string     `json:"last_error,omitempty"`
	Attempts   int        `json:"attempts"`
	FailedAt   time.Time  `json:"failed_at"`
	Source     Provenance `json:"source"`
}

// Key returns the Kafka key of the dead letter: the subscription id, or
// the event id (or source coordinates) for route-stage failures.
func (d *DeadLetter) Key() string {
	if d.Delivery != nil {
		if d.Delivery.SubscriptionID != "" {
			return d.Delivery.SubscriptionID
		}
		return d.Delivery.Event.ID
	}
	return event.RecordID(d.Source.Topic, d.Source.Partition, d.Source.Offset)
}

// Attempt is the outcome of one HTTP attempt at a delivery.
type Attempt struct {
	V              int       `json:"v"`
	DeliveryID     string    `json:"delivery_id"`
	SubscriptionID string    `json:"subscription_id"`
	EventID        string    `json:"event_id"`
	Attempt        int       `json:"attempt"`
	Status         int       `json:"status,omitempty"` // HTTP status; 0 when no response
	LatencyMillis  float64   `json:"latency_ms"`
	Error          string    `json:"error,omitempty"`
	Result         string    `json:"result"` // "success", "retry", "failed"
	At             time.Time `json:"at"`
}

// Encoding and decoding.

func encode(kind string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("record: encoding %s: %w", kind, err)
	}
	return b, nil
}

func decode(kind string, b []byte, dst any, version func() int) error {
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 {
		return &DecodeError{Kind: kind, Err: fmt.Errorf("%w: empty value", ErrMalformed)}
	}
	if trimmed[0] != '{' {
		return &DecodeError{Kind: kind, Err: fmt.Errorf("%w: not a JSON object", ErrMalformed)}
	}
	// json.Unmarshal, unlike a json.Decoder, refuses anything after the
	// object, including a stray '}' or ']'.
	if err := json.Unmarshal(b, dst); err != nil {
		return &DecodeError{Kind: kind, Err: fmt.Errorf("%w: %w", ErrMalformed, err)}
	}
	if v := version(); v != Version {
		return &DecodeError{Kind: kind, Err: fmt.Errorf("%w: %d", ErrUnsupportedVersion, v)}
	}
	return nil
}

// DecodeDelivery parses a Delivery value. The event's Data may share b's
// memory: b must not change while the Delivery is in use.
func DecodeDelivery(b []byte) (Delivery, error) {
	d, _, err := DecodeDeliveryData(b)
	return d, err
}

// DecodeDeliveryData is DecodeDelivery that also reports whether the
// event's Data is known to be compact JSON: a valid JSON value that
// encoding/json embeds unchanged (no whitespace between tokens, none of
// '<', '>', '&', U+2028 or U+2029), as found while reading it. The
// dispatcher renders payloads from it without checking the data again.
// false says nothing: the data may be compact JSON or not, the caller
// checks (data read from data_base64, or by encoding/json, is never
// vouched for). It is about the bytes only, whatever the event's content
// type.
func DecodeDeliveryData(b []byte) (d Delivery, compactJSON bool, err error) {
	compactJSON, fast := fastDeliveryTo(&d, b)
	if fast && d.V != Version {
		return Delivery{}, false, &DecodeError{Kind: header.KindDelivery, Err: fmt.Errorf("%w: %d", ErrUnsupportedVersion, d.V)}
	}
	if !fast {
		if d, err = decodeDeliveryJSON(b); err != nil { // all of d, whatever the fast path left in it
			return Delivery{}, false, err
		}
	}
	if d.ID == "" || d.SubscriptionID == "" {
		return Delivery{}, false, &DecodeError{Kind: header.KindDelivery, Err: fmt.Errorf("%w: id and subscription_id are required", ErrMalformed)}
	}
	if err := d.Event.Validate(event.ModeStructured); err != nil {
		return Delivery{}, false, &DecodeError{Kind: header.KindDelivery, Err: fmt.Errorf("%w: %w", ErrMalformed, err)}
	}
	return d, compactJSON, nil
}

// decodeDeliveryJSON decodes b with encoding/json (in a function of its
// own, so only this path's Delivery goes to the heap).
func decodeDeliveryJSON(b []byte) (Delivery, error) {
	var d Delivery
	err := decode(header.KindDelivery, b, &d, func() int { return d.V })
	return d, err
}

// DecodeDeadLetter parses a DeadLetter value.
func DecodeDeadLetter(b []byte) (DeadLetter, error) {
	var d DeadLetter
	if err := decode(header.KindDeadLetter, b, &d, func() int { return d.V }); err != nil {
		return DeadLetter{}, err
	}
	if d.Stage == "" || d.Reason == "" {
		return DeadLetter{}, &DecodeError{Kind: header.KindDeadLetter, Err: fmt.Errorf("%w: stage and reason are required", ErrMalformed)}
	}
	return d, nil
}

// DecodeAttempt parses an Attempt value.
func DecodeAttempt(b []byte) (Attempt, error) {
	var a Attempt
	if err := decode(header.KindAttempt, b, &a, func() int { return a.V }); err != nil {
		return Attempt{}, err
	}
	return a, nil
}

func hdr(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }

func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Record returns the Kafka record of d on topic, keyed by subscription id.
func (d *Delivery) Record(topic string) (*kgo.Record, error) {
	if d.V == 0 {
		d.V = Version
	}
	v, err := encode(header.KindDelivery, d)
	if err != nil {
		return nil, err
	}
	hs := []kgo.RecordHeader{
		hdr(header.Version, strconv.Itoa(Version)),
		hdr(header.Kind, header.KindDelivery),
		hdr(header.DeliveryID, d.ID),
		hdr(header.SubscriptionID, d.SubscriptionID),
		hdr(header.EventID, d.Event.ID),
		hdr(header.EventType, d.Event.Type),
		hdr(header.Attempt, strconv.Itoa(d.Attempt)),
	}
	if !d.NotBefore.IsZero() {
		hs = append(hs, hdr(header.NotBefore, timeText(d.NotBefore)))
	}
	if d.Tier > 0 {
		hs = append(hs, hdr(header.Tier, strconv.Itoa(d.Tier)))
	}
	if d.ReplayOf != "" {
		hs = append(hs, hdr(header.ReplayOf, d.ReplayOf))
	}
	return &kgo.Record{Topic: topic, Key: []byte(d.SubscriptionID), Value: v, Headers: hs}, nil
}

// Record returns the Kafka record of d on topic (hookline.dlq).
func (d *DeadLetter) Record(topic string) (*kgo.Record, error) {
	if d.V == 0 {
		d.V = Version
	}
	v, err := encode(header.KindDeadLetter, d)
	if err != nil {
		return nil, err
	}
	hs := []kgo.RecordHeader{
		hdr(header.Version, strconv.Itoa(Version)),
		hdr(header.Kind, header.KindDeadLetter),
		hdr(header.Stage, d.Stage),
		hdr(header.Reason, d.Reason),
		hdr(header.FailedAt, timeText(d.FailedAt)),
		hdr(header.Attempt, strconv.Itoa(d.Attempts)),
		hdr(header.SourceTopic, d.Source.Topic),
		hdr(header.SourcePartition, strconv.Itoa(int(d.Source.Partition))),
		hdr(header.SourceOffset, strconv.FormatInt(d.Source.Offset, 10)),
	}
	if d.LastStatus != 0 {
		hs = append(hs, hdr(header.LastStatus, strconv.Itoa(d.LastStatus)))
	}
	if d.Delivery != nil {
		hs = append(hs,
			hdr(header.DeliveryID, d.Delivery.ID),
			hdr(header.SubscriptionID, d.Delivery.SubscriptionID),
			hdr(header.EventID, d.Delivery.Event.ID),
			hdr(header.EventType, d.Delivery.Event.Type),
		)
	}
	return &kgo.Record{Topic: topic, Key: []byte(d.Key()), Value: v, Headers: hs}, nil
}

// Record returns the Kafka record of a on topic (hookline.attempts), keyed
// by delivery id.
func (a *Attempt) Record(topic string) (*kgo.Record, error) {
	if a.V == 0 {
		a.V = Version
	}
	// The dispatcher writes one per HTTP attempt: the value, the key and
	// the header values share one allocation (nothing writes to a
	// record's bytes once it is made).
	buf := make([]byte, 0, 256+len(a.DeliveryID)+len(a.SubscriptionID)+len(header.KindAttempt)+24)
	v, ok := appendAttempt(buf, a)
	if !ok {
		var err error
		if v, err = encode(header.KindAttempt, a); err != nil {
			return nil, err
		}
	} else {
		buf = v
	}
	n := len(buf)
	buf = strconv.AppendInt(buf, Version, 10)
	version := buf[n:len(buf):len(buf)]
	n = len(buf)
	buf = append(buf, header.KindAttempt...)
	kind := buf[n:len(buf):len(buf)]
	n = len(buf)
	buf = append(buf, a.DeliveryID...)
	id := buf[n:len(buf):len(buf)]
	n = len(buf)
	buf = append(buf, a.SubscriptionID...)
	sub := buf[n:len(buf):len(buf)]
	n = len(buf)
	buf = strconv.AppendInt(buf, int64(a.Attempt), 10)
	attempt := buf[n:len(buf):len(buf)]
	return &kgo.Record{Topic: topic, Key: id, Value: v[:len(v):len(v)], Headers: []kgo.RecordHeader{
		{Key: header.Version, Value: version},
		{Key: header.Kind, Value: kind},
		{Key: header.DeliveryID, Value: id},
		{Key: header.SubscriptionID, Value: sub},
		{Key: header.Attempt, Value: attempt},
	}}, nil
}

// HeaderValue returns the value of the first header named key, or "".
func HeaderValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
