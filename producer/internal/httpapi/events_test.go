package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/producer/internal/httpapi"
	"github.com/hookline/hookline/producer/internal/kafkahealth"
	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/event"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// assertEvent fails the test unless got and want are the same event: every
// attribute, the extensions and the data bytes. Times compare with Equal.
func assertEvent(t *testing.T, got, want event.Event) {
	t.Helper()
	if !got.Time.Equal(want.Time) {
		t.Errorf("%s: Time = %v, want %v", want.ID, got.Time, want.Time)
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("%s: Data = %q, want %q", want.ID, got.Data, want.Data)
	}
	if (len(got.Extensions) != 0 || len(want.Extensions) != 0) && !reflect.DeepEqual(got.Extensions, want.Extensions) {
		t.Errorf("%s: Extensions = %v, want %v", want.ID, got.Extensions, want.Extensions)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	got.Data, want.Data = nil, nil
	got.Extensions, want.Extensions = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event = %+v\nwant    %+v", got, want)
	}
}

// plain is the event the API makes of a plain JSON object: the whole
// object is the data, as event.Decode reads a plain JSON record.
func plain(id, typ, data string) event.Event {
	return event.Event{ID: id, Source: testSource, Type: typ, SpecVersion: "1.0", Time: fixedTime,
		DataContentType: "application/json", Data: []byte(data)}
}

const structuredFull = `{"specversion":"1.0","id":"evt_full","source":"https://payments.example.com/gateway",` +
	`"type":"payment.succeeded","time":"2025-03-14T16:09:26.5+01:00","subject":"orders/1042",` +
	`"datacontenttype":"application/json","dataschema":"https://hookline.dev/schemas/payment.succeeded/v1",` +
	`"partitionkey":"cus_42","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","retries":3,` +
	`"data":` + paymentSucceeded + `}`

const paymentSucceeded = `{"payment_id":"pay_9f8e","amount":49.99,"currency":"USD","customer":{"id":"cus_42"},"captured_at":"2025-03-14T15:09:26Z"}`

func fullEvent() event.Event {
	return event.Event{ID: "evt_full", Source: "https://payments.example.com/gateway", Type: "payment.succeeded",
		SpecVersion: "1.0", Time: time.Date(2025, 3, 14, 15, 9, 26, 500000000, time.UTC), Subject: "orders/1042",
		DataContentType: "application/json", DataSchema: "https://hookline.dev/schemas/payment.succeeded/v1",
		Extensions: map[string]string{"partitionkey": "cus_42", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "retries": "3"},
		Data:       []byte(paymentSucceeded)}
}

