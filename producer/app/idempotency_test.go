package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/event"
	"github.com/twmb/franz-go/pkg/kgo"
)

// postIdem sends body to base with an Idempotency-Key and returns the
// answer and its ids.
func postIdem(t *testing.T, base, idemKey, body string) (answer, http.Header, []string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idemKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var got struct{ IDs []string }
	if resp.StatusCode == 202 {
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("202 body %s: %v", b, err)
		}
	}
	return answer{status: resp.StatusCode, body: string(b)}, resp.Header, got.IDs
}

// TestIdempotencyAcrossReplicas runs two producer replicas on one
// cluster: an answer given by one is replayed by the other, a reused key
// with another body is refused by both, and a replica started after the
// first one stopped (a restart) replays the same ids without producing
// again.
func TestIdempotencyAcrossReplicas(t *testing.T) {
	c := kafkatest.New(t)
	names, source := c.Hookline(t, 3, 1)
	a := start(t, c, names, source)
	b := start(t, c, names, source)
	baseA, baseB := "http://"+a.api, "http://"+b.api
	batch := `{"events":[` + seedEvent + `,` + seedEvent + `]}`

	first, _, ids := postIdem(t, baseA, "order-42", batch)
	if first.status != 202 || len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("first POST on replica A: %d %s", first.status, first.body)
	}
	// Replica B reads A's answer from the idempotency topic.
	var replayed http.Header
	waitFor(t, func() bool {
		ans, h, got := postIdem(t, baseB, "order-42", batch)
		if ans.status == 202 && !reflect.DeepEqual(got, ids) {
			t.Fatalf("replica B answered ids %v, want %v", got, ids)
		}
		replayed = h
		return h.Get("Idempotent-Replayed") == "true"
	}, "replica B to replay A's answer")
	if replayed.Get("Idempotent-Replayed") != "true" {
		t.Fatal("not replayed")
	}
	// A reused key with another body: 422 on both replicas.
	for name, base := range map[string]string{"A": baseA, "B": baseB} {
		if ans, _, _ := postIdem(t, base, "order-42", seedEvent); ans.status != 422 || !strings.Contains(ans.body, "idempotency_key_reused") {
			t.Errorf("reused key on replica %s: %d %s, want 422 idempotency_key_reused", name, ans.status, ans.body)
		}
	}
	// The key of another API key is its own: B's answer is for B's key
	// only. (Every replica here has one admin key, so test with a new key
	// instead.)
	other, _, otherIDs := postIdem(t, baseB, "order-43", batch)
	if other.status != 202 || reflect.DeepEqual(otherIDs, ids) {
		t.Fatalf("another key on replica B: %d %s (ids %v, first %v)", other.status, other.body, otherIDs, ids)
	}

	// Replica A stops; a new one starts after it and replays both answers.
	a.cancel()
	if err := <-a.done; err != nil {
		t.Fatalf("replica A: %v", err)
	}
	a.done <- nil // for its cleanup
	restarted := start(t, c, names, source)
	baseR := "http://" + restarted.api
	for _, tt := range []struct {
		key  string
		want []string
	}{{"order-42", ids}, {"order-43", otherIDs}} {
		ans, h, got := postIdem(t, baseR, tt.key, batch)
		if ans.status != 202 || !reflect.DeepEqual(got, tt.want) || h.Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s on the restarted replica: %d %v %s, want %v replayed", tt.key, ans.status, h, ans.body, tt.want)
		}
	}
	if ans, _, _ := postIdem(t, baseR, "order-42", seedEvent); ans.status != 422 {
		t.Errorf("reused key on the restarted replica: %d %s, want 422", ans.status, ans.body)
	}
	// Replica B may have produced the first batch again before it read
	// A's answer (the same ids, which receivers deduplicate); nothing
	// else was produced, and the restarted replica produced nothing.
	cl := c.Client(t, kgo.ConsumeTopics(source), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	want := map[string]bool{ids[0]: true, ids[1]: true, otherIDs[0]: true, otherIDs[1]: true}
	seen := map[string]bool{}
	waitFor(t, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		for _, r := range cl.PollFetches(ctx).Records() {
			ev, err := event.Decode(r, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !want[ev.ID] {
				t.Fatalf("event %s produced; want only %v", ev.ID, want)
			}
			seen[ev.ID] = true
		}
		return len(seen) == len(want)
	}, "the four events on the source topic")
}
