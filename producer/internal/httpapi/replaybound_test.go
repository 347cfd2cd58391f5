package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/hookline/hookline/producer/internal/httpapi"
)

// TestReplayBoundedPerRequest: one POST /v1/dead-letters/replay replays at
// most Config.MaxReplayItems, whatever limit it asks for, and says the
// selection is not complete; the next request continues where it stopped,
// and nothing is replayed twice.
func TestReplayBoundedPerRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: httpapi.Config{MaxReplayItems: 2}})
	e.create(t, `{"id":"a","url":"https://a.example.com/hook","event_types":["*"]}`)
	e.create(t, `{"id":"b","url":"https://b.example.com/hook","event_types":["*"]}`)
	e.seedHistory(t) // three dead letters
	type answer struct {
		Replayed int  `json:"replayed"`
		Complete bool `json:"complete"`
		Items    []struct {
			Position string `json:"position"`
		} `json:"items"`
	}
	replay := func(body string) answer {
		t.Helper()
		resp := e.do(t, "POST", "/v1/dead-letters/replay", body)
		if resp.status != http.StatusOK {
			t.Fatalf("replay %s: %d %s", body, resp.status, resp.body)
		}
		var a answer
		resp.json(t, &a)
		return a
	}
	if a := replay(`{"name":"bounded","dry_run":true}`); len(a.Items) != 2 || a.Complete {
		t.Fatalf("dry run: %+v, want 2 items listed and complete false", a)
	}
	if a := replay(`{"name":"bounded","limit":100}`); a.Replayed != 2 || a.Complete {
		t.Fatalf("first request: %+v, want 2 replayed (the cap, not the limit asked) and complete false", a)
	}
	if a := replay(`{"name":"bounded","limit":100}`); a.Replayed != 1 || !a.Complete {
		t.Fatalf("second request: %+v, want the third replayed and complete", a)
	}
	if n := count(t, e.c, e.names.Deliveries()); n != 3 {
		t.Fatalf("%d deliveries after two bounded requests, want 3", n)
	}
}
