// Package app is the dispatcher binary: flags, wiring and lifecycle. main
// calls Run; tests call it in-process. It is not internal because hookctl
// dev runs the dispatcher in-process.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/hookline/hookline/dispatcher/deliver"
	"github.com/hookline/hookline/dispatcher/internal/metrics"
	"github.com/hookline/hookline/dispatcher/internal/retry"
	"github.com/hookline/hookline/dispatcher/internal/ssrf"
	"github.com/hookline/hookline/platform/flagenv"
	"github.com/hookline/hookline/platform/kclient"
	"github.com/hookline/hookline/platform/lifecycle"
	"github.com/hookline/hookline/platform/logging"
	"github.com/hookline/hookline/platform/opshttp"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
)

// Config is every setting of the dispatcher binary.
type Config struct {
	Kafka       kclient.Config
	Log         logging.Config
	AdminAddr   string // ops server (metrics, health); default ":9103"
	Pprof       bool   // serve /debug/pprof/ on the ops server; default off
	TopicPrefix string // default "hookline."

	Group            string
	Window           int
	WindowBytes      int64
	MemoryLimit      int64
	MaxConcurrency   int
	Retries          int
	RetryWaitMin     time.Duration
	RetryWaitMax     time.Duration
	RetryAfterMax    time.Duration
	MaxResponseBytes int64
	CommitInterval   time.Duration
	DrainTimeout     time.Duration
	RevokeGrace      time.Duration
	RetrySchedule    string
	UnknownGrace     time.Duration
	BreakerFailures  int
	BreakerRatio     float64
	BreakerOpen      time.Duration
	DisableAfter     time.Duration
	LaneBacklog      int
	MaxRecordBytes   int
	MaxPollRecords   int
	SessionTimeout   time.Duration
	AllowCIDRs       flagenv.StringList
}

// DefaultAdminAddr is the default --admin-addr, where the ops server
// serves /metrics, /healthz and /readyz.
const DefaultAdminAddr = ":9103"