func TestEventsRoundTripThroughRouterDecode(t *testing.T) {
	e := newEnv(t, envOpts{cfg: httpapi.Config{}, pubOpts: []publish.Opt{publish.AllowUnknownTypes()}})
	spaced := `{ "type": "payment_success", "id": "pay_1", "amount": 1,
  "customer": "<b>&</b>" }`
	tests := []struct {
		name    string
		body    string
		headers []string
		want    func(ids []string) []event.Event
	}{
		{"seed plain JSON", seedEvent, nil, func(ids []string) []event.Event {
			return []event.Event{plain(ids[0], "payment_success", seedEvent)}
		}},
		{"plain JSON keeps its id and bytes", spaced, nil, func(ids []string) []event.Event {
			return []event.Event{plain("pay_1", "payment_success", spaced)}
		}},
		{"structured CloudEvent", structuredFull, []string{"Content-Type", "application/cloudevents+json; charset=utf-8"}, func([]string) []event.Event {
			return []event.Event{fullEvent()}
		}},
		{"structured with data_base64", `{"specversion":"1.0","type":"test.bytes","datacontenttype":"application/octet-stream","data_base64":"AAEC//4="}`, nil,
			func(ids []string) []event.Event {
				return []event.Event{{ID: ids[0], Source: testSource, Type: "test.bytes", SpecVersion: "1.0", Time: fixedTime,
					DataContentType: "application/octet-stream", Data: []byte{0, 1, 2, 0xff, 0xfe}}}
			}},
		{"batch object", `{"events":[` + seedEvent + `,` + structuredFull + `]}`, nil, func(ids []string) []event.Event {
			return []event.Event{plain(ids[0], "payment_success", seedEvent), fullEvent()}
		}},
		{"batch array", `[` + structuredFull + `, ` + seedEvent + `]`, []string{"Content-Type", httpapi.ContentTypeBatch}, func(ids []string) []event.Event {
			return []event.Event{fullEvent(), plain(ids[1], "payment_success", seedEvent)}
		}},
		{"HTTP binary mode", seedEvent, []string{"Ce-Specversion", "1.0", "Ce-Id", "bin_1", "Ce-Source", "/gateway",
			"Ce-Type", "payment_success", "Ce-Subject", "orders/9", "Ce-Time", "2025-01-02T03:04:05Z",
			"Ce-Traceparent", "00-x-01", "Ce-Note", "caf%C3%A9"}, func([]string) []event.Event {
			return []event.Event{{ID: "bin_1", Source: "/gateway", Type: "payment_success", SpecVersion: "1.0",
				Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Subject: "orders/9", DataContentType: "application/json",
				Extensions: map[string]string{"traceparent": "00-x-01", "note": "café"}, Data: []byte(seedEvent)}}
		}},
	}
	total := 0
	byID := map[string]event.Event{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(t, "POST", "/v1/events", tt.body, tt.headers...)
			if resp.status != http.StatusAccepted {
				t.Fatalf("status %d: %s", resp.status, resp.body)
			}
			var got struct{ IDs []string }
			resp.json(t, &got)
			want := tt.want(got.IDs)
			if len(got.IDs) != len(want) {
				t.Fatalf("ids %v, want %d", got.IDs, len(want))
			}
			for i, w := range want {
				if got.IDs[i] != w.ID {
					t.Errorf("ids[%d] = %q, want %q", i, got.IDs[i], w.ID)
				}
				byID[w.ID] = w
			}
			total += len(want)
		})
	}
	// Every record reads back, through the router's decoder, as the event
	// that was sent.
	for _, rec := range consume(t, e.c, e.source, total) {
		got, err := event.Decode(rec, 1<<20)
		if err != nil {
			t.Fatalf("event.Decode: %v", err)
		}
		want, ok := byID[got.ID]
		if !ok {
			t.Fatalf("unexpected event %q", got.ID)
		}
		assertEvent(t, got, want)
		if got.ID == "evt_full" && string(rec.Key) != "cus_42" {
			t.Errorf("key = %q, want the partitionkey extension", rec.Key)
		}
		// A plain JSON event decodes as the same data and type as the
		// object written raw to Kafka, as a service in the seed would.
		if want.Source == testSource && want.DataContentType == "application/json" && bytes.HasPrefix(want.Data, []byte("{")) {
			raw, err := event.Decode(&kgo.Record{Topic: e.source, Value: want.Data}, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if raw.Type != got.Type || !bytes.Equal(raw.Data, got.Data) || raw.DataContentType != got.DataContentType {
				t.Errorf("plain event decodes as %+v, the raw object as %+v", got, raw)
			}
		}
	}
}

