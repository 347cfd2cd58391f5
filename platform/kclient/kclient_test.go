package kclient_test

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/flagenv"
	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/kclient"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     kclient.Config
		wantErr string
	}{
		{name: "ok", cfg: kclient.Config{Brokers: []string{"h:9092"}}},
		{name: "no brokers", cfg: kclient.Config{}, wantErr: "at least one broker"},
		{name: "no port", cfg: kclient.Config{Brokers: []string{"h"}}, wantErr: "host:port"},
		{name: "cert without key", cfg: kclient.Config{Brokers: []string{"h:1"}, TLSCertFile: "c"}, wantErr: "go together"},
		{name: "sasl without password", cfg: kclient.Config{Brokers: []string{"h:1"}, SASLMechanism: "PLAIN", SASLUser: "u"}, wantErr: "user and a password"},
		{name: "unknown sasl", cfg: kclient.Config{Brokers: []string{"h:1"}, SASLMechanism: "GSSAPI", SASLUser: "u", SASLPassword: "p"}, wantErr: "unknown SASL"},
		{name: "plain without tls", cfg: kclient.Config{Brokers: []string{"h:1"}, SASLMechanism: "PLAIN", SASLUser: "u", SASLPassword: "p"}, wantErr: "cleartext"},
		{name: "plain without tls, allowed", cfg: kclient.Config{Brokers: []string{"h:1"}, SASLMechanism: "plain", SASLUser: "u", SASLPassword: "p", SASLAllowPlaintext: true}},
		{name: "plain over tls", cfg: kclient.Config{Brokers: []string{"h:1"}, SASLMechanism: "PLAIN", SASLUser: "u", SASLPassword: "p", TLS: true}},
		{name: "scram without tls", cfg: kclient.Config{Brokers: []string{"h:1"}, SASLMechanism: "SCRAM-SHA-256", SASLUser: "u", SASLPassword: "p"}},
		{name: "scram", cfg: kclient.Config{Brokers: []string{"h:1"}, SASLMechanism: "SCRAM-SHA-512", SASLUser: "u", SASLPassword: "p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tt.cfg.Opts(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestOptsReadsTLSFiles(t *testing.T) {
	cfg := kclient.Config{Brokers: []string{"h:1"}, TLSCAFile: t.TempDir() + "/missing.pem"}
	if _, err := cfg.Opts(); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Fatalf("err = %v, want a CA file error", err)
	}
}

func TestFlagsAndEnv(t *testing.T) {
	var cfg kclient.Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	env := map[string]string{"HOOKLINE_BROKERS": "k1:9092,k2:9092", "HOOKLINE_KAFKA_SASL_MECHANISM": "PLAIN"}
	if err := flagenv.Parse(fs, []string{"--kafka-sasl-user", "u"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Brokers, ",") != "k1:9092,k2:9092" || cfg.SASLMechanism != "PLAIN" || cfg.SASLUser != "u" {
		t.Fatalf("cfg = %+v", cfg)
	}
}

// TestEnsureTopicsIsIdempotent creates the Hookline topics twice on the
// test broker: the second call creates nothing and fails on nothing.
func TestEnsureTopicsIsIdempotent(t *testing.T) {
	c := kafkatest.New(t)
	names := topic.New(kafkatest.Name(t, "hl") + ".")
	specs := names.Specs(topic.SpecOpts{Partitions: 2, RetryLevels: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	created, err := kclient.EnsureTopics(ctx, adm, specs)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != len(specs) {
		t.Fatalf("created %v, want %d topics", created, len(specs))
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), created...) })
	again, err := kclient.EnsureTopics(ctx, adm, specs)
	if err != nil || len(again) != 0 {
		t.Fatalf("second call created %v, err %v", again, err)
	}
	td, err := adm.ListTopics(ctx, names.Deliveries(), names.Subscriptions())
	if err != nil {
		t.Fatal(err)
	}
	if p := len(td[names.Deliveries()].Partitions); p != 2 {
		t.Fatalf("deliveries has %d partitions, want 2", p)
	}
}

// TestMetricsNames: the client metrics pass promlint (kprom's two
// buffered-records gauges are exported without their counter suffix), and
// closing the client unregisters them all.
func TestMetricsNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kclient.Metrics(reg, "test"))
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, want := range []string{"hookline_kafka_buffered_fetch_records", "hookline_kafka_buffered_produce_records", "hookline_kafka_buffered_fetch_bytes"} {
		if !got[want] {
			t.Errorf("no %s in %v", want, got)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	cl.Close()
	if mfs, _ := reg.Gather(); len(mfs) != 0 {
		t.Errorf("%d families left after the client closed", len(mfs))
	}
}

// TestRequestsCounted: hookline_kafka_requests_total counts each request
// the client sends, by kind, while any client of its options is open.
func TestRequestsCounted(t *testing.T) {
	c := kafkatest.New(t)
	tp := c.Topic(t, 1, nil)
	reg := prometheus.NewRegistry()
	metrics := kclient.Metrics(reg, "test")
	// A short-lived client on the same options before the long-lived one
	// (as the router's limits check) must not take the counter away, nor
	// must closing it again (kafkatest closes it once more at cleanup).
	short := c.Client(t, metrics)
	short.Close()
	cl := c.Client(t, metrics, kgo.DefaultProduceTopic(tp))
	short.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "hookline_kafka_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "request" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	// Sync produces of one record each: one Produce request apiece, more
	// if a broker asked for a retry.
	if got["Produce"] < 3 || got["Metadata"] < 1 {
		t.Errorf("requests counted %v, want Produce at least 3 and Metadata at least 1", got)
	}
}

func TestRetryBackoff(t *testing.T) {
	for _, c := range []struct {
		fails  int
		lo, hi time.Duration
	}{
		{0, 16 * time.Millisecond, 24 * time.Millisecond},
		{1, 16 * time.Millisecond, 24 * time.Millisecond},
		{2, 32 * time.Millisecond, 48 * time.Millisecond},
		{4, 128 * time.Millisecond, 192 * time.Millisecond},
		{6, 512 * time.Millisecond, 768 * time.Millisecond},
		{7, 800 * time.Millisecond, 1200 * time.Millisecond},
		{40, 800 * time.Millisecond, 1200 * time.Millisecond},
		{1 << 20, 800 * time.Millisecond, 1200 * time.Millisecond},
	} {
		for range 50 {
			if d := kclient.RetryBackoff(c.fails); d < c.lo || d > c.hi {
				t.Fatalf("RetryBackoff(%d) = %s, want within [%s, %s]", c.fails, d, c.lo, c.hi)
			}
		}
	}
	// Four failures in a row wait well under a second in all (franz-go's
	// default: 3.75 s).
	var sum time.Duration
	for f := 1; f <= 4; f++ {
		sum += kclient.RetryBackoff(f)
	}
	if sum > 400*time.Millisecond {
		t.Errorf("four retries waited %s", sum)
	}
}

func TestOptsUseRetryBackoff(t *testing.T) {
	opts, err := kclient.Config{Brokers: []string{"127.0.0.1:1"}}.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fn, ok := cl.OptValue(kgo.RetryBackoffFn).(func(int) time.Duration)
	if !ok {
		t.Fatalf("RetryBackoffFn is %T", cl.OptValue(kgo.RetryBackoffFn))
	}
	if d := fn(1); d > 100*time.Millisecond {
		t.Errorf("the client's first retry waits %s: Opts does not set RetryBackoff", d)
	}
	// Enough tries that the retry timeout, not the count, ends a request
	// that keeps failing fast: 30 s of RetryBackoff is about 40 tries.
	if n, _ := cl.OptValue(kgo.RequestRetries).(int64); n < 60 {
		t.Errorf("RequestRetries is %d, want at least 60: fewer would give up before the retry timeout", n)
	}
	// A leader the client did not know is looked up again within a
	// fraction of a second, not franz-go's 5 s.
	if d, _ := cl.OptValue(kgo.MetadataMinAge).(time.Duration); d != kclient.MetadataMinAge || d > time.Second {
		t.Errorf("MetadataMinAge is %s, want %s", d, kclient.MetadataMinAge)
	}
}
