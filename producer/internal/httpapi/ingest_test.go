package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/producer/internal/httpapi"
	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConcurrentRequestsShareProduces: single-event requests that arrive
// while a produce request is in flight are coalesced into shared produce
// requests, and each is still answered 202 only once Kafka has its own
// event: while the broker holds the first produce request, no request is
// answered. A request that fails (here one Kafka refuses as too large)
// fails alone, and every accepted event is in the topic once. It holds
// the broker's answers, so it runs its own kfake cluster.
func TestConcurrentRequestsShareProduces(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	e := newEnv(t, envOpts{
		cluster: &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()},
		cfg:     httpapi.Config{MaxEventBytes: 32 << 10},
		// Kafka's batch limit below the API's event limit: an event
		// between the two is refused by the Kafka client, not the API.
		pubOpts: []publish.Opt{publish.BatchMaxBytes(16 << 10), publish.Coalesce()},
	})
	var produces atomic.Int32
	release, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	// Only the events are produced in this test (no admin writes, no
	// Idempotency-Key), so every produce request carries events.
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		produces.Add(1)
		once.Do(func() { close(held) })
		kc.SleepControl(func() { <-release })
		return nil, nil, false
	})

	const clients = 32
	type answer struct {
		i    int
		resp response
	}
	answers := make(chan answer, clients+1)
	post := func(i int, body string) {
		answers <- answer{i, e.do(t, "POST", "/v1/events", body)}
	}
	go post(0, seedEvent)
	<-held // the first request's produce is in the broker
	var wg sync.WaitGroup
	for i := 1; i < clients; i++ {
		wg.Go(func() {
			post(i, fmt.Sprintf(`{"type":"payment_success","amount":%d,"customer":"c%d@example.com"}`, i, i))
		})
	}
	big := `{"type":"payment_success","amount":1,"customer":"big@example.com","note":"` + strings.Repeat("x", 20<<10) + `"}`
	wg.Go(func() { post(clients, big) })
	// Wait until every request's event waits for Kafka: the first in
	// the held produce request, the others queued behind it.
	deadline := time.Now().Add(30 * time.Second)
	for e.pub.Buffered() < clients+1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events wait for Kafka", e.pub.Buffered(), clients+1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case a := <-answers:
		t.Fatalf("request %d answered %d before Kafka acknowledged its event: %s", a.i, a.resp.status, a.resp.body)
	default:
	}
	close(release)
	wg.Wait()
	var ids []string
	for range clients + 1 {
		a := <-answers
		if a.i == clients {
			// Refused by the Kafka client in the shared batch: it
			// fails alone.
			if a.resp.status != http.StatusRequestEntityTooLarge {
				t.Errorf("too-large request: %d %s, want 413", a.resp.status, a.resp.body)
			}
			continue
		}
		if a.resp.status != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", a.i, a.resp.status, a.resp.body)
		}
		var got struct{ IDs []string }
		a.resp.json(t, &got)
		ids = append(ids, got.IDs...)
	}
	// One held request, then the 31 others shared the next ones (the
	// Kafka client may cut them into a few requests).
	if n := produces.Load(); n > 1+3 {
		t.Errorf("%d produce requests for %d single-event requests, want them shared (at most 4)", n, clients)
	}
	var written []string
	for _, r := range consume(t, e.c, e.source, clients) {
		written = append(written, record.HeaderValue(r, "ce_id"))
	}
	slices.Sort(ids)
	slices.Sort(written)
	if !slices.Equal(ids, written) {
		t.Fatalf("202 answers carry ids %v, the topic holds %v", ids, written)
	}
}

// TestBatchPartlyProduced: when Kafka refuses some events of a valid
// batch (too large for its batch limit) and takes the others, the 413
// says how many were produced and carries every id, so the client resends
// only the refused ones (issue 16).
func TestBatchPartlyProduced(t *testing.T) {
	e := newEnv(t, envOpts{
		cfg:     httpapi.Config{MaxEventBytes: 4096},
		pubOpts: []publish.Opt{publish.BatchMaxBytes(1024)},
	})
	big := `{"type":"payment_success","amount":1,"customer":"big@example.com","note":"` + strings.Repeat("x", 2000) + `"}`
	resp := e.do(t, "POST", "/v1/events", `[`+seedEvent+`,`+big+`,`+seedEvent+`]`)
	if resp.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %s", resp.status, resp.body)
	}
	a := resp.errorOf(t)
	if a.Error.Code != "event_too_large" || len(a.Error.Details) != 1 || a.Error.Details[0].Index == nil || *a.Error.Details[0].Index != 1 {
		t.Fatalf("answer %s: want event_too_large naming event 1", resp.body)
	}
	if strings.Contains(a.Error.Message, "nothing was produced") || !strings.Contains(a.Error.Message, "2 were produced") {
		t.Errorf("message %q does not say that 2 events were produced", a.Error.Message)
	}
	if len(a.IDs) != 3 || slices.Contains(a.IDs, "") {
		t.Fatalf("ids %v, want one per event", a.IDs)
	}
	var written []string
	for _, r := range consume(t, e.c, e.source, 2) {
		written = append(written, record.HeaderValue(r, "ce_id"))
	}
	if want := []string{a.IDs[0], a.IDs[2]}; !slices.Equal(slices.Sorted(slices.Values(written)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("topic holds %v, want the events around the refused one %v", written, want)
	}
}

// TestEventsCarryAcceptedAt: every record the API writes carries when it
// accepted the request (hookline-accepted-at), the first stage of the
// event's path; it lies within the request.
func TestEventsCarryAcceptedAt(t *testing.T) {
	e := newEnv(t, envOpts{})
	before := time.Now()
	resp := e.do(t, "POST", "/v1/events", `[`+seedEvent+`,`+seedEvent+`]`)
	after := time.Now()
	if resp.status != http.StatusAccepted {
		t.Fatalf("%d %s", resp.status, resp.body)
	}
	recs := consume(t, e.c, e.source, 2)
	for _, r := range recs {
		raw := record.HeaderValue(r, header.AcceptedAt)
		at := record.AcceptedAt(r)
		if at.IsZero() || at.Before(before) || at.After(after) {
			t.Errorf("%s = %q, want a time within the request (%v .. %v)", header.AcceptedAt, raw, before, after)
		}
	}
	if !record.AcceptedAt(recs[0]).Equal(record.AcceptedAt(recs[1])) {
		t.Errorf("events of one request accepted at %v and %v, want one time", record.AcceptedAt(recs[0]), record.AcceptedAt(recs[1]))
	}
}
