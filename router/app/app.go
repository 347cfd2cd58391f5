// Package app is the router binary: its configuration (flags with HOOKLINE_*
// environment equivalents) and Run, which wires the ops server, the
// subscription table and the route.Router together and runs them until
// the context ends.
//
// It is not internal because hookctl dev runs the router in-process.
package app

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/hookline/hookline/platform/flagenv"
	"github.com/hookline/hookline/platform/kclient"
	"github.com/hookline/hookline/platform/lifecycle"
	"github.com/hookline/hookline/platform/logging"
	"github.com/hookline/hookline/platform/opshttp"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/platform/typetable"
	"github.com/hookline/hookline/router/route"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Config is the router binary's configuration.
type Config struct {
	Kafka kclient.Config
	Log   logging.Config

	AdminAddr   string // ops server (/metrics, /healthz, /readyz); default ":9102"
	Pprof       bool   // serve /debug/pprof/ on the ops server; default off
	TopicPrefix string // prefix of Hookline's topics; default "hookline."

	Sources     flagenv.StringList // source topics; default "events"
	SourceRegex bool               // Sources are regular expressions
	StartOffset string             // where a group without offsets starts: earliest (default) or latest
	Group       string             // consumer group; default "hookline-router"
	// TransactionalID is unique per instance and stable across its
	// restarts; default "<group>-<hostname>".
	TransactionalID string

	MaxEventBytes      int           // default 1 MiB
	MaxRecordBytes     int           // default 1,000,012
	RejectUnknownTypes bool          // dead-letter events of types without a schema
	MaxPollRecords     int           // records per transaction; default 1000
	BatchWait          time.Duration // least time between transaction starts; default 5 ms, 0 none
	BusyBatchWait      time.Duration // BatchWait at BusyRate events/s or more; default 40 ms, 0 none
	BusyRate           float64       // events/s; default 1000
	Workers            int           // goroutines routing a batch; default GOMAXPROCS

	SessionTimeout     time.Duration // default 45 s
	RebalanceTimeout   time.Duration // default 60 s
	TransactionTimeout time.Duration // default 20 s
	DrainTimeout       time.Duration // default 10 s
}

// Version is the release the binary was built as, stamped at build time
// with -ldflags "-X github.com/hookline/hookline/router/app.Version=v1.2.3"
// (the Dockerfile does) and logged at start; empty means a development build.
var Version string

// DefaultAdminAddr is the default --admin-addr, where the ops server
// serves /metrics, /healthz and /readyz.
const DefaultAdminAddr = ":9102"