// RegisterFlags adds every flag to fs, with defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Kafka.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
	fs.StringVar(&c.AdminAddr, "admin-addr", DefaultAdminAddr, "address of the ops server (/metrics, /healthz, /readyz)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles (CPU, heap, goroutines, traces) under /debug/pprof/ on the ops server; off by default: they reveal internals to whoever reaches --admin-addr")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", topic.DefaultPrefix, "prefix of Hookline's topic names")
	fs.StringVar(&c.Group, "group", deliver.DefaultGroup, "consumer group of the deliveries topic")
	fs.IntVar(&c.Window, "window", deliver.DefaultWindow, "most records per partition between the committed offset and the last one taken in, finished ones included; fetching the partition pauses when full")
	fs.Int64Var(&c.WindowBytes, "window-bytes", deliver.DefaultWindowBytes, "most bytes of unfinished records (key, value, headers) held in all windows together; a partition whose next record does not fit waits until a quarter is free")
	fs.Int64Var(&c.MemoryLimit, "memory-limit", 0, "soft memory limit of the Go runtime in bytes: the GC works harder as the heap nears it; 0 sets 64 MiB + 8 x --window-bytes, -1 none; GOMEMLIMIT, when set, wins. Under a limit it sets, the dispatcher runs with GOGC 200 unless GOGC is set")
	fs.IntVar(&c.MaxConcurrency, "max-concurrency", deliver.DefaultMaxConcurrency, "most concurrent HTTP requests in all")
	fs.IntVar(&c.Retries, "retries", deliver.DefaultRetries, "quick in-process retries after a failed first attempt (network error, timeout, 408, 429, 5xx without Retry-After), before the retry tiers")
	fs.StringVar(&c.RetrySchedule, "retry-schedule", retry.DefaultSchedule.String(), "comma-separated delay before each retry tier (topic hookline.retry.K waits the K-th), each spread by ±20%; after the last tier a delivery is dead-lettered exhausted. At most as many tiers as retry topics (hookctl topics init --retry-levels)")
	fs.DurationVar(&c.RetryWaitMin, "retry-wait-min", deliver.DefaultRetryWaitMin, "shortest backoff between quick retries (jittered, exponential)")
	fs.DurationVar(&c.RetryWaitMax, "retry-wait-max", deliver.DefaultRetryWaitMax, "longest backoff between quick retries")
	fs.DurationVar(&c.RetryAfterMax, "retry-after-max", deliver.DefaultRetryAfterMax, "longest Retry-After honoured on 429 and 503 (longer ones are clamped); the delivery moves to the first retry tier at least that long")
	fs.Int64Var(&c.MaxResponseBytes, "max-response-bytes", deliver.DefaultMaxResponseBytes, "most bytes of a response body read")
	fs.DurationVar(&c.CommitInterval, "commit-interval", deliver.DefaultCommitInterval, "how often finished offsets are committed")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", deliver.DefaultDrainTimeout, "on shutdown, how long to wait for requests in flight")
	fs.DurationVar(&c.RevokeGrace, "revoke-grace", deliver.DefaultRevokeGrace, "on rebalance, how long revoked partitions wait for requests in flight (0: none)")
	fs.DurationVar(&c.UnknownGrace, "unknown-grace", deliver.DefaultUnknownGrace, "a delivery for a subscription the table does not know is parked, not dead-lettered as deleted, until this long after it was routed (the table may lag)")
	fs.IntVar(&c.BreakerFailures, "breaker-failures", deliver.DefaultBreakerFailures, "consecutive failed requests (network, timeout, 408, 5xx) that open a subscription's circuit breaker; 0 turns breakers off (a subscription's breaker_failures overrides)")
	fs.Float64Var(&c.BreakerRatio, "breaker-ratio", deliver.DefaultBreakerRatio, "failure ratio over the last minute (at least 20 requests) that opens a breaker")
	fs.DurationVar(&c.BreakerOpen, "breaker-open", deliver.DefaultBreakerOpen, "how long an open breaker sends deliveries to their next retry tier without a request before one probe (a subscription's breaker_open_ms overrides)")
	fs.DurationVar(&c.DisableAfter, "disable-after", deliver.DefaultDisableAfter, "disable a subscription (reason failing) whose requests failed for this long without a success; 0 never")
	fs.IntVar(&c.LaneBacklog, "lane-backlog", deliver.DefaultLaneBacklog, "when --window-bytes is spent, deliveries of one unordered subscription kept queued; the ones beyond wait in the retry path so the records behind them (other subscriptions') can be read")
	fs.IntVar(&c.MaxRecordBytes, "max-record-bytes", deliver.DefaultMaxRecordBytes, "largest dead letter produced (larger ones are cut and flagged); keep at or below the DLQ topic's max.message.bytes")
	fs.IntVar(&c.MaxPollRecords, "max-poll-records", deliver.DefaultMaxPollRecords, "most records taken from the Kafka client per poll")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", 45*time.Second, "consumer group session timeout")
	fs.Var(&c.AllowCIDRs, "allow-cidrs", "comma-separated CIDRs exempt from the SSRF guard, e.g. 127.0.0.0/8 for local development (default none)")
}

// Validate checks the settings without touching the network.
func (c *Config) Validate() error {
	_, err := c.deliverConfig()
	return errors.Join(c.Kafka.Validate(), c.Log.Validate(), err)
}

// deliverConfig maps the flags onto a deliver.Config. A zero flag means
// zero here, where deliver.Config reads zero as "default".
// memoryLimit returns the soft memory limit to set, or 0 for none: none
// when GOMEMLIMIT is set (the runtime applies it) or --memory-limit is
// negative; 64 MiB + 8 x --window-bytes when it is 0.
func (c *Config) memoryLimit(getenv func(string) string) int64 {
	switch {
	case getenv("GOMEMLIMIT") != "" || c.MemoryLimit < 0:
		return 0
	case c.MemoryLimit > 0:
		return c.MemoryLimit
	}
	return 64<<20 + 8*c.WindowBytes
}

