package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// MaxIdempotencyKeyLen bounds the Idempotency-Key header.
const MaxIdempotencyKeyLen = 255

// ContentTypeBatch is the CloudEvents JSON batch media type.
const ContentTypeBatch = "application/cloudevents-batch+json"

type acceptedBody struct {
	IDs []string `json:"ids"`
}

// postEvents ingests one event or a batch. It answers 202 only once Kafka
// acknowledged every record; nothing is produced unless every event of
// the request is valid.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	// The first stage of an event's path: every record of the request
	// carries it (header.AcceptedAt), and the router copies it into the
	// deliveries.
	accepted := s.now()
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		ids, aerr := s.ingest(r, body, "", "", accepted)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		writeJSON(w, http.StatusAccepted, acceptedBody{IDs: ids})
		return
	}
	if len(key) > MaxIdempotencyKeyLen || strings.ContainsFunc(key, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "invalid_idempotency_key",
			message: fmt.Sprintf("Idempotency-Key must be 1-%d printable characters", MaxIdempotencyKeyLen)})
		return
	}
	scope := scopeOf(r.Context())
	answerKey := record.IdempotencyKey(scope, key)
	sum := requestHash(r.Header, body)
	hash := hex.EncodeToString(sum[:])
	if s.replay(w, answerKey, hash) {
		return
	}
	switch s.inflight.begin(answerKey, sum) {
	case inflightBusy:
		writeError(w, &apiError{status: http.StatusConflict, code: "request_in_progress", retryAfter: time.Second,
			message: "a request with this Idempotency-Key is being processed"})
		return
	case inflightMismatch:
		writeError(w, errKeyReused)
		return
	}
	defer s.inflight.end(answerKey)
	// A request with this key may have finished between the look-up and
	// begin.
	if s.replay(w, answerKey, hash) {
		return
	}
	ids, aerr := s.ingest(r, body, key, hash, accepted)
	if aerr != nil {
		// Refusals are not kept: the request may be fixed and sent again
		// under the same key.
		writeError(w, aerr)
		return
	}
	b, _ := json.Marshal(acceptedBody{IDs: ids})
	// The events are written: answer 202 even if the answer cannot be
	// kept. A retry then produces them again under the same ids, and
	// receivers deduplicate on webhook-id.
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProduceTimeout)
	defer cancel()
	if err := s.answers.Put(ctx, record.Idempotency{Key: answerKey, RequestHash: hash, Status: http.StatusAccepted, Body: b, CreatedAt: s.now()}); err != nil {
		s.log.Warn("keeping the answer to an Idempotency-Key request failed; a retry will be produced again", zap.Error(err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(append(b, '\n'))
}

var errKeyReused = &apiError{status: http.StatusUnprocessableEntity, code: "idempotency_key_reused",
	message: "this Idempotency-Key was used for a different request"}

// replay answers a request whose key has an answer: the same answer if the
// request is the same (hash), 422 if not. It reports whether it answered.
func (s *Server) replay(w http.ResponseWriter, answerKey, hash string) bool {
	a, ok := s.answers.Get(answerKey)
	switch {
	case !ok:
		return false
	case a.RequestHash != hash:
		writeError(w, errKeyReused)
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(a.Status)
	_, _ = w.Write(append(append([]byte{}, a.Body...), '\n'))
	return true
}

// readBody reads the body within MaxRequestBytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "request_too_large",
			message: fmt.Sprintf("the request body exceeds %d bytes; send fewer events per request", mbe.Limit)}
	case err != nil:
		return nil, &apiError{status: http.StatusBadRequest, code: "unreadable_body", message: "reading the request body failed"}
	}
	return body, nil
}

// requestHash identifies a request for the idempotency cache: its content
// type, CloudEvents headers and body.
func requestHash(h http.Header, body []byte) [32]byte {
	d := sha256.New()
	d.Write([]byte(h.Get("Content-Type") + "\n"))
	var ce []string
	for k, vs := range h {
		if strings.HasPrefix(strings.ToLower(k), "ce-") {
			ce = append(ce, strings.ToLower(k)+":"+strings.Join(vs, ","))
		}
	}
	sort.Strings(ce)
	d.Write([]byte(strings.Join(ce, "\n") + "\n"))
	d.Write(body)
	var sum [32]byte
	copy(sum[:], d.Sum(nil))
	return sum
}

