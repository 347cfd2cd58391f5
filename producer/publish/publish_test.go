package publish_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fixedTime keeps expectations independent of the clock.
var fixedTime = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

const seedData = `{"type":"payment_success","amount":49.99,"customer":"jane@example.com"}`

func newClient(t *testing.T, c *kafkatest.Cluster, opts ...publish.Opt) *publish.Client {
	t.Helper()
	pub, err := publish.New(append([]publish.Opt{
		publish.SeedBrokers(c.Brokers...),
		publish.WithClock(func() time.Time { return fixedTime }),
	}, opts...)...)
	if err != nil {
		t.Fatalf("publish.New: %v", err)
	}
	t.Cleanup(pub.Close)
	return pub
}

// consume reads n records of topic from the start, failing the test if
// they do not arrive within a deadline.
func consume(t *testing.T, c *kafkatest.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s before the deadline", len(out), n, topic)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		out = append(out, fs.Records()...)
	}
	if len(out) > n {
		t.Fatalf("consumed %d records, want %d", len(out), n)
	}
	return out
}

// assertNothingWritten fails the test if topic holds any record.
func assertNothingWritten(t *testing.T, c *kafkatest.Cluster, topic string) {
	t.Helper()
	ends, err := c.Admin(t).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			t.Errorf("partition %d of %s has %d records, want none", o.Partition, topic, o.Offset)
		}
	})
}

// assertEvent fails the test unless got and want are the same event: every
// attribute, the extensions and the data bytes. Times compare with Equal.
func assertEvent(t *testing.T, got, want event.Event) {
	t.Helper()
	if !got.Time.Equal(want.Time) {
		t.Errorf("Time = %v, want %v", got.Time, want.Time)
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("Data = %q, want %q", got.Data, want.Data)
	}
	if (len(got.Extensions) != 0 || len(want.Extensions) != 0) && !reflect.DeepEqual(got.Extensions, want.Extensions) {
		t.Errorf("Extensions = %v, want %v", got.Extensions, want.Extensions)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	got.Data, want.Data = nil, nil
	got.Extensions, want.Extensions = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event = %+v\nwant    %+v", got, want)
	}
}

// roundTripEvents covers every attribute, extensions, JSON and non-JSON
// data, and events that rely on the defaults.
func roundTripEvents() []event.Event {
	return []event.Event{
		{ // every attribute set
			ID: "evt_01JQ3Z8K4M", Source: "https://payments.example.com/gateway", Type: "payment_success",
			SpecVersion: "1.0", Time: time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("x", 3600)),
			Subject: "orders/1042", DataContentType: "application/json",
			DataSchema: "https://hookline.dev/schemas/payment_success/v1",
			Extensions: map[string]string{"partitionkey": "cus_42", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			Data:       []byte(seedData),
		},
		{Type: "payment_success", Data: []byte(seedData)}, // defaults filled in
		{Type: "payment_success", Subject: "orders/7", Data: []byte("{ \"type\": \"payment_success\", \"amount\" : 1,\n \"customer\": \"<b>&\" }\n")}, // whitespace and HTML kept
		{Type: "test.roundtrip.text", DataContentType: "text/plain; charset=utf-8", Data: []byte("héllo, world\n")},
		{Type: "test.roundtrip.bytes", DataContentType: "application/octet-stream", Data: []byte{0, 1, 2, 0xff, 0xfe}},
		{Type: "test.roundtrip.nodata", Source: "/s", Extensions: map[string]string{"count": "3", "empty": ""}},
	}
}

