package event

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka header names of the CloudEvents Kafka protocol binding.
const (
	HeaderContentType = "content-type"
	HeaderPrefix      = "ce_"
)

// Decode reads a Kafka record as an event in whichever binding mode it uses
// (see the package documentation). maxBytes limits the record's key, value
// and headers together; zero or less means no limit. A nil record is
// ErrEmpty.
//
// Plain JSON events may lack an id; Decode then derives one from the
// record's topic, partition and offset, so the same record always yields
// the same event id. Their source defaults to "kafka://<topic>" and their
// time to the record's timestamp.
func Decode(r *kgo.Record, maxBytes int) (Event, error) {
	if r == nil {
		return Event{}, &DecodeError{Mode: ModePlain, Err: ErrEmpty}
	}
	size := len(r.Value) + len(r.Key)
	for _, h := range r.Headers {
		size += len(h.Key) + len(h.Value)
	}
	if maxBytes > 0 && size > maxBytes {
		return Event{}, &DecodeError{Mode: modeOf(r), Err: fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, maxBytes)}
	}
	switch modeOf(r) {
	case ModeBinary:
		return decodeBinary(r)
	case ModeStructured:
		return DecodeStructured(r.Value)
	default:
		return decodePlain(r)
	}
}

// errNotUTF8 is ErrNotJSON for bytes that are not UTF-8. JSON text is
// UTF-8 (RFC 8259), and encoding/json would read such bytes as U+FFFD:
// the event would be delivered altered rather than refused.
var errNotUTF8 = fmt.Errorf("%w: not UTF-8", ErrNotJSON)

// validJSON reports whether b is JSON text: valid JSON and UTF-8.
func validJSON(b []byte) bool { return utf8.Valid(b) && json.Valid(b) }

func modeOf(r *kgo.Record) Mode {
	ct := ""
	for _, h := range r.Headers {
		k := strings.ToLower(h.Key)
		if k == HeaderPrefix+"specversion" {
			return ModeBinary
		}
		if k == HeaderContentType {
			ct = string(h.Value)
		}
	}
	if mediaType(ct) == ContentTypeStructured {
		return ModeStructured
	}
	return ModePlain
}

// mediaType returns the lower-case media type of a content type, without
// parameters.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// DecodeStructured parses and validates a structured-mode JSON CloudEvent.
func DecodeStructured(b []byte) (Event, error) {
	if len(b) == 0 {
		return Event{}, &DecodeError{Mode: ModeStructured, Err: ErrEmpty}
	}
	e, err := parseStructured(b)
	if err != nil {
		return Event{}, err
	}
	if err := e.Validate(ModeStructured); err != nil {
		return Event{}, err
	}
	return e, nil
}

func decodeBinary(r *kgo.Record) (Event, error) {
	e := Event{Data: r.Value}
	var ts string
	for _, h := range r.Headers {
		k := strings.ToLower(h.Key)
		v := string(h.Value)
		name, ok := strings.CutPrefix(k, HeaderPrefix)
		if k != HeaderContentType && !ok {
			continue
		}
		// Attributes are Unicode strings; invalid UTF-8 would not survive
		// the JSON records the event travels in.
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			field := name
			if !ok {
				field = HeaderContentType
			}
			return Event{}, &DecodeError{Mode: ModeBinary, Field: strings.ToValidUTF8(field, "?"), Err: fmt.Errorf("%w: not UTF-8", ErrInvalidAttribute)}
		}
		if k == HeaderContentType {
			e.DataContentType = v
			continue
		}
		switch name {
		case "id":
			e.ID = v
		case "source":
			e.Source = v
		case "specversion":
			e.SpecVersion = v
		case "type":
			e.Type = v
		case "subject":
			e.Subject = v
		case "dataschema":
			e.DataSchema = v
		case "time":
			ts = v
		case "datacontenttype":
			e.DataContentType = v
		default:
			if e.Extensions == nil {
				e.Extensions = make(map[string]string)
			}
			e.Extensions[name] = v
		}
	}
	if ts != "" {
		t, err := parseTime(ModeBinary, ts)
		if err != nil {
			return Event{}, err
		}
		e.Time = t
	}
	if err := e.Validate(ModeBinary); err != nil {
		return Event{}, err
	}
	if len(e.Data) > 0 && e.DataIsJSON() && !validJSON(e.Data) {
		return Event{}, &DecodeError{Mode: ModeBinary, Field: "data", Err: ErrNotJSON}
	}
	return e, nil
}

