package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/schemas/filter"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func subsCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "subs",
		Short: "Manage webhook subscriptions (the compacted subscriptions topic)",
		Long: "Subscriptions live in the compacted subscriptions topic, keyed by id.\n" +
			"Reads take a snapshot of the topic; writes wait for Kafka's acknowledgement.\n" +
			"Signing secrets are shown once, when created or rotated, and never again.",
	}
	cmd.AddCommand(subsAddCmd(o), subsLsCmd(o), subsGetCmd(o), subsRmCmd(o),
		subsStateCmd(o, "pause", record.StatePaused), subsStateCmd(o, "resume", record.StateActive),
		subsStateCmd(o, "disable", record.StateDisabled),
		subsRotateCmd(o))
	return cmd
}

// subStore reads a snapshot of the subscriptions topic and writes to it.
type subStore struct {
	o     *options
	cl    *kgo.Client
	table *subtable.Table
	stop  func()
}

// openSubs reads the subscriptions topic up to its current end. Close the
// store when done.
func (o *options) openSubs(ctx context.Context) (*subStore, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cl, err := o.client(kgo.RecordDeliveryTimeout(o.timeout))
	if err != nil {
		return nil, err
	}
	topic := o.names().Subscriptions()
	// subtable retries a missing topic forever; say so at once instead.
	if _, err := snapshot(ctx, kadm.NewClient(cl), topic); err != nil {
		cl.Close()
		return nil, err
	}
	opts, err := o.kafka.Opts()
	if err != nil {
		cl.Close()
		return nil, err
	}
	table := subtable.New(opts, topic)
	runCtx, stopRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = table.Run(runCtx) })
	s := &subStore{o: o, cl: cl, table: table, stop: func() { stopRun(); wg.Wait() }}
	if err := table.WaitReady(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("reading %s: %w", topic, err)
	}
	return s, nil
}

// Close stops reading and closes the client.
func (s *subStore) Close() {
	s.stop()
	s.cl.Close()
}

// get returns subscription id or an ErrNotFound error.
func (s *subStore) get(id string) (record.Subscription, error) {
	sub, ok := s.table.Get(id)
	if !ok {
		return record.Subscription{}, fmt.Errorf("subscription %q: %w", id, ErrNotFound)
	}
	return sub, nil
}

// put validates sub and writes it, waiting for Kafka's acknowledgement.
func (s *subStore) put(ctx context.Context, sub *record.Subscription) error {
	sub.Normalize()
	if err := validateSub(sub); err != nil {
		return err
	}
	rec, err := sub.Record(s.o.names().Subscriptions())
	if err != nil {
		return err
	}
	return s.produce(ctx, rec)
}

func (s *subStore) produce(ctx context.Context, rec *kgo.Record) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.timeout)
	defer cancel()
	if err := s.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("writing to %s: %w", rec.Topic, err)
	}
	return nil
}

// update applies fn to a copy of subscription id and writes the result.
func (s *subStore) update(ctx context.Context, id string, fn func(*record.Subscription)) (record.Subscription, error) {
	cur, err := s.get(id)
	if err != nil {
		return record.Subscription{}, err
	}
	next := cur.Redacted() // a deep copy; the secrets are restored below
	next.Secrets = slices.Clone(cur.Secrets)
	fn(&next)
	next.Revision = cur.Revision + 1 // the API's ETag: a write it did not see makes If-Match stale
	next.UpdatedAt = time.Now().UTC()
	if !next.UpdatedAt.After(cur.UpdatedAt) {
		// Keep updated_at increasing even when clocks disagree.
		next.UpdatedAt = cur.UpdatedAt.Add(time.Nanosecond)
	}
	if err := s.put(ctx, &next); err != nil {
		return record.Subscription{}, err
	}
	return next, nil
}

// validateSub checks sub as the router and dispatcher need it, including
// that its filter compiles.
func validateSub(sub *record.Subscription) error {
	if err := sub.Validate(); err != nil {
		return fmt.Errorf("invalid subscription: %w", err)
	}
	if sub.Filter != "" {
		if _, err := filter.Compile(sub.Filter); err != nil {
			return fmt.Errorf("invalid subscription: filter: %w", err)
		}
	}
	return nil
}

