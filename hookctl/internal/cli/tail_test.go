package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/hookctl/internal/cli"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

type tailed struct {
	Topic       string            `json:"topic"`
	Key         string            `json:"key"`
	Headers     map[string]string `json:"headers"`
	Kind        string            `json:"kind"`
	Value       json.RawMessage   `json:"value"`
	DecodeError string            `json:"decode_error"`
}

func tailLines(t *testing.T, out string) []tailed {
	t.Helper()
	var got []tailed
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var tl tailed
		if err := json.Unmarshal([]byte(line), &tl); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		got = append(got, tl)
	}
	return got
}

func TestTail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	t.Run("from beginning", func(t *testing.T) { testTailFromBeginning(t, f) })
	t.Run("from end until interrupted", func(t *testing.T) { testTailFromEndUntilInterrupted(t, f) })
}

func testTailFromBeginning(t *testing.T, f *fixture) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	sub := record.Subscription{ID: "s1", URL: "https://example.com/", EventTypes: []string{"*"}, Secrets: []record.Secret{{Key: secret}}}
	sub.Normalize()
	subRec, err := sub.Record(f.names.Subscriptions())
	if err != nil {
		t.Fatal(err)
	}
	d := delivery("s1", "payment.succeeded", "e1")
	delRec, err := d.Record(f.names.Deliveries())
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Event{ID: "e9", Source: "urn:test", Type: "order.status_changed", SpecVersion: event.SpecVersion, Data: []byte(`{"status":"paid"}`)}
	f.produce(t, subRec, record.Tombstone(f.names.Subscriptions(), "s1"), delRec,
		f.dispatchDL(t, d, record.ReasonExhausted, time.Now()),
		event.BinaryRecord(f.source, []byte("k"), &ev),
		&kgo.Record{Topic: f.source, Value: []byte("\x00garbage")})

	out := f.ok(t, "tail", "subscriptions", "--from-beginning", "--limit", "2", "-o", "json")
	if strings.Contains(out, secret) {
		t.Fatalf("tail printed a signing secret:\n%s", out)
	}
	got := tailLines(t, out)
	if len(got) != 2 || got[0].Kind != "subscription" || got[0].Key != "s1" || !strings.Contains(string(got[0].Value), "[redacted]") ||
		got[1].Kind != "tombstone" || got[0].Topic != f.names.Subscriptions() {
		t.Fatalf("tail subscriptions = %+v", got)
	}

	got = tailLines(t, f.ok(t, "tail", "deliveries", "--from-beginning", "--limit", "1", "-o", "json"))
	var gotD record.Delivery
	if err := json.Unmarshal(got[0].Value, &gotD); err != nil || got[0].Kind != "delivery" || gotD.ID != d.ID ||
		got[0].Headers["hookline-delivery-id"] != d.ID {
		t.Fatalf("tail deliveries = %+v (%v)", got, err)
	}

	got = tailLines(t, f.ok(t, "tail", f.source, "--from-beginning", "--limit", "2", "-o", "json"))
	kinds := map[string]tailed{}
	for _, tl := range got {
		kinds[tl.Kind] = tl
	}
	if e, ok := kinds["event"]; !ok || !strings.Contains(string(e.Value), `"id":"e9"`) || !strings.Contains(string(e.Value), `"status":"paid"`) {
		t.Fatalf("tail of the source topic = %+v", got)
	}
	if r, ok := kinds["raw"]; !ok || r.DecodeError == "" {
		t.Fatalf("tail of the source topic = %+v", got)
	}

	out = f.ok(t, "tail", "dlq", "--from-beginning", "--limit", "1")
	for _, want := range []string{"dead-letter", "hookline-reason=exhausted", `"delivery"`} {
		if !strings.Contains(out, want) {
			t.Errorf("table tail of the dlq misses %q:\n%s", want, out)
		}
	}
	if err := f.fail(t, "tail", "no-such-topic", "--limit", "1"); !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("tail of a missing topic: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe to read while tail writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testTailFromEndUntilInterrupted starts at the end, so an older record is
// not printed, and stops without error when its context ends (Ctrl-C).
func testTailFromEndUntilInterrupted(t *testing.T, f *fixture) {
	attempt := func(id string) *kgo.Record {
		a := record.Attempt{DeliveryID: id, SubscriptionID: "s1", Attempt: 1, Status: 200, Result: "success", At: time.Now()}
		r, err := a.Record(f.names.Attempts())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	f.produce(t, attempt("msg_old"))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cli.RunWithStdin(ctx, []string{"tail", "attempts", "--topic-prefix", f.names.Prefix},
			func(k string) string { return f.env[k] }, nil, &out, &errOut)
	}()
	// Produce until tail shows a new record: it may start reading after the
	// first few.
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	cl := f.c.Client(t)
	for !strings.Contains(out.String(), "msg_new") {
		select {
		case err := <-done:
			t.Fatalf("tail ended early: %v\n%s", err, errOut.String())
		case <-deadline:
			t.Fatalf("tail printed no new record:\n%s\n%s", out.String(), errOut.String())
		case <-tick.C:
			if err := cl.ProduceSync(t.Context(), attempt("msg_new")).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail after Ctrl-C: %v", err)
	}
	if s := out.String(); strings.Contains(s, "msg_old") || !strings.Contains(s, "attempt") {
		t.Fatalf("tail from the end:\n%s", s)
	}
}
