package cli_test

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/hookctl/internal/cli"
	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fixture is a broker with Hookline's topics under a prefix unique to the
// test.
type fixture struct {
	c      *kafkatest.Cluster
	names  topic.Names
	source string
	env    map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := kafkatest.New(t)
	names, source := c.Hookline(t, 2, 2)
	return &fixture{c: c, names: names, source: source,
		env: map[string]string{"HOOKLINE_BROKERS": strings.Join(c.Brokers, ",")}}
}

// exec runs hookctl with args and --topic-prefix, answering confirmations
// from stdin (nil: no one is there).
func (f *fixture) exec(ctx context.Context, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	args = append(args, "--topic-prefix", f.names.Prefix)
	err = cli.RunWithStdin(ctx, args, func(k string) string { return f.env[k] }, stdin, &out, &errOut)
	return out.String(), errOut.String(), err
}

// ok runs hookctl and fails the test on an error.
func (f *fixture) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := f.exec(t.Context(), nil, args...)
	if err != nil {
		t.Fatalf("hookctl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fail runs hookctl and returns its error, failing the test if there is
// none.
func (f *fixture) fail(t *testing.T, args ...string) error {
	t.Helper()
	out, _, err := f.exec(t.Context(), nil, args...)
	if err == nil {
		t.Fatalf("hookctl %s succeeded, want an error; stdout:\n%s", strings.Join(args, " "), out)
	}
	return err
}

func (f *fixture) produce(t *testing.T, recs ...*kgo.Record) {
	t.Helper()
	cl := f.c.Client(t)
	for _, r := range recs {
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll returns every record of topic up to its current end, sorted by
// partition and offset.
func (f *fixture) readAll(t *testing.T, name string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ends, err := f.c.Admin(t).ListEndOffsets(ctx, name)
	if err != nil || ends.Error() != nil {
		t.Fatalf("listing end offsets of %s: %v %v", name, err, ends.Error())
	}
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			pending[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	if len(pending) == 0 {
		return out
	}
	cl := f.c.Client(t, kgo.ConsumeTopics(name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v; unfinished partitions %v", name, ctx.Err(), pending)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
		})
	}
	sortRecords(out)
	return out
}

func sortRecords(rs []*kgo.Record) {
	slices.SortFunc(rs, func(a, b *kgo.Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
}

// delivery returns a delivery of a fresh event of type typ to sub, as if
// it had been attempted a few times.
func delivery(sub, typ, eventID string) *record.Delivery {
	ev := event.Event{ID: eventID, Source: "urn:test", Type: typ, SpecVersion: event.SpecVersion,
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), DataContentType: event.ContentTypeJSON,
		Data: []byte(`{"amount": 42}`)}
	d := record.NewDelivery(ev, sub, ev.Time)
	d.Attempt = 7
	d.NotBefore = ev.Time.Add(time.Hour)
	d.FirstAttemptAt = ev.Time.Add(time.Second)
	return &d
}

// dispatchDL returns the dead-letter record of a delivery, as the
// dispatcher writes it after the last retry tier (tier 2, parked once).
func (f *fixture) dispatchDL(t *testing.T, d *record.Delivery, reason string, failedAt time.Time) *kgo.Record {
	t.Helper()
	last := *d
	last.Tier, last.ParkedAt = 2, failedAt.Add(-time.Hour)
	d = &last
	dl := record.DeadLetter{Delivery: d, Stage: record.StageDispatch, Reason: reason, LastStatus: 500,
		LastError: "HTTP 500", Attempts: d.Attempt, FailedAt: failedAt,
		Source: record.Provenance{Topic: f.names.Retry(2), Partition: 1, Offset: 9}}
	r, err := dl.Record(f.names.DLQ())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// routeDL returns the route-stage dead letter of src, a record of the
// source topic at partition 0, offset off.
func (f *fixture) routeDL(t *testing.T, src *kgo.Record, off int64, failedAt time.Time) *kgo.Record {
	t.Helper()
	src.Topic, src.Partition, src.Offset = f.source, 0, off
	dl := record.DeadLetter{Raw: record.RawOf(src), Stage: record.StageRoute, Reason: record.ReasonInvalidEvent,
		LastError: "not a CloudEvent", FailedAt: failedAt, Source: record.ProvenanceOf(src)}
	r, err := dl.Record(f.names.DLQ())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
