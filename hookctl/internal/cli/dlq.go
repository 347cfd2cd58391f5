package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// reasonUndecodable is the reason shown for dead-letter topic records that
// do not decode; --reason accepts it like the real reasons.
const reasonUndecodable = "undecodable"

func dlqCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect and replay the dead-letter topic",
		Long: "Dead letters are deliveries (dispatch stage) or input records (route stage)\n" +
			"that Hookline could not handle. Every command reads a snapshot: the topic up\n" +
			"to its end offsets when the command started. Positions are partition/offset.",
	}
	cmd.AddCommand(dlqLsCmd(o), dlqShowCmd(o), dlqStatsCmd(o), dlqReplayCmd(o))
	return cmd
}

// deadLetter is one record of the dead-letter topic, decoded if it could
// be.
type deadLetter struct {
	rec *kgo.Record
	dl  record.DeadLetter
	err error // why the value did not decode
}

func decodeDeadLetter(r *kgo.Record) deadLetter {
	dl, err := record.DecodeDeadLetter(r.Value)
	return deadLetter{rec: r, dl: dl, err: err}
}

func (d *deadLetter) position() string {
	return strconv.Itoa(int(d.rec.Partition)) + "/" + strconv.FormatInt(d.rec.Offset, 10)
}

func (d *deadLetter) reason() string {
	if d.err != nil {
		return reasonUndecodable
	}
	return d.dl.Reason
}

func (d *deadLetter) subscription() string {
	if d.err == nil && d.dl.Delivery != nil {
		return d.dl.Delivery.SubscriptionID
	}
	return record.HeaderValue(d.rec, header.SubscriptionID)
}

// eventType is the type of the event, from the delivery or, for route-stage
// dead letters of events that decoded, from the record's headers.
func (d *deadLetter) eventType() string {
	if d.err == nil && d.dl.Delivery != nil {
		return d.dl.Delivery.Event.Type
	}
	return record.HeaderValue(d.rec, header.EventType)
}

func (d *deadLetter) eventID() string {
	if d.err == nil && d.dl.Delivery != nil {
		return d.dl.Delivery.Event.ID
	}
	return record.HeaderValue(d.rec, header.EventID)
}

// failedAt falls back to the record's timestamp when the value is
// undecodable.
func (d *deadLetter) failedAt() time.Time {
	if d.err == nil && !d.dl.FailedAt.IsZero() {
		return d.dl.FailedAt
	}
	return d.rec.Timestamp
}

// dlqFilter selects dead letters. The zero value selects all.
type dlqFilter struct {
	subscription string
	eventType    string // a pattern, as in subscriptions
	reasons      []string
	stage        string
	sinceText    string
	untilText    string
	since, until time.Time
}

func (f *dlqFilter) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.subscription, "subscription", "", "only dead letters of this subscription id")
	fs.StringVar(&f.eventType, "type", "", "only events of this type or pattern (payment.*)")
	fs.StringSliceVar(&f.reasons, "reason", nil, "only these reasons (exhausted, rejected, endpoint_gone, invalid_event, undecodable, …)")
	fs.StringVar(&f.stage, "stage", "", "only this stage: route or dispatch")
	fs.StringVar(&f.sinceText, "since", "", "only dead letters that failed at or after this time (RFC 3339, or a duration ago such as 2h)")
	fs.StringVar(&f.untilText, "until", "", "only dead letters that failed before this time (RFC 3339, or a duration ago)")
}

// parse checks the flags; call it before reading.
func (f *dlqFilter) parse(now time.Time) error {
	var err error
	if f.since, err = parseWhen("--since", f.sinceText, now); err != nil {
		return err
	}
	if f.until, err = parseWhen("--until", f.untilText, now); err != nil {
		return err
	}
	if !f.since.IsZero() && !f.until.IsZero() && !f.since.Before(f.until) {
		return fmt.Errorf("--since %s is not before --until %s", f.sinceText, f.untilText)
	}
	switch f.stage {
	case "", record.StageRoute, record.StageDispatch:
	default:
		return fmt.Errorf("--stage %q: want route or dispatch", f.stage)
	}
	if f.eventType != "" {
		if err := record.ValidatePattern(f.eventType); err != nil {
			return fmt.Errorf("--type: %w", err)
		}
	}
	return nil
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time (2006-01-02T15:04:05Z) or a duration ago (90m, 24h)", flag, s)
}

