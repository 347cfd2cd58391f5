package cli

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// attemptRow is one attempt as attempts prints it.
type attemptRow struct {
	Position       string    `json:"position"`
	At             time.Time `json:"at"`
	DeliveryID     string    `json:"delivery_id"`
	SubscriptionID string    `json:"subscription_id,omitempty"`
	EventID        string    `json:"event_id,omitempty"`
	Attempt        int       `json:"attempt"`
	Result         string    `json:"result,omitempty"`
	Status         int       `json:"status,omitempty"`
	LatencyMillis  float64   `json:"latency_ms"`
	Error          string    `json:"error,omitempty"`
	DecodeError    string    `json:"decode_error,omitempty"`
	partition      int32
	offset         int64
}

// attemptFilter selects attempts. The zero value selects all.
type attemptFilter struct {
	eventID, deliveryID, subscription string
	results                           []string
	sinceText, untilText              string
	since, until                      time.Time
}

func (f *attemptFilter) match(a *attemptRow) bool {
	switch {
	case f.deliveryID != "" && a.DeliveryID != f.deliveryID,
		f.subscription != "" && a.SubscriptionID != f.subscription,
		f.eventID != "" && a.EventID != f.eventID,
		len(f.results) > 0 && !slices.Contains(f.results, a.Result),
		!f.since.IsZero() && a.At.Before(f.since),
		!f.until.IsZero() && !a.At.Before(f.until):
		return false
	}
	return true
}

func attemptOf(r *kgo.Record) attemptRow {
	row := attemptRow{Position: fmt.Sprintf("%d/%d", r.Partition, r.Offset), partition: r.Partition, offset: r.Offset}
	a, err := record.DecodeAttempt(r.Value)
	if err != nil {
		row.DecodeError = err.Error()
		row.At = r.Timestamp.UTC()
		row.DeliveryID = record.HeaderValue(r, header.DeliveryID)
		row.SubscriptionID = record.HeaderValue(r, header.SubscriptionID)
		row.Attempt, _ = strconv.Atoi(record.HeaderValue(r, header.Attempt))
		return row
	}
	row.At, row.DeliveryID, row.SubscriptionID, row.EventID = a.At.UTC(), a.DeliveryID, a.SubscriptionID, a.EventID
	row.Attempt, row.Result, row.Status, row.LatencyMillis, row.Error = a.Attempt, a.Result, a.Status, a.LatencyMillis, a.Error
	if row.At.IsZero() {
		row.At = r.Timestamp.UTC()
	}
	return row
}

