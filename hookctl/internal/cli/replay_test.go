package cli_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/hookctl/internal/cli"
	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// replayedIDs returns how often each delivery id is on the deliveries
// topic.
func (f *fixture) replayedIDs(t *testing.T) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, r := range f.readAll(t, f.names.Deliveries()) {
		d, err := record.DecodeDelivery(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		got[d.Event.ID]++
	}
	return got
}

// positionOf returns the dlq ls position of the dead letter of event id.
func (f *fixture) positionOf(t *testing.T, eventID string) string {
	t.Helper()
	for _, r := range decodeRows(t, f.ok(t, "dlq", "ls", "-o", "json", "--event-id", eventID)) {
		return r.Position
	}
	t.Fatalf("no dead letter of %s", eventID)
	return ""
}

// TestReplayIsolation is the bug of issue 12: after replaying subscription
// a, a replay of subscription b must still see b's older dead letters.
func TestReplayIsolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addSubs(t, "a", "b")
	f.seedDLQ(t)

	ra := f.replayJSON(t, "--subscription", "a", "--yes")
	if ra.Replayed != 3 || !strings.HasPrefix(ra.Name, "hookline-replay-") || ra.Selection != "subscription=a" {
		t.Fatalf("replay of a = %+v", ra)
	}
	rb := f.replayJSON(t, "--subscription", "b", "--dry-run")
	if rb.Replayed != 1 || rb.Name == ra.Name {
		t.Fatalf("dry run of b after a = %+v (a: %s)", rb, ra.Name)
	}
	_, errOut, err := f.exec(t.Context(), nil, "dlq", "replay", "--subscription", "b", "--yes", "--rate", "0")
	if err != nil || !strings.Contains(errOut, rb.Name+": subscription=b") {
		t.Fatalf("replay of b: %v\n%s", err, errOut)
	}
	if got := f.replayedIDs(t); fmt.Sprint(got) != "map[e1:1 e2:1 e3:1 e4:1]" {
		t.Fatalf("deliveries = %v", got)
	}
	// Each selection continues on its own; the order of flags and of
	// reasons does not make another selection.
	if res := f.replayJSON(t, "--subscription", "a", "--yes"); res.Read != 0 || res.Name != ra.Name {
		t.Fatalf("rerun of a = %+v", res)
	}
	r1 := f.replayJSON(t, "--reason", "rejected,exhausted", "--subscription", "a", "--dry-run")
	r2 := f.replayJSON(t, "--subscription", "a", "--reason", "exhausted", "--reason", "rejected", "--dry-run")
	if r1.Name != r2.Name || r1.Name == ra.Name {
		t.Fatalf("names %s %s (a: %s)", r1.Name, r2.Name, ra.Name)
	}

	// A name keeps its selection: continuing it with another is refused.
	name := kafkatest.Name(t, "named")
	if res := f.replayJSON(t, "--name", name, "--subscription", "b", "--yes"); res.Replayed != 1 || res.Name != name {
		t.Fatalf("named replay = %+v", res)
	}
	err = f.fail(t, "dlq", "replay", "--name", name, "--subscription", "a", "--yes")
	if !errors.Is(err, cli.ErrSelectionChanged) || !strings.Contains(err.Error(), "subscription=b") {
		t.Fatalf("named replay with another selection: %v", err)
	}
	if res := f.replayJSON(t, "--name", name, "--subscription", "a", "--restart", "--dry-run"); res.Replayed != 3 {
		t.Fatalf("--restart with another selection = %+v", res)
	}
	// The dry run saved nothing: the name still belongs to b.
	if res := f.replayJSON(t, "--name", name, "--subscription", "b", "--yes"); res.Read != 0 {
		t.Fatalf("continuing %s = %+v", name, res)
	}
}

func TestReplaySingleItem(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addSubs(t, "a", "b")
	ds := f.seedDLQ(t)
	pos := f.positionOf(t, "e3")

	// One dead letter by position needs no --yes: it is no bulk write.
	res := f.replayJSON(t, pos)
	if res.Replayed != 1 || res.Read != 1 || !strings.Contains(res.Selection, "position="+pos) {
		t.Fatalf("replay %s = %+v", pos, res)
	}
	if got := f.replayedIDs(t); fmt.Sprint(got) != "map[e3:1]" {
		t.Fatalf("deliveries = %v", got)
	}
	// Again: already done, until --restart.
	if res := f.replayJSON(t, pos); res.Replayed != 0 {
		t.Fatalf("second replay of %s = %+v", pos, res)
	}
	if res := f.replayJSON(t, pos, "--restart"); res.Replayed != 1 {
		t.Fatalf("replay of %s with --restart = %+v", pos, res)
	}
	if res := f.replayJSON(t, "--event-id", "e2", "--yes"); res.Replayed != 1 || res.Matched != 1 {
		t.Fatalf("replay --event-id e2 = %+v", res)
	}
	if res := f.replayJSON(t, "--delivery-id", ds["e4"].ID, "--yes"); res.Replayed != 1 || res.Matched != 1 {
		t.Fatalf("replay --delivery-id = %+v", res)
	}
	if got := f.replayedIDs(t); fmt.Sprint(got) != "map[e2:1 e3:2 e4:1]" {
		t.Fatalf("deliveries = %v", got)
	}

	for _, tt := range []struct {
		pos  string
		code int
	}{
		{"0/99999", cli.ExitNotFound},
		{"7/0", cli.ExitNotFound},
		{"zero/one", cli.ExitUsage},
		{"other.topic/0/1", cli.ExitUsage},
	} {
		if err := f.fail(t, "dlq", "replay", tt.pos); cli.ExitCode(err) != tt.code {
			t.Errorf("replay %s: exit %d (%v), want %d", tt.pos, cli.ExitCode(err), err, tt.code)
		}
	}
}

