package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// seedHistory writes dead letters (a: e1 exhausted, e2 rejected; b: e3
// exhausted) and the attempts of e1 at a.
func (e *env) seedHistory(t *testing.T) {
	t.Helper()
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	var recs []*kgo.Record
	for _, x := range []struct{ sub, id, reason string }{{"a", "e1", record.ReasonExhausted}, {"a", "e2", record.ReasonRejected}, {"b", "e3", record.ReasonExhausted}} {
		ev := event.Event{ID: x.id, Source: "urn:test", Type: "payment.succeeded", SpecVersion: event.SpecVersion,
			Time: at, DataContentType: event.ContentTypeJSON, Data: []byte(`{"amount":1}`)}
		d := record.NewDelivery(ev, x.sub, at)
		d.Attempt = 3
		dl := record.DeadLetter{Delivery: &d, Stage: record.StageDispatch, Reason: x.reason, LastStatus: 500, Attempts: 3,
			FailedAt: at, Source: record.Provenance{Topic: e.names.Retry(1), Partition: 0, Offset: 1}}
		r, err := dl.Record(e.names.DLQ())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	for i, res := range []string{"retry", "retry", "failed"} {
		a := record.Attempt{DeliveryID: record.DeliveryID("urn:test", "e1", "a"), SubscriptionID: "a", EventID: "e1", Attempt: i + 1,
			Status: 500, LatencyMillis: 10, Error: "HTTP 500", Result: res, At: at.Add(time.Duration(i) * time.Second)}
		r, err := a.Record(e.names.Attempts())
		if err != nil {
			t.Fatal(err)
		}
		r.Timestamp = a.At
		recs = append(recs, r)
	}
	cl := e.c.Client(t)
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

type replayAnswer struct {
	Name      string   `json:"name"`
	Selection string   `json:"selection"`
	DryRun    bool     `json:"dry_run"`
	Read      int      `json:"read"`
	Replayed  int      `json:"replayed"`
	Problems  []string `json:"problems"`
	Items     []struct {
		Position   string `json:"position"`
		DeliveryID string `json:"delivery_id"`
	} `json:"items"`
}

func TestDeadLettersAndAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.create(t, `{"id":"a","url":"https://a.example.com/hook","event_types":["*"]}`)
	e.create(t, `{"id":"b","url":"https://b.example.com/hook","event_types":["*"]}`)
	e.seedHistory(t)

	var list struct {
		DeadLetters []struct {
			Position       string `json:"position"`
			Reason         string `json:"reason"`
			SubscriptionID string `json:"subscription_id"`
			EventID        string `json:"event_id"`
		} `json:"dead_letters"`
		Total int `json:"total"`
	}
	for _, tt := range []struct {
		query string
		want  string // event ids in order
	}{
		{"?subscription_id=a", "e1 e2"},
		{"?reason=exhausted", "e1 e3"},
		{"?reason=rejected,exhausted&subscription_id=b", "e3"},
		{"?event_id=e2", "e2"},
		{"?delivery_id=" + record.DeliveryID("urn:test", "e3", "b"), "e3"},
		{"?type=order.*", ""},
		{"?limit=1", "e1"},
	} {
		resp := e.do(t, "GET", "/v1/dead-letters"+tt.query, "")
		if resp.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tt.query, resp.status, resp.body)
		}
		resp.json(t, &list)
		var got []string
		for _, d := range list.DeadLetters {
			got = append(got, d.EventID)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("GET /v1/dead-letters%s = %v (total %d), want %s", tt.query, got, list.Total, tt.want)
		}
	}
	if resp := e.do(t, "GET", "/v1/dead-letters?stage=nope", ""); resp.status != http.StatusUnprocessableEntity || resp.errorOf(t).Error.Details[0].Field != "stage" {
		t.Fatalf("bad stage: %d %s", resp.status, resp.body)
	}
	if resp := e.do(t, "GET", "/v1/dead-letters?position=0/9999", ""); resp.status != http.StatusNotFound {
		t.Fatalf("missing position: %d %s", resp.status, resp.body)
	}
	if resp := e.do(t, "GET", "/v1/dead-letters", "", "Authorization", ""); resp.status != http.StatusUnauthorized {
		t.Fatalf("without a key: %d", resp.status)
	}

	var attempts struct {
		Attempts []struct {
			Attempt int    `json:"attempt"`
			Result  string `json:"result"`
			Status  int    `json:"status"`
		} `json:"attempts"`
		Total int `json:"total"`
	}
	resp := e.do(t, "GET", "/v1/attempts?event_id=e1&subscription_id=a", "")
	resp.json(t, &attempts)
	if resp.status != http.StatusOK || attempts.Total != 3 || attempts.Attempts[2].Result != "failed" || attempts.Attempts[0].Status != 500 {
		t.Fatalf("attempts of e1 at a: %d %s", resp.status, resp.body)
	}
	resp = e.do(t, "GET", "/v1/attempts?delivery_id="+record.DeliveryID("urn:test", "e1", "a")+"&result=failed", "")
	resp.json(t, &attempts)
	if attempts.Total != 1 || attempts.Attempts[0].Attempt != 3 {
		t.Fatalf("failed attempts: %s", resp.body)
	}
	resp = e.do(t, "GET", "/v1/attempts?since=10m", "")
	resp.json(t, &attempts)
	if resp.status != http.StatusOK || attempts.Total != 0 {
		t.Fatalf("attempts of the last 10 minutes: %s", resp.body)
	}
	if resp := e.do(t, "GET", "/v1/attempts", ""); resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("attempts without a selector: %d %s", resp.status, resp.body)
	}
}

func TestReplayDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.create(t, `{"id":"a","url":"https://a.example.com/hook","event_types":["*"]}`)
	e.create(t, `{"id":"b","url":"https://b.example.com/hook","event_types":["*"]}`)
	e.seedHistory(t)
	replay := func(body string, want int) replayAnswer {
		t.Helper()
		resp := e.do(t, "POST", "/v1/dead-letters/replay", body)
		if resp.status != want {
			t.Fatalf("replay %s: %d %s, want %d", body, resp.status, resp.body, want)
		}
		var a replayAnswer
		if want == http.StatusOK {
			resp.json(t, &a)
		}
		return a
	}

	// The name is hookctl's: the same selection continues the same replay.
	sum := sha256.Sum256([]byte("subscription=a"))
	hookctlName := "hookline-replay-" + hex.EncodeToString(sum[:6])
	dry := replay(`{"subscription_id":"a","dry_run":true}`, http.StatusOK)
	if !dry.DryRun || dry.Replayed != 2 || len(dry.Items) != 2 || dry.Name != hookctlName || dry.Selection != "subscription=a" {
		t.Fatalf("dry run = %+v", dry)
	}
	if n := count(t, e.c, e.names.Deliveries()); n != 0 {
		t.Fatalf("a dry run wrote %d deliveries", n)
	}
	if got := replay(`{"subscription_id":"a"}`, http.StatusOK); got.Replayed != 2 {
		t.Fatalf("replay = %+v", got)
	}
	recs := consume(t, e.c, e.names.Deliveries(), 2)
	for _, r := range recs {
		d, err := record.DecodeDelivery(r.Value)
		if err != nil || d.Attempt != 0 || d.ID != record.DeliveryID(d.Event.Source, d.Event.ID, "a") || d.ReplayOf == "" {
			t.Fatalf("replayed delivery %+v: %v", d, err)
		}
	}
	if got := replay(`{"subscription_id":"a"}`, http.StatusOK); got.Read != 0 || got.Replayed != 0 {
		t.Fatalf("repeated replay = %+v", got)
	}

	// One dead letter by position, and the target checks.
	if resp := e.do(t, "POST", "/v1/subscriptions/b/pause", `{"reason":"maintenance"}`); resp.status != http.StatusOK {
		t.Fatalf("pause: %d %s", resp.status, resp.body)
	}
	resp := e.do(t, "POST", "/v1/dead-letters/replay", `{"subscription_id":"b"}`)
	if resp.status != http.StatusConflict || resp.errorOf(t).Error.Code != "target_inactive" || !strings.Contains(string(resp.body), "paused") {
		t.Fatalf("replay to a paused subscription: %d %s", resp.status, resp.body)
	}
	if got := replay(`{"subscription_id":"b","dry_run":true}`, http.StatusOK); len(got.Problems) != 1 {
		t.Fatalf("dry run to a paused subscription = %+v", got)
	}
	if got := replay(`{"subscription_id":"b","force":true}`, http.StatusOK); got.Replayed != 1 {
		t.Fatalf("forced replay = %+v", got)
	}
	if got := replay(`{"position":"`+dry.Items[0].Position+`"}`, http.StatusOK); got.Replayed != 1 || got.Read != 1 {
		t.Fatalf("replay of one position = %+v", got)
	}

	// A name keeps its selection.
	replay(`{"name":"ops-1","subscription_id":"a","dry_run":false,"limit":1}`, http.StatusOK)
	if resp := e.do(t, "POST", "/v1/dead-letters/replay", `{"name":"ops-1","subscription_id":"b"}`); resp.status != http.StatusConflict {
		t.Fatalf("name with another selection: %d %s", resp.status, resp.body)
	}
	for body, want := range map[string]int{
		`{"nope":1}`:            http.StatusBadRequest,
		`{"since":"yesterday"}`: http.StatusUnprocessableEntity,
		`{"position":"9/0"}`:    http.StatusNotFound,
		`{"limit":-1}`:          http.StatusUnprocessableEntity,
		`{"stage":"deliver"}`:   http.StatusUnprocessableEntity,
	} {
		if resp := e.do(t, "POST", "/v1/dead-letters/replay", body); resp.status != want {
			t.Errorf("replay %s: %d %s, want %d", body, resp.status, resp.body, want)
		}
	}
}