// gcPercentUnderLimit is the GOGC the dispatcher runs with under its
// own soft memory limit: the heap may grow to three times what is live
// between collections (Go's default is twice), since the limit, not
// GOGC, is what bounds memory. Draining a backlog into an instant
// receiver (BenchmarkDispatch) it cut the process's CPU per delivery by
// about 4%; peak RSS with a 200,000-delivery backlog (bench scenario 3,
// two runs each on a warm broker) went from 124-125 to 135-137 MiB under
// the default 128 MiB limit.
const gcPercentUnderLimit = 200

// gcPercent returns the GOGC to set alongside the dispatcher's own
// memory limit, or 0 to leave the runtime's: GOGC, when set, wins.
func gcPercent(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return 0
	}
	return gcPercentUnderLimit
}

func (c *Config) deliverConfig() (deliver.Config, error) {
	allow, err := ssrf.ParsePrefixes(c.AllowCIDRs)
	if err != nil {
		return deliver.Config{}, fmt.Errorf("--allow-cidrs: %w", err)
	}
	dc := deliver.Config{
		Topics:           topic.New(c.TopicPrefix),
		Group:            c.Group,
		Window:           c.Window,
		WindowBytes:      c.WindowBytes,
		MaxConcurrency:   c.MaxConcurrency,
		Retries:          c.Retries,
		RetryWaitMin:     c.RetryWaitMin,
		RetryWaitMax:     c.RetryWaitMax,
		RetryAfterMax:    c.RetryAfterMax,
		MaxResponseBytes: c.MaxResponseBytes,
		CommitInterval:   c.CommitInterval,
		DrainTimeout:     c.DrainTimeout,
		RevokeGrace:      c.RevokeGrace,
		UnknownGrace:     c.UnknownGrace,
		BreakerFailures:  c.BreakerFailures,
		BreakerRatio:     c.BreakerRatio,
		BreakerOpen:      c.BreakerOpen,
		DisableAfter:     c.DisableAfter,
		LaneBacklog:      c.LaneBacklog,
		MaxRecordBytes:   c.MaxRecordBytes,
		MaxPollRecords:   c.MaxPollRecords,
		SessionTimeout:   c.SessionTimeout,
		AllowCIDRs:       allow,
		UserAgent:        "Hookline/" + version(),
	}
	if c.Retries == 0 {
		dc.Retries = -1
	}
	if c.BreakerFailures == 0 {
		dc.BreakerFailures = -1
	}
	if c.DisableAfter == 0 {
		dc.DisableAfter = -1
	}
	sched, err := retry.Parse(c.RetrySchedule)
	if err != nil {
		return dc, fmt.Errorf("--retry-schedule: %w", err)
	}
	dc.RetrySchedule = sched
	if c.RevokeGrace == 0 {
		dc.RevokeGrace = -1
	}
	if c.Group == "" {
		return dc, errors.New("--group must not be empty")
	}
	for _, v := range []struct {
		flag, want string
		bad        bool
	}{
		{"--window", "positive", c.Window <= 0},
		{"--window-bytes", "positive", c.WindowBytes <= 0},
		{"--memory-limit", "-1 (none), 0 (from --window-bytes) or positive", c.MemoryLimit < -1},
		{"--max-concurrency", "positive", c.MaxConcurrency <= 0},
		{"--max-poll-records", "positive", c.MaxPollRecords <= 0},
		{"--max-response-bytes", "positive", c.MaxResponseBytes <= 0},
		{"--max-record-bytes", "positive", c.MaxRecordBytes <= 0},
		{"--unknown-grace", "positive", c.UnknownGrace <= 0},
		// Zero would silently mean the default in deliver.Config.
		{"--drain-timeout", "positive", c.DrainTimeout <= 0},
		{"--commit-interval", "positive", c.CommitInterval <= 0},
		{"--retry-after-max", "positive", c.RetryAfterMax <= 0},
		{"--retry-wait-min", "positive", c.RetryWaitMin <= 0},
		{"--retry-wait-max", "positive", c.RetryWaitMax <= 0},
		{"--breaker-failures", "zero or more", c.BreakerFailures < 0},
		{"--breaker-ratio", "in (0, 1]", c.BreakerRatio <= 0 || c.BreakerRatio > 1},
		{"--breaker-open", "positive", c.BreakerOpen <= 0},
		{"--disable-after", "zero or more", c.DisableAfter < 0},
		{"--lane-backlog", "positive", c.LaneBacklog <= 0},
		{"--session-timeout", "positive", c.SessionTimeout <= 0},
		{"--retries", "zero or more", c.Retries < 0},
		{"--revoke-grace", "zero or more", c.RevokeGrace < 0},
	} {
		if v.bad {
			return dc, fmt.Errorf("%s must be %s", v.flag, v.want)
		}
	}
	return dc, dc.Validate()
}