func TestReplayChecksTargets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addSubs(t, "a", "b")
	f.seedDLQ(t)
	f.ok(t, "subs", "disable", "b", "--reason", "gone for good")
	f.ok(t, "subs", "rm", "a", "--yes")

	err := f.fail(t, "dlq", "replay", "--yes")
	if !errors.Is(err, cli.ErrInactive) || !strings.Contains(err.Error(), "subscription a does not exist") ||
		!strings.Contains(err.Error(), "subscription b is disabled (gone for good)") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("replay to a deleted and a disabled subscription: %v", err)
	}
	if got := f.replayedIDs(t); len(got) != 0 {
		t.Fatalf("refused replay wrote %v", got)
	}
	res := f.replayJSON(t, "--subscription", "b", "--dry-run")
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "disabled") {
		t.Fatalf("dry run = %+v", res)
	}
	// A refused run saved no progress: --force replays everything.
	if res := f.replayJSON(t, "--subscription", "b", "--yes", "--force"); res.Replayed != 1 {
		t.Fatalf("forced replay = %+v", res)
	}
	f.ok(t, "subs", "resume", "b")
	if res := f.replayJSON(t, "--subscription", "b", "--restart", "--yes"); res.Replayed != 1 {
		t.Fatalf("replay after resume = %+v", res)
	}
}

// TestReplayInterruptedResumes stops a replay midway as Ctrl-C does and
// checks that the rerun sends the rest and nothing twice.
func TestReplayInterruptedResumes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addSubs(t, "a")
	const n = 30
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, f.dispatchDL(t, delivery("a", "payment.succeeded", fmt.Sprintf("e%02d", i)), record.ReasonExhausted, time.Now()))
	}
	f.produce(t, recs...)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := f.exec(ctx, nil, "dlq", "replay", "--yes", "--rate", "20")
		done <- err
	}()
	// Interrupt once a few have gone out.
	adm := f.c.Admin(t)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for sent := int64(0); sent < 3; {
		select {
		case err := <-done:
			t.Fatalf("replay ended before it was interrupted: %v", err)
		case <-tick.C:
		}
		ends, err := adm.ListEndOffsets(t.Context(), f.names.Deliveries())
		if err != nil {
			t.Fatal(err)
		}
		sent = 0
		ends.Each(func(o kadm.ListedOffset) { sent += o.Offset })
	}
	cancel()
	err := <-done
	if cli.ExitCode(err) != cli.ExitInterrupted || !strings.Contains(err.Error(), "rerun") {
		t.Fatalf("interrupted replay: exit %d: %v", cli.ExitCode(err), err)
	}
	first := f.replayedIDs(t)
	if len(first) == 0 || len(first) >= n {
		t.Fatalf("%d replayed before the interrupt, want some but not all", len(first))
	}

	res := f.replayJSON(t, "--yes")
	if res.Replayed != n-len(first) {
		t.Fatalf("rerun replayed %d, want the %d left", res.Replayed, n-len(first))
	}
	got := f.replayedIDs(t)
	for i := range n {
		if id := fmt.Sprintf("e%02d", i); got[id] != 1 {
			t.Errorf("event %s replayed %d times", id, got[id])
		}
	}
}

// TestReplayIgnoresServiceEnvironment: a dispatcher's environment must not
// change a replay (issue 12: HOOKLINE_GROUP made it commit into the
// dispatcher's live group).
func TestReplayIgnoresServiceEnvironment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addSubs(t, "a", "b")
	f.seedDLQ(t)
	want := f.replayJSON(t, "--dry-run")

	// A live group, as the dispatcher's.
	live := kafkatest.Name(t, "dispatcher")
	cl := f.c.Client(t, kgo.ConsumerGroup(live), kgo.ConsumeTopics(f.names.Deliveries()))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		cl.PollFetches(pctx) // joins the group
		pcancel()
		if g, err := f.c.Admin(t).DescribeGroups(ctx, live); err == nil && len(g[live].Members) > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the live group has no members")
		}
	}

	for k, v := range map[string]string{"HOOKLINE_GROUP": live, "HOOKLINE_NAME": live, "HOOKLINE_LIMIT": "1",
		"HOOKLINE_YES": "true", "HOOKLINE_RESTART": "true", "HOOKLINE_SUBSCRIPTION": "b", "HOOKLINE_OUTPUT": "json"} {
		f.env[k] = v
	}
	out := f.ok(t, "dlq", "replay", "--rate", "0", "--dry-run") // -o json from HOOKLINE_OUTPUT, a global flag
	if !strings.Contains(out, `"name": "`+want.Name+`"`) || !strings.Contains(out, fmt.Sprintf(`"replayed": %d`, want.Replayed)) {
		t.Fatalf("dry run with a service's environment:\n%s\nwant name %s, %d replayed", out, want.Name, want.Replayed)
	}
	if err := f.fail(t, "dlq", "replay"); !errors.Is(err, cli.ErrNoConfirmation) {
		t.Fatalf("HOOKLINE_YES answered for the operator: %v", err)
	}
	// Naming a live group is refused before anything is written.
	if err := f.fail(t, "dlq", "replay", "--name", live, "--yes"); cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "running members") {
		t.Fatalf("replay into a live group: %v", err)
	}
	if got := f.replayedIDs(t); len(got) != 0 {
		t.Fatalf("deliveries written: %v", got)
	}
}