func (f *dlqFilter) match(d *deadLetter) bool {
	if f.subscription != "" && d.subscription() != f.subscription {
		return false
	}
	if f.eventType != "" && !record.MatchPattern(f.eventType, d.eventType()) {
		return false
	}
	if len(f.reasons) > 0 && !slices.Contains(f.reasons, d.reason()) {
		return false
	}
	if f.stage != "" && (d.err != nil || d.dl.Stage != f.stage) {
		return false
	}
	at := d.failedAt()
	if !f.since.IsZero() && at.Before(f.since) {
		return false
	}
	if !f.until.IsZero() && !at.Before(f.until) {
		return false
	}
	return true
}

// readDLQ calls fn with every dead letter of a snapshot of the topic that
// f matches.
func (o *options) readDLQ(ctx context.Context, f *dlqFilter, fn func(deadLetter) error) error {
	cl, err := o.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	sctx, cancel := context.WithTimeout(ctx, o.timeout)
	sp, err := snapshot(sctx, kadm.NewClient(cl), o.names().DLQ())
	cancel()
	if err != nil {
		return err
	}
	return o.scan(ctx, o.names().DLQ(), sp, func(r *kgo.Record) error {
		d := decodeDeadLetter(r)
		if !f.match(&d) {
			return nil
		}
		return fn(d)
	})
}