func newSubID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "sub_" + hex.EncodeToString(b[:])
}

// secretResult is what add and rotate-secret print in JSON: the one time
// the secret is shown.
type secretResult struct {
	Subscription record.Subscription `json:"subscription"`
	Secret       string              `json:"secret"`
}

func (o *options) printSecret(verb string, sub record.Subscription, secret string) error {
	if o.structured() {
		return o.printJSON(secretResult{Subscription: sub.Redacted(), Secret: secret})
	}
	fmt.Fprintf(o.stdout, "%s subscription %s\nsigning secret: %s\n", verb, sub.ID, secret)
	fmt.Fprintln(o.stderr, "Store the signing secret now: hookctl will not show it again.")
	return nil
}

func subsAddCmd(o *options) *cobra.Command {
	var (
		sub     record.Subscription
		timeout time.Duration
		headers []string
	)
	cmd := &cobra.Command{
		Use:   "add --url URL --types PATTERNS",
		Short: "Create a subscription and print its signing secret (shown once)",
		Example: "  hookctl subs add --url https://example.com/webhook --types 'payment.*,order.*'\n" +
			"  hookctl subs add --id billing --url https://billing.example.com/hook --types payment.succeeded --filter 'data.amount >= 100.0'",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sub.URL == "" || len(sub.EventTypes) == 0 {
				return errors.New("--url and --types are required")
			}
			if timeout < 0 || timeout%time.Millisecond != 0 {
				return fmt.Errorf("--request-timeout %s: want a whole number of milliseconds, not negative", timeout)
			}
			sub.TimeoutMillis = int(timeout.Milliseconds())
			hs, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			sub.Headers = hs
			if sub.ID == "" {
				sub.ID = newSubID()
			}
			secret, err := webhook.NewSecret()
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			sub.Secrets = []record.Secret{{Key: secret.Encode()}}
			sub.State, sub.CreatedAt, sub.UpdatedAt = record.StateActive, now, now
			sub.Revision = 1
			sub.Normalize()
			// Validate before reading Kafka, so bad flags fail fast.
			if err := validateSub(&sub); err != nil {
				return err
			}
			s, err := o.openSubs(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			if _, ok := s.table.Get(sub.ID); ok {
				return fmt.Errorf("subscription %q: %w", sub.ID, ErrExists)
			}
			if err := s.put(cmd.Context(), &sub); err != nil {
				return err
			}
			return o.printSecret("created", sub, secret.Encode())
		},
	}
	f := cmd.Flags()
	f.StringVar(&sub.ID, "id", "", "subscription id (default: a generated sub_… id)")
	f.StringVar(&sub.URL, "url", "", "webhook URL (http or https)")
	f.StringSliceVar(&sub.EventTypes, "types", nil, "event type patterns: exact types, prefixes like payment.*, or *")
	f.StringVar(&sub.Filter, "filter", "", "CEL filter expression over the event, e.g. 'data.amount >= 100.0'")
	f.StringVar(&sub.Format, "format", record.FormatStandard, "payload format: standard, cloudevents-structured, cloudevents-binary or raw")
	f.Float64Var(&sub.RateLimit, "rate-limit", 0, "most requests per second (0: unlimited)")
	f.IntVar(&sub.MaxInFlight, "max-in-flight", record.DefaultMaxInFlight, "most concurrent requests")
	f.BoolVar(&sub.Ordered, "ordered", false, "deliver one at a time, in order")
	f.DurationVar(&timeout, "request-timeout", record.DefaultTimeout, "timeout of each webhook request (at most 60s)")
	f.StringArrayVar(&headers, "header", nil, "custom HTTP header as name=value (repeatable)")
	return cmd
}

