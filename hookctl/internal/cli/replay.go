package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookline/hookline/platform/dlqreplay"
	"github.com/hookline/hookline/schemas/record"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// replayResult is what replay prints.
type replayResult struct {
	// Name is the consumer group that keeps this selection's progress;
	// Selection the filter it belongs to.
	Name      string `json:"name"`
	Selection string `json:"selection"`
	DryRun    bool   `json:"dry_run"`
	Complete  bool   `json:"complete"` // the whole snapshot was processed (not stopped by --limit)
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
	SkippedRoute int `json:"skipped_route"`
	Unreplayable int `json:"unreplayable"`
	// Problems are target subscriptions that are deleted, paused or
	// disabled: a replay refuses them without --force.
	Problems []string     `json:"problems,omitempty"`
	Items    []replayItem `json:"items,omitempty"` // dry run only
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
// route-stage dead letter left out for want of --include-route. The
// record is the one the producer API's replay sends too (dlqreplay).
func (rp *replayer) plan(d deadLetter) (rec *kgo.Record, skippedRoute bool, err error) {
	if d.err != nil {
		return nil, false, nil
	}
	return dlqreplay.Record(d.rec, &d.dl, rp.deliveries, rp.includeRoute)
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

// replayFlags are the flags of dlq replay beyond the filter.
type replayFlags struct {
	limit        int
	rate         float64
	name         string
	dryRun       bool
	yes          bool
	includeRoute bool
	restart      bool
	force        bool
}

func dlqReplayCmd(o *options) *cobra.Command {
	var (
		f  dlqFilter
		fl replayFlags
	)
	cmd := &cobra.Command{
		Use:   "replay [PARTITION/OFFSET]",
		Short: "Replay dead letters to the deliveries topic (bounded, filtered, rate-limited, resumable)",
		Long: "replay produces the delivery of each matching dead letter to the deliveries\n" +
			"topic again, with its original id (the webhook-id receivers deduplicate on),\n" +
			"attempt 0, due at once, and replay_of naming the dead letter. Give a position\n" +
			"(3/1042, as dlq ls prints it), --event-id or --delivery-id to replay one item.\n\n" +
			"It replays only what the topic held when it started. Progress is keyed to the\n" +
			"selection: it is kept as the committed offsets of a consumer group whose name\n" +
			"is derived from the filter (hookline-replay-<hash>, printed at start), or\n" +
			"--name. A rerun of the same selection continues where the last run stopped and\n" +
			"replays nothing twice; another selection has progress of its own. Continuing\n" +
			"a --name with another selection is refused; --restart starts over.\n\n" +
			"It refuses when a target subscription is deleted, paused or disabled, since\n" +
			"the replay would only dead-letter or park again; --force replays anyway.\n\n" +
			"Route-stage dead letters hold the input record, not a delivery. They are skipped\n" +
			"unless --include-route, which produces the record again to its source topic.",
		Example: "  hookctl dlq replay --subscription billing --reason exhausted --since 24h --dry-run\n" +
			"  hookctl dlq replay --subscription billing --reason exhausted --since 24h --rate 20 --yes\n" +
			"  hookctl dlq replay 3/1042\n" +
			"  hookctl dlq replay --delivery-id dlv_0a1b2c --yes",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fl.limit < 0 {
				return usagef("--limit must not be negative")
			}
			if fl.rate < 0 {
				return usagef("--rate must not be negative")
			}
			if cmd.Flags().Changed("name") && strings.TrimSpace(fl.name) == "" {
				return usagef("--name must not be empty")
			}
			if err := f.parse(time.Now()); err != nil {
				return err
			}
			r := &replay{o: o, f: &f, fl: fl, position: -1,
				rp: replayer{deliveries: o.names().Deliveries(), includeRoute: fl.includeRoute}}
			if len(args) == 1 {
				topic, p, off, err := parsePosition(args[0], o.names().DLQ())
				if err != nil {
					return err
				}
				if topic != o.names().DLQ() {
					return usagef("position %s: replay reads %s, not %s", args[0], o.names().DLQ(), topic)
				}
				r.partition, r.position = p, off
			}
			r.selection = r.selectionText()
			r.name = fl.name
			if r.name == "" {
				r.name = replayName(r.selection)
			}
			return r.run(cmd.Context())
		},
	}
	f.register(cmd.Flags())
	fs := cmd.Flags()
	fs.IntVar(&fl.limit, "limit", 0, "replay at most this many in this run (0: all); a rerun continues")
	fs.Float64Var(&fl.rate, "rate", 100, "most records replayed per second (0: no limit)")
	fs.StringVar(&fl.name, "name", "", "name of the replay: the consumer group that keeps its progress (default: derived from the selection)")
	fs.BoolVar(&fl.dryRun, "dry-run", false, "show what would be replayed; write nothing")
	fs.BoolVarP(&fl.yes, "yes", "y", false, "do not ask for confirmation")
	fs.BoolVar(&fl.includeRoute, "include-route", false, "also replay route-stage dead letters to their source topics")
	fs.BoolVar(&fl.restart, "restart", false, "ignore the replay's progress and start from the oldest dead letter")
	fs.BoolVar(&fl.force, "force", false, "replay even to subscriptions that are deleted, paused or disabled")
	return cmd
}

// replayName derives the name of a replay from its selection, as the
// producer API does.
func replayName(selection string) string { return dlqreplay.Name(selection) }

// replay is one run of dlq replay.
type replay struct {
	o         *options
	f         *dlqFilter
	fl        replayFlags
	rp        replayer
	partition int32
	position  int64 // offset of the one dead letter to replay; -1 for a filtered replay
	selection string
	name      string

	cl  *kgo.Client
	adm *kadm.Client
}

// selectionText is the canonical text of what this replay replays, which
// its progress is keyed to.
func (r *replay) selectionText() string {
	parts := r.f.selection()
	if r.position >= 0 {
		parts = append(parts, fmt.Sprintf("position=%d/%d", r.partition, r.position))
	}
	if r.fl.includeRoute {
		parts = append(parts, "include-route")
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

func (r *replay) run(ctx context.Context) error {
	o := r.o
	cl, err := o.client(kgo.RecordDeliveryTimeout(o.timeout))
	if err != nil {
		return err
	}
	defer cl.Close()
	r.cl, r.adm = cl, kadm.NewClient(cl)
	fmt.Fprintf(o.stderr, "replay %s: %s\n", r.name, r.selection)
	// Producing to a missing topic would only fail after --timeout.
	sctx, cancel := context.WithTimeout(ctx, o.timeout)
	_, err = snapshot(sctx, r.adm, r.rp.deliveries)
	cancel()
	if err != nil {
		return err
	}
	sp, err := r.bounds(ctx)
	if err != nil {
		return err
	}
	if sp.records() == 0 {
		res := replayResult{Name: r.name, Selection: r.selection, DryRun: r.fl.dryRun, Complete: true}
		switch {
		case r.position >= 0:
			fmt.Fprintf(o.stderr, "dead letter %d/%d was replayed already by %s (--restart replays it again)\n", r.partition, r.position, r.name)
		case r.fl.restart:
			fmt.Fprintf(o.stderr, "%s is empty\n", o.names().DLQ())
		default:
			fmt.Fprintf(o.stderr, "nothing in %s after the progress of %s (--restart replays from the oldest)\n", o.names().DLQ(), r.name)
		}
		return r.print(res)
	}
	yes := r.fl.yes || r.position >= 0 // one dead letter is no bulk write
	if r.fl.dryRun || !yes || !r.fl.force {
		plan, err := r.pass(ctx, sp, true)
		if err != nil {
			return err
		}
		if !r.fl.force {
			if plan.Problems, err = r.checkTargets(ctx, plan.Items); err != nil {
				return err
			}
		}
		if r.fl.dryRun {
			for _, p := range plan.Problems {
				fmt.Fprintf(o.stderr, "would refuse: %s (--force replays anyway)\n", p)
			}
			return r.print(plan)
		}
		if len(plan.Problems) > 0 {
			return fmt.Errorf("%w: %s; nothing was replayed (--force replays anyway)", ErrInactive, strings.Join(plan.Problems, "; "))
		}
		if plan.Replayed+plan.ReplayedRoute == 0 {
			// Nothing to write; fall through to record the progress.
			yes = true
		}
		if !yes {
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

// checkTargets returns the target subscriptions of items that do not
// exist or are not active, one sentence each.
func (r *replay) checkTargets(ctx context.Context, items []replayItem) ([]string, error) {
	ids := map[string]bool{}
	for _, it := range items {
		if it.To == r.rp.deliveries && it.SubscriptionID != "" {
			ids[it.SubscriptionID] = true
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	s, err := r.o.openSubs(ctx)
	if err != nil {
		return nil, fmt.Errorf("checking the target subscriptions: %w", err)
	}
	defer s.Close()
	var problems []string
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		sub, ok := s.table.Get(id)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("subscription %s does not exist", id))
		case sub.State != record.StateActive:
			p := fmt.Sprintf("subscription %s is %s", id, sub.State)
			if sub.StateReason != "" {
				p += " (" + sub.StateReason + ")"
			}
			problems = append(problems, p)
		}
	}
	return problems, nil
}

// bounds returns what this run reads: from the replay's progress (or the
// oldest record) to the end offsets now; for one dead letter, just it. It
// refuses a name whose progress belongs to another selection, or that a
// running consumer group uses.
func (r *replay) bounds(ctx context.Context) (spans, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	topic := r.o.names().DLQ()
	sp, err := snapshot(ctx, r.adm, topic)
	if err != nil {
		return nil, err
	}
	if r.position >= 0 {
		b, ok := sp[r.partition]
		if !ok {
			return nil, fmt.Errorf("%s has no partition %d: %w", topic, r.partition, ErrNotFound)
		}
		if r.position < b.from || r.position >= b.to {
			return nil, fmt.Errorf("%s partition %d holds offsets %d to %d, not %d: %w", topic, r.partition, b.from, b.to-1, r.position, ErrNotFound)
		}
		sp = spans{r.partition: {r.position, r.position + 1}}
	}
	groups, err := r.adm.DescribeGroups(ctx, r.name)
	if err == nil {
		if g, ok := groups[r.name]; ok && g.Err == nil && len(g.Members) > 0 {
			return nil, usagef("consumer group %s has %d running members: it is not a replay's; choose another --name", r.name, len(g.Members))
		}
	}
	done, err := r.adm.FetchOffsets(ctx, r.name)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("fetching the progress of replay %s: %w", r.name, err)
	}
	if r.fl.restart {
		return sp, nil
	}
	mismatch, other := false, ""
	done.Each(func(c kadm.OffsetResponse) {
		if c.Topic == topic && c.Err == nil && c.Metadata != r.selection && !mismatch {
			mismatch, other = true, c.Metadata
		}
	})
	if mismatch {
		return nil, fmt.Errorf("%w: %s replays %q, not %q; rerun with its selection, choose another --name, or --restart to start it over",
			ErrSelectionChanged, r.name, orDash(other), r.selection)
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
	res := replayResult{Name: r.name, Selection: r.selection, DryRun: plan}
	topic := o.names().DLQ()
	pos := map[int32]int64{} // next offset to process, per partition
	var (
		lim      = newLimiter(r.fl.rate)
		errMu    sync.Mutex // guards prodErr, set by produce callbacks
		prodErr  error
		lastSave = time.Now()
		sinceCkp int
		total    = sp.records()
		bar      meter
	)
	if plan {
		lim = newLimiter(0)
	} else {
		bar = o.meter("replay", total)
		defer bar.finish()
		// The first checkpoint writes the selection to every partition,
		// so any later run can tell whose progress this is.
		for p, s := range sp {
			if r.position < 0 {
				pos[p] = s.from
			}
		}
	}
	// Produced records must not fail because the command was interrupted:
	// they are sent, then the progress is saved.
	pctx := context.WithoutCancel(ctx)
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
			offs.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1, Metadata: r.selection})
		}
		if err := r.adm.CommitAllOffsets(ctx, r.name, offs); err != nil {
			return fmt.Errorf("saving the progress of replay %s: %w", r.name, err)
		}
		lastSave, sinceCkp = time.Now(), 0
		return nil
	}
	if !plan {
		if err := checkpoint(ctx); err != nil {
			return res, err
		}
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
				if err := lim.wait(ctx); err != nil {
					return err
				}
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
					r.cl.Produce(pctx, out, func(_ *kgo.Record, err error) {
						errMu.Lock()
						defer errMu.Unlock()
						if err != nil && prodErr == nil {
							prodErr = err
						}
					})
				}
				stop = r.fl.limit > 0 && res.Replayed+res.ReplayedRoute >= r.fl.limit
			}
		}
		pos[rec.Partition] = rec.Offset + 1
		sinceCkp++
		if !plan {
			bar.set(res.Read, res.Replayed+res.ReplayedRoute)
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
		return res, fmt.Errorf("%w: replayed %d; progress saved in replay %s, rerun the same command to continue", err, res.Replayed+res.ReplayedRoute, r.name)
	}
	stopped := r.fl.limit > 0 && res.Replayed+res.ReplayedRoute >= r.fl.limit
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
	if o.structured() {
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
	fmt.Fprintf(o.stdout, " (read %d, matched %d; replay %s)\n", res.Read, res.Matched, res.Name)
	if res.SkippedRoute > 0 {
		fmt.Fprintf(o.stdout, "skipped %d route-stage dead letters: --include-route replays them to their source topics\n", res.SkippedRoute)
	}
	if res.Unreplayable > 0 {
		fmt.Fprintf(o.stdout, "skipped %d dead letters with nothing to replay (undecodable, or a raw record cut short)\n", res.Unreplayable)
	}
	if !res.DryRun && !res.Complete {
		fmt.Fprintf(o.stdout, "stopped at --limit; progress saved in replay %s, rerun to continue\n", r.name)
	}
	return nil
}