// dlqRow is the summary of one dead letter that ls prints.
type dlqRow struct {
	Position       string    `json:"position"`
	Partition      int32     `json:"partition"`
	Offset         int64     `json:"offset"`
	FailedAt       time.Time `json:"failed_at"`
	Stage          string    `json:"stage,omitempty"`
	Reason         string    `json:"reason"`
	SubscriptionID string    `json:"subscription_id,omitempty"`
	EventType      string    `json:"event_type,omitempty"`
	EventID        string    `json:"event_id,omitempty"`
	DeliveryID     string    `json:"delivery_id,omitempty"`
	Attempts       int       `json:"attempts"`
	LastStatus     int       `json:"last_status,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	Source         string    `json:"source,omitempty"`
	DecodeError    string    `json:"decode_error,omitempty"`
}

func rowOf(d deadLetter) dlqRow {
	row := dlqRow{
		Position: d.position(), Partition: d.rec.Partition, Offset: d.rec.Offset,
		FailedAt: d.failedAt().UTC(), Reason: d.reason(), SubscriptionID: d.subscription(),
		EventType: d.eventType(), EventID: d.eventID(),
	}
	if d.err != nil {
		row.DecodeError = d.err.Error()
		return row
	}
	row.Stage, row.Attempts, row.LastStatus, row.LastError = d.dl.Stage, d.dl.Attempts, d.dl.LastStatus, d.dl.LastError
	if d.dl.Source.Topic != "" {
		row.Source = d.dl.Source.String()
	}
	if d.dl.Delivery != nil {
		row.DeliveryID = d.dl.Delivery.ID
	}
	return row
}

func dlqLsCmd(o *options) *cobra.Command {
	var (
		f     dlqFilter
		limit int
	)
	cmd := &cobra.Command{
		Use:     "ls",
		Short:   "List dead letters, oldest first",
		Example: "  hookctl dlq ls --subscription billing --reason exhausted --since 24h",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return errors.New("--limit must not be negative")
			}
			if err := f.parse(time.Now()); err != nil {
				return err
			}
			var rows []dlqRow
			err := o.readDLQ(cmd.Context(), &f, func(d deadLetter) error {
				rows = append(rows, rowOf(d))
				return nil
			})
			if err != nil {
				return err
			}
			slices.SortFunc(rows, func(a, b dlqRow) int {
				return cmp.Or(a.FailedAt.Compare(b.FailedAt), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
			})
			total := len(rows)
			if limit > 0 && len(rows) > limit {
				rows = rows[:limit]
			}
			if o.output == "json" {
				if rows == nil {
					rows = []dlqRow{}
				}
				err = o.printJSON(rows)
			} else {
				tw := o.table()
				fmt.Fprintln(tw, "POSITION\tFAILED AT\tSTAGE\tREASON\tSUBSCRIPTION\tEVENT TYPE\tEVENT ID\tATTEMPTS\tSTATUS\tERROR")
				for _, r := range rows {
					status := "-"
					if r.LastStatus != 0 {
						status = strconv.Itoa(r.LastStatus)
					}
					attempts := "-"
					if r.DecodeError == "" {
						attempts = strconv.Itoa(r.Attempts)
					}
					msg := cmp.Or(r.DecodeError, r.LastError)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Position, r.FailedAt.Format(time.RFC3339),
						orDash(r.Stage), r.Reason, orDash(r.SubscriptionID), orDash(r.EventType), orDash(r.EventID),
						attempts, status, orDash(shorten(msg, 60)))
				}
				err = tw.Flush()
			}
			if err != nil {
				return err
			}
			if len(rows) < total {
				fmt.Fprintf(o.stderr, "showing %d of %d matching dead letters (--limit %d; 0 shows all)\n", len(rows), total, limit)
			} else {
				fmt.Fprintf(o.stderr, "%d matching dead letters\n", total)
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().IntVar(&limit, "limit", 100, "show at most this many, oldest first (0: all)")
	return cmd
}

// parsePosition reads "partition/offset" or "topic/partition/offset".
func parsePosition(s, defaultTopic string) (topic string, partition int32, offset int64, err error) {
	parts := strings.Split(s, "/")
	topic = defaultTopic
	if len(parts) == 3 {
		topic, parts = parts[0], parts[1:]
	}
	if len(parts) != 2 || topic == "" {
		return "", 0, 0, fmt.Errorf("position %q: want partition/offset, such as 0/42", s)
	}
	p, err1 := strconv.ParseInt(parts[0], 10, 32)
	off, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || p < 0 || off < 0 {
		return "", 0, 0, fmt.Errorf("position %q: want partition/offset, such as 0/42", s)
	}
	return topic, int32(p), off, nil
}

func dlqShowCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "show PARTITION/OFFSET",
		Short: "Show one dead letter in full",
		Long: "show prints one dead letter: its headers, failure and the delivery or raw\n" +
			"record it holds. The position is partition/offset as dlq ls prints it, or\n" +
			"topic/partition/offset as a replayed delivery's replay_of names it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic, partition, offset, err := parsePosition(args[0], o.names().DLQ())
			if err != nil {
				return err
			}
			cl, err := o.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			sctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			sp, err := snapshot(sctx, kadm.NewClient(cl), topic)
			cancel()
			if err != nil {
				return err
			}
			bounds, ok := sp[partition]
			if !ok {
				return fmt.Errorf("%s has no partition %d: %w", topic, partition, ErrNotFound)
			}
			if offset < bounds.from || offset >= bounds.to {
				return fmt.Errorf("%s partition %d holds offsets %d to %d, not %d: %w", topic, partition, bounds.from, bounds.to-1, offset, ErrNotFound)
			}
			var found *kgo.Record
			err = o.scan(cmd.Context(), topic, spans{partition: {offset, offset + 1}}, func(r *kgo.Record) error {
				if r.Offset == offset {
					found = r
				}
				return errStop
			})
			if err != nil {
				return err
			}
			if found == nil {
				return fmt.Errorf("%s/%d/%d is a transaction marker or an aborted record: %w", topic, partition, offset, ErrNotFound)
			}
			return o.printDeadLetter(decodeDeadLetter(found))
		},
	}
}

// shownDeadLetter is what show prints in JSON.
type shownDeadLetter struct {
	Topic       string             `json:"topic"`
	Partition   int32              `json:"partition"`
	Offset      int64              `json:"offset"`
	Timestamp   time.Time          `json:"timestamp"`
	Key         string             `json:"key"`
	Headers     map[string]string  `json:"headers,omitempty"`
	DeadLetter  *record.DeadLetter `json:"dead_letter,omitempty"`
	DecodeError string             `json:"decode_error,omitempty"`
	Value       string             `json:"value,omitempty"` // the value as text, when it does not decode
}

func headerMap(r *kgo.Record) map[string]string {
	if len(r.Headers) == 0 {
		return nil
	}
	m := make(map[string]string, len(r.Headers))
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

// text shows b as text when it is UTF-8, else as hex.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "hex:" + fmt.Sprintf("%x", b)
}

func (o *options) printDeadLetter(d deadLetter) error {
	r := d.rec
	if o.output == "json" {
		out := shownDeadLetter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
			Timestamp: r.Timestamp.UTC(), Key: text(r.Key), Headers: headerMap(r)}
		if d.err != nil {
			out.DecodeError, out.Value = d.err.Error(), text(r.Value)
		} else {
			out.DeadLetter = &d.dl
		}
		return o.printJSON(out)
	}
	tw := o.table()
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("POSITION", fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset))
	row("TIMESTAMP", r.Timestamp.UTC().Format(time.RFC3339Nano))
	row("KEY", text(r.Key))
	for _, h := range r.Headers {
		row("HEADER", h.Key+"="+string(h.Value))
	}
	if d.err != nil {
		row("DECODE ERROR", d.err.Error())
		row("VALUE", text(r.Value))
		return tw.Flush()
	}
	dl := d.dl
	row("STAGE", dl.Stage)
	row("REASON", dl.Reason)
	if dl.LastStatus != 0 {
		row("LAST STATUS", strconv.Itoa(dl.LastStatus))
	}
	row("LAST ERROR", dl.LastError)
	row("ATTEMPTS", strconv.Itoa(dl.Attempts))
	row("FAILED AT", dl.FailedAt.UTC().Format(time.RFC3339Nano))
	if dl.Source.Topic != "" {
		row("SOURCE", dl.Source.String())
	}
	if del := dl.Delivery; del != nil {
		row("DELIVERY ID", del.ID)
		row("SUBSCRIPTION", del.SubscriptionID)
		row("EVENT ID", del.Event.ID)
		row("EVENT TYPE", del.Event.Type)
		row("EVENT SOURCE", del.Event.Source)
		row("EVENT SUBJECT", del.Event.Subject)
		if !del.Event.Time.IsZero() {
			row("EVENT TIME", del.Event.Time.UTC().Format(time.RFC3339Nano))
		}
		row("CONTENT TYPE", del.Event.DataContentType)
		row("REPLAY OF", del.ReplayOf)
		row("EVENT DATA", text(del.Event.Data))
	}
	if raw := dl.Raw; raw != nil {
		row("RAW KEY", text(raw.Key))
		for _, k := range slices.Sorted(maps.Keys(raw.Headers)) {
			row("RAW HEADER", k+"="+raw.Headers[k])
		}
		row("RAW VALUE", text(raw.Value))
	}
	return tw.Flush()
}

// dlqStats counts dead letters.
type dlqStats struct {
	Total          int            `json:"total"`
	Undecodable    int            `json:"undecodable"`
	ByReason       map[string]int `json:"by_reason"`
	ByStage        map[string]int `json:"by_stage"`
	BySubscription map[string]int `json:"by_subscription"`
	ByEventType    map[string]int `json:"by_event_type"`
	Oldest         *time.Time     `json:"oldest,omitempty"`
	Newest         *time.Time     `json:"newest,omitempty"`
}

func (s *dlqStats) add(d deadLetter) {
	s.Total++
	if d.err != nil {
		s.Undecodable++
	}
	s.ByReason[d.reason()]++
	stage := reasonUndecodable
	if d.err == nil {
		stage = d.dl.Stage
	}
	s.ByStage[stage]++
	s.BySubscription[cmp.Or(d.subscription(), "-")]++
	s.ByEventType[cmp.Or(d.eventType(), "-")]++
	at := d.failedAt().UTC()
	if s.Oldest == nil || at.Before(*s.Oldest) {
		s.Oldest = &at
	}
	if s.Newest == nil || at.After(*s.Newest) {
		s.Newest = &at
	}
}

func dlqStatsCmd(o *options) *cobra.Command {
	var f dlqFilter
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count dead letters by reason, stage, subscription and event type",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.parse(time.Now()); err != nil {
				return err
			}
			s := dlqStats{ByReason: map[string]int{}, ByStage: map[string]int{}, BySubscription: map[string]int{}, ByEventType: map[string]int{}}
			err := o.readDLQ(cmd.Context(), &f, func(d deadLetter) error {
				s.add(d)
				return nil
			})
			if err != nil {
				return err
			}
			if o.output == "json" {
				return o.printJSON(s)
			}
			fmt.Fprintf(o.stdout, "%d dead letters", s.Total)
			if s.Undecodable > 0 {
				fmt.Fprintf(o.stdout, " (%d undecodable)", s.Undecodable)
			}
			if s.Oldest != nil {
				fmt.Fprintf(o.stdout, ", failed from %s to %s", s.Oldest.Format(time.RFC3339), s.Newest.Format(time.RFC3339))
			}
			fmt.Fprintln(o.stdout)
			for _, sec := range []struct {
				title  string
				counts map[string]int
			}{{"REASON", s.ByReason}, {"STAGE", s.ByStage}, {"SUBSCRIPTION", s.BySubscription}, {"EVENT TYPE", s.ByEventType}} {
				if len(sec.counts) == 0 {
					continue
				}
				fmt.Fprintln(o.stdout)
				tw := o.table()
				fmt.Fprintf(tw, "%s\tCOUNT\n", sec.title)
				for _, k := range byCount(sec.counts) {
					fmt.Fprintf(tw, "%s\t%d\n", k, sec.counts[k])
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// byCount returns the keys of m, largest count first, then by name.
func byCount(m map[string]int) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	return keys
}

// replayResult is what replay prints.
type replayResult struct {
	Group    string `json:"group"`
	DryRun   bool   `json:"dry_run"`
	Complete bool   `json:"complete"` // the whole snapshot was processed (not stopped by --limit)
	// Read counts the dead letters read; Matched those the filters kept.
	Read    int `json:"read"`
	Matched int `json:"matched"`
	// Replayed counts deliveries produced to the deliveries topic and
	// ReplayedRoute raw records produced to their source topics (or, in
	// a dry run, those that would be).
	Replayed      int `json:"replayed"`
	ReplayedRoute int `json:"replayed_route"`
	// SkippedRoute counts route-stage dead letters left alone without
	// --include-route; Unreplayable those holding nothing to replay
	// (undecodable, or raw records cut short or of the dispatch stage).
	SkippedRoute int          `json:"skipped_route"`
	Unreplayable int          `json:"unreplayable"`
	Items        []replayItem `json:"items,omitempty"` // dry run only
}

// replayItem is one record a dry run would replay.
type replayItem struct {
	Position       string `json:"position"`
	To             string `json:"to"`
	Reason         string `json:"reason"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	EventType      string `json:"event_type,omitempty"`
	EventID        string `json:"event_id,omitempty"`
	DeliveryID     string `json:"delivery_id,omitempty"`
}

