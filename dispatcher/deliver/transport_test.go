package deliver_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/record"
)

// TestConnectionsReusedAtFullConcurrency sends rounds of MaxConcurrency
// requests at once to one endpoint (its handler holds each round until all
// of it arrived; the next round is produced once every connection is idle)
// and counts the connections the endpoint accepts: the connections of the
// first round must carry the later ones. With fewer idle connections kept
// per host than requests in flight, every round after the first dials
// again.
func TestConnectionsReusedAtFullConcurrency(t *testing.T) {
	t.Parallel()
	const conc, rounds = 100, 3
	e := newEnv(t, 1)
	var conns, busy atomic.Int64
	var mu sync.Mutex
	arrived, release := 0, make(chan struct{})
	var got atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		arrived++
		ch := release
		if arrived == conc {
			close(release)
			arrived, release = 0, make(chan struct{})
		}
		mu.Unlock()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Errorf("a round of %d requests did not fill up", conc)
		}
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			conns.Add(1)
		case http.StateActive:
			busy.Add(1)
		case http.StateIdle:
			busy.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	sub := newSub(t, "conns", srv.URL+"/webhook")
	sub.MaxInFlight = conc
	e.putSubs(t, sub)
	cfg := e.config(t)
	cfg.MaxConcurrency = conc
	cfg.LaneBacklog = 10 * conc
	e.start(t, cfg)
	for r := range rounds {
		dels := make([]record.Delivery, conc)
		for i := range dels {
			dels[i] = newDelivery(sub.ID, r*conc+i)
		}
		e.produce(t, dels...)
		waitFor(t, 60*time.Second, "a round of deliveries", func() bool { return got.Load() >= int64((r+1)*conc) })
		// Between rounds every connection goes back to the pool.
		waitFor(t, 10*time.Second, "idle connections", func() bool { return busy.Load() == 0 })
	}
	// A dial may race a connection coming back idle, and both are kept:
	// allow a few more than one round's worth.
	if n := conns.Load(); n > conc+conc/10 {
		t.Errorf("the endpoint accepted %d connections for %d rounds of %d concurrent requests; want at most %d (one round's, reused)",
			n, rounds, conc, conc+conc/10)
	}
	t.Logf("%d connections for %d requests", conns.Load(), got.Load())
}
