// Package fanout is the router's routing core: it turns one source record
// into the records the router produces for it, in four steps:
//
//  1. decode the record as a CloudEvent (binary, structured or plain JSON);
//  2. validate the event's data against its registered JSON Schema;
//  3. match the event against every active subscription, by event type
//     pattern and then by the subscription's CEL filter;
//  4. build one Delivery record per match, keyed by subscription id.
//
// A record that fails step 1 or 2, or whose records would be too large to
// produce, yields exactly one DeadLetter record (stage "route") instead,
// carrying the raw record so that nothing is lost.
//
// A filter that fails at run time on an event (filter.ErrEval) counts as
// not matching for that subscription, and yields a DeadLetter (stage
// "route", reason filter_error) carrying the Delivery that a match would
// have made, keyed by subscription id, next to the event's other
// deliveries: the operator can fix the filter and replay it. A filter that
// does not compile matches nothing and is only reported (by the Compiler
// and in Result.FilterErrors), not dead-lettered event by event.
//
// Route does no I/O and reads no clock: the same record, subscription Set
// and time give the same output. That is what makes the router's
// transactional retries (after an abort or a crash) produce the very same
// delivery ids.
package fanout

import (
	"errors"
	"fmt"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/filter"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Validator checks event data against the schema of its type. It is
// satisfied by *registry.Registry: nil for valid data, an error wrapping
// registry.ErrUnknownType for a type without a schema, or a
// *registry.ValidationError naming the offending fields.
type Validator interface {
	Validate(eventType string, version int, data []byte) error
}

var _ Validator = (*registry.Registry)(nil)

// Config says where records go and what input is acceptable.
type Config struct {
	// Deliveries and DLQ are the topics of Delivery and DeadLetter records.
	Deliveries string
	DLQ        string
	// MaxEventBytes bounds a source record (key, value and headers
	// together); larger ones are dead-lettered as too_large. Zero or less
	// means no limit.
	MaxEventBytes int
	// MaxRecordBytes bounds every record Route returns, as Kafka counts
	// it within a batch: it should not exceed the producer's batch limit
	// nor the topics' max.message.bytes. An event whose deliveries would
	// exceed it is dead-lettered as too_large, and a dead letter that would
	// exceed it carries a truncated raw value. Zero or less means no limit.
	MaxRecordBytes int
	// RejectUnknownTypes dead-letters events whose type has no registered
	// schema (reason unknown_type); by default they are routed unvalidated.
	RejectUnknownTypes bool
	// Validator checks event data; nil skips validation.
	Validator Validator
}

// Router routes records under one Config. It is safe for concurrent use.
type Router struct {
	cfg Config
}

// New returns a Router for cfg.
func New(cfg Config) *Router { return &Router{cfg: cfg} }

// Result is what Route decided for one source record.
type Result struct {
	// Event is the decoded event; nil when the record does not decode.
	Event *event.Event
	// Records are the records to produce: one Delivery per match and one
	// filter_error DeadLetter per filter that failed on the event, or a
	// single DeadLetter for the event. Empty when the event matches no
	// subscription and no filter failed.
	Records []*kgo.Record
	// Deliveries is the number of Delivery records in Records (the number
	// of matching subscriptions).
	Deliveries int
	// FilterDeadLetters is the number of filter_error DeadLetter records
	// in Records.
	FilterDeadLetters int
	// Reason is the dead-letter reason (record.Reason*), or "" when the
	// event was routed.
	Reason string
	// Err is why the record was dead-lettered; nil when routed.
	Err error
	// FilterErrors are the filters that failed for this event; each such
	// subscription was treated as not matching. Those that failed at run
	// time are also dead-lettered (see FilterDeadLetters).
	FilterErrors []FilterError
}

// Route decodes, validates and matches rec against set, and returns the
// records to produce. now stamps the records (Delivery.RoutedAt,
// DeadLetter.FailedAt); it does not affect delivery ids.
func (r *Router) Route(set *Set, rec *kgo.Record, now time.Time) Result {
	ev, err := event.Decode(rec, r.cfg.MaxEventBytes)
	if err != nil {
		reason := record.ReasonInvalidEvent
		if errors.Is(err, event.ErrTooLarge) {
			reason = record.ReasonTooLarge
		}
		return r.deadLetter(rec, nil, reason, err, now)
	}
	if r.cfg.Validator != nil {
		if reason, err := r.validate(&ev); err != nil {
			return r.deadLetter(rec, &ev, reason, err, now)
		}
	}

	res := Result{Event: &ev}
	var vars map[string]any  // parsed once, only if some filter needs it
	var enc *deliveryEncoder // built once, only if some subscription matches
	for i := range set.targets {
		t := &set.targets[i]
		if !t.sub.Matches(ev.Type) {
			continue
		}
		if t.err != nil {
			res.FilterErrors = append(res.FilterErrors, FilterError{SubscriptionID: t.sub.ID, Filter: t.sub.Filter, Err: t.err})
			continue
		}
		if t.prg != nil {
			if vars == nil {
				vars = filter.Vars(&ev)
			}
			ok, err := t.prg.Match(vars)
			if err != nil {
				res.FilterErrors = append(res.FilterErrors, FilterError{SubscriptionID: t.sub.ID, Filter: t.sub.Filter, Err: err})
				if out := r.filterDeadLetter(rec, &ev, t.sub, err, now); out != nil {
					res.Records = append(res.Records, out)
					res.FilterDeadLetters++
				}
				continue
			}
			if !ok {
				continue
			}
		}
		if enc == nil {
			var err error
			if enc, err = newDeliveryEncoder(r.cfg.Deliveries, &ev, now, record.AcceptedAt(rec)); err != nil {
				// The event decoded, so this is an event the record
				// format cannot carry, for any subscription.
				dl := r.deadLetter(rec, &ev, record.ReasonInvalidEvent, fmt.Errorf("encoding delivery: %w", err), now)
				dl.FilterErrors = res.FilterErrors
				return dl
			}
		}
		out := enc.record(t.sub.ID)
		if n := RecordSize(out); r.cfg.MaxRecordBytes > 0 && n > r.cfg.MaxRecordBytes {
			dl := r.deadLetter(rec, &ev, record.ReasonTooLarge,
				fmt.Errorf("%w: delivery record is %d bytes, limit %d", ErrRecordTooLarge, n, r.cfg.MaxRecordBytes), now)
			dl.FilterErrors = res.FilterErrors
			return dl
		}
		res.Records = append(res.Records, out)
		res.Deliveries++
	}
	return res
}

// filterDeadLetter returns the filter_error DeadLetter of ev for sub, whose
// filter failed with cause: it carries the Delivery a match would have
// made, so that it can be replayed once the filter is fixed. Should that
// not fit in Config.MaxRecordBytes (or not encode), the dead letter
// carries the raw source record instead, truncated as needed. It returns
// nil only if no dead letter can be encoded at all.
func (r *Router) filterDeadLetter(rec *kgo.Record, ev *event.Event, sub *record.Subscription, cause error, now time.Time) *kgo.Record {
	d := record.NewDelivery(*ev, sub.ID, now)
	d.AcceptedAt = record.AcceptedAt(rec)
	dl := record.DeadLetter{
		V:         record.Version,
		Delivery:  &d,
		Stage:     record.StageRoute,
		Reason:    record.ReasonFilterError,
		LastError: fmt.Sprintf("subscription %s: filter %q: %v", sub.ID, sub.Filter, cause),
		FailedAt:  now.UTC(),
		Source:    record.ProvenanceOf(rec),
	}
	out, err := dl.Record(r.cfg.DLQ)
	if err == nil && (r.cfg.MaxRecordBytes <= 0 || RecordSize(out) <= r.cfg.MaxRecordBytes) {
		return out
	}
	if err != nil {
		dl.LastError += "; delivery dropped: " + err.Error()
	} else {
		dl.LastError += fmt.Sprintf("; delivery dropped: dead letter is %d bytes, limit %d", RecordSize(out), r.cfg.MaxRecordBytes)
	}
	dl.Delivery = nil
	dl.Raw = record.RawOf(rec)
	if out, err = r.deadLetterRecord(&dl, ev, sub.ID); err != nil {
		dl.Raw = nil
		out, _ = r.deadLetterRecord(&dl, ev, sub.ID)
	}
	return out
}

// validate classifies the validator's verdict on ev.
func (r *Router) validate(ev *event.Event) (reason string, err error) {
	err = r.cfg.Validator.Validate(ev.Type, registry.VersionOf(ev.DataSchema), ev.Data)
	var verr *registry.ValidationError
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, registry.ErrUnknownType):
		if !r.cfg.RejectUnknownTypes {
			return "", nil
		}
		return record.ReasonUnknownType, err
	case errors.As(err, &verr):
		return record.ReasonSchemaViolation, err
	default:
		// Not a verdict on the data, but the data could not be checked.
		return record.ReasonSchemaViolation, err
	}
}