// replayer turns dead letters into the records that replay them.
type replayer struct {
	deliveries   string
	includeRoute bool
}

// plan returns the record that replays d, or nil and whether d is a
// route-stage dead letter left out for want of --include-route.
func (rp *replayer) plan(d deadLetter) (rec *kgo.Record, skippedRoute bool, err error) {
	if d.err != nil {
		return nil, false, nil
	}
	replayOf := record.ProvenanceOf(d.rec).String()
	if del := d.dl.Delivery; del != nil {
		if del.ID == "" || del.SubscriptionID == "" {
			return nil, false, nil
		}
		// Same id, so receivers see the original webhook-id; a fresh
		// attempt sequence, due now.
		r := *del
		r.Attempt, r.NotBefore, r.FirstAttemptAt, r.ReplayOf = 0, time.Time{}, time.Time{}, replayOf
		r.Tier, r.ParkedAt = 0, time.Time{} // the whole retry schedule again
		rec, err := r.Record(rp.deliveries)
		return rec, false, err
	}
	raw := d.dl.Raw
	if d.dl.Stage != record.StageRoute || raw == nil || d.dl.Source.Topic == "" || rawCut(&d.dl) {
		return nil, false, nil
	}
	if !rp.includeRoute {
		return nil, true, nil
	}
	rec = &kgo.Record{Topic: d.dl.Source.Topic, Key: raw.Key, Value: raw.Value}
	for _, k := range slices.Sorted(maps.Keys(raw.Headers)) {
		if k != header.ReplayOf {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(raw.Headers[k])})
		}
	}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: header.ReplayOf, Value: []byte(replayOf)})
	return rec, false, nil
}

