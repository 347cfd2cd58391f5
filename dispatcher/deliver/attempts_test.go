package deliver_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/record"
)

// TestAttemptRecordsSurviveShutdown stops a dispatcher while requests are
// in flight: every delivery it made before it returned has its attempt
// record in Kafka, and nothing it committed lacks one. Attempt records
// are batched in memory on their way to Kafka; shutdown writes what is
// left before the final commit.
func TestAttemptRecordsSurviveShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	sub := newSub(t, "attempt-log", "")
	sub.MaxInFlight = 8
	started := make(chan struct{}, 1000)
	rc := newReceiver(t, []string{sub.Secrets[0].Key}, func(*http.Request, []byte) int {
		started <- struct{}{}
		time.Sleep(100 * time.Millisecond)
		return http.StatusNoContent
	})
	sub.URL = rc.srv.URL
	e.putSubs(t, sub)
	var dels []record.Delivery
	for i := range 60 {
		dels = append(dels, newDelivery(sub.ID, i))
	}
	e.produce(t, dels...)
	cfg := e.config(t)
	r := e.start(t, cfg)
	for range 20 {
		<-started
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	delivered, _ := rc.count()
	var committed int64
	for _, o := range e.committed(t, cfg.Group) {
		committed += max(o, 0)
	}
	if committed != int64(delivered) {
		t.Fatalf("committed %d offsets for %d deliveries made", committed, delivered)
	}
	// Every attempt of this dispatcher succeeded, one per delivery made.
	atts := e.attempts(t, delivered, 30*time.Second)
	seen := map[string]bool{}
	for _, a := range atts {
		if a.Result != "success" || a.SubscriptionID != sub.ID {
			t.Errorf("unexpected attempt record %+v", a)
		}
		seen[a.DeliveryID] = true
	}
	if len(atts) != delivered || len(seen) != delivered {
		t.Fatalf("%d attempt records (%d deliveries) for %d deliveries made before shutdown", len(atts), len(seen), delivered)
	}
}