// ingest parses, validates and produces the events of a request and
// returns their ids.
func (s *Server) ingest(r *http.Request, body []byte, idemKey, reqHash string, accepted time.Time) ([]string, *apiError) {
	evs, details, aerr := parseEvents(r.Header, body, s.cfg.MaxBatchEvents)
	if aerr != nil {
		return nil, aerr
	}
	if len(evs) == 0 {
		return nil, &apiError{status: http.StatusBadRequest, code: "no_events", message: "the batch holds no events"}
	}
	if idemKey != "" {
		// The same request under the same key yields the same ids, even
		// when its answer is lost, so consumers can deduplicate a retry;
		// another request under a reused key (after its answer expired)
		// gets other ids.
		scope := scopeOf(r.Context())
		for i, ev := range evs {
			if ev != nil && ev.ID == "" {
				ev.ID = publish.DerivedID(scope, idemKey, reqHash, strconv.Itoa(i))
			}
		}
	}
	if len(details) > 0 {
		// Some events did not parse: validate the others too, so one
		// answer lists every problem, and produce nothing.
		errs := make([]error, len(evs))
		for i, ev := range evs {
			if ev != nil {
				errs[i] = s.pub.Prepare(ev)
			}
		}
		return nil, s.refuse(evs, errs, details, false)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProduceTimeout)
	defer cancel()
	if s.kafka != nil {
		if err := s.kafka.Check(); err != nil {
			// Validate and fill in ids as producing would, so the answer
			// is 422 for bad input and carries the ids to retry with.
			errs := make([]error, len(evs))
			bad := false
			for i, ev := range evs {
				errs[i] = s.pub.Prepare(ev)
				bad = bad || errs[i] != nil
			}
			if bad {
				return nil, s.refuse(evs, errs, nil, false)
			}
			s.rec.Events("unavailable", len(evs))
			return nil, s.kafkaDown(evs)
		}
		// Kafka going down mid-request ends the wait at once; the
		// records may still be written once it is back, under the same
		// ids, which the 503 answer returns.
		var downCancel context.CancelCauseFunc
		ctx, downCancel = context.WithCancelCause(ctx)
		defer downCancel(nil)
		stop := context.AfterFunc(s.kafka.DownContext(), func() { downCancel(errKafkaDown) })
		defer stop()
	}
	err := s.pub.PublishBatch(ctx, evs, publish.Headers(kgo.RecordHeader{
		Key: header.AcceptedAt, Value: []byte(accepted.UTC().Format(time.RFC3339Nano))}))
	if err != nil && errors.Is(context.Cause(ctx), errKafkaDown) {
		s.rec.Events("unavailable", len(evs))
		return nil, s.kafkaDown(evs)
	}
	if err == nil {
		s.rec.Events("accepted", len(evs))
		return idsOf(evs), nil
	}
	var be *publish.BatchError
	if !errors.As(err, &be) {
		s.rec.Events("failed", len(evs))
		s.log.Error("publishing a batch failed", zap.Error(err))
		return nil, s.kafkaError(err)
	}
	// Every event was valid, so PublishBatch produced them all: those
	// without an error are written.
	return nil, s.refuse(evs, be.Errs, nil, true)
}

var errKafkaDown = errors.New("kafka went down")

// kafkaDown is the answer to a request for which Kafka is down: 503 with
// Retry-After, and the events' ids so that a retry can reuse them.
func (s *Server) kafkaDown(evs []*event.Event) *apiError {
	ae := &apiError{status: http.StatusServiceUnavailable, code: "kafka_unavailable", retryAfter: s.cfg.RetryAfter,
		message: "Kafka is unreachable; retry later"}
	ae.ids = idsOf(evs)
	return ae
}

