package opshttp

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// BinaryVersion returns stamped (set with -ldflags at build time) when not
// empty, else the main module's version from the build info, else "dev".
func BinaryVersion(stamped string) string {
	if stamped != "" {
		return stamped
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// IsVersionArg reports whether args ask for the version: a first argument
// of "version", "--version" or "-version".
func IsVersionArg(args []string) bool {
	return len(args) > 0 && (args[0] == "version" || args[0] == "--version" || args[0] == "-version")
}

// PrintVersion writes "binary version (go version)" to w.
func PrintVersion(w io.Writer, binary, version string) {
	fmt.Fprintf(w, "%s %s (%s)\n", binary, version, runtime.Version())
}

// RegisterBuildInfo registers hookline_build_info{binary,version,goversion}
// = 1 with reg, so dashboards can tell which release each instance runs.
func RegisterBuildInfo(reg prometheus.Registerer, binary, version string) error {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hookline_build_info",
		Help: "1, labelled with the binary, its version and the Go version it was built with.",
	}, []string{"binary", "version", "goversion"})
	g.WithLabelValues(binary, version, runtime.Version()).Set(1)
	return reg.Register(g)
}
