package cli

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
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

func (d *deadLetter) deliveryID() string {
	if d.err == nil && d.dl.Delivery != nil {
		return d.dl.Delivery.ID
	}
	return record.HeaderValue(d.rec, header.DeliveryID)
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
	eventID      string
	deliveryID   string
	sinceText    string
	untilText    string
	since, until time.Time
}

func (f *dlqFilter) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.subscription, "subscription", "", "only dead letters of this subscription id")
	fs.StringVar(&f.eventType, "type", "", "only events of this type or pattern (payment.*)")
	fs.StringSliceVar(&f.reasons, "reason", nil, "only these reasons (exhausted, rejected, endpoint_gone, invalid_event, undecodable, …)")
	fs.StringVar(&f.stage, "stage", "", "only this stage: route or dispatch")
	fs.StringVar(&f.eventID, "event-id", "", "only dead letters of the event with this id")
	fs.StringVar(&f.deliveryID, "delivery-id", "", "only the dead letter of the delivery with this id (the webhook-id)")
	fs.StringVar(&f.sinceText, "since", "", "only dead letters that failed at or after this time (RFC 3339, or a duration ago such as 2h)")
	fs.StringVar(&f.untilText, "until", "", "only dead letters that failed before this time (RFC 3339, or a duration ago)")
}

// parse checks the flags; call it before reading. Its errors are usage
// errors.
func (f *dlqFilter) parse(now time.Time) error {
	var err error
	if f.since, f.until, err = parseRange(f.sinceText, f.untilText, now); err != nil {
		return err
	}
	switch f.stage {
	case "", record.StageRoute, record.StageDispatch:
	default:
		return usagef("--stage %q: want route or dispatch", f.stage)
	}
	if f.eventType != "" {
		if err := record.ValidatePattern(f.eventType); err != nil {
			return usagef("--type: %w", err)
		}
	}
	return nil
}

// parseRange reads --since and --until.
func parseRange(sinceText, untilText string, now time.Time) (since, until time.Time, err error) {
	if since, err = parseWhen("--since", sinceText, now); err != nil {
		return since, until, err
	}
	if until, err = parseWhen("--until", untilText, now); err != nil {
		return since, until, err
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return since, until, usagef("--since %s is not before --until %s", sinceText, untilText)
	}
	return since, until, nil
}

// selection returns the filter as canonical text, the fields set in a
// fixed order ("all" when none is): replay keys its progress to it.
// --since and --until are kept as given, so a rerun of the same command
// line ("--since 24h") continues the same replay.
func (f *dlqFilter) selection() []string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("subscription", f.subscription)
	add("type", f.eventType)
	add("reason", strings.Join(slices.Sorted(slices.Values(f.reasons)), ","))
	add("stage", f.stage)
	add("event-id", f.eventID)
	add("delivery-id", f.deliveryID)
	add("since", f.sinceText)
	add("until", f.untilText)
	return parts
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
	return time.Time{}, usagef("%s %q: want an RFC 3339 time (2006-01-02T15:04:05Z) or a duration ago (90m, 24h)", flag, s)
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
	if f.eventID != "" && d.eventID() != f.eventID {
		return false
	}
	if f.deliveryID != "" && d.deliveryID() != f.deliveryID {
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
				return usagef("--limit must not be negative")
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
			if o.structured() {
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
		return "", 0, 0, usagef("position %q: want partition/offset, such as 0/42", s)
	}
	p, err1 := strconv.ParseInt(parts[0], 10, 32)
	off, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || p < 0 || off < 0 {
		return "", 0, 0, usagef("position %q: want partition/offset, such as 0/42", s)
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
	if o.structured() {
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
			if o.structured() {
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
