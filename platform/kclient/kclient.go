// Package kclient turns a plain Config (brokers, client id, TLS, SASL) into
// franz-go client options, adds zap logging and Prometheus metrics hooks,
// and creates topics from schemas/topic specs.
package kclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookline/hookline/platform/flagenv"
	"github.com/hookline/hookline/platform/logging"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"
)

// SASL mechanisms supported by Config.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Config is how a Hookline binary reaches Kafka.
type Config struct {
	Brokers  flagenv.StringList // seed brokers; default 127.0.0.1:9092
	ClientID string             // default "hookline"

	TLS         bool   // enable TLS (implied by any TLS file)
	TLSCAFile   string // PEM CA bundle; default the system pool
	TLSCertFile string // client certificate (mTLS)
	TLSKeyFile  string // client key (mTLS)

	SASLMechanism string // "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	SASLUser      string
	SASLPassword  string // never logged
	// SASLAllowPlaintext lets SASL PLAIN run without TLS, which sends the
	// password in cleartext; by default that combination is refused.
	SASLAllowPlaintext bool
}

// SASLAllowPlaintextFlag is the flag that lets SASL PLAIN run without TLS.
const SASLAllowPlaintextFlag = "kafka-sasl-allow-plaintext"

// SASLAllowPlaintextUsage is its help text.
const SASLAllowPlaintextUsage = "allow --kafka-sasl-mechanism PLAIN without TLS (sends the password in cleartext; refused otherwise)"

// RegisterFlags adds the Kafka flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if len(c.Brokers) == 0 {
		c.Brokers = flagenv.StringList{"127.0.0.1:9092"}
	}
	fs.Var(&c.Brokers, "brokers", "comma-separated Kafka seed brokers")
	fs.StringVar(&c.ClientID, "kafka-client-id", orDefault(c.ClientID, "hookline"), "Kafka client id")
	fs.BoolVar(&c.TLS, "kafka-tls", c.TLS, "connect to Kafka over TLS")
	fs.StringVar(&c.TLSCAFile, "kafka-tls-ca", "", "PEM file of CAs to trust for Kafka (default: system roots)")
	fs.StringVar(&c.TLSCertFile, "kafka-tls-cert", "", "PEM client certificate for Kafka mTLS")
	fs.StringVar(&c.TLSKeyFile, "kafka-tls-key", "", "PEM client key for Kafka mTLS")
	fs.StringVar(&c.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&c.SASLUser, "kafka-sasl-user", "", "SASL user name")
	fs.StringVar(&c.SASLPassword, "kafka-sasl-password", "", "SASL password")
	fs.BoolVar(&c.SASLAllowPlaintext, SASLAllowPlaintextFlag, c.SASLAllowPlaintext, SASLAllowPlaintextUsage)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Validate checks the config without touching the network or files.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kclient: at least one broker is required")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			return fmt.Errorf("kclient: broker %q: want host:port", b)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("kclient: --kafka-tls-cert and --kafka-tls-key go together")
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "":
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.SASLUser == "" || c.SASLPassword == "" {
			return fmt.Errorf("kclient: SASL %s needs a user and a password", c.SASLMechanism)
		}
		if strings.EqualFold(c.SASLMechanism, SASLPlain) && !c.tlsEnabled() && !c.SASLAllowPlaintext {
			return errors.New("kclient: SASL PLAIN without TLS sends the password in cleartext: add --kafka-tls, or --" + SASLAllowPlaintextFlag + " to accept that")
		}
	default:
		return fmt.Errorf("kclient: unknown SASL mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", c.SASLMechanism)
	}
	return nil
}

// MetadataMinAge is the least time between two metadata loads of a
// client (kgo.MetadataMinAge), so how long a produce or fetch waits at
// most for a leader its client did not know yet.
const MetadataMinAge = 250 * time.Millisecond