// refuse builds the answer for events that failed, one error per event
// (nil for those that were fine) plus details already known. Kafka
// failures take precedence (503 or 500: retry the whole request), then
// sizes (413), then validation (422). produced says that the events
// without an error were written (Kafka refused the others); the answer
// then says how many and carries every id.
func (s *Server) refuse(evs []*event.Event, errs []error, details []detail, produced bool) *apiError {
	var kafkaErr error
	tooLarge, invalidN := 0, len(details)
	for i, err := range errs {
		var ve *publish.ValidationError
		switch {
		case err == nil:
		case errors.As(err, &ve):
			invalidN++
			for _, f := range ve.Fields {
				details = append(details, detail{Index: ptr(i), Field: f.Field, Message: f.Message})
			}
		case errors.Is(err, publish.ErrTooLarge) && !publish.IsRetryable(err):
			tooLarge++
			details = append(details, detail{Index: ptr(i), Message: strings.TrimPrefix(err.Error(), "publish: ")})
		default:
			if kafkaErr == nil {
				kafkaErr = err
			}
		}
	}
	// Every event detail has an index.
	sort.SliceStable(details, func(a, b int) bool { return *details[a].Index < *details[b].Index })
	if kafkaErr != nil {
		ae := s.kafkaError(kafkaErr)
		outcome := "failed"
		if ae.status == http.StatusServiceUnavailable {
			outcome = "unavailable"
		}
		s.rec.Events(outcome, len(evs))
		s.log.Warn("producing events failed", zap.Int("events", len(evs)), zap.Error(kafkaErr))
		// Ids let the client match a retry; events it sent without ids
		// get new ones on retry unless it sends an Idempotency-Key.
		ae.ids = idsOf(evs)
		return ae
	}
	s.rec.Events("invalid", invalidN)
	s.rec.Events("too_large", tooLarge)
	written := "nothing was produced"
	var ids []string
	if n := len(evs) - tooLarge - invalidN; produced && n > 0 {
		s.rec.Events("accepted", n)
		written = fmt.Sprintf("the other %d were produced (ids in \"ids\"); send only those named in \"details\" again", n)
		ids = idsOf(evs)
	}
	if tooLarge > 0 {
		ae := &apiError{status: http.StatusRequestEntityTooLarge, code: "event_too_large", details: details,
			message: fmt.Sprintf("%d event(s) exceed the limit of %d bytes; %s", tooLarge, s.cfg.MaxEventBytes, written)}
		ae.ids = ids
		return ae
	}
	ae := invalid(fmt.Sprintf("%d event(s) are invalid; %s", invalidN, written), details...)
	ae.ids = ids
	return ae
}

func ptr(i int) *int { return &i }

func idsOf(evs []*event.Event) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		if ev != nil {
			ids[i] = ev.ID
		}
	}
	return ids
}

// parseEvents reads the events of a request: CloudEvents HTTP binary mode
// (ce-* headers, body = data), or JSON: one event, an array of events
// (application/cloudevents-batch+json), or {"events":[...]}. Each JSON
// event is a structured CloudEvent (it has "specversion") or plain JSON
// with a string "type", which becomes an event whose data is the whole
// object, as event.Decode reads plain JSON records. Events that do not
// parse are nil, with details naming their index; a body that is not JSON
// at all is an error. A batch is read one event at a time and refused
// (413) as soon as it holds more than maxEvents, so a large request costs
// no more memory than maxEvents events.
func parseEvents(h http.Header, body []byte, maxEvents int) ([]*event.Event, []detail, *apiError) {
	if h.Get("Ce-Specversion") != "" {
		ev, ds := parseBinary(h, body)
		for i := range ds {
			ds[i].Index = ptr(0)
		}
		return []*event.Event{ev}, ds, nil
	}
	ct := mediaType(h.Get("Content-Type"))
	if ct != "" && ct != event.ContentTypeJSON && !strings.HasSuffix(ct, "+json") {
		return nil, nil, &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			message: fmt.Sprintf("content type %q: send application/json, %s or %s (or CloudEvents binary mode with ce-* headers)",
				ct, event.ContentTypeStructured, ContentTypeBatch)}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, nil, malformed("the body is empty")
	}
	if err := syntaxError(trimmed); err != nil {
		return nil, nil, malformed(err.Error())
	}
	switch trimmed[0] {
	case '[':
		return parseBatch(trimmed, maxEvents)
	case '{':
		f := scanObject(trimmed)
		list, isBatch, err := batchOf(f)
		if err != nil {
			return nil, nil, err
		}
		if isBatch {
			return parseBatch(list, maxEvents)
		}
		ev, ds := jsonEvent(trimmed, f)
		for i := range ds {
			ds[i].Index = ptr(0)
		}
		return []*event.Event{ev}, ds, nil
	default:
		return nil, nil, malformed("the body must be a JSON object (one event or {\"events\":[...]}) or an array of events")
	}
}

