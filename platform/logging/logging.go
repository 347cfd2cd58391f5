// Package logging builds the one zap logger a binary passes down to its
// components. Packages that take a logger default to zap.NewNop().
package logging

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config selects the log format and level.
type Config struct {
	Format string // "json" (default) or "console"
	Level  string // "debug", "info" (default), "warn", "error"
}

// RegisterFlags adds --log-format and --log-level to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Format, "log-format", "json", "log format: json or console")
	fs.StringVar(&c.Level, "log-level", "info", "log level: debug, info, warn or error")
}

// Validate checks the format and level.
func (c Config) Validate() error {
	switch c.Format {
	case "", "json", "console":
	default:
		return fmt.Errorf("logging: unknown format %q (want json or console)", c.Format)
	}
	if _, err := zapcore.ParseLevel(orDefault(c.Level, "info")); err != nil {
		return fmt.Errorf("logging: %w", err)
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Sampling of repeated lines: per level and message, the first
// sampleFirst lines of every second are written, then every
// sampleThereafter-th. A Kafka outage or a flood of bad events then costs a
// bounded number of lines; metrics still count every occurrence.
const (
	sampleFirst      = 10
	sampleThereafter = 100
)

// New builds a logger writing to stderr. Both formats sample repeated
// lines, and only DPanic and above (bugs) carry a stack trace: warnings
// and errors about the outside world (a broker away, a webhook failing)
// are one line each.
func New(c Config) (*zap.Logger, error) {
	return NewTo(c, os.Stderr)
}

// NewTo is New writing to w.
func NewTo(c Config, w io.Writer) (*zap.Logger, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	lvl, _ := zapcore.ParseLevel(orDefault(c.Level, "info"))
	var enc zapcore.Encoder
	if c.Format == "console" {
		ec := zap.NewDevelopmentEncoderConfig()
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey = "time"
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), zap.NewAtomicLevelAt(lvl))
	core = zapcore.NewSamplerWithOptions(core, time.Second, sampleFirst, sampleThereafter)
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.DPanicLevel), zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(w)))), nil
}

// Sampled returns l writing, per level and message, at most first lines
// every tick and dropping the rest. Use it for chatty libraries (franz-go
// logs a warning for every failed request while a broker is away).
func Sampled(l *zap.Logger, tick time.Duration, first int) *zap.Logger {
	return l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, tick, first, 0)
	}))
}