func decodePlain(r *kgo.Record) (Event, error) {
	if len(r.Value) == 0 {
		return Event{}, &DecodeError{Mode: ModePlain, Err: ErrEmpty}
	}
	for _, h := range r.Headers {
		if strings.ToLower(h.Key) != HeaderContentType {
			continue
		}
		mt := mediaType(string(h.Value))
		if mt != "" && mt != ContentTypeJSON && !strings.HasSuffix(mt, "+json") {
			return Event{}, &DecodeError{Mode: ModePlain, Field: HeaderContentType, Err: fmt.Errorf("%w: %q", ErrUnsupportedContentType, mt)}
		}
	}
	if !utf8.Valid(r.Value) {
		return Event{}, &DecodeError{Mode: ModePlain, Err: errNotUTF8}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(r.Value, &obj); err != nil {
		if !json.Valid(r.Value) {
			return Event{}, &DecodeError{Mode: ModePlain, Err: ErrNotJSON}
		}
		return Event{}, &DecodeError{Mode: ModePlain, Err: ErrNotObject}
	}
	if obj == nil { // the JSON literal null
		return Event{}, &DecodeError{Mode: ModePlain, Err: ErrNotObject}
	}
	if _, ok := obj["specversion"]; ok {
		// A JSON CloudEvent sent without its content-type header.
		return DecodeStructured(r.Value)
	}
	var typ string
	raw, ok := obj["type"]
	if !ok {
		return Event{}, &DecodeError{Mode: ModePlain, Field: "type", Err: ErrMissingAttribute}
	}
	if err := json.Unmarshal(raw, &typ); err != nil {
		return Event{}, &DecodeError{Mode: ModePlain, Field: "type", Err: fmt.Errorf("%w: want a string", ErrInvalidAttribute)}
	}
	if typ == "" {
		return Event{}, &DecodeError{Mode: ModePlain, Field: "type", Err: ErrMissingAttribute}
	}
	e := Event{
		Type:            typ,
		SpecVersion:     SpecVersion,
		Source:          "kafka://" + r.Topic,
		DataContentType: ContentTypeJSON,
		Data:            r.Value,
		Time:            r.Timestamp,
	}
	if rawID, ok := obj["id"]; ok {
		_ = json.Unmarshal(rawID, &e.ID) // a non-string id is replaced below
	}
	if e.ID == "" {
		e.ID = RecordID(r.Topic, r.Partition, r.Offset)
	}
	if r.Topic == "" {
		e.Source = "kafka"
	}
	return e, nil
}

// RecordID derives a stable event id from a record's coordinates.
func RecordID(topic string, partition int32, offset int64) string {
	sum := sha256.Sum256([]byte(topic + "/" + strconv.Itoa(int(partition)) + "/" + strconv.FormatInt(offset, 10)))
	return "evt_" + hex.EncodeToString(sum[:12])
}

// BinaryHeaders returns the record headers that carry e in binary mode.
// The record's value is e.Data. Empty attributes and extensions are left
// out, and so are extensions with reserved names (see Event.Validate).
func BinaryHeaders(e *Event) []kgo.RecordHeader {
	hs := []kgo.RecordHeader{
		{Key: HeaderPrefix + "specversion", Value: []byte(e.SpecVersion)},
		{Key: HeaderPrefix + "id", Value: []byte(e.ID)},
		{Key: HeaderPrefix + "source", Value: []byte(e.Source)},
		{Key: HeaderPrefix + "type", Value: []byte(e.Type)},
	}
	add := func(k, v string) {
		if v != "" {
			hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	if !e.Time.IsZero() {
		add(HeaderPrefix+"time", e.Time.UTC().Format(time.RFC3339Nano))
	}
	add(HeaderPrefix+"subject", e.Subject)
	add(HeaderPrefix+"dataschema", e.DataSchema)
	add(HeaderContentType, e.DataContentType)
	for _, k := range slices.Sorted(maps.Keys(e.Extensions)) {
		if !knownAttrs[k] {
			add(HeaderPrefix+k, e.Extensions[k])
		}
	}
	return hs
}

// BinaryRecord returns a record carrying e in binary mode on topic, keyed
// by key.
func BinaryRecord(topic string, key []byte, e *Event) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: key, Value: e.Data, Headers: BinaryHeaders(e)}
}

// StructuredRecord returns a record carrying e in structured mode.
func StructuredRecord(topic string, key []byte, e *Event) (*kgo.Record, error) {
	v, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("event: encoding structured: %w", err)
	}
	return &kgo.Record{
		Topic: topic, Key: key, Value: v,
		Headers: []kgo.RecordHeader{{Key: HeaderContentType, Value: []byte(ContentTypeStructured)}},
	}, nil
}
