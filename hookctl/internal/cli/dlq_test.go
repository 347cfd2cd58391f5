package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/hookctl/internal/cli"
	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type dlqRow struct {
	Position       string `json:"position"`
	Reason         string `json:"reason"`
	Stage          string `json:"stage"`
	SubscriptionID string `json:"subscription_id"`
	EventType      string `json:"event_type"`
	EventID        string `json:"event_id"`
	DeliveryID     string `json:"delivery_id"`
	DecodeError    string `json:"decode_error"`
}

type replayResult struct {
	Name          string   `json:"name"`
	Selection     string   `json:"selection"`
	DryRun        bool     `json:"dry_run"`
	Complete      bool     `json:"complete"`
	Read          int      `json:"read"`
	Matched       int      `json:"matched"`
	Replayed      int      `json:"replayed"`
	ReplayedRoute int      `json:"replayed_route"`
	SkippedRoute  int      `json:"skipped_route"`
	Unreplayable  int      `json:"unreplayable"`
	Problems      []string `json:"problems"`
	Items         []struct {
		Position string `json:"position"`
		To       string `json:"to"`
	} `json:"items"`
}

// seedDLQ fills the dead-letter topic: four dispatch-stage dead letters,
// one route-stage, one undecodable. It returns the deliveries by event id.
func (f *fixture) seedDLQ(t *testing.T) map[string]*record.Delivery {
	t.Helper()
	old, recent := time.Now().Add(-3*time.Hour).UTC(), time.Now().Add(-10*time.Minute).UTC()
	ds := map[string]*record.Delivery{}
	var recs []*kgo.Record
	for _, x := range []struct {
		sub, typ, id, reason string
		at                   time.Time
	}{
		{"a", "payment.succeeded", "e1", record.ReasonExhausted, old},
		{"a", "payment.succeeded", "e2", record.ReasonExhausted, recent},
		{"b", "order.status_changed", "e3", record.ReasonRejected, old},
		{"a", "order.status_changed", "e4", record.ReasonEndpointGone, recent},
	} {
		d := delivery(x.sub, x.typ, x.id)
		ds[x.id] = d
		recs = append(recs, f.dispatchDL(t, d, x.reason, x.at))
	}
	src := &kgo.Record{Key: []byte("k1"), Value: []byte(`{"no":"type"}`), Headers: []kgo.RecordHeader{{Key: "x-origin", Value: []byte("seed")}}}
	recs = append(recs, f.routeDL(t, src, 17, recent),
		&kgo.Record{Topic: f.names.DLQ(), Key: []byte("junk"), Value: []byte("not json at all")})
	f.produce(t, recs...)
	return ds
}

// addSubs creates active subscriptions with the ids, so replays to them
// pass the target check.
func (f *fixture) addSubs(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		f.ok(t, "subs", "add", "--id", id, "--url", "https://"+id+".example.com/hook", "--types", "*")
	}
}

func decodeRows(t *testing.T, out string) []dlqRow {
	t.Helper()
	var rows []dlqRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return rows
}

