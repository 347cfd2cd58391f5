package logging_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/logging"
	"go.uber.org/zap"
)

func TestNew(t *testing.T) {
	tests := []struct {
		cfg     logging.Config
		wantErr bool
	}{
		{cfg: logging.Config{}},
		{cfg: logging.Config{Format: "console", Level: "debug"}},
		{cfg: logging.Config{Format: "xml"}, wantErr: true},
		{cfg: logging.Config{Level: "loud"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Format+"/"+tt.cfg.Level, func(t *testing.T) {
			l, err := logging.New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if l != nil {
				_ = l.Sync()
			}
		})
	}
}

func TestNoStackTracesBelowDPanic(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := logging.NewTo(logging.Config{Format: format}, &buf)
			if err != nil {
				t.Fatal(err)
			}
			l.Warn("unable to open connection to broker", zap.Error(errors.New("connection refused")))
			l.Error("component failed")
			if n := strings.Count(strings.TrimSpace(buf.String()), "\n"); n != 1 {
				t.Errorf("wrote %d lines, want 2 without stack traces:\n%s", n+1, buf.String())
			}
			if strings.Contains(buf.String(), "goroutine") || strings.Contains(buf.String(), ".go:") && strings.Contains(buf.String(), "\\t/") {
				t.Errorf("stack trace in:\n%s", buf.String())
			}
		})
	}
}

func TestSamplesRepeatedLines(t *testing.T) {
	var buf bytes.Buffer
	l, err := logging.NewTo(logging.Config{Format: "console"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		l.Warn("retrying", zap.Int("attempt", 1))
	}
	if n := strings.Count(buf.String(), "\n"); n > 20 {
		t.Errorf("1000 identical warnings in a second wrote %d lines, want them sampled", n)
	}
	buf.Reset()
	q := logging.Sampled(l.Named("kafka"), time.Minute, 2)
	for range 50 {
		q.Warn("unable to open connection to broker")
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Errorf("Sampled wrote %d lines of 50, want 2:\n%s", n, buf.String())
	}
}