// rawCut reports whether the router had to cut the raw record short to fit
// the dead-letter topic (or kept none of it): replaying it would produce a
// different record.
func rawCut(dl *record.DeadLetter) bool {
	return dl.Reason == record.ReasonTooLarge || dl.Raw.Value == nil || dl.Raw.Truncated
}

// limiter spaces events at most rate per second; 0 means no limit.
type limiter struct {
	interval time.Duration
	next     time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return &limiter{}
	}
	return &limiter{interval: time.Duration(float64(time.Second) / rate)}
}

func (l *limiter) wait(ctx context.Context) error {
	if l.interval <= 0 {
		return nil
	}
	now := time.Now()
	if l.next.Before(now) {
		l.next = now // no burst to catch up after a pause
	}
	d := l.next.Sub(now)
	l.next = l.next.Add(l.interval)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func dlqReplayCmd(o *options) *cobra.Command {
	var (
		f            dlqFilter
		limit        int
		rate         float64
		group        string
		dryRun       bool
		yes          bool
		includeRoute bool
		restart      bool
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Replay dead letters to the deliveries topic (bounded, filtered, rate-limited, resumable)",
		Long: "replay produces the delivery of each matching dead letter to the deliveries\n" +
			"topic again, with its original id (the webhook-id receivers deduplicate on),\n" +
			"attempt 0, due at once, and replay_of naming the dead letter.\n\n" +
			"It replays only what the topic held when it started. Progress is committed as\n" +
			"the offsets of consumer group --group, so a rerun continues where the last run\n" +
			"stopped and replays nothing twice; use another --group for another selection,\n" +
			"or --restart to start from the beginning again.\n\n" +
			"Route-stage dead letters hold the input record, not a delivery. They are skipped\n" +
			"unless --include-route, which produces the record again to its source topic.",
		Example: "  hookctl dlq replay --subscription billing --reason exhausted --since 24h --dry-run\n" +
			"  hookctl dlq replay --subscription billing --reason exhausted --since 24h --rate 20 --yes",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return errors.New("--limit must not be negative")
			}
			if rate < 0 {
				return errors.New("--rate must not be negative")
			}
			if group == "" {
				return errors.New("--group must not be empty")
			}
			if err := f.parse(time.Now()); err != nil {
				return err
			}
			r := &replay{o: o, f: &f, limit: limit, rate: rate, group: group,
				rp: replayer{deliveries: o.names().Deliveries(), includeRoute: includeRoute}}
			return r.run(cmd.Context(), dryRun, yes, restart)
		},
	}
	f.register(cmd.Flags())
	fs := cmd.Flags()
	fs.IntVar(&limit, "limit", 0, "replay at most this many in this run (0: all); a rerun continues")
	fs.Float64Var(&rate, "rate", 100, "most records replayed per second (0: no limit)")
	fs.StringVar(&group, "group", "hookline-replay", "consumer group that keeps the replay's progress")
	fs.BoolVar(&dryRun, "dry-run", false, "show what would be replayed; write nothing")
	fs.BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	fs.BoolVar(&includeRoute, "include-route", false, "also replay route-stage dead letters to their source topics")
	fs.BoolVar(&restart, "restart", false, "ignore the group's progress and start from the oldest dead letter")
	return cmd
}