func TestEventsRefused(t *testing.T) {
	e := newEnv(t, envOpts{cfg: httpapi.Config{MaxEventBytes: 2048, MaxRequestBytes: 16 << 10, MaxBatchEvents: 5}})
	big := `{"type":"payment_success","amount":1,"customer":"c","pad":"` + strings.Repeat("x", 2048) + `"}`
	type wantDetail struct {
		index int
		field string
	}
	tests := []struct {
		name     string
		body     string
		headers  []string
		status   int
		code     string
		details  []wantDetail // each must appear
		noDetail bool
	}{
		{name: "malformed JSON", body: `{"type":"payment_success",`, status: 400, code: "malformed_json"},
		{name: "empty body", body: ``, status: 400, code: "malformed_json"},
		{name: "not an object or array", body: `"payment_success"`, status: 400, code: "malformed_json"},
		{name: "events not an array", body: `{"events":{"type":"x"}}`, status: 400, code: "malformed_json"},
		// JSON is UTF-8: encoding/json would read the byte as U+FFFD and
		// the event would be delivered altered.
		{name: "invalid UTF-8 in a string", body: "{\"type\":\"payment_success\",\"amount\":1,\"customer\":\"\xff\"}", status: 400, code: "malformed_json"},
		{name: "binary mode with JSON data that is not UTF-8", body: "{\"amount\":1,\"customer\":\"\xc3\x28\"}",
			headers: []string{"Ce-Specversion", "1.0", "Ce-Type", "payment_success", "Ce-Id", "1", "Ce-Source", "s", "Content-Type", "application/json"},
			status:  422, code: "validation_failed", details: []wantDetail{{0, "data"}}},
		{name: "empty batch", body: `{"events":[]}`, status: 400, code: "no_events"},
		{name: "unsupported media type", body: seedEvent, headers: []string{"Content-Type", "text/plain"}, status: 415, code: "unsupported_media_type"},
		{name: "plain JSON without type", body: `{"amount":1}`, status: 422, code: "validation_failed", details: []wantDetail{{0, "type"}}},
		{name: "schema violation", body: `{"type":"payment_success","amount":"49.99","customer":"c"}`, status: 422, code: "validation_failed",
			details: []wantDetail{{0, "data/amount"}}},
		{name: "unknown type refused by default", body: `{"type":"no.such.type"}`, status: 422, code: "validation_failed", details: []wantDetail{{0, "type"}}},
		{name: "structured with a bad time", body: `{"specversion":"1.0","type":"payment_success","time":"yesterday","data":{}}`,
			status: 422, code: "validation_failed", details: []wantDetail{{0, "time"}}},
		{name: "structured with a wrong specversion", body: `{"specversion":"0.3","type":"payment_success","data":` + seedEvent + `}`,
			status: 422, code: "validation_failed", details: []wantDetail{{0, "specversion"}}},
		{name: "binary mode with a bad time", body: seedEvent, headers: []string{"Ce-Specversion", "1.0", "Ce-Type", "payment_success", "Ce-Time", "noon"},
			status: 422, code: "validation_failed", details: []wantDetail{{0, "time"}}},
		{name: "one bad event refuses the batch, every problem listed", status: 422, code: "validation_failed",
			body:    `{"events":[` + seedEvent + `,{"amount":1},{"type":"payment_success","amount":-1,"customer":"c"},"x"]}`,
			details: []wantDetail{{1, "type"}, {2, "data/amount"}, {3, ""}}},
		{name: "event over the size limit", body: big, status: 413, code: "event_too_large", details: []wantDetail{{0, ""}}},
		{name: "too large wins over invalid", body: `[` + big + `,{"amount":1}]`, status: 413, code: "event_too_large", details: []wantDetail{{0, ""}, {1, "type"}}},
		{name: "request body over the limit", body: `[` + strings.Repeat(big+",", 8) + big + `]`, status: 413, code: "request_too_large", noDetail: true},
		{name: "too many events", body: `[` + strings.Repeat(seedEvent+",", 5) + seedEvent + `]`, status: 413, code: "too_many_events", noDetail: true},
		{name: "Idempotency-Key too long", body: seedEvent, headers: []string{"Idempotency-Key", strings.Repeat("k", 256)}, status: 400, code: "invalid_idempotency_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(t, "POST", "/v1/events", tt.body, tt.headers...)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.status, resp.body)
			}
			a := resp.errorOf(t)
			if a.Error.Code != tt.code {
				t.Errorf("code %q, want %q", a.Error.Code, tt.code)
			}
			for _, wd := range tt.details {
				found := false
				for _, d := range a.Error.Details {
					found = found || (d.Index != nil && *d.Index == wd.index && d.Field == wd.field && d.Message != "")
				}
				if !found {
					t.Errorf("no detail for event %d field %q in %s", wd.index, wd.field, resp.body)
				}
			}
			if tt.noDetail && len(a.Error.Details) > 0 {
				t.Errorf("unexpected details: %s", resp.body)
			}
		})
	}
	if n := count(t, e.c, e.source); n != 0 {
		t.Fatalf("%d records produced by refused requests", n)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, envOpts{})
	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"no header", "", 401},
		{"wrong key", "Bearer nope", 401},
		{"key as a prefix", "Bearer " + apiKey + "x", 401},
		{"basic scheme", "Basic " + apiKey, 401},
		{"bare key", apiKey, 401},
		{"first key", "Bearer " + apiKey, 202},
		{"second key, lower-case scheme", "bearer " + otherAPIKey, 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, e.srv.URL, "POST", "/v1/events", []byte(seedEvent), "Authorization", tt.auth)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.status, resp.body)
			}
			if tt.status == 401 {
				if resp.header.Get("WWW-Authenticate") == "" || resp.errorOf(t).Error.Code != "unauthorized" {
					t.Fatalf("401 without WWW-Authenticate or code: %v %s", resp.header, resp.body)
				}
			}
		})
	}
	for _, path := range []string{"/v1/subscriptions", "/v1/subscriptions/x"} {
		if resp := do(t, e.srv.URL, "GET", path, nil); resp.status != 401 {
			t.Errorf("GET %s without a key: %d", path, resp.status)
		}
	}
	for _, path := range []string{"/openapi.json", "/healthz", "/readyz"} {
		if resp := do(t, e.srv.URL, "GET", path, nil); resp.status != 200 {
			t.Errorf("GET %s without a key: %d %s", path, resp.status, resp.body)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t, envOpts{})
	body := `{"events":[` + seedEvent + `,` + seedEvent + `,{"type":"payment_success","id":"own","amount":1,"customer":"c"}]}`
	post := func(srvURL, key, apiKey, body string) (response, []string) {
		t.Helper()
		resp := do(t, srvURL, "POST", "/v1/events", []byte(body), "Authorization", "Bearer "+apiKey, "Idempotency-Key", key)
		var got struct{ IDs []string }
		if resp.status == 202 {
			resp.json(t, &got)
		}
		return resp, got.IDs
	}
	first, ids := post(e.srv.URL, "order-1042", apiKey, body)
	if first.status != 202 || len(ids) != 3 || ids[0] == ids[1] || ids[2] != "own" {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	again, idsAgain := post(e.srv.URL, "order-1042", apiKey, body)
	if again.status != 202 || !reflect.DeepEqual(ids, idsAgain) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %v %s, want the same ids %v replayed", again.status, again.header, again.body, ids)
	}
	if n := count(t, e.c, e.source); n != 3 {
		t.Fatalf("%d records after a replayed retry, want 3", n)
	}
	// A restarted (or another) instance has no cache but derives the same ids.
	restarted := httpapi.New(httpapi.Config{APIKeys: []string{apiKey, otherAPIKey}}, e.pub, e.store)
	srv2 := newServer(t, restarted)
	_, idsRestarted := post(srv2, "order-1042", apiKey, body)
	if !reflect.DeepEqual(ids, idsRestarted) {
		t.Fatalf("ids after a restart %v, want %v", idsRestarted, ids)
	}
	// Other keys, other API keys: other ids.
	_, idsOther := post(e.srv.URL, "order-1043", apiKey, body)
	_, idsOtherAPIKey := post(e.srv.URL, "order-1042", otherAPIKey, body)
	if idsOther[0] == ids[0] || idsOtherAPIKey[0] == ids[0] || idsOther[0] == idsOtherAPIKey[0] {
		t.Fatalf("ids collide: %v %v %v", ids, idsOther, idsOtherAPIKey)
	}
	// The same key with another body is refused.
	reused, _ := post(e.srv.URL, "order-1042", apiKey, seedEvent)
	if reused.status != 422 || reused.errorOf(t).Error.Code != "idempotency_key_reused" {
		t.Fatalf("reused key: %d %s", reused.status, reused.body)
	}
	// A refused request is not kept: the fixed request under the same key
	// is accepted and produced (a kept refusal would answer it 422
	// idempotency_key_reused, the body being another).
	before := count(t, e.c, e.source)
	bad, badIDs := post(e.srv.URL, "order-2000", apiKey, `{"amount":1}`)
	if bad.status != 422 || badIDs != nil || bad.errorOf(t).Error.Code == "idempotency_key_reused" {
		t.Fatalf("invalid event: %d %s, want 422 validation", bad.status, bad.body)
	}
	fixed, fixedIDs := post(e.srv.URL, "order-2000", apiKey, seedEvent)
	if fixed.status != 202 || len(fixedIDs) != 1 || fixed.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("fixed request under the refused one's key: %d %s, want 202 with one id, not replayed", fixed.status, fixed.body)
	}
	if n := count(t, e.c, e.source); n != before+1 {
		t.Fatalf("%d records after the fixed request, want %d", n, before+1)
	}
	// From then on the key holds the accepted answer.
	retried, retriedIDs := post(e.srv.URL, "order-2000", apiKey, seedEvent)
	if retried.status != 202 || !reflect.DeepEqual(retriedIDs, fixedIDs) || retried.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry of the fixed request: %d %v %s, want %v replayed", retried.status, retried.header, retried.body, fixedIDs)
	}
}