// Version is the release the binary was built as, stamped at build time
// with -ldflags "-X github.com/hookline/hookline/dispatcher/app.Version=v1.2.3"
// (the Dockerfile does). Empty, the module version from the build info is
// used, else "dev".
var Version string

// version is Version, else the module version the binary was built from,
// else "dev".
func version() string { return opshttp.BinaryVersion(Version) }

// Run runs the dispatcher until ctx ends. args are the command-line
// arguments without the program name; getenv supplies HOOKLINE_*
// variables. --help prints usage to stdout and returns nil.
//
// With "healthcheck" as the first argument Run checks a running instance
// instead (opshttp.Healthcheck): it GETs /healthz, or /readyz with --ready,
// on --admin-addr and returns an error unless the answer is 200 OK.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if opshttp.IsVersionArg(args) {
		opshttp.PrintVersion(stdout, "dispatcher", opshttp.BinaryVersion(Version))
		return nil
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		return opshttp.Healthcheck(ctx, "dispatcher", DefaultAdminAddr, args[1:], getenv, stdout, stderr)
	}
	var cfg Config
	if err := flagenv.ParseCommand("dispatcher",
		"Consumes hookline.deliveries and POSTs each delivery, signed, to its subscription's webhook.",
		cfg.RegisterFlags, args, getenv, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	dcfg, _ := cfg.deliverConfig()
	log, err := logging.New(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if limit := cfg.memoryLimit(getenv); limit > 0 {
		// Memory follows the windows' bytes; a soft limit keeps the
		// garbage between collections from doubling it.
		debug.SetMemoryLimit(limit)
		if gogc := gcPercent(getenv); gogc > 0 {
			debug.SetGCPercent(gogc)
		}
		log.Info("soft memory limit set", zap.Int64("bytes", limit))
	}
	kopts, err := cfg.Kafka.Opts()
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := opshttp.RegisterBuildInfo(reg, "dispatcher", opshttp.BinaryVersion(Version)); err != nil {
		return err
	}
	table := subtable.New(append(kopts, kclient.Logger(log), kclient.Metrics(reg, "subtable")), dcfg.Topics.Subscriptions(),
		subtable.WithLogger(log.Named("subtable")))
	var d *deliver.Dispatcher
	rec, err := metrics.New(reg, func() deliver.Stats { return d.Stats() })
	if err != nil {
		return err
	}
	d, err = deliver.New(dcfg, table, append(kopts, kclient.Logger(log), kclient.Metrics(reg, "dispatcher")),
		deliver.WithLogger(log.Named("deliver")), deliver.WithRecorder(rec))
	if err != nil {
		return err
	}
	ops := opshttp.New(cfg.AdminAddr, reg, log.Named("ops"), opshttp.WithPprof(cfg.Pprof))
	ops.AddCheck("subscriptions", table.Check)
	ops.AddCheck("dispatcher", d.Check)

	log.Info("dispatcher starting", zap.String("version", version()), zap.Strings("brokers", cfg.Kafka.Brokers), zap.String("group", dcfg.Group),
		zap.String("deliveries", dcfg.Topics.Deliveries()), zap.Int("window", dcfg.Window),
		zap.Int("max_concurrency", dcfg.MaxConcurrency), zap.Strings("allow_cidrs", cfg.AllowCIDRs))
	// Stopped in reverse: the dispatcher drains, commits and leaves first,
	// then the table, then the ops server.
	var g lifecycle.Group
	g.Add("ops", ops.Run)
	g.Add("subscriptions", table.Run)
	g.Add("dispatcher", d.Run)
	return g.Run(ctx, log)
}