func parseHeaders(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--header %q: want name=value", kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

func subsLsCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List subscriptions (secrets redacted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.openSubs(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			all := s.table.All()
			if o.structured() {
				out := make([]record.Subscription, 0, len(all))
				for _, sub := range all {
					out = append(out, sub.Redacted())
				}
				return o.printJSON(out)
			}
			tw := o.table()
			fmt.Fprintln(tw, "ID\tSTATE\tURL\tEVENT TYPES\tFORMAT\tFILTER\tSECRETS\tUPDATED")
			for _, sub := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", sub.ID, sub.State, record.RedactURL(sub.URL),
					strings.Join(sub.EventTypes, ","), sub.Format, orDash(shorten(sub.Filter, 40)),
					len(sub.SigningSecrets(time.Now())), sub.UpdatedAt.Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(o.stderr, "%d subscriptions\n", len(all))
			return nil
		},
	}
}

func subsGetCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one subscription (secrets redacted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.openSubs(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			sub, err := s.get(args[0])
			if err != nil {
				return err
			}
			if o.structured() {
				return o.printSub(sub)
			}
			st, ok, err := o.endpointStatus(cmd.Context(), s.cl, sub.ID)
			if err != nil {
				return err
			}
			breaker := record.BreakerClosed
			if ok {
				breaker = fmt.Sprintf("%s since %s", st.Breaker, st.Since.Format(time.RFC3339))
			}
			return o.printSubWith(sub, [2]string{"BREAKER", breaker})
		},
	}
}

// printSub shows one subscription without its secrets.
func (o *options) printSub(sub record.Subscription) error { return o.printSubWith(sub) }

// printSubWith shows one subscription without its secrets, and in table
// form the extra rows after its state.
func (o *options) printSubWith(sub record.Subscription, extra ...[2]string) error {
	sub = sub.Redacted()
	if o.structured() {
		return o.printJSON(sub)
	}
	tw := o.table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID", sub.ID)
	row("URL", sub.URL)
	row("EVENT TYPES", strings.Join(sub.EventTypes, ", "))
	row("FILTER", orDash(sub.Filter))
	row("FORMAT", sub.Format)
	state := sub.State
	if sub.StateReason != "" {
		state += " (" + sub.StateReason + ")"
	}
	row("STATE", state)
	for _, e := range extra {
		row(e[0], e[1])
	}
	for i, sec := range sub.Secrets {
		v := sec.Key
		if sec.ExpiresAt != nil {
			v += " expires " + sec.ExpiresAt.Format(time.RFC3339)
		}
		row(fmt.Sprintf("SECRET %d", i+1), v)
	}
	limit := "unlimited"
	if sub.RateLimit > 0 {
		limit = fmt.Sprintf("%g/s", sub.RateLimit)
	}
	row("RATE LIMIT", limit)
	row("MAX IN FLIGHT", fmt.Sprint(sub.MaxInFlight))
	row("ORDERED", fmt.Sprint(sub.Ordered))
	row("TIMEOUT", sub.Timeout().String())
	for _, k := range slices.Sorted(maps.Keys(sub.Headers)) {
		row("HEADER", k+": "+sub.Headers[k])
	}
	for _, k := range slices.Sorted(maps.Keys(sub.Metadata)) {
		row("METADATA", k+"="+sub.Metadata[k])
	}
	row("CREATED", sub.CreatedAt.Format(time.RFC3339))
	row("UPDATED", sub.UpdatedAt.Format(time.RFC3339))
	return tw.Flush()
}

func subsRmCmd(o *options) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "rm ID",
		Short: "Delete a subscription (writes a tombstone); asks first unless --yes",
		Long: "rm deletes a subscription by writing a tombstone to the subscriptions topic.\n" +
			"Deliveries for it that are still on their way are dead-lettered\n" +
			"subscription_deleted. It asks for confirmation unless --yes; without a\n" +
			"terminal on stdin it refuses without --yes.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.openSubs(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			id := args[0]
			sub, err := s.get(id)
			if err != nil {
				return err
			}
			if !yes {
				q := fmt.Sprintf("Delete subscription %s (%s, %s)?", id, record.RedactURL(sub.URL), strings.Join(sub.EventTypes, ","))
				if err := o.confirm(q); err != nil {
					return err
				}
			}
			if err := s.produce(cmd.Context(), record.Tombstone(o.names().Subscriptions(), id)); err != nil {
				return err
			}
			if o.structured() {
				return o.printJSON(map[string]any{"id": id, "deleted": true})
			}
			fmt.Fprintf(o.stdout, "deleted subscription %s\n", id)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// subsStateCmd builds pause (state paused), resume (state active) and