// Opts returns the franz-go options for c: seed brokers, client id, TLS
// and SASL. It reads the TLS files.
func (c Config) Opts() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(orDefault(c.ClientID, "hookline")),
		kgo.RetryBackoffFn(RetryBackoff),
		// With RetryBackoff a request's 20 tries (franz-go's default)
		// would be spent in about 15 s; enough tries that the retry
		// timeout (30 s; longer for group requests) still decides when
		// to give up, as with franz-go's own backoff.
		kgo.RequestRetries(requestRetries),
		// A client whose metadata lacks a partition's leader (a topic
		// created moments ago, a leader that moved) reloads it at most
		// this often. franz-go's default, 5 s, held a router's
		// transaction for 4.8 s in about a third of bench drains on a
		// broker a few minutes old: its produce waited for the
		// deliveries topic's leaders; with 250 ms, for 0.3-0.4 s.
		kgo.MetadataMinAge(MetadataMinAge),
	}
	if c.tlsEnabled() {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case SASLPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()))
	case SASLScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha256Mechanism()))
	case SASLScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha512Mechanism()))
	}
	return opts, nil
}

// Bounds of RetryBackoff.
const (
	retryBackoffMin = 20 * time.Millisecond
	retryBackoffMax = time.Second
)

// requestRetries is how many times a client tries a request (produce
// requests aside): at RetryBackoff's pace, over 90 s of tries.
const requestRetries = 100

// RetryBackoff is how long a client waits before its fails-th retry of a
// request: 20 ms doubling to 1 s, ±20% jitter (so at most 1.2 s).
// franz-go's own default starts at 250 ms and grows to 5 s, and a
// retriable error is not always an outage. On Kafka 4.1 (transactions
// v2) the router's first produce of a transaction to a partition is now
// and then refused, and the batches in flight behind it come back
// OUT_OF_ORDER_SEQUENCE_NUMBER: under broker load a few such retries in a
// row held the router for 3-5 s with the default backoff. The ceiling is
// the Java client's (retry.backoff.max.ms).
func RetryBackoff(fails int) time.Duration {
	d := retryBackoffMax
	if fails < 1 {
		fails = 1
	}
	if fails <= 10 {
		d = min(retryBackoffMin<<(fails-1), retryBackoffMax)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// tlsEnabled reports whether c connects over TLS: --kafka-tls or any TLS
// file.
func (c Config) tlsEnabled() bool {
	return c.TLS || c.TLSCAFile != "" || c.TLSCertFile != ""
}

func (c Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("kclient: reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kclient: no certificates in %s", c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("kclient: loading client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Logger returns the option that sends franz-go's logs to log (warn level
// and above, to keep them quiet by default). franz-go logs a warning for
// every failed request while a broker is away, so each message is written
// at most twice every 10 seconds; the components log the outage itself.
func Logger(log *zap.Logger) kgo.Opt {
	return kgo.WithLogger(kzap.New(logging.Sampled(log.Named("kafka"), 10*time.Second, 2), kzap.Level(kgo.LogLevelWarn)))
}

// Metrics returns the option that records client metrics into reg under
// the hookline_kafka namespace. Register it once per registry and client
// name; name distinguishes several clients in one process.
//
// kprom names two gauges like counters (buffered_fetch_records_total,
// buffered_produce_records_total); they are exported without the _total
// suffix, as hookline_kafka_buffered_fetch_records and
// hookline_kafka_buffered_produce_records.
func Metrics(reg prometheus.Registerer, name string) kgo.Opt {
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"client": name}, reg)
	m := kprom.NewMetrics("hookline_kafka",
		kprom.Registerer(&gaugeRenamer{Registerer: reg}),
		kprom.Gatherer(prometheus.NewRegistry()))
	return kgo.WithHooks(m, newRequestCounter(reg))
}

// requestCounter counts the requests the client sent by kind
// (hookline_kafka_requests_total{request="Produce"}): a broker's CPU goes
// mostly with its request count, so requests per event are what to watch
// when tuning linger, fetch waits and commit intervals.
type requestCounter struct {
	vec *prometheus.CounterVec
	reg prometheus.Registerer
	mu  sync.Mutex
	// clients are the open clients using the counter (franz-go calls
	// OnClientClosed at each Close, so a count could be closed twice).
	clients map[*kgo.Client]struct{}
}

func newRequestCounter(reg prometheus.Registerer) *requestCounter {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hookline_kafka_requests_total",
		Help: "Requests sent to brokers, by request kind (answered or not)."}, []string{"request"})
	return &requestCounter{vec: vec, reg: reg, clients: map[*kgo.Client]struct{}{}}
}

// OnNewClient implements kgo.HookNewClient. One set of options, and so
// one counter, may serve several clients (a short-lived check client, then
// the long-lived one): the counter is registered while any is open.
func (c *requestCounter) OnNewClient(cl *kgo.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.clients) == 0 {
		_ = c.reg.Register(c.vec)
	}
	c.clients[cl] = struct{}{}
}