func TestRoundTripThroughRouterDecode(t *testing.T) {
	c := kafkatest.New(t)
	ways := []struct {
		name    string
		publish func(t *testing.T, pub *publish.Client, evs []*event.Event)
	}{
		{"Publish", func(t *testing.T, pub *publish.Client, evs []*event.Event) {
			for _, ev := range evs {
				if err := pub.Publish(t.Context(), ev); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
		}},
		{"PublishAsync", func(t *testing.T, pub *publish.Client, evs []*event.Event) {
			var wg sync.WaitGroup
			errs := make(chan error, len(evs))
			for _, ev := range evs {
				wg.Add(1)
				pub.PublishAsync(t.Context(), ev, func(got *event.Event, err error) {
					defer wg.Done()
					if got != ev {
						err = fmt.Errorf("callback got event %p, want %p", got, ev)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("PublishAsync: %v", err)
				}
			}
		}},
		{"PublishBatch", func(t *testing.T, pub *publish.Client, evs []*event.Event) {
			if err := pub.PublishBatch(t.Context(), evs); err != nil {
				t.Fatalf("PublishBatch: %v", err)
			}
		}},
	}
	for _, way := range ways {
		t.Run(way.name, func(t *testing.T) {
			topic := c.Topic(t, 1, nil) // one partition keeps the order to compare
			pub := newClient(t, c, publish.Topic(topic), publish.AllowUnknownTypes())
			sent := roundTripEvents()
			ptrs := make([]*event.Event, len(sent))
			for i := range sent {
				ptrs[i] = &sent[i]
			}
			way.publish(t, pub, ptrs)

			recs := consume(t, c, topic, len(sent))
			uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
			for i, rec := range recs {
				want := sent[i]
				if roundTripEvents()[i].ID == "" && !uuid.MatchString(want.ID) {
					t.Errorf("filled id %q is not a UUID", want.ID)
				}
				if _, ok := want.Extensions["empty"]; ok {
					t.Errorf("event %d keeps an empty extension binary mode cannot carry", i)
				}
				if want.SpecVersion != "1.0" || want.Source == "" || want.Time.IsZero() {
					t.Errorf("event %d not filled in: %+v", i, want)
				}
				got, err := event.Decode(rec, 1<<20)
				if err != nil {
					t.Fatalf("record %d: event.Decode: %v", i, err)
				}
				assertEvent(t, got, want)
			}
		})
	}
}

func TestFillsDefaults(t *testing.T) {
	pub, err := publish.New(publish.Source("/billing"), publish.WithClock(func() time.Time { return fixedTime }))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ev := event.Event{Type: "payment_success", Data: []byte(seedData)}
	if err := pub.Prepare(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.Source != "/billing" || ev.SpecVersion != "1.0" || !ev.Time.Equal(fixedTime) || ev.ID == "" {
		t.Fatalf("Prepare filled %+v", ev)
	}
	kept := event.Event{ID: "mine", Source: "/s", SpecVersion: "1.0", Type: "payment_success", Time: fixedTime.Add(time.Hour), Data: []byte(seedData)}
	want := kept
	if err := pub.Prepare(&kept); err != nil {
		t.Fatal(err)
	}
	assertEvent(t, kept, want)
	if a, b := publish.NewID(), publish.NewID(); a == b {
		t.Fatalf("NewID repeated %q", a)
	}
}

func TestPartitionKey(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, nil)
	pub := newClient(t, c, publish.Topic(topic), publish.AllowUnknownTypes())
	tests := []struct {
		name string
		ev   event.Event
		opts []publish.CallOpt
		want string
	}{
		{"explicit key wins", event.Event{Type: "k", Subject: "s", Extensions: map[string]string{"partitionkey": "p"}}, []publish.CallOpt{publish.Key([]byte("explicit"))}, "explicit"},
		{"partitionkey extension", event.Event{Type: "k", Subject: "s", Extensions: map[string]string{"partitionkey": "p"}}, nil, "p"},
		{"subject", event.Event{Type: "k", Subject: "orders/1"}, nil, "orders/1"},
		{"no key", event.Event{Type: "k"}, nil, ""},
	}
	for _, tt := range tests {
		if err := pub.Publish(t.Context(), &tt.ev, tt.opts...); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
	recs := consume(t, c, topic, len(tests))
	for i, tt := range tests {
		if got := string(recs[i].Key); got != tt.want {
			t.Errorf("%s: key = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestValidation(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, nil)
	strict := newClient(t, c, publish.Topic(topic))
	tests := []struct {
		name      string
		ev        event.Event
		wantField string
		wantIs    error // also matched, when set
	}{
		{"missing type", event.Event{Data: []byte(`{}`)}, "type", event.ErrMissingAttribute},
		{"wrong specversion", event.Event{Type: "payment_success", SpecVersion: "0.3", Data: []byte(seedData)}, "specversion", event.ErrUnsupportedSpecVersion},
		{"data not JSON", event.Event{Type: "payment_success", Data: []byte(`{"amount":`)}, "data", nil},
		{"reserved extension", event.Event{Type: "payment_success", Data: []byte(seedData), Extensions: map[string]string{"data": "x"}}, "data", event.ErrInvalidAttribute},
		{"upper-case extension", event.Event{Type: "payment_success", Data: []byte(seedData), Extensions: map[string]string{"traceParent": "x"}}, "traceParent", nil},
		{"time out of range", event.Event{Type: "payment_success", Data: []byte(seedData), Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "time", nil},
		{"invalid UTF-8 subject", event.Event{Type: "payment_success", Data: []byte(seedData), Subject: "\xff"}, "subject", nil},
		{"unknown type", event.Event{Type: "no.such.type", Data: []byte(`{}`)}, "type", registry.ErrUnknownType},
		{"schema violation", event.Event{Type: "payment_success", Data: []byte(`{"type":"payment_success","amount":"forty","customer":"c"}`)}, "data/amount", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := strict.Publish(t.Context(), &tt.ev)
			var ve *publish.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Publish = %v, want a *ValidationError", err)
			}
			found := false
			for _, f := range ve.Fields {
				found = found || f.Field == tt.wantField || strings.HasPrefix(f.Field, tt.wantField+"/")
			}
			if !found {
				t.Errorf("fields %+v name no %q", ve.Fields, tt.wantField)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			var rve *registry.ValidationError
			if strings.HasPrefix(tt.wantField, "data/") && !errors.As(err, &rve) {
				t.Errorf("error %v does not wrap the registry's *ValidationError", err)
			}
			if publish.IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = true", err)
			}
			// PublishAsync reports the same error through its callback.
			done := make(chan error, 1)
			strict.PublishAsync(t.Context(), &tt.ev, func(_ *event.Event, err error) { done <- err })
			if err := <-done; !errors.As(err, &ve) {
				t.Errorf("PublishAsync: %v, want a *ValidationError", err)
			}
		})
	}
	assertNothingWritten(t, c, topic)

	t.Run("unknown type allowed by option", func(t *testing.T) {
		lax := newClient(t, c, publish.Topic(topic), publish.AllowUnknownTypes())
		ev := event.Event{Type: "no.such.type", Data: []byte(`{}`)}
		if err := lax.Publish(t.Context(), &ev); err != nil {
			t.Fatal(err)
		}
		// Known types are still validated.
		bad := event.Event{Type: "payment_success", Data: []byte(`{"type":"payment_success","amount":"forty","customer":"c"}`)}
		var ve *publish.ValidationError
		if err := lax.Publish(t.Context(), &bad); !errors.As(err, &ve) {
			t.Fatalf("schema violation with AllowUnknownTypes: %v", err)
		}
	})
}

func TestPublishBatchValidatesAllFirst(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, nil)
	pub := newClient(t, c, publish.Topic(topic))
	evs := []*event.Event{
		{Type: "payment_success", Data: []byte(seedData)},
		{Type: "payment_success", Data: []byte(`not json`)},
		{Type: "payment_success", Data: []byte(seedData)},
	}
	err := pub.PublishBatch(t.Context(), evs)
	var be *publish.BatchError
	if !errors.As(err, &be) || len(be.Errs) != 3 {
		t.Fatalf("PublishBatch = %v, want a *BatchError of 3", err)
	}
	var ve *publish.ValidationError
	if be.Errs[0] != nil || be.Errs[2] != nil || !errors.As(be.Errs[1], &ve) {
		t.Fatalf("errors = %v, want only the second invalid", be.Errs)
	}
	assertNothingWritten(t, c, topic)
}

func TestTooLarge(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, nil)
	t.Run("over MaxEventBytes", func(t *testing.T) {
		pub := newClient(t, c, publish.Topic(topic), publish.MaxEventBytes(1024))
		data := []byte(`{"type":"payment_success","amount":1,"customer":"c","pad":"` + strings.Repeat("x", 1024) + `"}`)
		err := pub.Publish(t.Context(), &event.Event{Type: "payment_success", Data: data})
		if !errors.Is(err, publish.ErrTooLarge) || publish.IsRetryable(err) {
			t.Fatalf("Publish = %v, want ErrTooLarge, not retryable", err)
		}
		// The limit counts what event.Decode counts: a record just at the
		// limit is accepted.
		ev := event.Event{Type: "payment_success", Data: []byte(seedData)}
		if err := pub.Prepare(&ev); err != nil {
			t.Fatal(err)
		}
		size := len(ev.Data)
		for _, h := range event.BinaryHeaders(&ev) {
			size += len(h.Key) + len(h.Value)
		}
		exact := newClient(t, c, publish.Topic(topic), publish.MaxEventBytes(size))
		if err := exact.Publish(t.Context(), &ev); err != nil {
			t.Fatalf("record of exactly the limit: %v", err)
		}
		over := newClient(t, c, publish.Topic(topic), publish.MaxEventBytes(size-1))
		if err := over.Publish(t.Context(), &ev); !errors.Is(err, publish.ErrTooLarge) {
			t.Fatalf("record one byte over the limit: %v", err)
		}
	})
	t.Run("over the batch limit of Kafka", func(t *testing.T) {
		pub := newClient(t, c, publish.Topic(topic), publish.MaxEventBytes(1<<20), publish.BatchMaxBytes(2048))
		data := []byte(`{"type":"payment_success","amount":1,"customer":"c","pad":"` + strings.Repeat("x", 4096) + `"}`)
		err := pub.Publish(t.Context(), &event.Event{Type: "payment_success", Data: data})
		if !errors.Is(err, publish.ErrTooLarge) || !errors.Is(err, kerr.MessageTooLarge) {
			t.Fatalf("Publish = %v, want ErrTooLarge wrapping kerr.MessageTooLarge", err)
		}
	})
}

// TestBrokerUnavailable needs to break the broker, so it runs its own
// kfake cluster even when KAFKA_BROKERS names a real one: a shared real
// broker cannot be stopped by one test.
func TestBrokerUnavailable(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(c *kfake.Cluster)
	}{
		{"produce requests dropped", func(c *kfake.Cluster) {
			c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				return nil, errors.New("injected: connection dropped"), true
			})
		}},
		{"produce answered NOT_ENOUGH_REPLICAS", func(c *kfake.Cluster) {
			c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				return produceError(req.(*kmsg.ProduceRequest), kerr.NotEnoughReplicas.Code), nil, true
			})
		}},
		{"cluster closed", func(c *kfake.Cluster) { c.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(kc.Close)
			pub, err := publish.New(publish.SeedBrokers(kc.ListenAddrs()...), publish.AllowUnknownTypes())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pub.Close)
			if err := pub.Publish(t.Context(), &event.Event{Type: "before"}); err != nil {
				t.Fatalf("publish before the fault: %v", err)
			}
			tt.break_(kc)

			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			err = pub.Publish(ctx, &event.Event{Type: "during"})
			if !errors.Is(err, publish.ErrBrokerUnavailable) || !publish.IsRetryable(err) {
				t.Fatalf("Publish = %v, want ErrBrokerUnavailable, retryable", err)
			}
			ctx, cancel = context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			err = pub.PublishBatch(ctx, []*event.Event{{Type: "a"}, {Type: "b"}})
			if !errors.Is(err, publish.ErrBrokerUnavailable) || !publish.IsRetryable(err) {
				t.Fatalf("PublishBatch = %v, want ErrBrokerUnavailable, retryable", err)
			}
		})
	}
}