// TestKafkaUnavailable needs to break the broker, so it runs its own kfake
// cluster even when KAFKA_BROKERS names a real one: a shared real broker
// cannot be stopped by one test.
func TestKafkaUnavailable(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, kc *kfake.Cluster)
	}{
		{"produce requests dropped", func(t *testing.T, kc *kfake.Cluster) {
			kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				kc.KeepControl()
				return nil, errors.New("injected: connection dropped"), true
			})
		}},
		{"produce answered NOT_LEADER_OR_FOLLOWER", func(t *testing.T, kc *kfake.Cluster) {
			kc.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
				kc.KeepControl()
				return produceError(req.(*kmsg.ProduceRequest), kerr.NotLeaderForPartition.Code), nil, true
			})
		}},
		{"broker dies mid-request", func(t *testing.T, kc *kfake.Cluster) {
			// The first produce request of the next HTTP request gets no
			// answer: the broker closes while it is in flight.
			kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				go kc.Close()
				return nil, nil, true
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(kc.Close)
			e := newEnv(t, envOpts{
				cluster: &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()},
				cfg:     httpapi.Config{ProduceTimeout: 500 * time.Millisecond, RetryAfter: 7 * time.Second},
			})
			if resp := e.do(t, "POST", "/v1/events", seedEvent); resp.status != 202 {
				t.Fatalf("before the fault: %d %s", resp.status, resp.body)
			}
			tt.break_(t, kc)
			for _, body := range []string{seedEvent, `[` + seedEvent + `,` + seedEvent + `]`} {
				resp := e.do(t, "POST", "/v1/events", body)
				if resp.status != http.StatusServiceUnavailable {
					t.Fatalf("status %d, want 503: %s", resp.status, resp.body)
				}
				if got := resp.header.Get("Retry-After"); got != "7" {
					t.Errorf("Retry-After = %q, want 7", got)
				}
				a := resp.errorOf(t)
				if a.Error.Code != "kafka_unavailable" || len(a.IDs) == 0 || a.IDs[0] == "" {
					t.Errorf("answer %s: want code kafka_unavailable and the ids", resp.body)
				}
			}
			resp := e.do(t, "POST", "/v1/subscriptions", `{"url":"https://example.com/hook","event_types":["*"]}`)
			if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
				t.Fatalf("subscription write: %d %s, want 503 with Retry-After", resp.status, resp.body)
			}
		})
	}
}

