package route_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/hookline/hookline/router/route"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// timing is a Recorder that notes when routing began and how far it got.
type timing struct {
	mu         sync.Mutex
	first      time.Time // start of the first committed transaction
	last       time.Time // end of the latest committed transaction
	events     int
	deliveries int
}

func (r *timing) Committed(b *route.Batch, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.first.IsZero() {
		r.first = now.Add(-took)
	}
	r.last = now
	for _, n := range b.Events {
		r.events += n
	}
	r.deliveries += b.Deliveries
}

func (r *timing) Aborted(time.Duration)    {}
func (r *timing) Lag(string, int32, int64) {}
func (r *timing) Subscriptions(int)        {}

func (r *timing) done(n int) (bool, time.Duration, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events >= n, r.last.Sub(r.first), r.deliveries
}

// BenchmarkRouter measures the whole router on the kafkatest broker
// (KAFKA_BROKERS for a real one): b.N payment events wait in the source
// topic, and the router routes them all, each matching every one of 1, 10
// or 100 subscriptions. It reports events/s routed and deliveries/s
// produced (committed), timed from the start of the first transaction to
// the end of the last, so the group join is left out; ns/op is overridden
// to match.
//
//	go test -run '^$' -bench BenchmarkRouter -benchtime 5000x ./route/
func BenchmarkRouter(b *testing.B) {
	for _, m := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subs=%d", m), func(b *testing.B) {
			b.StopTimer()
			h := newHarness(b, 6)
			subs := make([]*record.Subscription, m)
			for i := range subs {
				filter := ""
				if i%2 == 1 {
					filter = "data.amount > 0.0" // half of them evaluate a filter
				}
				subs[i] = routetest.Sub(fmt.Sprintf("sub-%03d", i), filter, "payment.*")
			}
			h.putSubs(b, subs...)
			recs := make([]*kgo.Record, b.N)
			for i := range recs {
				recs[i] = routetest.Binary(h.source, routetest.Payment(fmt.Sprintf("evt_%08d", i), float64(1+i%500)))
			}
			for i := 0; i < len(recs); i += 10_000 {
				routetest.Produce(b, h.cl, recs[i:min(i+10_000, len(recs))]...)
			}
			rec := &timing{}
			b.StartTimer()
			stop := h.start(b, h.config(b), route.WithRecorder(rec))
			var took time.Duration
			var deliveries int
			routetest.Eventually(b, 10*time.Minute, "every event routed", func() bool {
				var ok bool
				ok, took, deliveries = rec.done(b.N)
				return ok
			})
			b.StopTimer()
			stop()
			if want := b.N * m; deliveries != want {
				b.Fatalf("%d deliveries, want %d", deliveries, want)
			}
			b.ReportMetric(float64(took.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(float64(b.N)/took.Seconds(), "events/s")
			b.ReportMetric(float64(deliveries)/took.Seconds(), "deliveries/s")
		})
	}
}
