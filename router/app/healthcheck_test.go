package app_test

import (
	"testing"

	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/router/app"
)

// TestHealthcheck runs the binary's healthcheck subcommand, as a container
// engine does, against an ops server and against a port nothing serves.
func TestHealthcheck(t *testing.T) { proctest.CheckHealthcheck(t, app.Run, app.DefaultAdminAddr) }

// TestVersion: "version" and "--version" print the binary's version and
// start nothing.
func TestVersion(t *testing.T) { proctest.CheckVersion(t, app.Run, "router") }