// replay is one run of dlq replay.
type replay struct {
	o     *options
	f     *dlqFilter
	rp    replayer
	limit int
	rate  float64
	group string

	cl  *kgo.Client
	adm *kadm.Client
}

func (r *replay) run(ctx context.Context, dryRun, yes, restart bool) error {
	o := r.o
	cl, err := o.client(kgo.RecordDeliveryTimeout(o.timeout))
	if err != nil {
		return err
	}
	defer cl.Close()
	r.cl, r.adm = cl, kadm.NewClient(cl)
	// Producing to a missing topic would only fail after --timeout.
	sctx, cancel := context.WithTimeout(ctx, o.timeout)
	_, err = snapshot(sctx, r.adm, r.rp.deliveries)
	cancel()
	if err != nil {
		return err
	}
	sp, err := r.bounds(ctx, restart)
	if err != nil {
		return err
	}
	if sp.records() == 0 {
		res := replayResult{Group: r.group, DryRun: dryRun, Complete: true}
		if restart {
			fmt.Fprintf(o.stderr, "%s is empty\n", o.names().DLQ())
		} else {
			fmt.Fprintf(o.stderr, "nothing in %s after group %s's progress (--restart replays from the oldest)\n", o.names().DLQ(), r.group)
		}
		return r.print(res)
	}
	if dryRun || !yes {
		plan, err := r.pass(ctx, sp, true)
		if err != nil {
			return err
		}
		if dryRun {
			return r.print(plan)
		}
		if plan.Replayed+plan.ReplayedRoute == 0 {
			// Nothing to write; fall through to record the progress.
			yes = true
		} else {
			q := fmt.Sprintf("Replay %d dead letters to %s", plan.Replayed, o.names().Deliveries())
			if plan.ReplayedRoute > 0 {
				q += fmt.Sprintf(" and %d route-stage records to their source topics", plan.ReplayedRoute)
			}
			if err := o.confirm(q + "?"); err != nil {
				return err
			}
		}
	}
	res, err := r.pass(ctx, sp, false)
	if err != nil {
		return err
	}
	return r.print(res)
}

