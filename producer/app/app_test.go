package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

const (
	key       = "0123456789abcdef-key"
	seedEvent = `{"type":"payment_success","amount":49.99,"customer":"jane@example.com"}`
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{name: "defaults with keys from the environment", env: map[string]string{"HOOKLINE_API_KEYS": key + ", other-key-0123456789"},
			check: func(t *testing.T, c *Config) {
				if len(c.APIKeys) != 2 || c.APIKeys[1] != "other-key-0123456789" {
					t.Errorf("APIKeys = %q", c.APIKeys)
				}
				if c.Addr != ":8080" || c.AdminAddr != ":9101" || c.TopicPrefix != "hookline." || c.SourceTopic != "events" ||
					c.MaxEventBytes != 256<<10 || c.ProduceTimeout != 10*time.Second || c.RotationGrace != 24*time.Hour ||
					c.RejectUnknownTypes || c.InsecureNoAuth {
					t.Errorf("defaults: %+v", c)
				}
			}},
		{name: "flags win over the environment", args: []string{"--api-keys", key, "--addr", "127.0.0.1:1", "--reject-unknown-types"},
			env: map[string]string{"HOOKLINE_API_KEYS": "other-key-0123456789", "HOOKLINE_ADDR": ":2", "HOOKLINE_SOURCE_TOPIC": "payments"},
			check: func(t *testing.T, c *Config) {
				if len(c.APIKeys) != 1 || c.APIKeys[0] != key || c.Addr != "127.0.0.1:1" || c.SourceTopic != "payments" || !c.RejectUnknownTypes {
					t.Errorf("config: %+v", c)
				}
			}},
		{name: "no keys refused", wantErr: "no API keys"},
		{name: "no keys with --insecure-no-auth", args: []string{"--insecure-no-auth"}, check: func(t *testing.T, c *Config) {
			if !c.InsecureNoAuth || len(c.APIKeys) != 0 {
				t.Errorf("config: %+v", c)
			}
		}},
		{name: "short key refused", args: []string{"--api-keys", "short"}, wantErr: "at least 16"},
		{name: "ingest keys from the environment", env: map[string]string{"HOOKLINE_API_KEYS": key, "HOOKLINE_INGEST_API_KEYS": "ingest-key-0123456789"},
			check: func(t *testing.T, c *Config) {
				if len(c.IngestAPIKeys) != 1 || c.IngestAPIKeys[0] != "ingest-key-0123456789" || len(c.APIKeys) != 1 {
					t.Errorf("config: %+v", c)
				}
			}},
		{name: "ingest keys alone", args: []string{"--ingest-api-keys", key}, check: func(t *testing.T, c *Config) {
			if len(c.APIKeys) != 0 || len(c.IngestAPIKeys) != 1 {
				t.Errorf("config: %+v", c)
			}
		}},
		{name: "short ingest key refused", args: []string{"--api-keys", key, "--ingest-api-keys", "short"}, wantErr: "at least 16"},
		{name: "key with two scopes refused", args: []string{"--api-keys", key, "--ingest-api-keys", key}, wantErr: "one scope"},
		{name: "event limit above the batch limit", args: []string{"--api-keys", key, "--max-event-bytes", "2000000"}, wantErr: "--max-event-bytes"},
		{name: "bad broker", args: []string{"--api-keys", key, "--brokers", "nohostport"}, wantErr: "host:port"},
		{name: "bad duration", args: []string{"--api-keys", key, "--produce-timeout", "0s"}, wantErr: "positive"},
		{name: "stray argument", args: []string{"--api-keys", key, "extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(tt.args, env(tt.env), io.Discard, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse = %v, want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestRunHelp(t *testing.T) {
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"--help"}, env(nil), &out, io.Discard); err != nil {
		t.Fatalf("Run --help = %v", err)
	}
	for _, want := range []string{"Usage: producer", "-api-keys", "HOOKLINE_API_KEYS", "-ingest-api-keys", "HOOKLINE_INGEST_API_KEYS", "-insecure-no-auth"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

func TestRunRefusesWithoutKeys(t *testing.T) {
	err := Run(t.Context(), nil, env(nil), io.Discard, io.Discard)
	if !errors.Is(err, ErrNoAuth) {
		t.Fatalf("Run without keys = %v, want ErrNoAuth", err)
	}
}

// started is a producer running in-process.
type started struct {
	api, ops string
	done     chan error
	cancel   context.CancelFunc
}

func start(t *testing.T, c *kafkatest.Cluster, names topic.Names, source string, extra ...string) *started {
	t.Helper()
	args := append([]string{"--brokers", strings.Join(c.Brokers, ","), "--api-keys", key,
		"--topic-prefix", names.Prefix, "--source-topic", source,
		"--addr", "127.0.0.1:0", "--admin-addr", proctest.FreeAddr(t)}, extra...)
	cfg, err := parse(args, env(nil), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{ops: cfg.AdminAddr, done: make(chan error, 1), cancel: cancel}
	listening := make(chan string, 1)
	go func() { s.done <- run(ctx, cfg, zap.NewNop(), listening) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	select {
	case s.api = <-listening:
	case err := <-s.done:
		t.Fatalf("run ended before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the API did not start listening")
	}
	// Ready once the table caught up and Kafka answers.
	waitFor(t, func() bool { return get(t, "http://"+s.api+"/readyz").status == 200 }, "the API to be ready")
	return s
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

type answer struct {
	status int
	body   string
	err    error
}

func get(t *testing.T, url string) answer { return send(t, "GET", url, "") }

func send(t *testing.T, method, url, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(b)}
}

func TestRunServes(t *testing.T) {
	c := kafkatest.New(t)
	names, source := c.Hookline(t, 3, 1)
	s := start(t, c, names, source)
	base := "http://" + s.api

	a := send(t, "POST", base+"/v1/events", seedEvent)
	if a.status != 202 {
		t.Fatalf("POST /v1/events: %d %s", a.status, a.body)
	}
	var ids struct{ IDs []string }
	if err := json.Unmarshal([]byte(a.body), &ids); err != nil || len(ids.IDs) != 1 {
		t.Fatalf("answer %s", a.body)
	}
	cl := c.Client(t, kgo.ConsumeTopics(source), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	fs := cl.PollFetches(ctx)
	if recs := fs.Records(); len(recs) != 1 {
		t.Fatalf("%d records on %s: %v", len(recs), source, fs.Errors())
	} else if ev, err := event.Decode(recs[0], 1<<20); err != nil || ev.ID != ids.IDs[0] || string(ev.Data) != seedEvent {
		t.Fatalf("decoded %+v, %v", ev, err)
	}

	a = send(t, "POST", base+"/v1/subscriptions", `{"url":"http://127.0.0.1:3000/webhook","event_types":["payment_success"]}`)
	if a.status != 201 || !strings.Contains(a.body, `"secret":"whsec_`) {
		t.Fatalf("create subscription: %d %s", a.status, a.body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if a := get(t, "http://"+s.ops+path); a.status != 200 {
			t.Errorf("ops %s: %d %s", path, a.status, a.body)
		}
	}
	m := get(t, "http://"+s.ops+"/metrics").body
	for _, want := range []string{
		`hookline_producer_events_total{outcome="accepted"} 1`,
		`hookline_producer_http_requests_total{code="201",route="POST /v1/subscriptions"} 1`,
		`hookline_kafka_`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if a := get(t, base+"/openapi.json"); a.status != 200 || !strings.Contains(a.body, `"openapi": "3.1.0"`) {
		t.Errorf("openapi.json: %d", a.status)
	}
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run = %v after a clean shutdown", err)
		}
		s.done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// TestGracefulShutdown holds a produce request in the broker, shuts the
// producer down, and checks that it stops accepting connections, still
// answers the request in flight once Kafka acknowledges, and returns
// cleanly. It needs to hold the broker's answers, so it runs its own kfake
// cluster even when KAFKA_BROKERS names a real one.
func TestGracefulShutdown(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()}
	names, source := c.Hookline(t, 3, 1)
	s := start(t, c, names, source, "--produce-timeout", "30s")

	release := make(chan struct{})
	held := make(chan struct{})
	var once sync.Once
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		once.Do(func() { close(held) })
		kc.SleepControl(func() { <-release })
		return nil, nil, false // then handled as usual
	})

	inflight := make(chan answer, 1)
	go func() { inflight <- send(t, "POST", "http://"+s.api+"/v1/events", seedEvent) }()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the produce request never reached the broker")
	}
	s.cancel()
	// New connections are refused while the request is still in flight.
	waitFor(t, func() bool {
		conn, err := net.DialTimeout("tcp", s.api, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, "the API to stop accepting connections")
	select {
	case a := <-inflight:
		t.Fatalf("the request in flight was answered before Kafka acknowledged: %d %s", a.status, a.body)
	case err := <-s.done:
		t.Fatalf("run returned with a request in flight: %v", err)
	default:
	}
	close(release)
	if a := <-inflight; a.err != nil || a.status != 202 {
		t.Fatalf("request in flight during shutdown: %d %s %v", a.status, a.body, a.err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run = %v", err)
		}
		s.done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return")
	}
}

// TestReadyzFollowsKafka stops the broker and expects readiness to fail
// on the kafka check. It stops the broker, so it runs its own kfake
// cluster even when KAFKA_BROKERS names a real one.
func TestReadyzFollowsKafka(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()}
	names, source := c.Hookline(t, 3, 1)
	s := start(t, c, names, source)
	kc.Close()
	for _, url := range []string{"http://" + s.ops + "/readyz", "http://" + s.api + "/readyz"} {
		waitFor(t, func() bool {
			a := get(t, url)
			return a.status == http.StatusServiceUnavailable && strings.Contains(a.body, "kafka")
		}, url+" to fail on the kafka check")
	}
	if a := get(t, "http://"+s.ops+"/healthz"); a.status != 200 {
		t.Errorf("/healthz with Kafka down: %d, want 200 (the process is alive)", a.status)
	}
}

// TestIngestRidesOutOutage stops the broker under a running API: ingest
// must answer 503 with Retry-After without waiting for its (here one
// minute) produce timeout, and accept again once the broker is back on the
// same port and data. A request sent with an Idempotency-Key during the
// outage gets the same event id when it is retried after it.
func TestIngestRidesOutOutage(t *testing.T) {
	dir := t.TempDir()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3), kfake.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	addr := kc.ListenAddrs()[0]
	_, portText, _ := net.SplitHostPort(addr)
	c := &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: []string{addr}}
	names, source := c.Hookline(t, 3, 1)
	s := start(t, c, names, source, "--produce-timeout", "1m")
	base := "http://" + s.api
	if a := send(t, "POST", base+"/v1/events", seedEvent); a.status != 202 {
		t.Fatalf("POST before the outage: %d %s", a.status, a.body)
	}

	kc.Close()
	// The first request may be the one that finds the broker gone; each
	// must be answered long before the produce timeout.
	client := &http.Client{Timeout: 20 * time.Second}
	post := func(idemKey string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(seedEvent))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if idemKey != "" {
			req.Header.Set("Idempotency-Key", idemKey)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST during the outage: %v (the API waited for the produce timeout)", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for range 3 {
		resp, body := post("")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("POST during the outage: %d (Retry-After %q) %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		var ans struct {
			IDs []string `json:"ids"`
		}
		if err := json.Unmarshal([]byte(body), &ans); err != nil || len(ans.IDs) != 1 || ans.IDs[0] == "" {
			t.Fatalf("503 body %s: want the event's id to retry with", body)
		}
	}
	resp, body := post("order-42")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("POST with Idempotency-Key during the outage: %d %s", resp.StatusCode, body)
	}
	var during struct {
		Error struct {
			IDs []string `json:"ids"`
		} `json:"error"`
		IDs []string `json:"ids"`
	}
	_ = json.Unmarshal([]byte(body), &during)

	port := 0
	if _, err := fmt.Sscan(portText, &port); err != nil {
		t.Fatal(err)
	}
	kc, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3), kfake.DataDir(dir), kfake.Ports(port))
	if err != nil {
		t.Fatalf("restarting the broker on port %d: %v", port, err)
	}
	t.Cleanup(kc.Close)
	var after answer
	waitFor(t, func() bool {
		after = send(t, "POST", base+"/v1/events", seedEvent)
		return after.status == 202
	}, "ingest to accept again after the broker came back")
	resp, body = post("order-42")
	if resp.StatusCode != 202 {
		t.Fatalf("retry with Idempotency-Key after the outage: %d %s", resp.StatusCode, body)
	}
	var accepted struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal([]byte(body), &accepted); err != nil || len(accepted.IDs) != 1 {
		t.Fatalf("accepted body %s: %v", body, err)
	}
	if ids := append(during.IDs, during.Error.IDs...); len(ids) != 1 || ids[0] != accepted.IDs[0] {
		t.Errorf("ids during the outage %v, after %v: want the same id (derived from the Idempotency-Key)", ids, accepted.IDs)
	}
	for _, url := range []string{"http://" + s.ops + "/readyz", base + "/readyz"} {
		waitFor(t, func() bool { return get(t, url).status == 200 }, url+" to be ready again")
	}
	select {
	case err := <-s.done:
		t.Fatalf("run ended: %v", err)
	default:
	}
}
