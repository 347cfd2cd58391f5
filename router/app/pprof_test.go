package app_test

import (
	"testing"

	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/router/app"
)

// TestPprofFlag: /debug/pprof/ is served on the ops port with --pprof only.
func TestPprofFlag(t *testing.T) {
	t.Parallel()
	proctest.CheckPprofFlag(t, app.Run, func(brokers, ops string) []string {
		return []string{"--brokers", brokers, "--admin-addr", ops, "--log-level", "error"}
	})
}