// bounds returns what this run reads: from the group's progress (or the
// oldest record) to the end offsets now.
func (r *replay) bounds(ctx context.Context, restart bool) (spans, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	topic := r.o.names().DLQ()
	sp, err := snapshot(ctx, r.adm, topic)
	if err != nil {
		return nil, err
	}
	if restart {
		return sp, nil
	}
	done, err := r.adm.FetchOffsets(ctx, r.group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("fetching the progress of group %s: %w", r.group, err)
	}
	for p, s := range sp {
		if c, ok := done.Lookup(topic, p); ok && c.Err == nil && c.At > s.from {
			s.from = min(c.At, max(s.to, s.from))
			sp[p] = s
		}
	}
	return sp, nil
}

// pass reads sp once. With plan set it only counts and lists what it would
// replay; otherwise it replays and commits its progress as it goes.
func (r *replay) pass(ctx context.Context, sp spans, plan bool) (replayResult, error) {
	o := r.o
	res := replayResult{Group: r.group, DryRun: plan}
	topic := o.names().DLQ()
	pos := map[int32]int64{} // next offset to process, per partition
	var (
		lim      = newLimiter(r.rate)
		errMu    sync.Mutex // guards prodErr, set by produce callbacks
		prodErr  error
		lastSave = time.Now()
		sinceCkp int
		bar      = o.progress()
		total    = sp.records()
	)
	if plan {
		lim = newLimiter(0)
	}
	// checkpoint waits for every replayed record to be acknowledged, then
	// commits the positions below which everything is done.
	checkpoint := func(ctx context.Context) error {
		if plan {
			return nil
		}
		if err := r.cl.Flush(ctx); err != nil {
			return fmt.Errorf("waiting for replayed records: %w", err)
		}
		errMu.Lock()
		perr := prodErr
		errMu.Unlock()
		if perr != nil {
			return fmt.Errorf("producing replayed records: %w", perr)
		}
		if len(pos) == 0 {
			return nil
		}
		offs := kadm.Offsets{}
		for p, at := range pos {
			offs.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
		}
		if err := r.adm.CommitAllOffsets(ctx, r.group, offs); err != nil {
			return fmt.Errorf("saving progress in group %s: %w", r.group, err)
		}
		lastSave, sinceCkp = time.Now(), 0
		return nil
	}
	err := o.scan(ctx, topic, sp, func(rec *kgo.Record) error {
		res.Read++
		d := decodeDeadLetter(rec)
		stop := false
		if r.f.match(&d) {
			res.Matched++
			out, skipped, err := r.rp.plan(d)
			switch {
			case err != nil:
				return fmt.Errorf("dead letter %s: %w", d.position(), err)
			case skipped:
				res.SkippedRoute++
			case out == nil:
				res.Unreplayable++
			default:
				if out.Topic == r.rp.deliveries {
					res.Replayed++
				} else {
					res.ReplayedRoute++
				}
				if plan {
					row := rowOf(d)
					res.Items = append(res.Items, replayItem{Position: row.Position, To: out.Topic, Reason: row.Reason,
						SubscriptionID: row.SubscriptionID, EventType: row.EventType, EventID: row.EventID, DeliveryID: row.DeliveryID})
				} else {
					if err := lim.wait(ctx); err != nil {
						return err
					}
					r.cl.Produce(ctx, out, func(_ *kgo.Record, err error) {
						errMu.Lock()
						defer errMu.Unlock()
						if err != nil && prodErr == nil {
							prodErr = err
						}
					})
				}
				stop = r.limit > 0 && res.Replayed+res.ReplayedRoute >= r.limit
			}
		}
		pos[rec.Partition] = rec.Offset + 1
		sinceCkp++
		if !plan {
			bar.tick(func() string {
				return fmt.Sprintf("replay: read %d of at most %d dead letters, replayed %d", res.Read, total, res.Replayed+res.ReplayedRoute)
			})
			if sinceCkp >= 1000 || time.Since(lastSave) >= time.Second {
				if err := checkpoint(ctx); err != nil {
					return err
				}
			}
		}
		if stop {
			return errStop
		}
		return nil
	})
	if err != nil {
		if plan {
			return res, err
		}
		// Keep what was done, so a rerun continues after it.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.timeout)
		defer cancel()
		if cerr := checkpoint(sctx); cerr != nil {
			return res, fmt.Errorf("%w (and the progress was not saved: %v)", err, cerr)
		}
		return res, fmt.Errorf("%w: replayed %d; progress saved in group %s, rerun to continue", err, res.Replayed+res.ReplayedRoute, r.group)
	}
	stopped := r.limit > 0 && res.Replayed+res.ReplayedRoute >= r.limit
	if !stopped {
		// Every partition was read to its end, markers included.
		for p, s := range sp {
			pos[p] = max(s.to, s.from)
		}
	}
	res.Complete = !stopped
	if err := checkpoint(ctx); err != nil {
		return res, err
	}
	return res, nil
}

