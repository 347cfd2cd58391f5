package routetest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GenEvent is a generated event and what the test knows about it.
type GenEvent struct {
	ID, Source, Type, Status, Tenant string
	Amount                           float64
	Rec                              *kgo.Record
}

// GenEvents returns n events of four types in all three binding modes.
func GenEvents(rng *rand.Rand, topic string, n int) []GenEvent {
	out := make([]GenEvent, n)
	for i := range out {
		g := GenEvent{ID: fmt.Sprintf("evt_%05d", i), Amount: float64(rng.IntN(20000)) / 100}
		var ev event.Event
		switch rng.IntN(4) {
		case 0:
			ev = Payment(g.ID, g.Amount)
		case 1:
			ev = PaymentFailed(g.ID, g.Amount)
		case 2:
			g.Status = []string{"paid", "shipped", "delivered"}[rng.IntN(3)]
			ev = Order(g.ID, g.Status)
		default:
			g.Type = "payment_success"
			g.Source = "kafka://" + topic // what event.Decode gives plain JSON
			g.Rec = Plain(topic, g.ID, g.Amount)
			out[i] = g
			continue
		}
		g.Type, g.Source = ev.Type, ev.Source
		if t := rng.IntN(3); t > 0 {
			g.Tenant = []string{"", "acme", "globex"}[t]
			ev.Extensions = map[string]string{"tenant": g.Tenant}
		}
		if rng.IntN(2) == 0 {
			g.Rec = Binary(topic, ev)
		} else {
			g.Rec = Structured(topic, ev)
		}
		out[i] = g
	}
	return out
}

// TestSub is a subscription and, independently of the router's pattern
// matching and CEL, whether it wants an event.
type TestSub struct {
	Sub  *record.Subscription
	Want func(GenEvent) bool
}

// FanOutSubs returns subscriptions with overlapping patterns and filters:
// exact types, prefixes, "*", CEL filters on data, type and extensions, a
// pattern nothing matches and a paused subscription (which gets deliveries
// like an active one: the dispatcher parks them).
func FanOutSubs() []TestSub {
	isPayment := func(e GenEvent) bool { return strings.HasPrefix(e.Type, "payment.") }
	isOrder := func(e GenEvent) bool { return strings.HasPrefix(e.Type, "order.") }
	paused := Sub("paused", "", "*")
	paused.State = record.StatePaused
	return []TestSub{
		{Sub("all", "", "*"), func(GenEvent) bool { return true }},
		{Sub("payments", "", "payment.*"), isPayment},
		{Sub("succeeded", "", "payment.succeeded"), func(e GenEvent) bool { return e.Type == "payment.succeeded" }},
		{Sub("orders", "", "order.*"), isOrder},
		{Sub("order-changes", "", "order.status_changed"), isOrder},
		{Sub("big-payments", "data.amount >= 100.0", "payment.*"), func(e GenEvent) bool { return isPayment(e) && e.Amount >= 100 }},
		{Sub("shipped", `data.status == "shipped"`, "order.*"), func(e GenEvent) bool { return isOrder(e) && e.Status == "shipped" }},
		{Sub("acme", `"tenant" in ext && ext.tenant == "acme"`, "*"), func(e GenEvent) bool { return e.Tenant == "acme" }},
		{Sub("seed", "", "payment_success"), func(e GenEvent) bool { return e.Type == "payment_success" }},
		{Sub("seed-big", "data.amount > 50.0", "payment_success"), func(e GenEvent) bool { return e.Type == "payment_success" && e.Amount > 50 }},
		{Sub("small-or-orders", `type == "order.status_changed" || data.amount < 20.0`, "payment.succeeded", "order.status_changed"),
			func(e GenEvent) bool { return isOrder(e) || (e.Type == "payment.succeeded" && e.Amount < 20) }},
		{Sub("nothing", "", "nothing.*"), func(GenEvent) bool { return false }},
		{paused, func(GenEvent) bool { return true }},
	}
}

// Expect returns the delivery ids the router must produce.
func Expect(events []GenEvent, subs []TestSub) map[string]string {
	want := map[string]string{}
	for _, e := range events {
		for _, s := range subs {
			if s.Want(e) {
				want[record.DeliveryID(e.Source, e.ID, s.Sub.ID)] = e.ID + " -> " + s.Sub.ID
			}
		}
	}
	return want
}

// CheckExactlyOnce compares the delivery ids read with the expected ones.
func CheckExactlyOnce(t testing.TB, got map[string]int, want map[string]string) {
	t.Helper()
	var missing, dup, extra int
	for id, what := range want {
		switch n := got[id]; {
		case n == 0:
			if missing++; missing <= 5 {
				t.Errorf("missing delivery %s (%s)", id, what)
			}
		case n > 1:
			if dup++; dup <= 5 {
				t.Errorf("delivery %s (%s) produced %d times", id, what, n)
			}
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			if extra++; extra <= 5 {
				t.Errorf("unexpected delivery %s", id)
			}
		}
	}
	if missing+dup+extra > 0 {
		t.Fatalf("%d expected deliveries: %d missing, %d duplicated, %d unexpected", len(want), missing, dup, extra)
	}
}

// CountDeliveries reads the committed deliveries of topic and counts them
// by delivery id, checking each record's key and id on the way.
func CountDeliveries(t testing.TB, c *kafkatest.Cluster, topic string) map[string]int {
	t.Helper()
	return countDeliveries(t, ReadCommitted(t, c, topic))
}

func countDeliveries(t testing.TB, recs []*kgo.Record) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range recs {
		d, err := record.DecodeDelivery(r.Value)
		if err != nil {
			t.Fatalf("delivery at offset %d does not decode: %v", r.Offset, err)
		}
		if string(r.Key) != d.SubscriptionID || d.ID != record.DeliveryID(d.Event.Source, d.Event.ID, d.SubscriptionID) {
			t.Fatalf("delivery %s keyed %q for subscription %q", d.ID, r.Key, d.SubscriptionID)
		}
		out[d.ID]++
	}
	return out
}