// RegisterFlags adds every setting to fs, with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Kafka.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
	fs.StringVar(&c.AdminAddr, "admin-addr", DefaultAdminAddr, "listen address of the ops server (/metrics, /healthz, /readyz)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles (CPU, heap, goroutines, traces) under /debug/pprof/ on the ops server; off by default: they reveal internals to whoever reaches --admin-addr")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", topic.DefaultPrefix, "prefix of Hookline's topics")
	c.Sources = flagenv.StringList{topic.DefaultSource}
	fs.Var(&c.Sources, "source-topics", "comma-separated topics to route events from")
	fs.BoolVar(&c.SourceRegex, "source-regex", false, "treat --source-topics as regular expressions (Hookline's own topics are excluded)")
	fs.StringVar(&c.StartOffset, "start-offset", route.StartEarliest, "where the group reads a source partition it has no committed offset for (a new group, a new partition, offsets expired after offsets.retention.minutes): earliest routes every retained event, latest only events written from then on")
	fs.StringVar(&c.Group, "group", route.DefaultGroup, "consumer group")
	fs.StringVar(&c.TransactionalID, "transactional-id", "", "Kafka transactional id, unique per instance and stable across its restarts (default <group>-<hostname>)")
	fs.IntVar(&c.MaxEventBytes, "max-event-bytes", route.DefaultMaxEventBytes, "largest source record (key, value, headers) routed; larger ones are dead-lettered as too_large")
	fs.IntVar(&c.MaxRecordBytes, "max-record-bytes", route.DefaultMaxRecordBytes, "largest record produced (the producer batch limit); keep at or below the deliveries and DLQ topics' max.message.bytes")
	fs.BoolVar(&c.RejectUnknownTypes, "reject-unknown-types", false, "dead-letter events whose type is not in the event-type catalogue (hookline.event-types) as unknown_type (default: route them unvalidated)")
	fs.IntVar(&c.MaxPollRecords, "max-poll-records", route.DefaultMaxPollRecords, "most records routed in one transaction")
	fs.DurationVar(&c.BatchWait, "batch-wait", route.DefaultBatchWait, "least time between the starts of two transactions: a batch that would begin sooner keeps collecting events until then (or --max-poll-records); sparse events start at once; 0 never waits (--busy-batch-wait included)")
	fs.DurationVar(&c.BusyBatchWait, "busy-batch-wait", route.DefaultBusyBatchWait, "--batch-wait while events arrive at --busy-rate or more: fewer, larger transactions under load (each costs the broker about the same whatever its size), for up to this much more latency per event; the events settle at the broker and are fetched at the end of the wait (at most --batch-wait more), unless the wait is expected to fill --max-poll-records; 0 keeps --batch-wait at every rate")
	fs.Float64Var(&c.BusyRate, "busy-rate", route.DefaultBusyRate, "events/s (averaged over the last transactions) from which --busy-batch-wait applies")
	fs.IntVar(&c.Workers, "workers", runtime.GOMAXPROCS(0), "goroutines that route a batch's events (deliveries are still produced in event order)")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", 45*time.Second, "consumer group session timeout; a crashed instance holds its partitions this long")
	fs.DurationVar(&c.RebalanceTimeout, "rebalance-timeout", 60*time.Second, "consumer group rebalance timeout")
	fs.DurationVar(&c.TransactionTimeout, "transaction-timeout", route.DefaultTransactionTimeout, "Kafka transaction timeout: how long a crashed instance's open transaction can block its partitions; must exceed the time to route one batch")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", route.DefaultDrainTimeout, "on shutdown, how long to finish the batch in hand")
}

// Validate checks c without touching the network.
func (c *Config) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if err := c.Log.Validate(); err != nil {
		return err
	}
	if c.AdminAddr == "" {
		return errors.New("--admin-addr is required")
	}
	if len(c.Sources) == 0 {
		return errors.New("--source-topics: at least one topic is required")
	}
	if c.MaxEventBytes <= 0 || c.MaxPollRecords <= 0 || c.Workers <= 0 {
		return errors.New("--max-event-bytes, --max-poll-records and --workers must be positive")
	}
	if c.BatchWait < 0 || c.BatchWait > time.Second {
		return errors.New("--batch-wait must be between 0 and 1s")
	}
	if c.BusyBatchWait < 0 || c.BusyBatchWait > time.Second {
		return errors.New("--busy-batch-wait must be between 0 and 1s")
	}
	if !(c.BusyRate > 0) || math.IsInf(c.BusyRate, 0) {
		return errors.New("--busy-rate must be a positive number of events/s")
	}
	for _, d := range []time.Duration{c.SessionTimeout, c.RebalanceTimeout, c.TransactionTimeout, c.DrainTimeout} {
		if d <= 0 {
			return errors.New("timeouts must be positive")
		}
	}
	return c.route().Validate()
}

// route returns the route.Config of c, without Kafka client options.
func (c *Config) route() route.Config {
	return route.Config{
		Sources:            slices.Clone(c.Sources),
		SourceRegex:        c.SourceRegex,
		StartOffset:        c.StartOffset,
		Group:              c.Group,
		TransactionalID:    c.TransactionalID,
		Topics:             topic.New(c.TopicPrefix),
		MaxEventBytes:      c.MaxEventBytes,
		MaxRecordBytes:     c.MaxRecordBytes,
		RejectUnknownTypes: c.RejectUnknownTypes,
		MaxPollRecords:     c.MaxPollRecords,
		BatchWait:          cmp.Or(c.BatchWait, -1), // 0 is no wait here, the default in route
		BusyBatchWait:      cmp.Or(c.BusyBatchWait, -1),
		BusyRate:           c.BusyRate,
		Workers:            c.Workers,
		SessionTimeout:     c.SessionTimeout,
		RebalanceTimeout:   c.RebalanceTimeout,
		TransactionTimeout: c.TransactionTimeout,
		DrainTimeout:       c.DrainTimeout,
	}
}