func produceError(req *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func TestNewKeepsProducerDurable(t *testing.T) {
	c := kafkatest.New(t)
	nonIdem := c.Client(t, kgo.DisableIdempotentWrite())
	shared := c.Client(t)
	tests := []struct {
		name    string
		opts    []publish.Opt
		wantErr string
	}{
		{"non-idempotent option", []publish.Opt{publish.KafkaOpts(kgo.DisableIdempotentWrite())}, "idempotent"},
		{"non-idempotent client", []publish.Opt{publish.KafkaClient(nonIdem)}, "idempotent"},
		{"client with shaping options", []publish.Opt{publish.KafkaClient(shared), publish.Linger(time.Second)}, "Linger"},
		{"empty topic", []publish.Opt{publish.Topic("")}, "topic"},
		{"zero size limit", []publish.Opt{publish.MaxEventBytes(0)}, "MaxEventBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := publish.New(tt.opts...)
			if err == nil {
				pub.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
	t.Run("acks option overridden", func(t *testing.T) {
		pub, err := publish.New(publish.SeedBrokers(c.Brokers...), publish.KafkaOpts(kgo.RequiredAcks(kgo.LeaderAck())))
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		if acks := pub.Kafka().OptValue(kgo.RequiredAcks); acks != kgo.AllISRAcks() {
			t.Fatalf("acks = %v, want all", acks)
		}
	})
	t.Run("shared client stays open", func(t *testing.T) {
		topic := c.Topic(t, 1, nil)
		pub, err := publish.New(publish.KafkaClient(shared), publish.Topic(topic), publish.AllowUnknownTypes())
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(t.Context(), &event.Event{Type: "x"}); err != nil {
			t.Fatal(err)
		}
		pub.Close()
		if err := pub.Publish(t.Context(), &event.Event{Type: "x"}); !errors.Is(err, publish.ErrClosed) {
			t.Fatalf("Publish after Close = %v, want ErrClosed", err)
		}
		if err := shared.ProduceSync(t.Context(), &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("shared client closed with the publisher: %v", err)
		}
	})
}

func TestIsRetryable(t *testing.T) {
	unavailable := fmt.Errorf("%w: %w", publish.ErrBrokerUnavailable, context.DeadlineExceeded)
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{unavailable, true},
		{publish.ErrTooLarge, false},
		{publish.ErrClosed, false},
		{&publish.ValidationError{Fields: []publish.FieldError{{Field: "type", Message: "x"}}}, false},
		{&publish.BatchError{Errs: []error{nil, unavailable}}, true},
		{&publish.BatchError{Errs: []error{publish.ErrTooLarge, unavailable}}, false},
		{&publish.BatchError{Errs: []error{nil}}, false},
	}
	for _, tt := range tests {
		if got := publish.IsRetryable(tt.err); got != tt.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