// deadLetter returns the Result that dead-letters rec. ev is the decoded
// event, if any: the dead letter is then keyed by its id.
func (r *Router) deadLetter(rec *kgo.Record, ev *event.Event, reason string, cause error, now time.Time) Result {
	dl := record.DeadLetter{
		V:         record.Version,
		Raw:       record.RawOf(rec),
		Stage:     record.StageRoute,
		Reason:    reason,
		LastError: cause.Error(),
		FailedAt:  now.UTC(),
		Source:    record.ProvenanceOf(rec),
	}
	out, err := r.deadLetterRecord(&dl, ev, "")
	res := Result{Event: ev, Reason: reason, Err: cause}
	if err != nil {
		// A DeadLetter of plain strings and bytes always encodes; should
		// it not, keep what can be kept rather than lose the record.
		dl.Raw = nil
		dl.LastError += "; raw record dropped: " + err.Error()
		out, _ = r.deadLetterRecord(&dl, ev, "")
	}
	if out != nil {
		res.Records = []*kgo.Record{out}
	}
	return res
}

// deadLetterRecord encodes dl, which has no Delivery, keyed by ev's id if
// ev is set, cutting its raw value to fit Config.MaxRecordBytes. A
// non-empty subscriptionID is added as a header.
func (r *Router) deadLetterRecord(dl *record.DeadLetter, ev *event.Event, subscriptionID string) (*kgo.Record, error) {
	build := func() (*kgo.Record, error) {
		out, err := dl.Record(r.cfg.DLQ)
		if err != nil {
			return nil, err
		}
		if ev != nil {
			// DESIGN: route-stage dead letters are keyed by event id.
			out.Key = []byte(ev.ID)
			out.Headers = append(out.Headers,
				kgo.RecordHeader{Key: header.EventID, Value: []byte(ev.ID)},
				kgo.RecordHeader{Key: header.EventType, Value: []byte(ev.Type)})
		}
		if subscriptionID != "" {
			out.Headers = append(out.Headers, kgo.RecordHeader{Key: header.SubscriptionID, Value: []byte(subscriptionID)})
		}
		return out, nil
	}
	// Too large for the DLQ topic: keep as much of the raw value as fits.
	// The provenance still points at the whole record in the source topic.
	return dl.Fit(r.cfg.MaxRecordBytes, nil, build)
}

// RecordSize estimates the bytes r takes in a record batch of its own.
func RecordSize(r *kgo.Record) int { return record.RecordSize(r) }

// ErrRecordTooLarge means a record Route would produce exceeds
// Config.MaxRecordBytes.
var ErrRecordTooLarge = errors.New("record too large to produce")
