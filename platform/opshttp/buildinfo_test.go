package opshttp

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := RegisterBuildInfo(reg, "router", "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP hookline_build_info 1, labelled with the binary, its version and the Go version it was built with.
# TYPE hookline_build_info gauge
hookline_build_info{binary="router",goversion="` + runtime.Version() + `",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hookline_build_info"); err != nil {
		t.Error(err)
	}
	if got := BinaryVersion("v9"); got != "v9" {
		t.Errorf("BinaryVersion(stamped) = %q", got)
	}
	if got := BinaryVersion(""); got == "" {
		t.Error("BinaryVersion without a stamp is empty")
	}
	for _, tt := range []struct {
		args []string
		want bool
	}{{[]string{"version"}, true}, {[]string{"--version"}, true}, {[]string{"-version"}, true},
		{nil, false}, {[]string{"--brokers", "x"}, false}, {[]string{"healthcheck"}, false}} {
		if got := IsVersionArg(tt.args); got != tt.want {
			t.Errorf("IsVersionArg(%v) = %v", tt.args, got)
		}
	}
	var b bytes.Buffer
	PrintVersion(&b, "router", "v1.2.3")
	if b.String() != "router v1.2.3 ("+runtime.Version()+")\n" {
		t.Errorf("PrintVersion wrote %q", b.String())
	}
}