func (r *replay) print(res replayResult) error {
	o := r.o
	if o.output == "json" {
		return o.printJSON(res)
	}
	if res.DryRun && len(res.Items) > 0 {
		tw := o.table()
		fmt.Fprintln(tw, "POSITION\tTO\tREASON\tSUBSCRIPTION\tEVENT TYPE\tEVENT ID\tDELIVERY ID")
		for _, it := range res.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Position, it.To, it.Reason, orDash(it.SubscriptionID),
				orDash(it.EventType), orDash(it.EventID), orDash(it.DeliveryID))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	verb := "replayed"
	if res.DryRun {
		verb = "dry run: would replay"
	}
	fmt.Fprintf(o.stdout, "%s %d dead letters to %s", verb, res.Replayed, o.names().Deliveries())
	if res.ReplayedRoute > 0 {
		fmt.Fprintf(o.stdout, " and %d route-stage records to their source topics", res.ReplayedRoute)
	}
	fmt.Fprintf(o.stdout, " (read %d, matched %d)\n", res.Read, res.Matched)
	if res.SkippedRoute > 0 {
		fmt.Fprintf(o.stdout, "skipped %d route-stage dead letters: --include-route replays them to their source topics\n", res.SkippedRoute)
	}
	if res.Unreplayable > 0 {
		fmt.Fprintf(o.stdout, "skipped %d dead letters with nothing to replay (undecodable, or a raw record cut short)\n", res.Unreplayable)
	}
	if !res.DryRun && !res.Complete {
		fmt.Fprintf(o.stdout, "stopped at --limit; progress saved in group %s, rerun to continue\n", r.group)
	}
	return nil
}