// TestKafkaDownMidRequest holds a request's produce in the broker, then
// has the health tracker find Kafka unreachable: the request answers 503
// with its ids at once instead of waiting out ProduceTimeout (an hour
// here). It holds the broker's answers, so it runs its own kfake cluster.
func TestKafkaDownMidRequest(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	var unreachable atomic.Bool
	health := kafkahealth.New(func(context.Context) error {
		if unreachable.Load() {
			return errors.New("injected: unreachable")
		}
		return nil
	}, nil)
	health.ProbeInterval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = health.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	e := newEnv(t, envOpts{
		cluster: &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()},
		cfg:     httpapi.Config{ProduceTimeout: time.Hour, RetryAfter: 7 * time.Second},
		apiOpts: []httpapi.Opt{httpapi.WithKafkaHealth(health)},
	})
	if resp := e.do(t, "POST", "/v1/events", seedEvent); resp.status != http.StatusAccepted {
		t.Fatalf("before the fault: %d %s", resp.status, resp.body)
	}
	held, _ := holdProduce(t, kc)
	answer := make(chan response, 1)
	go func() { answer <- e.do(t, "POST", "/v1/events", seedEvent) }()
	<-held
	unreachable.Store(true)
	select {
	case resp := <-answer:
		if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") != "7" {
			t.Fatalf("answer %d %v %s, want 503 with Retry-After 7", resp.status, resp.header, resp.body)
		}
		if a := resp.errorOf(t); a.Error.Code != "kafka_unavailable" || len(a.IDs) != 1 || a.IDs[0] == "" {
			t.Fatalf("answer %s: want code kafka_unavailable and the id", resp.body)
		}
	case <-time.After(time.Minute):
		t.Fatal("the request still waits for Kafka a minute after it was found unreachable")
	}
}