// members holds what the ingest API reads of a JSON object's top-level
// members without decoding it: the raw values of "events" (the first),
// "type" and "id" (the last, as a decode into a map keeps), and whether
// it has "type" or "specversion".
type members struct {
	events, typ, id    []byte
	hasEvents, hasType bool
	hasSpecVersion     bool
}

// scanObject reads the top-level members of obj, a valid JSON object, in
// place: no value is decoded or copied. Names are compared as JSON
// strings, so an escaped name ("\u0074ype") counts as its text.
func scanObject(obj []byte) members {
	var f members
	i := skipSpace(obj, 1) // past '{'
	for i < len(obj) && obj[i] == '"' {
		end := valueEnd(obj, i)
		name := obj[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var s string
			_ = json.Unmarshal(obj[i:end], &s) // a valid JSON string
			name = []byte(s)
		}
		i = skipSpace(obj, skipSpace(obj, end)+1) // past ':'
		end = valueEnd(obj, i)
		switch string(name) {
		case "events":
			if !f.hasEvents {
				f.events, f.hasEvents = obj[i:end], true
			}
		case "type":
			f.typ, f.hasType = obj[i:end], true
		case "id":
			f.id = obj[i:end]
		case "specversion":
			f.hasSpecVersion = true
		}
		i = skipSpace(obj, end)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return f
}

// batchOf returns the value of "events" when f, the members of a JSON
// object, are a batch object, {"events":[...]}, and not an event (it has
// no "type" or "specversion").
func batchOf(f members) (list []byte, isBatch bool, aerr *apiError) {
	if !f.hasEvents || f.hasType || f.hasSpecVersion {
		return nil, false, nil
	}
	if len(f.events) == 0 || f.events[0] != '[' {
		return nil, false, malformed(`"events" must be an array of events`)
	}
	return f.events, true, nil
}

// jsonString returns the text of v, a valid JSON value, when it is a
// string; ok is false otherwise.
func jsonString(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(v, '\\') < 0 {
		// Valid JSON holds no control characters unescaped and the body
		// is valid UTF-8: the text is the bytes between the quotes.
		return string(v[1 : len(v)-1]), true
	}
	return s, json.Unmarshal(v, &s) == nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the offset just past the JSON value that starts at
// b[i]; b is valid JSON.
func valueEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			continue
		case '}', ']':
			depth--
		default:
			if depth > 0 {
				continue
			}
			// A number, true, false or null.
			for i < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[i])) {
				i++
			}
			return i
		}
		if depth == 0 {
			return i + 1
		}
	}
	return len(b)
}

// parseBatch reads a JSON array of events (valid JSON) one element at a
// time, and stops with 413 at element maxEvents+1.
func parseBatch(list []byte, maxEvents int) ([]*event.Event, []detail, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(list))
	_, _ = dec.Token() // '['
	var evs []*event.Event
	var details []detail
	for i := 0; dec.More(); i++ {
		if i == maxEvents {
			return nil, nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "too_many_events",
				message: fmt.Sprintf("a request may carry at most %d events, this one has more; nothing was produced", maxEvents)}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, malformed("the body is not valid JSON")
		}
		ev, ds := parseJSONEvent(raw)
		for _, d := range ds {
			d.Index = ptr(i)
			details = append(details, d)
		}
		evs = append(evs, ev)
	}
	if evs == nil {
		evs = []*event.Event{}
	}
	return evs, details, nil
}