// parse fills a Config from args and the environment. It returns
// flag.ErrHelp after printing usage to stdout for -h/--help; parse errors
// go to stderr.
func parse(args []string, getenv func(string) string, stdout, stderr io.Writer) (*Config, error) {
	cfg := &Config{}
	if err := flagenv.ParseCommand("router",
		"Routes events from the source topics to the subscriptions that want them, exactly once.",
		cfg.RegisterFlags, args, getenv, stdout, stderr); err != nil {
		return nil, err
	}
	if cfg.TransactionalID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return nil, fmt.Errorf("no --transactional-id and no hostname to derive one from: %v", err)
		}
		cfg.TransactionalID = cfg.Group + "-" + host
	}
	return cfg, cfg.Validate()
}

// Transient reports whether restarting the router can fix err: false for
// route.ErrFenced and route.ErrConfig.
func Transient(err error) bool {
	return !errors.Is(err, route.ErrFenced) && !errors.Is(err, route.ErrConfig)
}

// Run runs the router until ctx ends. args exclude the program name.
//
// With "healthcheck" as the first argument Run checks a running instance
// instead (opshttp.Healthcheck): it GETs /healthz, or /readyz with --ready,
// on --admin-addr and returns an error unless the answer is 200 OK.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if opshttp.IsVersionArg(args) {
		opshttp.PrintVersion(stdout, "router", opshttp.BinaryVersion(Version))
		return nil
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		return opshttp.Healthcheck(ctx, "router", DefaultAdminAddr, args[1:], getenv, stdout, stderr)
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

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := opshttp.RegisterBuildInfo(reg, "router", opshttp.BinaryVersion(Version)); err != nil {
		return err
	}
	kopts, err := cfg.Kafka.Opts()
	if err != nil {
		return err
	}
	kopts = append(kopts, kclient.Logger(log))
	withMetrics := func(name string) []kgo.Opt { return append(slices.Clip(kopts), kclient.Metrics(reg, name)) }

	names := topic.New(cfg.TopicPrefix)
	table := subtable.New(withMetrics("subscriptions"), names.Subscriptions(), subtable.WithLogger(log.Named("subscriptions")))
	// The event-type catalogue: the table tails hookline.event-types and
	// compiles each type's schema into the catalogue events are validated
	// against, so types registered at run time apply to the next event.
	catalogue := registry.NewCatalogue()
	types := typetable.New(withMetrics("event-types"), names.EventTypes(),
		typetable.WithLogger(log.Named("event-types")), typetable.WithSink(catalogue))
	rcfg := cfg.route()
	rcfg.ClientOpts = withMetrics("router")
	router, err := route.New(rcfg, table,
		route.WithLogger(log.Named("router")),
		route.WithRecorder(newMetrics(reg)),
		route.WithValidator(catalogue))
	if err != nil {
		return err
	}
	ops := opshttp.New(cfg.AdminAddr, reg, log.Named("ops"), opshttp.WithPprof(cfg.Pprof))
	ops.AddCheck("subscriptions", table.Check)
	ops.AddCheck("event-types", types.Check)
	ops.AddCheck("router", router.Check)

	log.Info("router starting", zap.String("version", Version), zap.Strings("brokers", cfg.Kafka.Brokers), zap.String("topic_prefix", cfg.TopicPrefix),
		zap.Strings("sources", cfg.Sources), zap.String("transactional_id", cfg.TransactionalID))
	// Stopped in reverse: the router first (it finishes its batch,
	// commits and leaves the group), then the table, then the ops server.
	var g lifecycle.Group
	g.Add("ops", ops.Run)
	g.Add("subscriptions", table.Run)
	g.Add("event-types", types.Run)
	// The router rides out Kafka outages itself; a restart in place is
	// the safety net for anything else, but not for being fenced or
	// misconfigured, which end the process with the cause. It routes
	// nothing before the catalogue has caught up, so no event is judged
	// against a partial catalogue.
	g.Add("router", func(ctx context.Context) error {
		if err := types.WaitReady(ctx); err != nil {
			return nil // ctx ended first
		}
		return router.Run(ctx)
	}, lifecycle.Restart(Transient))
	err = g.Run(ctx, log)
	log.Info("router stopped", zap.Error(err))
	return err
}
