// Package app is the producer binary: its configuration (flags with
// HOOKLINE_* environment equivalents) and Run, which wires the publish
// client, the subscription table, the HTTP API and the ops server
// together and runs them until the context ends.
//
// It is not internal because hookctl dev runs the producer in-process.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/hookline/hookline/platform/flagenv"
	"github.com/hookline/hookline/platform/kclient"
	"github.com/hookline/hookline/platform/lifecycle"
	"github.com/hookline/hookline/platform/logging"
	"github.com/hookline/hookline/platform/opshttp"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/platform/typetable"
	"github.com/hookline/hookline/producer/internal/console"
	"github.com/hookline/hookline/producer/internal/history"
	"github.com/hookline/hookline/producer/internal/httpapi"
	"github.com/hookline/hookline/producer/internal/idemtable"
	"github.com/hookline/hookline/producer/internal/kafkahealth"
	"github.com/hookline/hookline/producer/internal/subadmin"
	"github.com/hookline/hookline/producer/internal/typeadmin"
	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Config is the producer binary's configuration.
type Config struct {
	Kafka kclient.Config
	Log   logging.Config

	Addr        string // HTTP API; default ":8080"
	AdminAddr   string // ops server (/metrics, /healthz, /readyz); default ":9101"
	Pprof       bool   // serve /debug/pprof/ on the ops server; default off
	TopicPrefix string // prefix of Hookline's topics; default "hookline."
	SourceTopic string // topic events are produced to; default "events"

	APIKeys        flagenv.StringList // admin bearer keys (every scope); never logged
	IngestAPIKeys  flagenv.StringList // bearer keys that may only POST /v1/events; never logged
	InsecureNoAuth bool               // allow running without API keys

	RejectUnknownTypes bool   // refuse events of types not in the catalogue
	DefaultSource      string // source of events that have none

	MaxEventBytes   int   // default 256 KiB
	MaxRequestBytes int64 // default 4 MiB
	MaxBatchEvents  int   // default 1000
	MaxReplayItems  int   // dead letters one POST /v1/dead-letters/replay replays; default 1000

	ProduceTimeout        time.Duration // default 10 s
	RetryAfter            time.Duration // default 5 s
	Linger                time.Duration // default 0
	BatchMaxBytes         int           // default 1,000,012
	ReadYourWritesTimeout time.Duration // default 5 s
	RotationGrace         time.Duration // default 24 h
	IdempotencyTTL        time.Duration // default 24 h
	ShutdownTimeout       time.Duration // default 20 s
}

// Version is the release the binary was built as, stamped at build time
// with -ldflags "-X github.com/hookline/hookline/producer/app.Version=v1.2.3"
// (the Dockerfile does) and logged at start; empty means a development build.
var Version string

// DefaultAdminAddr is the default --admin-addr, where the ops server
// serves /metrics, /healthz and /readyz.
const DefaultAdminAddr = ":9101"