func TestDLQLsShowStats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seedDLQ(t)

	tests := []struct {
		name string
		args []string
		want []string // event ids, or "undecodable"/"route"
	}{
		{"all", nil, []string{"e1", "e3", "e2", "e4", "route", "undecodable"}},
		{"subscription", []string{"--subscription", "a"}, []string{"e1", "e2", "e4"}},
		{"type pattern", []string{"--type", "order.*"}, []string{"e3", "e4"}},
		{"reasons", []string{"--reason", "exhausted,rejected"}, []string{"e1", "e3", "e2"}},
		{"undecodable", []string{"--reason", "undecodable"}, []string{"undecodable"}},
		{"stage", []string{"--stage", "route"}, []string{"route"}},
		{"since", []string{"--since", "1h", "--stage", "dispatch"}, []string{"e2", "e4"}},
		{"until", []string{"--until", "1h"}, []string{"e1", "e3"}},
		{"limit", []string{"--limit", "2"}, []string{"e1", "e3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := decodeRows(t, f.ok(t, append([]string{"dlq", "ls", "-o", "json"}, tt.args...)...))
			var got []string
			for _, r := range rows {
				switch {
				case r.DecodeError != "":
					got = append(got, "undecodable")
				case r.Stage == record.StageRoute:
					got = append(got, "route")
				default:
					got = append(got, r.EventID)
				}
			}
			// Rows are sorted by failure time; the last two of "all" failed at
			// about the same time as e2 and e4, so compare as sets.
			if fmt.Sprint(sortedCopy(got)) != fmt.Sprint(sortedCopy(tt.want)) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}

	out := f.ok(t, "dlq", "ls")
	for _, want := range []string{"POSITION", "undecodable", "exhausted", "invalid_event", "payment.succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("table ls misses %q:\n%s", want, out)
		}
	}

	// show, by the position ls printed.
	var e4, junk dlqRow
	for _, r := range decodeRows(t, f.ok(t, "dlq", "ls", "-o", "json")) {
		if r.EventID == "e4" {
			e4 = r
		}
		if r.DecodeError != "" {
			junk = r
		}
	}
	var shown struct {
		DeadLetter *record.DeadLetter `json:"dead_letter"`
		Headers    map[string]string  `json:"headers"`
	}
	if err := json.Unmarshal([]byte(f.ok(t, "dlq", "show", e4.Position, "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.DeadLetter == nil || shown.DeadLetter.Delivery.ID != e4.DeliveryID || shown.DeadLetter.Reason != record.ReasonEndpointGone ||
		string(shown.DeadLetter.Delivery.Event.Data) != `{"amount": 42}` || shown.Headers[header.Reason] != record.ReasonEndpointGone {
		t.Fatalf("show %s = %+v", e4.Position, shown)
	}
	out = f.ok(t, "dlq", "show", f.names.DLQ()+"/"+e4.Position)
	for _, want := range []string{"endpoint_gone", e4.DeliveryID, "order.status_changed", `{"amount": 42}`} {
		if !strings.Contains(out, want) {
			t.Errorf("table show misses %q:\n%s", want, out)
		}
	}
	if out := f.ok(t, "dlq", "show", junk.Position); !strings.Contains(out, "DECODE ERROR") || !strings.Contains(out, "not json at all") {
		t.Errorf("show of an undecodable record:\n%s", out)
	}
	if err := f.fail(t, "dlq", "show", "0/99999"); !errors.Is(err, cli.ErrNotFound) {
		t.Errorf("show of a missing offset: %v", err)
	}
	if err := f.fail(t, "dlq", "show", "zero/one"); !strings.Contains(err.Error(), "partition/offset") {
		t.Errorf("show of a bad position: %v", err)
	}

	var stats struct {
		Total          int            `json:"total"`
		Undecodable    int            `json:"undecodable"`
		ByReason       map[string]int `json:"by_reason"`
		ByStage        map[string]int `json:"by_stage"`
		BySubscription map[string]int `json:"by_subscription"`
	}
	if err := json.Unmarshal([]byte(f.ok(t, "dlq", "stats", "-o", "json")), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Total != 6 || stats.Undecodable != 1 || stats.ByReason["exhausted"] != 2 || stats.ByReason["undecodable"] != 1 ||
		stats.ByStage["dispatch"] != 4 || stats.ByStage["route"] != 1 || stats.BySubscription["a"] != 3 || stats.BySubscription["-"] != 2 {
		t.Fatalf("stats = %+v", stats)
	}
	if out := f.ok(t, "dlq", "stats", "--subscription", "b"); !strings.HasPrefix(out, "1 dead letters") || !strings.Contains(out, "rejected") {
		t.Fatalf("table stats:\n%s", out)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j] < c[j-1]; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
	return c
}

// TestDLQBadFlags needs no broker: flags are checked before Kafka is.
func TestDLQBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"dlq", "ls", "--since", "yesterday"},
		{"dlq", "ls", "--since", "1h", "--until", "2h"},
		{"dlq", "ls", "--stage", "deliver"},
		{"dlq", "ls", "--type", "a*b"},
		{"dlq", "ls", "--limit", "-1"},
		{"dlq", "replay", "--rate", "-1", "--yes"},
		{"dlq", "replay", "--name", "", "--yes"},
		{"dlq", "show"},
	} {
		if _, err := run(t, map[string]string{"HOOKLINE_BROKERS": "127.0.0.1:1"}, args...); err == nil || err.Error() == "" {
			t.Errorf("%v: err = %v, want a message", args, err)
		}
	}
}

func (f *fixture) replayJSON(t *testing.T, args ...string) replayResult {
	t.Helper()
	var res replayResult
	out := f.ok(t, append([]string{"dlq", "replay", "-o", "json", "--rate", "0"}, args...)...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res
}

func TestDLQReplay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addSubs(t, "a", "b")
	ds := f.seedDLQ(t)
	positions := map[string]string{} // event id -> topic/partition/offset of its dead letter
	for _, r := range f.readAll(t, f.names.DLQ()) {
		if id := record.HeaderValue(r, header.EventID); id != "" {
			positions[id] = record.ProvenanceOf(r).String()
		}
	}
	g := func(name string) string { return kafkatest.Name(t, name) }
	g1, g5 := g("g1"), g("g5")
	args := []string{"--subscription", "a", "--reason", "exhausted,endpoint_gone", "--name", g1}

	// A dry run lists and writes nothing, not even progress.
	res := f.replayJSON(t, append(args, "--dry-run")...)
	if !res.DryRun || res.Replayed != 3 || len(res.Items) != 3 || res.Items[0].To != f.names.Deliveries() {
		t.Fatalf("dry run = %+v", res)
	}
	if out := f.ok(t, append([]string{"dlq", "replay", "--dry-run"}, args...)...); !strings.Contains(out, "would replay 3") {
		t.Fatalf("table dry run:\n%s", out)
	}
	// Without a terminal and without --yes, refuse; a "no" aborts.
	if _, _, err := f.exec(t.Context(), nil, append([]string{"dlq", "replay"}, args...)...); !errors.Is(err, cli.ErrNoConfirmation) {
		t.Fatalf("replay without --yes: %v", err)
	}
	if _, _, err := f.exec(t.Context(), strings.NewReader("n\n"), append([]string{"dlq", "replay"}, args...)...); !errors.Is(err, cli.ErrAborted) {
		t.Fatalf("replay answered no: %v", err)
	}
	if got := f.readAll(t, f.names.Deliveries()); len(got) != 0 {
		t.Fatalf("%d deliveries written before any confirmed replay", len(got))
	}
	if offs, err := f.c.Admin(t).FetchOffsets(t.Context(), g1); err == nil && len(offs) > 0 {
		t.Fatalf("progress saved before any confirmed replay: %v", offs)
	}

	// Confirmed on stdin.
	out, errOut, err := f.exec(t.Context(), strings.NewReader("y\n"), append([]string{"dlq", "replay", "--rate", "0"}, args...)...)
	if err != nil || !strings.Contains(out, "replayed 3") || !strings.Contains(errOut, "Replay 3 dead letters") {
		t.Fatalf("confirmed replay: %v\n%s\n%s", err, out, errOut)
	}
	checkReplayed(t, f.readAll(t, f.names.Deliveries()), ds, positions, "e1", "e2", "e4")

	// A rerun continues after the last one: nothing new.
	if res := f.replayJSON(t, append(args, "--yes")...); res.Read != 0 || res.Replayed != 0 || !res.Complete {
		t.Fatalf("rerun = %+v", res)
	}
	// A new dead letter is picked up by the next run, and only it.
	d5 := delivery("a", "payment.succeeded", "e5")
	ds["e5"] = d5
	f.produce(t, f.dispatchDL(t, d5, record.ReasonExhausted, time.Now()))
	for _, r := range f.readAll(t, f.names.DLQ()) {
		if record.HeaderValue(r, header.EventID) == "e5" {
			positions["e5"] = record.ProvenanceOf(r).String()
		}
	}
	if res := f.replayJSON(t, append(args, "--yes")...); res.Read != 1 || res.Replayed != 1 {
		t.Fatalf("run after a new dead letter = %+v", res)
	}
	checkReplayed(t, f.readAll(t, f.names.Deliveries()), ds, positions, "e1", "e2", "e4", "e5")

	// Route-stage dead letters are skipped unless asked for.
	res = f.replayJSON(t, "--name", g("g2"), "--stage", "route", "--yes")
	if res.SkippedRoute != 1 || res.Replayed+res.ReplayedRoute != 0 {
		t.Fatalf("route replay without --include-route = %+v", res)
	}
	if out := f.ok(t, "dlq", "replay", "--name", g("g3"), "--stage", "route", "--yes"); !strings.Contains(out, "--include-route") {
		t.Fatalf("skipped route dead letters are not explained:\n%s", out)
	}
	res = f.replayJSON(t, "--name", g("g4"), "--stage", "route", "--include-route", "--yes")
	if res.ReplayedRoute != 1 {
		t.Fatalf("route replay = %+v", res)
	}
	src := f.readAll(t, f.source)
	if len(src) != 1 || string(src[0].Key) != "k1" || string(src[0].Value) != `{"no":"type"}` ||
		record.HeaderValue(src[0], "x-origin") != "seed" || !strings.HasPrefix(record.HeaderValue(src[0], header.ReplayOf), f.names.DLQ()+"/") {
		t.Fatalf("source topic after route replay: %+v", src)
	}

	// --limit stops early; the rerun does the rest.
	first := f.replayJSON(t, "--name", g5, "--limit", "2", "--yes")
	if first.Replayed != 2 || first.Complete {
		t.Fatalf("limited replay = %+v", first)
	}
	res = f.replayJSON(t, "--name", g5, "--yes")
	// Which partitions the first run got through varies, so add up.
	if res.Replayed != 3 || !res.Complete || first.Read+res.Read != 7 ||
		first.SkippedRoute+res.SkippedRoute != 1 || first.Unreplayable+res.Unreplayable != 1 {
		t.Fatalf("replay after the limited one = %+v (first %+v)", res, first)
	}
	if got := len(f.readAll(t, f.names.Deliveries())); got != 4+5 {
		t.Fatalf("%d deliveries, want 9", got)
	}
	// --restart ignores the progress.
	if res := f.replayJSON(t, "--name", g1, "--restart", "--dry-run"); res.Replayed != 5 {
		t.Fatalf("restart dry run = %+v", res)
	}
}

// checkReplayed asserts that recs are exactly the replays of the named
// events: same delivery id, attempt 0, due now, replay_of set.
func checkReplayed(t *testing.T, recs []*kgo.Record, ds map[string]*record.Delivery, positions map[string]string, ids ...string) {
	t.Helper()
	if len(recs) != len(ids) {
		t.Fatalf("%d deliveries, want %d", len(recs), len(ids))
	}
	got := map[string]record.Delivery{}
	for _, r := range recs {
		d, err := record.DecodeDelivery(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != d.SubscriptionID || record.HeaderValue(r, header.ReplayOf) != d.ReplayOf ||
			record.HeaderValue(r, header.DeliveryID) != d.ID || record.HeaderValue(r, header.Attempt) != "0" {
			t.Errorf("record of %s: key %q headers %v", d.ID, r.Key, r.Headers)
		}
		got[d.Event.ID] = d
	}
	for _, id := range ids {
		d, ok := got[id]
		if !ok {
			t.Fatalf("event %s not replayed; got %v", id, got)
		}
		orig := ds[id]
		if d.ID != orig.ID || d.ID != record.DeliveryID(orig.Event.Source, id, orig.SubscriptionID) || d.SubscriptionID != orig.SubscriptionID {
			t.Errorf("%s: id %s sub %s, want %s %s", id, d.ID, d.SubscriptionID, orig.ID, orig.SubscriptionID)
		}
		if d.Attempt != 0 || !d.NotBefore.IsZero() || !d.FirstAttemptAt.IsZero() || d.Tier != 0 || d.Parked() {
			t.Errorf("%s: attempt %d not before %s first attempt %s tier %d parked at %s, want a fresh delivery",
				id, d.Attempt, d.NotBefore, d.FirstAttemptAt, d.Tier, d.ParkedAt)
		}
		if d.ReplayOf != positions[id] {
			t.Errorf("%s: replay_of %q, want %q", id, d.ReplayOf, positions[id])
		}
		if string(d.Event.Data) != string(orig.Event.Data) || d.Event.Type != orig.Event.Type || !d.Event.Time.Equal(orig.Event.Time) {
			t.Errorf("%s: event changed: %+v", id, d.Event)
		}
	}
}

// TestDLQReadsCommittedOnly writes dead letters in a committed and an
// aborted transaction, as the router does: reads must end (the topic ends
// in transaction markers) and see only the committed ones.
func TestDLQReadsCommittedOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addSubs(t, "a")
	// On the empty topic, replay has nothing to confirm.
	out, errOut, err := f.exec(t.Context(), nil, "dlq", "replay")
	if err != nil || !strings.Contains(out, "replayed 0") || !strings.Contains(errOut, "is empty") && !strings.Contains(errOut, "nothing") {
		t.Fatalf("replay of an empty topic: %v\n%s\n%s", err, out, errOut)
	}

	cl := f.c.Client(t, kgo.TransactionalID(kafkatest.Name(t, "tx")), kgo.DefaultProduceTopic(f.names.DLQ()))
	write := func(commit kgo.TransactionEndTry, ids ...string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := cl.ProduceSync(t.Context(), f.dispatchDL(t, delivery("a", "payment.succeeded", id), record.ReasonExhausted, time.Now())).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(t.Context(), commit); err != nil {
			t.Fatal(err)
		}
	}
	write(kgo.TryCommit, "c1", "c2", "c3")
	write(kgo.TryAbort, "x1", "x2")
	write(kgo.TryCommit, "c4")
	// EndTransaction returns before the broker has written every commit
	// marker; reads end at the last stable offset, so wait for it.
	f.waitStable(t, f.names.DLQ())

	var got []string
	for _, r := range decodeRows(t, f.ok(t, "dlq", "ls", "-o", "json")) {
		got = append(got, r.EventID)
	}
	if fmt.Sprint(sortedCopy(got)) != "[c1 c2 c3 c4]" {
		t.Fatalf("ls = %v, want the committed dead letters", got)
	}
	if res := f.replayJSON(t, "--yes"); res.Replayed != 4 || !res.Complete {
		t.Fatalf("replay = %+v", res)
	}
	if res := f.replayJSON(t, "--yes"); res.Read != 0 {
		t.Fatalf("rerun = %+v", res)
	}
}

// waitStable waits until no transaction is open on topic: its last stable
// offsets reach its high watermarks.
func (f *fixture) waitStable(t *testing.T, topic string) {
	t.Helper()
	adm := f.c.Admin(t)
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		hw, err1 := adm.ListEndOffsets(t.Context(), topic)
		lso, err2 := adm.ListCommittedOffsets(t.Context(), topic)
		if err1 == nil && err2 == nil && hw.Error() == nil && lso.Error() == nil {
			stable := true
			hw.Each(func(o kadm.ListedOffset) {
				if l, ok := lso.Lookup(topic, o.Partition); !ok || l.Offset != o.Offset {
					stable = false
				}
			})
			if stable {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: a transaction stayed open: %v %v", topic, err1, err2)
		}
		<-tick.C
	}
}
