package history

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/platform/dlqreplay"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReasonUndecodable is the reason of dead-letter records that do not
// decode, as hookctl names it.
const ReasonUndecodable = "undecodable"

// Selection selects dead letters, as hookctl dlq's flags do. Empty fields
// select all. Since and Until are RFC 3339 times or durations ago ("24h"),
// kept as given: the progress of a replay is keyed to this text.
type Selection struct {
	SubscriptionID string   `json:"subscription_id,omitempty"`
	Type           string   `json:"type,omitempty"` // a pattern, as in subscriptions
	Reasons        []string `json:"reasons,omitempty"`
	Stage          string   `json:"stage,omitempty"`
	EventID        string   `json:"event_id,omitempty"`
	DeliveryID     string   `json:"delivery_id,omitempty"`
	Since          string   `json:"since,omitempty"`
	Until          string   `json:"until,omitempty"`
	// Position names one dead letter, partition/offset.
	Position string `json:"position,omitempty"`
	// IncludeRoute also replays route-stage dead letters to their source
	// topics.
	IncludeRoute bool `json:"include_route,omitempty"`

	since, until time.Time
	partition    int32
	offset       int64 // -1 without Position
	parsed       bool
}

// InvalidError names a selection field that does not parse.
type InvalidError struct{ Field, Message string }

func (e *InvalidError) Error() string { return e.Field + ": " + e.Message }

// Parse checks the selection against now; call it before use.
func (s *Selection) Parse(now time.Time) error {
	var err error
	if s.since, err = parseWhen("since", s.Since, now); err != nil {
		return err
	}
	if s.until, err = parseWhen("until", s.Until, now); err != nil {
		return err
	}
	if !s.since.IsZero() && !s.until.IsZero() && !s.since.Before(s.until) {
		return &InvalidError{"since", "is not before until"}
	}
	switch s.Stage {
	case "", record.StageRoute, record.StageDispatch:
	default:
		return &InvalidError{"stage", "want route or dispatch"}
	}
	if s.Type != "" {
		if err := record.ValidatePattern(s.Type); err != nil {
			return &InvalidError{"type", err.Error()}
		}
	}
	s.offset = -1
	if s.Position != "" {
		p, o, ok := strings.Cut(s.Position, "/")
		pn, err1 := strconv.ParseInt(p, 10, 32)
		on, err2 := strconv.ParseInt(o, 10, 64)
		if !ok || err1 != nil || err2 != nil || pn < 0 || on < 0 {
			return &InvalidError{"position", "want partition/offset, such as 0/42"}
		}
		s.partition, s.offset = int32(pn), on
	}
	s.parsed = true
	return nil
}

func parseWhen(field, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, &InvalidError{field, "want an RFC 3339 time or a duration ago (90m, 24h)"}
}

