package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hookline/hookline/producer/internal/typeadmin"
	"github.com/hookline/hookline/schemas/record"
	"go.uber.org/zap"
)

// WithEventTypes serves the event-type catalogue (/v1/event-types) from
// store; without it those routes answer 503.
func WithEventTypes(store *typeadmin.Store) Opt { return opt(func(s *Server) { s.types = store }) }

// typeFields are what a client writes of an event type.
type typeFields struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Example     json.RawMessage `json:"example"`
	Deprecated  bool            `json:"deprecated"`
}

type typeList struct {
	EventTypes []record.EventType `json:"event_types"`
}

func (s *Server) typeStore(w http.ResponseWriter) bool {
	if s.types == nil {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "not_ready", retryAfter: s.cfg.RetryAfter,
			message: "this server has no event-type catalogue"})
		return false
	}
	return true
}

func (s *Server) readType(w http.ResponseWriter, r *http.Request) (typeFields, *apiError) {
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		return typeFields{}, aerr
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return typeFields{}, malformed("the body is empty; send a JSON object")
	}
	if err := syntaxError(trimmed); err != nil {
		return typeFields{}, malformed(err.Error())
	}
	var f typeFields
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return typeFields{}, invalid("a field has the wrong type", detail{Field: te.Field, Message: "must be " + jsonKind(te.Type.Kind().String())})
		}
		return typeFields{}, invalid("the body does not describe an event type (name, description, schema, example, deprecated)", detail{Message: err.Error()})
	}
	for _, raw := range []*json.RawMessage{&f.Schema, &f.Example} {
		if string(bytes.TrimSpace(*raw)) == "null" {
			*raw = nil
		}
	}
	return f, nil
}

func (f *typeFields) eventType() record.EventType {
	return record.EventType{Name: f.Name, Description: f.Description, Schema: f.Schema, Example: f.Example, Deprecated: f.Deprecated}
}

// typeError maps an error of the event-type store to an answer.
func (s *Server) typeError(err error) *apiError {
	var ie *typeadmin.InvalidError
	switch {
	case errors.As(err, &ie):
		return invalid("the event type is invalid", detail{Field: ie.Field, Message: ie.Message})
	case errors.Is(err, typeadmin.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: "not_found", message: "no such event type"}
	case errors.Is(err, typeadmin.ErrExists):
		return &apiError{status: http.StatusConflict, code: "conflict", message: "an event type with this name exists; PUT /v1/event-types/{name} replaces it"}
	case errors.Is(err, typeadmin.ErrPrecondition):
		return &apiError{status: http.StatusPreconditionFailed, code: "precondition_failed", message: err.Error() + "; GET the event type and retry with its ETag"}
	case errors.Is(err, typeadmin.ErrNotReady):
		return &apiError{status: http.StatusServiceUnavailable, code: "not_ready", retryAfter: s.cfg.RetryAfter,
			message: "the event-type table is still loading; retry shortly"}
	}
	return s.kafkaError(err)
}

func (s *Server) listEventTypes(w http.ResponseWriter, _ *http.Request) {
	if !s.typeStore(w) {
		return
	}
	all, err := s.types.List()
	if err != nil {
		writeError(w, s.typeError(err))
		return
	}
	writeJSON(w, http.StatusOK, typeList{EventTypes: all})
}

func (s *Server) getEventType(w http.ResponseWriter, r *http.Request) {
	if !s.typeStore(w) {
		return
	}
	et, err := s.types.Get(r.PathValue("name"))
	if err != nil {
		writeError(w, s.typeError(err))
		return
	}
	w.Header().Set("ETag", et.ETag())
	writeJSON(w, http.StatusOK, et)
}

func (s *Server) createEventType(w http.ResponseWriter, r *http.Request) {
	if !s.typeStore(w) {
		return
	}
	f, aerr := s.readType(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.writeType(w, r, f.eventType(), true, nil)
}

// putEventType creates or replaces an event type; the body's name, when
// given, must be the path's.
func (s *Server) putEventType(w http.ResponseWriter, r *http.Request) {
	if !s.typeStore(w) {
		return
	}
	f, aerr := s.readType(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	name := r.PathValue("name")
	if f.Name != "" && f.Name != name {
		writeError(w, invalid("the name cannot differ from the path", detail{Field: "name", Message: fmt.Sprintf("must be %q or absent", name)}))
		return
	}
	f.Name = name
	s.writeType(w, r, f.eventType(), false, typeIfMatch(r))
}

func (s *Server) writeType(w http.ResponseWriter, r *http.Request, et record.EventType, mustCreate bool, check typeadmin.Precondition) {
	ctx, cancel := s.writeContext(r)
	defer cancel()
	saved, created, err := s.types.Put(ctx, et, mustCreate, check)
	if err != nil {
		writeError(w, s.typeError(err))
		return
	}
	s.log.Info("event type written", zap.String("event_type", saved.Name), zap.Int64("version", saved.Revision))
	w.Header().Set("ETag", saved.ETag())
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/event-types/"+saved.Name)
	}
	writeJSON(w, status, saved)
}

func (s *Server) deleteEventType(w http.ResponseWriter, r *http.Request) {
	if !s.typeStore(w) {
		return
	}
	ctx, cancel := s.writeContext(r)
	defer cancel()
	if err := s.types.Delete(ctx, r.PathValue("name"), typeIfMatch(r)); err != nil {
		writeError(w, s.typeError(err))
		return
	}
	s.log.Info("event type deleted", zap.String("event_type", r.PathValue("name")))
	w.WriteHeader(http.StatusNoContent)
}

// typeIfMatch is ifMatch for event types: with If-Match and no current
// type, only a missing header holds (PUT creating a type it expected).
func typeIfMatch(r *http.Request) typeadmin.Precondition {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return nil
	}
	tags := splitTags(values)
	return func(cur *record.EventType) error {
		if cur == nil {
			return fmt.Errorf("%w: the event type does not exist, If-Match asked for %s", typeadmin.ErrPrecondition, strings.Join(tags, ", "))
		}
		etag := cur.ETag()
		for _, t := range tags {
			if t == "*" || t == etag {
				return nil
			}
		}
		return fmt.Errorf("%w: the event type is at version %d (ETag %s), If-Match asked for %s",
			typeadmin.ErrPrecondition, cur.Revision, etag, strings.Join(tags, ", "))
	}
}

// splitTags lists the entity tags of If-Match header values.
func splitTags(values []string) []string {
	var tags []string
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return tags
}