// syntaxError describes why b is not JSON, or returns nil. JSON text is
// UTF-8 (RFC 8259): encoding/json would read other bytes as U+FFFD and the
// event would be delivered altered, so they are refused.
func syntaxError(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("the body is not valid JSON: it is not UTF-8 (at byte %d)", invalidUTF8At(b))
	}
	if json.Valid(b) {
		return nil
	}
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("the body is not valid JSON: %s (at byte %d)", se.Error(), se.Offset)
	}
	return errors.New("the body is not valid JSON")
}

// invalidUTF8At returns the offset of the first byte of b that is not
// part of valid UTF-8, or -1.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// parseJSONEvent reads one event of a batch: a structured CloudEvent (it
// has "specversion") or plain JSON with a string "type", which becomes an
// event whose data is the whole object. raw is valid JSON.
func parseJSONEvent(raw json.RawMessage) (*event.Event, []detail) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, []detail{{Message: "an event must be a JSON object"}}
	}
	return jsonEvent(raw, scanObject(raw))
}

// jsonEvent is parseJSONEvent for obj, a JSON object, whose members f
// are already scanned.
func jsonEvent(obj []byte, f members) (*event.Event, []detail) {
	if f.hasSpecVersion {
		var ev event.Event
		if err := ev.UnmarshalJSON(obj); err != nil {
			return nil, []detail{decodeDetail(err)}
		}
		return &ev, nil
	}
	typ, ok := jsonString(f.typ)
	if !ok || typ == "" {
		return nil, []detail{{Field: "type", Message: `a non-empty string is required: plain JSON events name their type in "type" (CloudEvents carry "specversion")`}}
	}
	ev := &event.Event{Type: typ, DataContentType: event.ContentTypeJSON, Data: obj}
	// A non-string id is ignored, as event.Decode does.
	ev.ID, _ = jsonString(f.id)
	return ev, nil
}

func decodeDetail(err error) detail {
	var de *event.DecodeError
	if errors.As(err, &de) {
		return detail{Field: de.Field, Message: de.Err.Error()}
	}
	return detail{Message: err.Error()}
}

// parseBinary reads a CloudEvents HTTP binary-mode request: attributes in
// ce-* headers (percent-encoded where needed), Content-Type as
// datacontenttype, the body as data.
func parseBinary(h http.Header, body []byte) (*event.Event, []detail) {
	ev := &event.Event{Data: body, DataContentType: h.Get("Content-Type")}
	var ds []detail
	for k, vs := range h {
		name, ok := strings.CutPrefix(strings.ToLower(k), "ce-")
		if !ok || len(vs) == 0 {
			continue
		}
		v := vs[0]
		if strings.Contains(v, "%") {
			if u, err := url.PathUnescape(v); err == nil {
				v = u
			}
		}
		switch name {
		case "id":
			ev.ID = v
		case "source":
			ev.Source = v
		case "specversion":
			ev.SpecVersion = v
		case "type":
			ev.Type = v
		case "subject":
			ev.Subject = v
		case "dataschema":
			ev.DataSchema = v
		case "datacontenttype":
			ev.DataContentType = v
		case "time":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				ds = append(ds, detail{Field: "time", Message: "not an RFC 3339 time"})
				continue
			}
			ev.Time = t
		default:
			if ev.Extensions == nil {
				ev.Extensions = map[string]string{}
			}
			ev.Extensions[name] = v
		}
	}
	if len(body) > 0 && ev.DataIsJSON() && !utf8.Valid(body) {
		ds = append(ds, detail{Field: "data", Message: fmt.Sprintf("JSON data that is not UTF-8 (at byte %d)", invalidUTF8At(body))})
	}
	if len(ds) > 0 {
		return nil, ds
	}
	return ev, nil
}

func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