// OnClientClosed implements kgo.HookClientClosed.
func (c *requestCounter) OnClientClosed(cl *kgo.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.clients[cl]; !ok {
		return
	}
	delete(c.clients, cl)
	if len(c.clients) == 0 {
		c.reg.Unregister(c.vec)
	}
}

// OnBrokerE2E implements kgo.HookBrokerE2E: it runs once per request.
func (c *requestCounter) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, _ kgo.BrokerE2E) {
	name := kmsg.NameForKey(key)
	if name == "" {
		name = "Unknown"
	}
	c.vec.WithLabelValues(name).Inc()
}

// gaugeRenamer registers collectors into its Registerer, but a gauge whose
// name ends in _total (a counter's suffix) under the name without it.
type gaugeRenamer struct {
	prometheus.Registerer
	mu      sync.Mutex
	renamed map[prometheus.Collector]prometheus.Collector
}

// descFields reads a Desc's name and help, which client_golang shows
// only through its String method.
var descFields = regexp.MustCompile(`^Desc\{fqName: "((?:[^"\\]|\\.)*)", help: "((?:[^"\\]|\\.)*)"`)

func (r *gaugeRenamer) Register(c prometheus.Collector) error {
	g, ok := c.(prometheus.Metric)
	if !ok {
		return r.Registerer.Register(c)
	}
	var sample dto.Metric
	f := descFields.FindStringSubmatch(g.Desc().String())
	if f == nil || !strings.HasSuffix(f[1], "_total") || g.Write(&sample) != nil || sample.Gauge == nil {
		return r.Registerer.Register(c)
	}
	help, _ := strconv.Unquote(`"` + f[2] + `"`)
	renamed := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: strings.TrimSuffix(f[1], "_total"), Help: help}, func() float64 {
		var m dto.Metric
		_ = g.Write(&m)
		return m.GetGauge().GetValue()
	})
	if err := r.Registerer.Register(renamed); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.renamed == nil {
		r.renamed = map[prometheus.Collector]prometheus.Collector{}
	}
	r.renamed[c] = renamed
	return nil
}

func (r *gaugeRenamer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *gaugeRenamer) Unregister(c prometheus.Collector) bool {
	r.mu.Lock()
	renamed, ok := r.renamed[c]
	delete(r.renamed, c)
	r.mu.Unlock()
	if ok {
		return r.Registerer.Unregister(renamed)
	}
	return r.Registerer.Unregister(c)
}

// EnsureTopics creates the topics in specs that do not exist yet and
// leaves existing ones alone. It returns the names it created.
func EnsureTopics(ctx context.Context, adm *kadm.Client, specs []topic.Spec) ([]string, error) {
	var created []string
	for _, s := range specs {
		configs := make(map[string]*string, len(s.Configs))
		for k, v := range s.Configs {
			configs[k] = &v
		}
		resp, err := adm.CreateTopic(ctx, s.Partitions, s.ReplicationFactor, configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil:
			created = append(created, s.Name)
		case errors.Is(err, kerr.TopicAlreadyExists):
		default:
			return created, fmt.Errorf("kclient: creating topic %s: %w", s.Name, err)
		}
	}
	return created, waitForTopics(ctx, adm, created)
}

// waitForTopics waits until the brokers report leaders for every partition
// of the named topics, so that producing right after creation succeeds.
func waitForTopics(ctx context.Context, adm *kadm.Client, names []string) error {
	if len(names) == 0 {
		return nil
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		md, err := adm.Metadata(ctx, names...)
		if err == nil && topicsReady(md, names) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kclient: waiting for topics: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func topicsReady(md kadm.Metadata, names []string) bool {
	for _, n := range names {
		td, ok := md.Topics[n]
		if !ok || td.Err != nil || len(td.Partitions) == 0 {
			return false
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}