// RegisterFlags adds every setting to fs, with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Kafka.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
	fs.StringVar(&c.Addr, "addr", ":8080", "listen address of the HTTP API")
	fs.StringVar(&c.AdminAddr, "admin-addr", DefaultAdminAddr, "listen address of the ops server (/metrics, /healthz, /readyz)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles (CPU, heap, goroutines, traces) under /debug/pprof/ on the ops server; off by default: they reveal internals to whoever reaches --admin-addr")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", topic.DefaultPrefix, "prefix of Hookline's topics")
	fs.StringVar(&c.SourceTopic, "source-topic", topic.DefaultSource, "topic events are produced to")
	fs.Var(&c.APIKeys, "api-keys", "comma-separated admin API keys (every scope), sent as Authorization: Bearer <key>")
	fs.Var(&c.IngestAPIKeys, "ingest-api-keys", "comma-separated API keys that may only ingest events (POST /v1/events)")
	fs.BoolVar(&c.InsecureNoAuth, "insecure-no-auth", false, "serve the API without authentication when no --api-keys are set (never in production)")
	fs.BoolVar(&c.RejectUnknownTypes, "reject-unknown-types", false, "refuse events whose type is not in the event-type catalogue (hookline.event-types) with 422 (default: accept them unvalidated)")
	fs.StringVar(&c.DefaultSource, "default-source", "urn:hookline:producer", "CloudEvents source of events sent without one")
	fs.IntVar(&c.MaxEventBytes, "max-event-bytes", publish.DefaultMaxEventBytes, "largest event record (key, value, headers); larger events are refused with 413")
	fs.Int64Var(&c.MaxRequestBytes, "max-request-bytes", 4<<20, "largest request body")
	fs.IntVar(&c.MaxBatchEvents, "max-batch-events", 1000, "most events in one request")
	fs.IntVar(&c.MaxReplayItems, "max-replay-items", 1000, "most dead letters one POST /v1/dead-letters/replay replays (or lists, in a dry run); a larger selection answers complete=false and the next request continues")
	fs.DurationVar(&c.ProduceTimeout, "produce-timeout", 10*time.Second, "how long a request waits for Kafka before answering 503")
	fs.DurationVar(&c.RetryAfter, "retry-after", 5*time.Second, "Retry-After of 503 answers")
	fs.DurationVar(&c.Linger, "linger", 0, "how long a record waits for more before it is sent, for writes other than events (0: 1ms); events are not held by it: concurrent ingest requests are coalesced instead (one produce request in flight, whatever arrives meanwhile shares the next)")
	fs.IntVar(&c.BatchMaxBytes, "batch-max-bytes", 1000012, "largest record batch; keep at or below the topics' max.message.bytes")
	fs.DurationVar(&c.ReadYourWritesTimeout, "read-your-writes-timeout", 5*time.Second, "how long a subscription write waits for the table to reflect it")
	fs.DurationVar(&c.RotationGrace, "rotation-grace", 24*time.Hour, "how long a rotated-out signing secret stays valid by default")
	fs.DurationVar(&c.IdempotencyTTL, "idempotency-ttl", 24*time.Hour, "how long an Idempotency-Key answer is replayed (answers are kept in the hookline.idempotency topic, shared by every replica)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "on shutdown, how long to finish requests and flush the producer")
}

// ErrNoAuth is returned by Validate when no API keys are configured and
// --insecure-no-auth was not given.
var ErrNoAuth = errors.New("no API keys: set --api-keys (HOOKLINE_API_KEYS) and/or --ingest-api-keys (HOOKLINE_INGEST_API_KEYS), or pass --insecure-no-auth to serve the API without authentication")

// Validate checks c without touching the network.
func (c *Config) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if err := c.Log.Validate(); err != nil {
		return err
	}
	if len(c.APIKeys) == 0 && len(c.IngestAPIKeys) == 0 && !c.InsecureNoAuth {
		return ErrNoAuth
	}
	for _, k := range c.APIKeys {
		if len(k) < 16 {
			return errors.New("--api-keys: every key must be at least 16 characters")
		}
	}
	for _, k := range c.IngestAPIKeys {
		if len(k) < 16 {
			return errors.New("--ingest-api-keys: every key must be at least 16 characters")
		}
		if slices.Contains(c.APIKeys, k) {
			return errors.New("--ingest-api-keys: a key is also in --api-keys; give each key one scope")
		}
	}
	switch {
	case c.Addr == "" || c.AdminAddr == "":
		return errors.New("--addr and --admin-addr are required")
	case c.SourceTopic == "":
		return errors.New("--source-topic is required")
	case c.DefaultSource == "":
		return errors.New("--default-source must not be empty")
	case c.MaxReplayItems <= 0:
		return errors.New("--max-replay-items must be positive")
	case c.MaxEventBytes <= 0 || c.MaxRequestBytes <= 0 || c.MaxBatchEvents <= 0:
		return errors.New("--max-event-bytes, --max-request-bytes and --max-batch-events must be positive")
	case c.BatchMaxBytes < 512 || c.BatchMaxBytes > 1<<30:
		return errors.New("--batch-max-bytes must be between 512 and 1 GiB")
	case c.MaxEventBytes > c.BatchMaxBytes:
		return errors.New("--max-event-bytes must not exceed --batch-max-bytes: such events could never be produced")
	case c.Linger < 0 || c.Linger > time.Minute:
		return errors.New("--linger must be between 0 and 1m")
	}
	for _, d := range []time.Duration{c.ProduceTimeout, c.RetryAfter, c.ReadYourWritesTimeout, c.RotationGrace, c.IdempotencyTTL, c.ShutdownTimeout} {
		if d <= 0 {
			return errors.New("durations must be positive")
		}
	}
	return nil
}

