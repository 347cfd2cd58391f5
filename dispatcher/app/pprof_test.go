package app_test

import (
	"testing"

	"github.com/hookline/hookline/dispatcher/app"
	"github.com/hookline/hookline/platform/proctest"
)

// TestPprofFlag: /debug/pprof/ is served on the ops port with --pprof only.
func TestPprofFlag(t *testing.T) {
	t.Parallel()
	proctest.CheckPprofFlag(t, app.Run, func(brokers, ops string) []string {
		return []string{"--brokers", brokers, "--admin-addr", ops, "--log-level", "error"}
	})
}
