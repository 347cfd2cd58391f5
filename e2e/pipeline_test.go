package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kgo"
)

// receiver is a webhook endpoint that verifies every request's signature
// with the schemas verifier and answers with status.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	verifier *webhook.Verifier
	status   int
	got      map[string][]byte // webhook-id -> body
	bad      []string
}

func newReceiver(t *testing.T, status int) *receiver {
	t.Helper()
	r := &receiver{status: status, got: map[string][]byte{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.verifier == nil {
			r.bad = append(r.bad, "request before the secret was known")
		} else if err := r.verifier.Verify(req.Header, body); err != nil {
			r.bad = append(r.bad, err.Error())
		}
		r.got[req.Header.Get(webhook.HeaderID)] = body
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setSecret(t *testing.T, secret string) {
	t.Helper()
	v, err := webhook.NewVerifier([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.verifier = v
	r.mu.Unlock()
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (s *stack) subscribe(t *testing.T, url string, types []string, format string) (id, secret string) {
	t.Helper()
	var created struct {
		Subscription struct {
			ID string `json:"id"`
		} `json:"subscription"`
		Secret string `json:"secret"`
	}
	if code := s.call(t, "POST", "/v1/subscriptions", map[string]any{
		"url": url, "event_types": types, "format": format,
	}, &created); code != 201 {
		t.Fatalf("creating subscription to %s: %d", url, code)
	}
	return created.Subscription.ID, created.Secret
}

// deadLetters reads the DLQ until want records arrived or the deadline.
func (s *stack) deadLetters(t *testing.T, want int) []record.DeadLetter {
	t.Helper()
	cl := s.c.Client(t, kgo.ConsumeTopics(s.names.DLQ()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var out []record.DeadLetter
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %d of %d dead letters", len(out), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			dl, err := record.DecodeDeadLetter(r.Value)
			if err != nil {
				t.Errorf("undecodable dead letter: %v", err)
				return
			}
			out = append(out, dl)
		})
	}
	return out
}

// TestSignedFanOutAndDeadLetters sends events through the whole pipeline to
// three endpoints: two that accept (each sees every event it subscribed to,
// signed), and one that answers 410 Gone (its delivery is dead-lettered at
// once). An invalid event is dead-lettered by the router.
func TestSignedFanOutAndDeadLetters(t *testing.T) {
	s := startStack(t)
	payments := newReceiver(t, 200)
	everything := newReceiver(t, 204)
	gone := newReceiver(t, 410)

	_, sec := s.subscribe(t, payments.srv.URL+"/hook", []string{"payment.*"}, "standard")
	payments.setSecret(t, sec)
	_, sec = s.subscribe(t, everything.srv.URL+"/hook", []string{"*"}, "cloudevents-structured")
	everything.setSecret(t, sec)
	goneID, sec := s.subscribe(t, gone.srv.URL+"/hook", []string{"order.status_changed"}, "standard")
	gone.setSecret(t, sec)

	events := []map[string]any{
		{"specversion": "1.0", "id": "pay-1", "source": "gateway", "type": "payment.succeeded",
			"data": map[string]any{"payment_id": "p1", "amount": 10.5, "currency": "USD",
				"customer": map[string]any{"id": "c1"}, "captured_at": "2026-11-29T10:00:00Z"}},
		{"specversion": "1.0", "id": "ord-1", "source": "shop", "type": "order.status_changed",
			"data": map[string]any{"order_id": "o1", "status": "shipped", "previous_status": "paid",
				"changed_at": "2026-11-29T10:05:00Z"}},
		{"type": "payment_success", "amount": 49.99, "customer": "bob@example.com"},
	}
	for _, ev := range events {
		var ids struct {
			IDs []string `json:"ids"`
		}
		if code := s.call(t, "POST", "/v1/events", ev, &ids); code != 202 {
			t.Fatalf("publishing %v: %d", ev["type"], code)
		}
	}
	// A service writing garbage straight to the source topic.
	if err := s.c.Client(t).ProduceSync(t.Context(), &kgo.Record{Topic: s.source, Value: []byte("\x00not an event")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 60*time.Second, "deliveries to the accepting receivers", func() bool {
		return payments.count() == 1 && everything.count() == 3
	})

	byStage := map[string]record.DeadLetter{}
	for _, dl := range s.deadLetters(t, 2) {
		byStage[dl.Stage] = dl
	}
	if dl := byStage[record.StageRoute]; dl.Reason != record.ReasonInvalidEvent || dl.Raw == nil || string(dl.Raw.Value) != "\x00not an event" || dl.Source.Topic != s.source {
		b, _ := json.Marshal(dl)
		t.Fatalf("route dead letter = %s, want invalid_event keeping the raw value", b)
	}
	if dl := byStage[record.StageDispatch]; dl.Reason != record.ReasonEndpointGone || dl.Stage != record.StageDispatch ||
		dl.Delivery == nil || dl.Delivery.SubscriptionID != goneID || dl.LastStatus != 410 {
		b, _ := json.Marshal(dl)
		t.Fatalf("dead letter = %s, want endpoint_gone for %s", b, goneID)
	}
	for _, r := range []*receiver{payments, everything, gone} {
		r.mu.Lock()
		if len(r.bad) > 0 {
			t.Errorf("receiver %s rejected signatures: %v", r.srv.URL, r.bad)
		}
		r.mu.Unlock()
	}
	// The standard payload carries the event's type and data.
	payments.mu.Lock()
	for _, body := range payments.got {
		var p struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Type != "payment.succeeded" || p.Data["payment_id"] != "p1" {
			t.Errorf("standard payload %s: %v", body, err)
		}
	}
	payments.mu.Unlock()
}