// Text is the selection as canonical text, the text hookctl dlq replay
// prints and keys its progress to.
func (s *Selection) Text() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("subscription", s.SubscriptionID)
	add("type", s.Type)
	add("reason", strings.Join(slices.Sorted(slices.Values(s.Reasons)), ","))
	add("stage", s.Stage)
	add("event-id", s.EventID)
	add("delivery-id", s.DeliveryID)
	add("since", s.Since)
	add("until", s.Until)
	if s.Position != "" {
		parts = append(parts, fmt.Sprintf("position=%d/%d", s.partition, s.offset))
	}
	if s.IncludeRoute {
		parts = append(parts, "include-route")
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// ReplayName is the consumer group that keeps the progress of replays of
// selection text, as hookctl derives it.
func ReplayName(text string) string { return dlqreplay.Name(text) }

// DeadLetter is one record of the dead-letter topic.
type DeadLetter struct {
	Position       string             `json:"position"`
	FailedAt       time.Time          `json:"failed_at"`
	Reason         string             `json:"reason"`
	SubscriptionID string             `json:"subscription_id,omitempty"`
	EventType      string             `json:"event_type,omitempty"`
	EventID        string             `json:"event_id,omitempty"`
	DeliveryID     string             `json:"delivery_id,omitempty"`
	DeadLetter     *record.DeadLetter `json:"dead_letter,omitempty"`
	DecodeError    string             `json:"decode_error,omitempty"`

	rec *kgo.Record
}

func decode(rec *kgo.Record) DeadLetter {
	d := DeadLetter{Position: fmt.Sprintf("%d/%d", rec.Partition, rec.Offset), rec: rec}
	dl, err := record.DecodeDeadLetter(rec.Value)
	if err != nil {
		d.DecodeError, d.Reason, d.FailedAt = err.Error(), ReasonUndecodable, rec.Timestamp.UTC()
		d.SubscriptionID = record.HeaderValue(rec, header.SubscriptionID)
		d.EventType = record.HeaderValue(rec, header.EventType)
		d.EventID = record.HeaderValue(rec, header.EventID)
		d.DeliveryID = record.HeaderValue(rec, header.DeliveryID)
		return d
	}
	d.DeadLetter, d.Reason, d.FailedAt = &dl, dl.Reason, cmp.Or(dl.FailedAt, rec.Timestamp).UTC()
	if del := dl.Delivery; del != nil {
		d.SubscriptionID, d.EventType, d.EventID, d.DeliveryID = del.SubscriptionID, del.Event.Type, del.Event.ID, del.ID
	} else {
		d.EventType, d.EventID = record.HeaderValue(rec, header.EventType), record.HeaderValue(rec, header.EventID)
	}
	return d
}

func (s *Selection) match(d *DeadLetter) bool {
	stage := ""
	if d.DeadLetter != nil {
		stage = d.DeadLetter.Stage
	}
	switch {
	case s.SubscriptionID != "" && d.SubscriptionID != s.SubscriptionID,
		s.Type != "" && !record.MatchPattern(s.Type, d.EventType),
		len(s.Reasons) > 0 && !slices.Contains(s.Reasons, d.Reason),
		s.Stage != "" && stage != s.Stage,
		s.EventID != "" && d.EventID != s.EventID,
		s.DeliveryID != "" && d.DeliveryID != s.DeliveryID,
		!s.since.IsZero() && d.FailedAt.Before(s.since),
		!s.until.IsZero() && !d.FailedAt.Before(s.until):
		return false
	}
	return true
}

// bounds returns the spans of the dead-letter topic s covers: all of it,
// or the one dead letter of Position.
func (r *Reader) bounds(ctx context.Context, s *Selection) (spans, error) {
	t := r.names.DLQ()
	sp, err := r.snapshot(ctx, t)
	if err != nil {
		return nil, err
	}
	if s.offset < 0 {
		return sp, nil
	}
	b, ok := sp[s.partition]
	if !ok || s.offset < b.from || s.offset >= b.to {
		return nil, fmt.Errorf("dead letter %d/%d: %w", s.partition, s.offset, ErrNotFound)
	}
	return spans{s.partition: {s.offset, s.offset + 1}}, nil
}

// DeadLetters returns the dead letters s selects, oldest failure first,
// at most limit (0: all) of them, and how many matched.
func (r *Reader) DeadLetters(ctx context.Context, s Selection, limit int) ([]DeadLetter, int, error) {
	if !s.parsed {
		if err := s.Parse(time.Now()); err != nil {
			return nil, 0, err
		}
	}
	sctx, cancel := context.WithTimeout(ctx, r.timeout)
	sp, err := r.bounds(sctx, &s)
	cancel()
	if err != nil {
		return nil, 0, err
	}
	var out []DeadLetter
	err = r.scan(ctx, r.names.DLQ(), sp, func(rec *kgo.Record) error {
		if d := decode(rec); s.match(&d) {
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	slices.SortFunc(out, func(a, b DeadLetter) int {
		return cmp.Or(a.FailedAt.Compare(b.FailedAt), cmp.Compare(a.rec.Partition, b.rec.Partition), cmp.Compare(a.rec.Offset, b.rec.Offset))
	})
	total := len(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, total, nil
}

// ReplayRequest is one replay: a selection plus how to run it.
type ReplayRequest struct {
	Selection
	// Name is the consumer group that keeps the progress; default
	// ReplayName(Selection.Text()).
	Name    string `json:"name,omitempty"`
	DryRun  bool   `json:"dry_run,omitempty"`
	Restart bool   `json:"restart,omitempty"`
	Force   bool   `json:"force,omitempty"`
	// Limit bounds the records replayed by this request (0: all); a rerun
	// continues.
	Limit int `json:"limit,omitempty"`
}

// ReplayResult is what a replay did, or would do in a dry run.
type ReplayResult struct {
	Name          string       `json:"name"`
	Selection     string       `json:"selection"`
	DryRun        bool         `json:"dry_run"`
	Complete      bool         `json:"complete"`
	Read          int          `json:"read"`
	Matched       int          `json:"matched"`
	Replayed      int          `json:"replayed"`
	ReplayedRoute int          `json:"replayed_route"`
	SkippedRoute  int          `json:"skipped_route"`
	Unreplayable  int          `json:"unreplayable"`
	Problems      []string     `json:"problems,omitempty"`
	Items         []ReplayItem `json:"items,omitempty"`
}

// ReplayItem is one record a dry run would replay.
type ReplayItem struct {
	Position       string `json:"position"`
	To             string `json:"to"`
	Reason         string `json:"reason"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	EventID        string `json:"event_id,omitempty"`
	DeliveryID     string `json:"delivery_id,omitempty"`
}

// Subscriptions looks subscriptions up for the target check; a nil one
// checks nothing.
type Subscriptions interface {
	Get(id string) (record.Subscription, error)
}

// plan returns the record that replays d, or nil; skipped reports a
// route-stage dead letter left out for want of IncludeRoute.
func (r *Reader) plan(d *DeadLetter, includeRoute bool) (rec *kgo.Record, skipped bool, err error) {
	if d.DeadLetter == nil {
		return nil, false, nil
	}
	return dlqreplay.Record(d.rec, d.DeadLetter, r.names.Deliveries(), includeRoute)
}

// Replay replays the dead letters req selects, after the progress of its
// name, and saves the progress as it goes. Target subscriptions must exist
// and be active unless req.Force. A dry run writes nothing.
func (r *Reader) Replay(ctx context.Context, req ReplayRequest, subs Subscriptions) (ReplayResult, error) {
	if !req.parsed {
		if err := req.Parse(time.Now()); err != nil {
			return ReplayResult{}, err
		}
	}
	text := req.Text()
	name := cmp.Or(req.Name, ReplayName(text))
	t := r.names.DLQ()
	sctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	sp, err := r.bounds(sctx, &req.Selection)
	if err != nil {
		return ReplayResult{}, err
	}
	if groups, err := r.adm.DescribeGroups(sctx, name); err == nil {
		if g, ok := groups[name]; ok && g.Err == nil && len(g.Members) > 0 {
			return ReplayResult{}, fmt.Errorf("%s: %w", name, ErrGroupInUse)
		}
	}
	done, err := r.adm.FetchOffsets(sctx, name)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return ReplayResult{}, fmt.Errorf("fetching the progress of replay %s: %w", name, err)
	}
	if !req.Restart {
		var other *string
		done.Each(func(c kadm.OffsetResponse) {
			if c.Topic == t && c.Err == nil && c.Metadata != text && other == nil {
				other = &c.Metadata
			}
		})
		if other != nil {
			return ReplayResult{}, fmt.Errorf("%w: %s replays %q, not %q", ErrSelectionChanged, name, *other, text)
		}
		for p, s := range sp {
			if c, ok := done.Lookup(t, p); ok && c.Err == nil && c.At > s.from {
				s.from = min(c.At, max(s.to, s.from))
				sp[p] = s
			}
		}
	}
	plan, err := r.pass(ctx, &req, name, text, sp, true)
	if err != nil {
		return plan, err
	}
	if !req.Force && subs != nil {
		plan.Problems = checkTargets(plan.Items, r.names.Deliveries(), subs)
	}
	if req.DryRun {
		return plan, nil
	}
	if len(plan.Problems) > 0 {
		return plan, fmt.Errorf("%w: %s", ErrInactive, strings.Join(plan.Problems, "; "))
	}
	return r.pass(ctx, &req, name, text, sp, false)
}

func checkTargets(items []ReplayItem, deliveries string, subs Subscriptions) []string {
	ids := map[string]bool{}
	for _, it := range items {
		if it.To == deliveries && it.SubscriptionID != "" {
			ids[it.SubscriptionID] = true
		}
	}
	var problems []string
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		sub, err := subs.Get(id)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("subscription %s does not exist", id))
		case sub.State != record.StateActive:
			p := fmt.Sprintf("subscription %s is %s", id, sub.State)
			if sub.StateReason != "" {
				p += " (" + sub.StateReason + ")"
			}
			problems = append(problems, p)
		}
	}
	return problems
}

// pass reads sp once; with plan set it only counts and lists, otherwise it
// replays and commits the progress of name, the selection text as its
// metadata, at the end (and before returning an error).
func (r *Reader) pass(ctx context.Context, req *ReplayRequest, name, text string, sp spans, plan bool) (ReplayResult, error) {
	res := ReplayResult{Name: name, Selection: text, DryRun: plan}
	t := r.names.DLQ()
	pos := map[int32]int64{}
	if req.offset < 0 {
		for p, s := range sp {
			pos[p] = s.from
		}
	}
	var produced []*kgo.Record
	// Replayed records are produced with a context of their own: a client
	// that goes away must not leave records sent but progress unsaved.
	pctx := context.WithoutCancel(ctx)
	save := func() error {
		if plan {
			return nil
		}
		if len(produced) > 0 {
			if err := r.cl.ProduceSync(pctx, produced...).FirstErr(); err != nil {
				return fmt.Errorf("producing replayed records: %w", err)
			}
			produced = produced[:0]
		}
		if len(pos) == 0 {
			return nil
		}
		offs := kadm.Offsets{}
		for p, at := range pos {
			offs.Add(kadm.Offset{Topic: t, Partition: p, At: at, LeaderEpoch: -1, Metadata: text})
		}
		cctx, cancel := context.WithTimeout(pctx, r.timeout)
		defer cancel()
		if err := r.adm.CommitAllOffsets(cctx, name, offs); err != nil {
			return fmt.Errorf("saving the progress of replay %s: %w", name, err)
		}
		return nil
	}
	err := r.scan(ctx, t, sp, func(rec *kgo.Record) error {
		res.Read++
		d := decode(rec)
		stop := false
		if req.match(&d) {
			res.Matched++
			out, skipped, err := r.plan(&d, req.IncludeRoute)
			switch {
			case err != nil:
				return fmt.Errorf("dead letter %s: %w", d.Position, err)
			case skipped:
				res.SkippedRoute++
			case out == nil:
				res.Unreplayable++
			default:
				if out.Topic == r.names.Deliveries() {
					res.Replayed++
				} else {
					res.ReplayedRoute++
				}
				if plan {
					res.Items = append(res.Items, ReplayItem{Position: d.Position, To: out.Topic, Reason: d.Reason,
						SubscriptionID: d.SubscriptionID, EventID: d.EventID, DeliveryID: d.DeliveryID})
				} else {
					produced = append(produced, out)
				}
				stop = req.Limit > 0 && res.Replayed+res.ReplayedRoute >= req.Limit
			}
		}
		pos[rec.Partition] = rec.Offset + 1
		if len(produced) >= 500 {
			if err := save(); err != nil {
				return err
			}
		}
		if stop {
			return errStop
		}
		return nil
	})
	if err != nil {
		if serr := save(); serr != nil {
			return res, fmt.Errorf("%w (and %v)", err, serr)
		}
		return res, err
	}
	stopped := req.Limit > 0 && res.Replayed+res.ReplayedRoute >= req.Limit
	if !stopped {
		for p, s := range sp {
			pos[p] = max(s.to, s.from)
		}
	}
	res.Complete = !stopped
	return res, save()
}