// disable (state disabled).
func subsStateCmd(o *options, name, state string) *cobra.Command {
	var reason string
	short := "Pause deliveries to a subscription (they wait until resumed)"
	long := "pause stops webhooks to a subscription without losing any. Events for it are\n" +
		"still routed; the dispatcher parks their deliveries in the first retry topic\n" +
		"(hookline.retry.1) without an attempt, looks at them again every first-tier\n" +
		"delay (5s by default), and delivers them once the subscription is resumed, in\n" +
		"order for an ordered subscription. Parked deliveries hold up no other\n" +
		"subscription. To stop deliveries for good, disable it instead (hookctl subs\n" +
		"disable): a disabled subscription's deliveries are dead-lettered\n" +
		"endpoint_disabled, replayable with hookctl dlq replay once it is resumed."
	switch state {
	case record.StateDisabled:
		short = "Disable a subscription: its deliveries are dead-lettered until resumed"
		long = "disable stops webhooks to a subscription: its deliveries are dead-lettered\n" +
			"endpoint_disabled (the dispatcher also disables a subscription whose endpoint\n" +
			"answers 410 Gone). Resume it with hookctl subs resume and replay its dead\n" +
			"letters with hookctl dlq replay. To hold deliveries instead, pause it."
	case record.StateActive:
		short = "Resume a paused or disabled subscription"
		long = "resume makes a paused or disabled subscription active again. Deliveries parked\n" +
			"while it was paused are sent as they come round (within the first retry tier's\n" +
			"delay, 5s by default); dead letters of a disabled one are replayed with\n" +
			"hookctl dlq replay."
	}
	cmd := &cobra.Command{
		Use:   name + " ID",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.openSubs(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			cur, err := s.get(args[0])
			if err != nil {
				return err
			}
			if cur.State == state && cur.StateReason == reason {
				fmt.Fprintf(o.stderr, "subscription %s is already %s\n", cur.ID, state)
				return o.printSub(cur)
			}
			sub, err := s.update(cmd.Context(), args[0], func(sub *record.Subscription) {
				sub.State, sub.StateReason = state, reason
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(o.stderr, "subscription %s is now %s\n", sub.ID, state)
			return o.printSub(sub)
		},
	}
	if state != record.StateActive {
		cmd.Flags().StringVar(&reason, "reason", "", "why, shown with the state")
	}
	return cmd
}

func subsRotateCmd(o *options) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Add a new signing secret; older ones keep signing until --grace ends",
		Long: "rotate-secret adds a fresh signing secret and prints it once. Webhooks are\n" +
			"signed with every unexpired secret, so receivers can switch to the new one\n" +
			"within the grace window; older secrets expire at its end.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if grace < 0 {
				return errors.New("--grace must not be negative")
			}
			secret, err := webhook.NewSecret()
			if err != nil {
				return err
			}
			s, err := o.openSubs(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			sub, err := s.update(cmd.Context(), args[0], func(sub *record.Subscription) {
				sub.Secrets = record.RotateSecrets(sub.Secrets, secret.Encode(), time.Now().UTC(), grace)
			})
			if err != nil {
				return err
			}
			return o.printSecret("rotated secret of", sub, secret.Encode())
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", 24*time.Hour, "how long the older secrets keep signing (0: stop at once)")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shorten cuts s to n runes, marking the cut.
func shorten(s string, n int) string {
	r := []rune(strings.ReplaceAll(s, "\n", " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}