func (c *Config) api() httpapi.Config {
	return httpapi.Config{
		APIKeys:         slices.Clone(c.APIKeys),
		IngestAPIKeys:   slices.Clone(c.IngestAPIKeys),
		MaxEventBytes:   c.MaxEventBytes,
		MaxRequestBytes: c.MaxRequestBytes,
		MaxBatchEvents:  c.MaxBatchEvents,
		MaxReplayItems:  c.MaxReplayItems,
		ProduceTimeout:  c.ProduceTimeout,
		RetryAfter:      c.RetryAfter,
		RotationGrace:   c.RotationGrace,
		IdempotencyTTL:  c.IdempotencyTTL,
	}
}

// parse fills a Config from args and the environment. It returns
// flag.ErrHelp after printing usage to stdout for -h/--help; parse errors
// go to stderr.
func parse(args []string, getenv func(string) string, stdout, stderr io.Writer) (*Config, error) {
	cfg := &Config{}
	if err := flagenv.ParseCommand("producer",
		"Serves Hookline's HTTP API: event ingest (POST /v1/events) and subscription admin (/v1/subscriptions).\nThe OpenAPI document is at /openapi.json.",
		cfg.RegisterFlags, args, getenv, stdout, stderr); err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

// Run runs the producer until ctx ends. args exclude the program name.
//
// With "healthcheck" as the first argument Run checks a running instance
// instead (opshttp.Healthcheck): it GETs /healthz, or /readyz with --ready,
// on --admin-addr and returns an error unless the answer is 200 OK.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if opshttp.IsVersionArg(args) {
		opshttp.PrintVersion(stdout, "producer", opshttp.BinaryVersion(Version))
		return nil
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		return opshttp.Healthcheck(ctx, "producer", DefaultAdminAddr, args[1:], getenv, stdout, stderr)
	}
	cfg, err := parse(args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := logging.New(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return run(ctx, cfg, log, nil)
}

// run wires and runs the components. listening, when not nil, receives
// the API's bound address once it accepts connections.
func run(ctx context.Context, cfg *Config, log *zap.Logger, listening chan<- string) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := opshttp.RegisterBuildInfo(reg, "producer", opshttp.BinaryVersion(Version)); err != nil {
		return err
	}
	kopts, err := cfg.Kafka.Opts()
	if err != nil {
		return err
	}
	kopts = append(kopts, kclient.Logger(log))
	withMetrics := func(name string) []kgo.Opt { return append(slices.Clip(kopts), kclient.Metrics(reg, name)) }

	names := topic.New(cfg.TopicPrefix)
	// The health tracker watches the publishing client's connections and
	// probes through it, so ingest answers 503 at once while Kafka is away.
	var pub *publish.Client
	health := kafkahealth.New(func(ctx context.Context) error { return pub.Ping(ctx) }, log.Named("kafka"))
	popts := []publish.Opt{
		publish.KafkaOpts(append(withMetrics("producer"), kgo.WithHooks(health.Hooks()))...),
		publish.Topic(cfg.SourceTopic),
		publish.Source(cfg.DefaultSource),
		publish.MaxEventBytes(cfg.MaxEventBytes),
		publish.Linger(cfg.Linger),
		// Concurrent ingest requests share produce requests: one batch
		// in flight, what arrives meanwhile goes out together next.
		publish.Coalesce(),
		publish.BatchMaxBytes(int32(cfg.BatchMaxBytes)),
		publish.WithLogger(log.Named("publish")),
	}
	// Events are validated against the event-type catalogue, a live table
	// of hookline.event-types, exactly as the router validates them.
	catalogue := registry.NewCatalogue()
	types := typetable.New(withMetrics("event-types"), names.EventTypes(),
		typetable.WithLogger(log.Named("event-types")), typetable.WithSink(catalogue))
	popts = append(popts, publish.Registry(catalogue))
	if !cfg.RejectUnknownTypes {
		popts = append(popts, publish.AllowUnknownTypes())
	}
	pub, err = publish.New(popts...)
	if err != nil {
		return err
	}
	defer pub.Close()

	table := subtable.New(withMetrics("subscriptions"), names.Subscriptions(), subtable.WithLogger(log.Named("subscriptions")))
	store := subadmin.New(pub.Kafka(), table, names,
		subadmin.WithLogger(log.Named("subscriptions")),
		subadmin.ReadYourWritesTimeout(cfg.ReadYourWritesTimeout),
		subadmin.TestSource(cfg.DefaultSource))
	// Reads of the attempts and dead-letter topics use consumers of their
	// own, built from the plain connection options (metrics are per client
	// name and registered once).
	hist := history.New(pub.Kafka(), kopts, names, cfg.ProduceTimeout, history.SourceTopics(cfg.SourceTopic))
	// Answers to Idempotency-Key requests are shared by every replica
	// through the idempotency topic, read as a live table.
	answers := idemtable.New(withMetrics("idempotency"), pub.Kafka(), names.Idempotency(), cfg.IdempotencyTTL,
		idemtable.WithLogger(log.Named("idempotency")))
	api := httpapi.New(cfg.api(), pub, store,
		httpapi.WithHistory(hist),
		httpapi.WithConsole(console.New()),
		httpapi.WithAnswers(answers),
		httpapi.WithEventTypes(typeadmin.New(pub.Kafka(), types, names.EventTypes(), log.Named("event-types"), cfg.ReadYourWritesTimeout)),
		httpapi.WithLogger(log.Named("api")),
		httpapi.WithRecorder(newMetrics(reg)),
		httpapi.WithCheck("subscriptions", table.Check),
		httpapi.WithCheck("event-types", types.Check),
		httpapi.WithCheck("idempotency", answers.Check),
		httpapi.WithCheck("kafka", health.Check),
		httpapi.WithKafkaHealth(health))
	ops := opshttp.New(cfg.AdminAddr, reg, log.Named("ops"), opshttp.WithPprof(cfg.Pprof))
	ops.AddCheck("subscriptions", table.Check)
	ops.AddCheck("event-types", types.Check)
	ops.AddCheck("idempotency", answers.Check)
	ops.AddCheck("kafka", health.Check)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: zap.NewStdLog(log.Named("http"))}

	log.Info("producer starting", zap.String("version", Version), zap.Strings("brokers", cfg.Kafka.Brokers), zap.String("topic_prefix", cfg.TopicPrefix),
		zap.String("source_topic", cfg.SourceTopic), zap.String("addr", ln.Addr().String()), zap.Bool("auth", len(cfg.APIKeys)+len(cfg.IngestAPIKeys) > 0),
		zap.Int("admin_keys", len(cfg.APIKeys)), zap.Int("ingest_keys", len(cfg.IngestAPIKeys)))
	if len(cfg.APIKeys)+len(cfg.IngestAPIKeys) == 0 {
		log.Warn("serving the API WITHOUT authentication (--insecure-no-auth)")
	}
	// Stopped in reverse order of Add: the API first (it stops accepting
	// and finishes the requests in hand, which wait for Kafka), then the
	// producer (it flushes what is still buffered), then the tables, then
	// the ops server, so /healthz answers until the very end.
	var g lifecycle.Group
	g.Add("ops", ops.Run)
	g.Add("subscriptions", table.Run)
	g.Add("event-types", types.Run)
	g.Add("idempotency", answers.Run)
	g.Add("kafka-health", health.Run)
	g.Add("publish", func(ctx context.Context) error {
		<-ctx.Done()
		fctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		err := pub.Flush(fctx)
		pub.Close()
		if err != nil {
			return fmt.Errorf("flushing: %w", err)
		}
		return nil
	})
	g.Add("api", func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		log.Info("api listening", zap.String("addr", ln.Addr().String()))
		if listening != nil {
			listening <- ln.Addr().String()
		}
		select {
		case err := <-errc:
			return fmt.Errorf("api: %w", err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("api: shutdown: %w", err)
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("api: %w", err)
		}
		return nil
	})
	return g.Run(ctx, log)
}
