package app_test

import (
	"context"
	"io"
	"testing"

	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/router/app"
)

// TestPprofFlag: /debug/pprof/ is served on the ops port with --pprof only.
func TestPprofFlag(t *testing.T) {
	t.Parallel()
	run := func(ctx context.Context, args []string) error {
		return app.Run(ctx, args, func(string) string { return "" }, io.Discard, io.Discard)
	}
	proctest.CheckPprofFlag(t, run, func(brokers, ops string) []string {
		return []string{"--brokers", brokers, "--admin-addr", ops, "--log-level", "error"}
	})
}