func produceError(req *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func newServer(t testing.TB, s *httpapi.Server) string {
	t.Helper()
	srv := httptest.NewServer(conforming(t, s.Handler()))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestIdempotencyKeyInProgress holds the first request's produce in the
// broker and sends the same key again: the second is told to retry (409)
// rather than producing twice. It holds the broker's answers, so it runs
// its own kfake cluster even when KAFKA_BROKERS names a real one.
func TestIdempotencyKeyInProgress(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	e := newEnv(t, envOpts{cluster: &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()}})
	held, release := holdProduce(t, kc)
	first := make(chan response, 1)
	go func() { first <- e.do(t, "POST", "/v1/events", seedEvent, "Idempotency-Key", "k1") }()
	<-held
	busy := e.do(t, "POST", "/v1/events", seedEvent, "Idempotency-Key", "k1")
	if busy.status != http.StatusConflict || busy.header.Get("Retry-After") == "" || busy.errorOf(t).Error.Code != "request_in_progress" {
		t.Fatalf("same key while in progress: %d %v %s", busy.status, busy.header, busy.body)
	}
	release()
	if r := <-first; r.status != http.StatusAccepted {
		t.Fatalf("first request: %d %s", r.status, r.body)
	}
	if n := count(t, e.c, e.source); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
}

// TestKafkaRejects makes the broker refuse produce requests with an error
// retrying cannot fix: the answer is 500, not 503.
func TestKafkaRejects(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	e := newEnv(t, envOpts{cluster: &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()}})
	kc.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		return produceError(req.(*kmsg.ProduceRequest), kerr.TopicAuthorizationFailed.Code), nil, true
	})
	resp := e.do(t, "POST", "/v1/events", seedEvent)
	if resp.status != http.StatusInternalServerError || resp.header.Get("Retry-After") != "" || resp.errorOf(t).Error.Code != "internal" {
		t.Fatalf("answer %d %v %s, want 500 internal", resp.status, resp.header, resp.body)
	}
}

// TestScopedKeys checks that an ingest key may post events and nothing
// else (403 with the JSON error shape), while an admin key may do both.
func TestScopedKeys(t *testing.T) {
	const ingestKey = "test-ingest-key-1"
	e := newEnv(t, envOpts{cfg: httpapi.Config{APIKeys: []string{apiKey}, IngestAPIKeys: []string{ingestKey}}})
	as := func(key string) []string { return []string{"Authorization", "Bearer " + key} }
	if resp := do(t, e.srv.URL, "POST", "/v1/events", []byte(seedEvent), as(ingestKey)...); resp.status != http.StatusAccepted {
		t.Fatalf("ingest key posting an event: %d %s", resp.status, resp.body)
	}
	if resp := do(t, e.srv.URL, "POST", "/v1/events", []byte(seedEvent), as(apiKey)...); resp.status != http.StatusAccepted {
		t.Fatalf("admin key posting an event: %d %s", resp.status, resp.body)
	}
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/v1/subscriptions", ""},
		{"GET", "/v1/subscriptions/x", ""},
		{"POST", "/v1/subscriptions", `{"url":"https://example.com/hook","event_types":["*"]}`},
		{"PATCH", "/v1/subscriptions/x", `{"url":"https://evil.example/hook"}`},
		{"DELETE", "/v1/subscriptions/x", ""},
		{"POST", "/v1/subscriptions/x/rotate-secret", "{}"},
		{"GET", "/v1/dead-letters", ""},
		{"GET", "/v1/attempts", ""},
		{"POST", "/v1/dead-letters/replay", "{}"},
	} {
		resp := do(t, e.srv.URL, req.method, req.path, []byte(req.body), as(ingestKey)...)
		if resp.status != http.StatusForbidden || resp.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s with an ingest key: %d %s, want 403 JSON", req.method, req.path, resp.status, resp.body)
			continue
		}
		if a := resp.errorOf(t); a.Error.Code != "forbidden" {
			t.Errorf("%s %s with an ingest key: code %q, want forbidden", req.method, req.path, a.Error.Code)
		}
	}
	if resp := do(t, e.srv.URL, "GET", "/v1/subscriptions", nil, as(apiKey)...); resp.status != http.StatusOK {
		t.Fatalf("admin key listing subscriptions: %d %s", resp.status, resp.body)
	}
	if resp := do(t, e.srv.URL, "GET", "/v1/subscriptions", nil, as("test-ingest-key-2")...); resp.status != http.StatusUnauthorized {
		t.Fatalf("unknown key: %d, want 401", resp.status)
	}
}

// holdProduce holds every produce request kc receives until release is
// called (at the latest when the test ends); held is closed once the
// first one arrives.
func holdProduce(t *testing.T, kc *kfake.Cluster) (held <-chan struct{}, release func()) {
	t.Helper()
	rel, h := make(chan struct{}), make(chan struct{})
	var first, released sync.Once
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		first.Do(func() { close(h) })
		kc.SleepControl(func() { <-rel })
		return nil, nil, false
	})
	release = func() { released.Do(func() { close(rel) }) }
	t.Cleanup(release)
	return h, release
}