func attemptsCmd(o *options) *cobra.Command {
	var (
		f     attemptFilter
		limit int
	)
	cmd := &cobra.Command{
		Use:   "attempts",
		Short: "Show the attempt history of deliveries: what happened to event X for endpoint Y",
		Long: "attempts reads the attempts topic, where the dispatcher records every HTTP\n" +
			"attempt: status, latency, error and result (success, retry, failed). It reads\n" +
			"a snapshot (the topic up to its end when the command started); --since and\n" +
			"--until seek by record timestamp, so a narrow window reads only its part of\n" +
			"the topic. The topic has a short retention: older attempts are gone.\n" +
			"Rows are sorted by time; --limit keeps the most recent.",
		Example: "  hookctl attempts --event-id evt_123 --subscription billing\n" +
			"  hookctl attempts --delivery-id msg_0a1b2c -o json\n" +
			"  hookctl attempts --subscription billing --since 1h --result failed,retry",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usagef("--limit must not be negative")
			}
			var err error
			if f.since, f.until, err = parseRange(f.sinceText, f.untilText, time.Now()); err != nil {
				return err
			}
			for _, r := range f.results {
				switch r {
				case "success", "retry", "failed":
				default:
					return usagef("--result %q: want success, retry or failed", r)
				}
			}
			rows, err := o.readAttempts(cmd.Context(), &f)
			if err != nil {
				return err
			}
			total := len(rows)
			if limit > 0 && len(rows) > limit {
				rows = rows[len(rows)-limit:]
			}
			if err := o.printAttempts(rows); err != nil {
				return err
			}
			if len(rows) < total {
				fmt.Fprintf(o.stderr, "showing the last %d of %d matching attempts (--limit %d; 0 shows all)\n", len(rows), total, limit)
			} else {
				fmt.Fprintf(o.stderr, "%d matching attempts\n", total)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.eventID, "event-id", "", "only attempts at deliveries of the event with this id")
	fs.StringVar(&f.deliveryID, "delivery-id", "", "only attempts at the delivery with this id (the webhook-id)")
	fs.StringVar(&f.subscription, "subscription", "", "only attempts for this subscription id")
	fs.StringSliceVar(&f.results, "result", nil, "only these results: success, retry, failed")
	fs.StringVar(&f.sinceText, "since", "", "only attempts at or after this time (RFC 3339, or a duration ago such as 2h)")
	fs.StringVar(&f.untilText, "until", "", "only attempts before this time (RFC 3339, or a duration ago)")
	fs.IntVar(&limit, "limit", 100, "show at most the last this many (0: all)")
	_ = cmd.RegisterFlagCompletionFunc("result", cobra.FixedCompletions([]string{"success", "retry", "failed"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// readAttempts returns the attempts f selects, oldest first. It reads the
// topic from the first offset at --since to the first at --until (or the
// end), as the broker's time index finds them.
func (o *options) readAttempts(ctx context.Context, f *attemptFilter) ([]attemptRow, error) {
	cl, err := o.client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	topic := o.names().Attempts()
	sctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	sp, err := snapshot(sctx, adm, topic)
	if err != nil {
		return nil, err
	}
	// Records are stamped when the dispatcher writes them, just after
	// the attempt: a minute of slack keeps the edges.
	const slack = time.Minute
	seek := func(t time.Time, fn func(p int32, at int64)) error {
		listed, err := adm.ListOffsetsAfterMilli(sctx, t.UnixMilli(), topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return topicError(topic, err)
		}
		listed.Each(func(l kadm.ListedOffset) { fn(l.Partition, l.Offset) })
		return nil
	}
	if !f.since.IsZero() {
		err := seek(f.since.Add(-slack), func(p int32, at int64) {
			if s, ok := sp[p]; ok && at > s.from {
				s.from = min(at, s.to)
				sp[p] = s
			}
		})
		if err != nil {
			return nil, err
		}
	}
	if !f.until.IsZero() {
		err := seek(f.until.Add(slack), func(p int32, at int64) {
			if s, ok := sp[p]; ok && at >= 0 && at < s.to {
				s.to = max(at, s.from)
				sp[p] = s
			}
		})
		if err != nil {
			return nil, err
		}
	}
	var rows []attemptRow
	err = o.scan(ctx, topic, sp, func(r *kgo.Record) error {
		// The header spares decoding other deliveries' attempts.
		if f.deliveryID != "" && record.HeaderValue(r, header.DeliveryID) != f.deliveryID {
			return nil
		}
		a := attemptOf(r)
		if f.match(&a) {
			rows = append(rows, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b attemptRow) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.partition, b.partition), cmp.Compare(a.offset, b.offset))
	})
	return rows, nil
}

func (o *options) printAttempts(rows []attemptRow) error {
	if o.structured() {
		if rows == nil {
			rows = []attemptRow{}
		}
		return o.printJSON(rows)
	}
	tw := o.table()
	fmt.Fprintln(tw, "AT\tDELIVERY ID\tSUBSCRIPTION\tEVENT ID\tATTEMPT\tRESULT\tSTATUS\tLATENCY\tERROR")
	for _, r := range rows {
		status := "-"
		if r.Status != 0 {
			status = strconv.Itoa(r.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.At.Format(time.RFC3339Nano), r.DeliveryID, orDash(r.SubscriptionID),
			orDash(r.EventID), r.Attempt, orDash(r.Result), status, latencyText(r.LatencyMillis),
			orDash(shorten(cmp.Or(r.DecodeError, r.Error), 60)))
	}
	return tw.Flush()
}

func latencyText(ms float64) string {
	if ms <= 0 {
		return "-"
	}
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond).String()
}
