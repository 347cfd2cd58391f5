package fanout_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/router/internal/fanout"
	"github.com/hookline/hookline/router/internal/routetest"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/filter"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	src        = "events"
	deliveries = "hookline.deliveries"
	dlq        = "hookline.dlq"
)

var now = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func registryT(t testing.TB) *registry.Registry {
	t.Helper()
	reg, err := registry.Default()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func config(t testing.TB) fanout.Config {
	return fanout.Config{
		Deliveries: deliveries, DLQ: dlq, MaxEventBytes: 1 << 20, MaxRecordBytes: 1_000_012,
		Validator: registryT(t),
	}
}

// subscriptions covers every way a subscription can match or not.
func subscriptions() []*record.Subscription {
	// Paused and disabled subscriptions get deliveries like active ones.
	paused := routetest.Sub("paused", "", "order.*")
	paused.State = record.StatePaused
	disabled := routetest.Sub("disabled", "", "order.*")
	disabled.State = record.StateDisabled
	return []*record.Subscription{
		routetest.Sub("all", "", "*"),
		routetest.Sub("payments", "", "payment.*"),
		routetest.Sub("succeeded", "", "payment.succeeded"),
		routetest.Sub("orders", "", "order.status_changed", "order.created"),
		routetest.Sub("big", "data.amount >= 100.0", "payment.*"),
		routetest.Sub("shipped", `data.status == "shipped"`, "order.*"),
		routetest.Sub("broken", "data.amount >", "payment.*"),
		routetest.Sub("missing", "data.nope.deeper == 1", "payment.succeeded"),
		routetest.Sub("seed", "", "payment_success"),
		paused, disabled,
	}
}

func at(r *kgo.Record, partition int32, offset int64) *kgo.Record {
	r.Partition, r.Offset = partition, offset
	return r
}

func TestRoute(t *testing.T) {
	t.Parallel()
	set, failed := fanout.NewCompiler().Compile(subscriptions())
	if len(failed) != 1 || failed[0].SubscriptionID != "broken" || !errors.Is(failed[0].Err, filter.ErrCompile) {
		t.Fatalf("compile failures = %v, want only the broken filter", failed)
	}
	if set.Len() != 11 || set.Active() != 9 {
		t.Fatalf("set has %d subscriptions, %d active; want 11 (paused and disabled included), 9", set.Len(), set.Active())
	}

	invalidPayment := routetest.Payment("evt_neg", -5)
	textPlain := routetest.Plain(src, "evt_text", 1)
	textPlain.Headers = []kgo.RecordHeader{{Key: "content-type", Value: []byte("text/plain")}}
	missingID := routetest.Payment("", 1)

	cases := []struct {
		name         string
		rec          *kgo.Record
		reject       bool
		wantSubs     []string          // subscriptions delivered to
		wantFilter   map[string]string // subscription id -> filter error kind
		wantReason   string
		wantErrField string // last_error must name this field
	}{
		{
			name:       "binary payment over 100",
			rec:        routetest.Binary(src, routetest.Payment("evt_1", 150)),
			wantSubs:   []string{"all", "big", "payments", "succeeded"},
			wantFilter: map[string]string{"broken": "compile", "missing": "eval"},
		},
		{
			name:       "structured payment under 100",
			rec:        routetest.Structured(src, routetest.Payment("evt_2", 50)),
			wantSubs:   []string{"all", "payments", "succeeded"},
			wantFilter: map[string]string{"broken": "compile", "missing": "eval"},
		},
		{
			name:     "seed plain JSON",
			rec:      routetest.Plain(src, "evt_3", 49.99),
			wantSubs: []string{"all", "seed"},
		},
		{
			name:     "order shipped",
			rec:      routetest.Binary(src, routetest.Order("evt_4", "shipped")),
			wantSubs: []string{"all", "disabled", "orders", "paused", "shipped"},
		},
		{
			name:     "order paid",
			rec:      routetest.Binary(src, routetest.Order("evt_5", "paid")),
			wantSubs: []string{"all", "disabled", "orders", "paused"},
		},
		{
			name:       "unknown type allowed",
			rec:        routetest.Binary(src, routetest.PaymentFailed("evt_6", 500)),
			wantSubs:   []string{"all", "big", "payments"},
			wantFilter: map[string]string{"broken": "compile"},
		},
		{
			name:       "unknown type rejected",
			rec:        routetest.Binary(src, routetest.PaymentFailed("evt_7", 500)),
			reject:     true,
			wantReason: record.ReasonUnknownType,
		},
		{
			name:         "schema violation",
			rec:          routetest.Binary(src, invalidPayment),
			wantReason:   record.ReasonSchemaViolation,
			wantErrField: "/amount",
		},
		{
			name:       "random bytes",
			rec:        &kgo.Record{Topic: src, Value: []byte{0xff, 0x00, 0x13, 0x37, '{'}},
			wantReason: record.ReasonInvalidEvent,
		},
		{
			name:         "wrong content type",
			rec:          textPlain,
			wantReason:   record.ReasonInvalidEvent,
			wantErrField: "content-type",
		},
		{
			name:         "binary event without id",
			rec:          routetest.Binary(src, missingID),
			wantReason:   record.ReasonInvalidEvent,
			wantErrField: "id",
		},
		{
			name:       "too large",
			rec:        &kgo.Record{Topic: src, Value: bytes.Repeat([]byte("x"), 2<<20)},
			wantReason: record.ReasonTooLarge,
		},
		{
			name: "empty",
			rec:  &kgo.Record{Topic: src}, wantReason: record.ReasonInvalidEvent,
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := config(t)
			cfg.RejectUnknownTypes = tc.reject
			rec := at(tc.rec, 2, int64(100+i))
			res := fanout.New(cfg).Route(set, rec, now)

			gotFilter := map[string]string{}
			for _, fe := range res.FilterErrors {
				kind := "eval"
				if errors.Is(fe.Err, filter.ErrCompile) {
					kind = "compile"
				} else if !errors.Is(fe.Err, filter.ErrEval) {
					t.Errorf("filter error of %s is neither compile nor eval: %v", fe.SubscriptionID, fe.Err)
				}
				gotFilter[fe.SubscriptionID] = kind
			}
			if tc.wantFilter == nil {
				tc.wantFilter = map[string]string{}
			}
			if !equalMaps(gotFilter, tc.wantFilter) {
				t.Errorf("filter errors = %v, want %v", gotFilter, tc.wantFilter)
			}

			if tc.wantReason != "" {
				checkDeadLetter(t, rec, res, tc.wantReason, tc.wantErrField)
				return
			}
			if res.Reason != "" {
				t.Fatalf("dead-lettered (%s): %v", res.Reason, res.Err)
			}
			checkDeliveries(t, rec, res, tc.wantSubs, tc.wantFilter)
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkDeliveries checks that res delivers the event to wantSubs and
// dead-letters it, with reason filter_error, for every subscription of
// wantFilter whose filter failed at run time ("eval").
func checkDeliveries(t *testing.T, in *kgo.Record, res fanout.Result, wantSubs []string, wantFilter map[string]string) {
	t.Helper()
	var wantDead []string
	for id, kind := range wantFilter {
		if kind == "eval" {
			wantDead = append(wantDead, id)
		}
	}
	slices.Sort(wantDead)
	if res.Deliveries+res.FilterDeadLetters != len(res.Records) {
		t.Errorf("Deliveries = %d and FilterDeadLetters = %d, but %d records", res.Deliveries, res.FilterDeadLetters, len(res.Records))
	}
	var got, gotDead []string
	for _, r := range res.Records {
		if r.Topic == dlq {
			gotDead = append(gotDead, checkFilterDeadLetter(t, in, res, r))
			continue
		}
		if r.Topic != deliveries {
			t.Errorf("record on topic %q, want %q", r.Topic, deliveries)
		}
		d, err := record.DecodeDelivery(r.Value)
		if err != nil {
			t.Fatalf("delivery does not decode: %v", err)
		}
		if string(r.Key) != d.SubscriptionID {
			t.Errorf("key %q, want subscription id %q", r.Key, d.SubscriptionID)
		}
		if want := record.DeliveryID(res.Event.Source, res.Event.ID, d.SubscriptionID); d.ID != want {
			t.Errorf("delivery id %q, want %q", d.ID, want)
		}
		if d.Attempt != 0 || !d.RoutedAt.Equal(now) {
			t.Errorf("attempt %d routed at %v, want a fresh delivery routed at %v", d.Attempt, d.RoutedAt, now)
		}
		if want := record.AcceptedAt(in); !d.AcceptedAt.Equal(want) {
			t.Errorf("accepted at %v, want %v (the source record's %s)", d.AcceptedAt, want, header.AcceptedAt)
		}
		if !bytes.Equal(d.Event.Data, res.Event.Data) || d.Event.ID != res.Event.ID || d.Event.Type != res.Event.Type {
			t.Errorf("delivered event %+v, want %+v", d.Event, *res.Event)
		}
		for h, want := range map[string]string{
			header.DeliveryID: d.ID, header.SubscriptionID: d.SubscriptionID,
			header.EventID: res.Event.ID, header.EventType: res.Event.Type, header.Kind: header.KindDelivery,
		} {
			if got := record.HeaderValue(r, h); got != want {
				t.Errorf("header %s = %q, want %q", h, got, want)
			}
		}
		got = append(got, d.SubscriptionID)
	}
	slices.Sort(got)
	if !slices.Equal(got, wantSubs) {
		t.Errorf("delivered to %v, want %v", got, wantSubs)
	}
	if res.Deliveries != len(got) {
		t.Errorf("Deliveries = %d, want %d", res.Deliveries, len(got))
	}
	slices.Sort(gotDead)
	if !slices.Equal(gotDead, wantDead) || res.FilterDeadLetters != len(wantDead) {
		t.Errorf("filter_error dead letters for %v (FilterDeadLetters %d), want %v", gotDead, res.FilterDeadLetters, wantDead)
	}
}

// checkFilterDeadLetter checks a filter_error dead letter that carries its
// delivery, and returns its subscription id.
func checkFilterDeadLetter(t *testing.T, in *kgo.Record, res fanout.Result, r *kgo.Record) string {
	t.Helper()
	dl, err := record.DecodeDeadLetter(r.Value)
	if err != nil {
		t.Fatalf("dead letter does not decode: %v", err)
	}
	if dl.Stage != record.StageRoute || dl.Reason != record.ReasonFilterError || !dl.FailedAt.Equal(now) {
		t.Errorf("dead letter stage %q reason %q at %v, want route/filter_error at %v", dl.Stage, dl.Reason, dl.FailedAt, now)
	}
	if want := record.ProvenanceOf(in); dl.Source != want {
		t.Errorf("provenance %v, want %v", dl.Source, want)
	}
	if dl.Delivery == nil {
		t.Fatalf("filter_error dead letter without its delivery: %+v", dl)
	}
	d := dl.Delivery
	want := record.NewDelivery(*res.Event, d.SubscriptionID, now)
	if d.ID != want.ID || d.Attempt != 0 || !d.RoutedAt.Equal(now) || d.Event.ID != res.Event.ID || !bytes.Equal(d.Event.Data, res.Event.Data) {
		t.Errorf("dead-lettered delivery %+v, want %+v", *d, want)
	}
	if !strings.Contains(dl.LastError, d.SubscriptionID) || !strings.Contains(dl.LastError, "filter") {
		t.Errorf("last_error %q does not name the subscription and its filter", dl.LastError)
	}
	if string(r.Key) != d.SubscriptionID {
		t.Errorf("dead letter keyed %q, want subscription id %q", r.Key, d.SubscriptionID)
	}
	for h, v := range map[string]string{
		header.Reason: record.ReasonFilterError, header.Stage: record.StageRoute, header.Kind: header.KindDeadLetter,
		header.DeliveryID: d.ID, header.SubscriptionID: d.SubscriptionID, header.EventID: res.Event.ID,
	} {
		if got := record.HeaderValue(r, h); got != v {
			t.Errorf("header %s = %q, want %q", h, got, v)
		}
	}
	return d.SubscriptionID
}

// TestRouteFilterError checks that a filter failing at run time yields no
// delivery for its subscription but one filter_error dead letter carrying
// that delivery, while the other subscriptions get theirs; and that an
// event whose only candidate filter fails is unmatched and dead-lettered.
// TestRouteCarriesAcceptedAt: a delivery records when the ingest API
// accepted its event (the source record's hookline-accepted-at header),
// so each stage of the event's path can be timed; records without the
// header, or with one that does not parse, are routed as before.
func TestRouteCarriesAcceptedAt(t *testing.T) {
	t.Parallel()
	set, _ := fanout.NewCompiler().Compile(subscriptions())
	r := fanout.New(config(t))
	accepted := now.Add(-1500 * time.Microsecond)
	for _, tt := range []struct {
		name, value string
		want        time.Time
	}{
		{"stamped", accepted.Format(time.RFC3339Nano), accepted},
		{"unstamped", "", time.Time{}},
		{"garbled", "yesterday", time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := at(routetest.Binary(src, routetest.Payment("acc-"+tt.name, 12)), 0, 1)
			if tt.value != "" {
				in.Headers = append(in.Headers, kgo.RecordHeader{Key: header.AcceptedAt, Value: []byte(tt.value)})
			}
			res := r.Route(set, in, now)
			if res.Reason != "" || res.Deliveries == 0 {
				t.Fatalf("routed %d deliveries, reason %q: %v", res.Deliveries, res.Reason, res.Err)
			}
			for _, out := range res.Records {
				if out.Topic != deliveries {
					continue
				}
				d, err := record.DecodeDelivery(out.Value)
				if err != nil {
					t.Fatal(err)
				}
				if !d.AcceptedAt.Equal(tt.want) {
					t.Errorf("delivery to %s accepted at %v, want %v", d.SubscriptionID, d.AcceptedAt, tt.want)
				}
			}
		})
	}
}

func TestRouteFilterError(t *testing.T) {
	t.Parallel()
	set, failed := fanout.NewCompiler().Compile([]*record.Subscription{
		routetest.Sub("all", "", "*"),
		routetest.Sub("erring", "data.no.such.field == 1", "payment.succeeded"),
		routetest.Sub("orders", "", "order.*"),
	})
	if len(failed) != 0 {
		t.Fatalf("compile failures: %v", failed)
	}
	r := fanout.New(config(t))

	in := at(routetest.Binary(src, routetest.Payment("evt_f", 10)), 3, 42)
	res := r.Route(set, in, now)
	if res.Reason != "" {
		t.Fatalf("dead-lettered (%s): %v", res.Reason, res.Err)
	}
	if len(res.FilterErrors) != 1 || res.FilterErrors[0].SubscriptionID != "erring" || !errors.Is(res.FilterErrors[0].Err, filter.ErrEval) {
		t.Errorf("filter errors = %v, want one eval error of erring", res.FilterErrors)
	}
	checkDeliveries(t, in, res, []string{"all"}, map[string]string{"erring": "eval"})
	for _, out := range res.Records {
		if out.Topic != dlq {
			continue
		}
		dl, _ := record.DecodeDeadLetter(out.Value)
		if dl.Delivery.ID != record.DeliveryID("/payments", "evt_f", "erring") || !strings.Contains(dl.LastError, "data.no.such.field == 1") {
			t.Errorf("dead letter of delivery %q, last_error %q", dl.Delivery.ID, dl.LastError)
		}
	}

	// Only the erring subscription wants it: unmatched, yet dead-lettered.
	only, _ := fanout.NewCompiler().Compile([]*record.Subscription{routetest.Sub("erring", "data.no.such.field == 1", "payment.succeeded")})
	res = r.Route(only, in, now)
	if res.Reason != "" || res.Deliveries != 0 || res.FilterDeadLetters != 1 || len(res.Records) != 1 {
		t.Fatalf("reason %q, %d deliveries, %d filter dead letters, %d records; want 0, 1, 1",
			res.Reason, res.Deliveries, res.FilterDeadLetters, len(res.Records))
	}
	checkDeliveries(t, in, res, nil, map[string]string{"erring": "eval"})

	// Routing again gives the same dead letter (transactional retries).
	if again := r.Route(only, in, now); !bytes.Equal(again.Records[0].Value, res.Records[0].Value) {
		t.Error("routing again gave another dead letter")
	}
}

// TestRouteFilterErrorTooLarge checks that a filter_error dead letter
// whose delivery would not fit in MaxRecordBytes still reaches the DLQ,
// with the raw record instead of the delivery.
func TestRouteFilterErrorTooLarge(t *testing.T) {
	t.Parallel()
	subs := []*record.Subscription{
		routetest.Sub("all", "", "*"),
		routetest.Sub("erring", "data.no.such.field == 1", "payment.succeeded"),
	}
	set, _ := fanout.NewCompiler().Compile(subs)
	ev := routetest.Payment("evt_fat", 10)
	ev.Data = []byte(`{"amount":10,"currency":"EUR","customer":"` + strings.Repeat("c", 4<<10) + `"}`)
	in := at(routetest.Binary(src, ev), 0, 5)

	cfg := config(t)
	cfg.Validator = nil
	first := fanout.New(cfg).Route(set, in, now)
	var size int
	for _, out := range first.Records {
		if out.Topic == deliveries {
			size = fanout.RecordSize(out)
		}
	}
	if size == 0 {
		t.Fatalf("no delivery: %+v", first)
	}
	cfg.MaxRecordBytes = size + 16 // the delivery fits, its dead letter does not
	res := fanout.New(cfg).Route(set, in, now)
	if res.Reason != "" || res.Deliveries != 1 || res.FilterDeadLetters != 1 || len(res.Records) != 2 {
		t.Fatalf("reason %q, %d deliveries, %d filter dead letters, %d records; want 1 and 1",
			res.Reason, res.Deliveries, res.FilterDeadLetters, len(res.Records))
	}
	for _, out := range res.Records {
		if n := fanout.RecordSize(out); n > cfg.MaxRecordBytes {
			t.Errorf("record on %s of %d bytes, limit %d", out.Topic, n, cfg.MaxRecordBytes)
		}
		if out.Topic != dlq {
			continue
		}
		dl, err := record.DecodeDeadLetter(out.Value)
		if err != nil {
			t.Fatal(err)
		}
		if dl.Reason != record.ReasonFilterError || dl.Delivery != nil || dl.Raw == nil || !bytes.HasPrefix(in.Value, dl.Raw.Value) {
			t.Errorf("dead letter reason %q, delivery %v, raw %v; want filter_error with the raw record", dl.Reason, dl.Delivery, dl.Raw)
		}
		if !strings.Contains(dl.LastError, "delivery dropped") || record.HeaderValue(out, header.SubscriptionID) != "erring" {
			t.Errorf("last_error %q, subscription header %q", dl.LastError, record.HeaderValue(out, header.SubscriptionID))
		}
	}
}

func checkDeadLetter(t *testing.T, in *kgo.Record, res fanout.Result, reason, field string) {
	t.Helper()
	if res.Reason != reason || res.Err == nil {
		t.Fatalf("reason %q (err %v), want %q", res.Reason, res.Err, reason)
	}
	if res.Deliveries != 0 || len(res.Records) != 1 {
		t.Fatalf("%d deliveries and %d records, want one dead letter", res.Deliveries, len(res.Records))
	}
	r := res.Records[0]
	if r.Topic != dlq {
		t.Errorf("dead letter on topic %q, want %q", r.Topic, dlq)
	}
	dl, err := record.DecodeDeadLetter(r.Value)
	if err != nil {
		t.Fatalf("dead letter does not decode: %v", err)
	}
	if dl.Stage != record.StageRoute || dl.Reason != reason || !dl.FailedAt.Equal(now) || dl.Delivery != nil {
		t.Errorf("dead letter stage %q reason %q at %v, delivery %v", dl.Stage, dl.Reason, dl.FailedAt, dl.Delivery)
	}
	if want := record.ProvenanceOf(in); dl.Source != want {
		t.Errorf("provenance %v, want %v", dl.Source, want)
	}
	if record.HeaderValue(r, header.Reason) != reason || record.HeaderValue(r, header.Stage) != record.StageRoute {
		t.Errorf("reason/stage headers %q/%q", record.HeaderValue(r, header.Reason), record.HeaderValue(r, header.Stage))
	}
	if dl.LastError == "" || !strings.Contains(dl.LastError, field) {
		t.Errorf("last_error %q does not name %q", dl.LastError, field)
	}
	if dl.Raw == nil || !bytes.HasPrefix(in.Value, dl.Raw.Value) {
		t.Fatal("raw record not kept")
	}
	if truncated := strings.Contains(dl.LastError, "truncated"); truncated != dl.Raw.Truncated {
		t.Errorf("raw.truncated = %v but last_error %q", dl.Raw.Truncated, dl.LastError)
	}
	if !dl.Raw.Truncated && (!bytes.Equal(dl.Raw.Value, in.Value) || !bytes.Equal(dl.Raw.Key, in.Key) || len(dl.Raw.Headers) != len(in.Headers)) {
		t.Errorf("raw record differs from the input")
	}
	if res.Event != nil {
		if string(r.Key) != res.Event.ID || record.HeaderValue(r, header.EventID) != res.Event.ID {
			t.Errorf("dead letter of a decoded event keyed %q, want its id %q", r.Key, res.Event.ID)
		}
	} else if want := event.RecordID(in.Topic, in.Partition, in.Offset); string(r.Key) != want {
		t.Errorf("dead letter keyed %q, want %q", r.Key, want)
	}
}

// TestRouteTooLargeFitsTheDLQ checks that an oversize record yields a dead
// letter that Kafka accepts: the raw value is cut to fit and the cut said.
func TestRouteTooLargeFitsTheDLQ(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.MaxEventBytes, cfg.MaxRecordBytes = 32<<10, 64<<10
	set, _ := fanout.NewCompiler().Compile(subscriptions())
	in := at(&kgo.Record{Topic: src, Key: []byte("k"), Value: bytes.Repeat([]byte("0123456789"), 20<<10)}, 0, 7)
	res := fanout.New(cfg).Route(set, in, now)
	checkDeadLetter(t, in, res, record.ReasonTooLarge, "too large")
	out := res.Records[0]
	if n := fanout.RecordSize(out); n > cfg.MaxRecordBytes {
		t.Fatalf("dead letter is %d bytes, limit %d", n, cfg.MaxRecordBytes)
	}
	dl, _ := record.DecodeDeadLetter(out.Value)
	if len(dl.Raw.Value) == 0 || len(dl.Raw.Value) >= len(in.Value) || !dl.Raw.Truncated {
		t.Errorf("raw value kept %d of %d bytes (truncated flag %v), want a flagged truncated prefix", len(dl.Raw.Value), len(in.Value), dl.Raw.Truncated)
	}
	if !strings.Contains(dl.LastError, "truncated") || !strings.Contains(dl.LastError, "events/0/7") {
		t.Errorf("last_error %q does not say the value was truncated and where the record is", dl.LastError)
	}
}

// TestRouteDeliveryTooLarge checks that an event small enough to read but
// whose deliveries would be too large to produce is dead-lettered, not
// retried forever.
func TestRouteDeliveryTooLarge(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.MaxRecordBytes = 8 << 10
	set, _ := fanout.NewCompiler().Compile([]*record.Subscription{routetest.Sub("all", "", "*")})
	ev := routetest.PaymentFailed("evt_big", 1)
	ev.Data = []byte(`{"blob":"` + strings.Repeat("a", 8<<10) + `"}`)
	in := at(routetest.Binary(src, ev), 1, 1)
	res := fanout.New(cfg).Route(set, in, now)
	checkDeadLetter(t, in, res, record.ReasonTooLarge, "delivery record")
	if !errors.Is(res.Err, fanout.ErrRecordTooLarge) {
		t.Errorf("err = %v, want ErrRecordTooLarge", res.Err)
	}
}

// TestRouteDeterministic checks that routing a record again (after an
// aborted transaction, a crash, a replay) gives the same delivery ids.
func TestRouteDeterministic(t *testing.T) {
	t.Parallel()
	set, _ := fanout.NewCompiler().Compile(subscriptions())
	r := fanout.New(config(t))
	for _, in := range []*kgo.Record{
		at(routetest.Binary(src, routetest.Payment("evt_d", 120)), 0, 1),
		// Without an id, the plain event's id comes from its coordinates.
		at(&kgo.Record{Topic: src, Value: []byte(`{"type":"payment_success","amount":1,"customer":"c"}`)}, 0, 2),
	} {
		first := r.Route(set, in, now)
		again := r.Route(set, in, now.Add(time.Hour))
		if first.Deliveries == 0 || first.Deliveries != again.Deliveries {
			t.Fatalf("deliveries %d then %d", first.Deliveries, again.Deliveries)
		}
		for i := range first.Records {
			a, b := record.HeaderValue(first.Records[i], header.DeliveryID), record.HeaderValue(again.Records[i], header.DeliveryID)
			if a == "" || a != b {
				t.Errorf("delivery id %q then %q", a, b)
			}
		}
	}
}

func TestRouteWithoutValidator(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.Validator = nil
	set, _ := fanout.NewCompiler().Compile([]*record.Subscription{routetest.Sub("all", "", "*")})
	res := fanout.New(cfg).Route(set, at(routetest.Binary(src, routetest.Payment("evt_n", -1)), 0, 0), now)
	if res.Reason != "" || res.Deliveries != 1 {
		t.Fatalf("without a validator, got reason %q and %d deliveries", res.Reason, res.Deliveries)
	}
}

// FuzzRoute checks Route's promises on arbitrary input: it never panics,
// yields either deliveries (and filter_error dead letters) or exactly one
// dead letter, and never a record over the size limit.
func FuzzRoute(f *testing.F) {
	f.Add([]byte(`{"type":"payment_success","amount":1,"customer":"c"}`), "", "")
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"s","type":"payment.succeeded","data":{"amount":200}}`), "application/cloudevents+json", "")
	f.Add([]byte(`{"amount":1}`), "application/json", "payment.failed")
	f.Add([]byte{0xff, 0xfe}, "text/plain", "order.status_changed")
	reg := registryT(f)
	set, _ := fanout.NewCompiler().Compile(subscriptions())
	cfg := fanout.Config{Deliveries: deliveries, DLQ: dlq, MaxEventBytes: 4 << 10, MaxRecordBytes: 3 << 10, Validator: reg}
	r := fanout.New(cfg)
	f.Fuzz(func(t *testing.T, value []byte, contentType, ceType string) {
		in := &kgo.Record{Topic: src, Partition: 1, Offset: 9, Value: value}
		if contentType != "" {
			in.Headers = append(in.Headers, kgo.RecordHeader{Key: "content-type", Value: []byte(contentType)})
		}
		if ceType != "" {
			in.Headers = append(in.Headers,
				kgo.RecordHeader{Key: "ce_specversion", Value: []byte("1.0")},
				kgo.RecordHeader{Key: "ce_id", Value: []byte("id")},
				kgo.RecordHeader{Key: "ce_source", Value: []byte("src")},
				kgo.RecordHeader{Key: "ce_type", Value: []byte(ceType)})
		}
		res := r.Route(set, in, now)
		if res.Reason != "" {
			if len(res.Records) != 1 || res.Records[0].Topic != dlq || res.Err == nil {
				t.Fatalf("dead letter result %+v", res)
			}
		} else if res.Deliveries+res.FilterDeadLetters != len(res.Records) {
			t.Fatalf("%d deliveries and %d filter dead letters, %d records", res.Deliveries, res.FilterDeadLetters, len(res.Records))
		}
		for _, out := range res.Records {
			if n := fanout.RecordSize(out); n > cfg.MaxRecordBytes {
				t.Fatalf("record of %d bytes over the %d limit", n, cfg.MaxRecordBytes)
			}
		}
	})
}

// BenchmarkRoute measures the routing core alone (no Kafka): one binary
// payment event matched against 1, 10 and 100 subscriptions, half of them
// with a CEL filter, building every delivery record.
func BenchmarkRoute(b *testing.B) {
	for _, m := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subs=%d", m), func(b *testing.B) {
			subs := make([]*record.Subscription, m)
			for i := range subs {
				f := ""
				if i%2 == 1 {
					f = "data.amount > 0.0"
				}
				subs[i] = routetest.Sub(fmt.Sprintf("sub-%03d", i), f, "payment.*")
			}
			set, _ := fanout.NewCompiler().Compile(subs)
			r := fanout.New(config(b))
			in := at(routetest.Binary(src, routetest.Payment("evt_bench", 42)), 0, 1)
			b.ReportAllocs()
			for b.Loop() {
				if res := r.Route(set, in, now); res.Deliveries != m {
					b.Fatalf("%d deliveries", res.Deliveries)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.N*m)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
