// Package logging builds the one zap logger a binary passes down to its
// components. Packages that take a logger default to zap.NewNop().
package logging

import (
	"flag"
	"fmt"

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

// New builds a logger writing to stderr.
func New(c Config) (*zap.Logger, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	lvl, _ := zapcore.ParseLevel(orDefault(c.Level, "info"))
	var zc zap.Config
	if c.Format == "console" {
		zc = zap.NewDevelopmentConfig()
	} else {
		zc = zap.NewProductionConfig()
		zc.EncoderConfig.TimeKey = "time"
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	return zc.Build()
}
