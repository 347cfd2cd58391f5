package deploy_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	dispatcher "github.com/hookline/hookline/dispatcher/app"
	"github.com/hookline/hookline/platform/flagenv"
	"github.com/hookline/hookline/platform/opshttp"
	producer "github.com/hookline/hookline/producer/app"
	router "github.com/hookline/hookline/router/app"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from the binaries' flags")

var configurationDoc = filepath.Join(repoRoot, "docs", "configuration.md")

// binary is a service binary configured by a Config whose RegisterFlags adds
// every flag.
type binary struct {
	name, summary string
	adminAddr     string
	register      func(*flag.FlagSet)
}

var binaries = []binary{
	{"producer", "The HTTP API: event ingest (`POST /v1/events`), subscription and event-type admin, the OpenAPI document at `/openapi.json`.",
		producer.DefaultAdminAddr, new(producer.Config).RegisterFlags},
	{"router", "Routes events from the source topics to the subscriptions that want them, exactly once (consumer group `hookline-router`).",
		router.DefaultAdminAddr, new(router.Config).RegisterFlags},
	{"dispatcher", "Consumes deliveries and POSTs each one, signed, to its webhook; retries and dead letters (consumer group `hookline-dispatcher`).",
		dispatcher.DefaultAdminAddr, new(dispatcher.Config).RegisterFlags},
}

// machineDependent describes defaults computed from the machine the
// binary runs on, which the reference cannot print as numbers.
var machineDependent = map[string]string{
	"router --workers": "the number of CPUs (`GOMAXPROCS`)",
}

// TestConfigurationReference regenerates docs/configuration.md from the
// binaries' flags and fails when the file differs: a flag added, removed
// or changed without the reference. Run with -update to rewrite it.
func TestConfigurationReference(t *testing.T) {
	got := configurationReference(t)
	if *update {
		if err := os.MkdirAll(filepath.Dir(configurationDoc), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(configurationDoc, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/configuration.md is out of date with the binaries' flags; regenerate it with\n" +
			"  (cd deploy && go test -run TestConfigurationReference -update)\nthen review the diff")
	}
}

func configurationReference(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`# Configuration reference

<!-- Generated from the binaries' flags by deploy/configdoc_test.go; do not
edit. Regenerate with: (cd deploy && go test -run TestConfigurationReference -update) -->

Every setting of the ` + "`producer`, `router` and `dispatcher`" + ` binaries is a flag with an
environment variable equivalent: ` + "`--admin-addr` reads `HOOKLINE_ADMIN_ADDR`" + `. A flag given on
the command line wins over the environment. Durations are Go durations (` + "`250ms`, `5s`, `2h`" + `);
lists are comma-separated. Each binary prints the same list with ` + "`--help`" + `.

The Kubernetes manifests (` + "`deploy/kubernetes`" + `) and ` + "`docker-compose.yml`" + ` set these through
the environment.
`)
	for _, s := range binaries {
		fs := flag.NewFlagSet(s.name, flag.ContinueOnError)
		s.register(fs)
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n| flag | environment | default | description |\n|---|---|---|---|\n", s.name, s.summary)
		fs.VisitAll(func(f *flag.Flag) {
			typ, usage := flag.UnquoteUsage(f)
			if typ == "value" { // flagenv.StringList
				typ = "list"
			}
			def := "`" + f.DefValue + "`"
			switch {
			case machineDependent[s.name+" --"+f.Name] != "":
				def = machineDependent[s.name+" --"+f.Name]
				if f.DefValue != strconv.Itoa(runtime.GOMAXPROCS(0)) {
					t.Errorf("%s --%s: default %s is no longer GOMAXPROCS", s.name, f.Name, f.DefValue)
				}
			case f.DefValue == "":
				def = "none"
			}
			flagName := "`--" + f.Name + "`"
			if typ != "" {
				flagName = "`--" + f.Name + " " + typ + "`"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", flagName, flagenv.Name(f.Name), def, cell(usage))
		})
		var help bytes.Buffer
		if err := opshttp.Healthcheck(t.Context(), s.name, s.adminAddr, []string{"--help"}, func(string) string { return "" }, &help, &help); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\n`%s healthcheck` checks a running %s for a container engine (exit 0 or 1):\n\n```\n%s```\n",
			s.name, s.name, help.String())
	}

	b.WriteString("\n## hookctl\n\nThe operator CLI. Only its global flags read `HOOKLINE_*` variables; each command's own flags are\nlisted by `hookctl <command> --help`.\n\n| flag | environment | default | description |\n|---|---|---|---|\n")
	for _, f := range hookctlGlobalFlags(t) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", f[0], f[1], f[2], cell(f[3]))
	}
	return b.Bytes()
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// hookctlFlag is one line of cobra's flag listing:
// "  -o, --output string   usage (env HOOKLINE_OUTPUT) (default "table")".
var hookctlFlag = regexp.MustCompile(`^\s+(?:-\w, )?--([\w-]+)(?: (\w+))?\s{2,}(.*?)(?: \(env (HOOKLINE_\w+)\))?(?: \(default (.*)\))?$`)

// hookctlGlobalFlags runs `hookctl --help` and returns its global flags
// (those with an environment variable) as flag, environment, default and
// description cells.
func hookctlGlobalFlags(t *testing.T) [][4]string {
	t.Helper()
	dir := t.TempDir()
	build(t, "hookctl", dir)
	// An empty environment, so no HOOKLINE_* variable shows as a default.
	cmd := exec.Command(filepath.Join(dir, "hookctl"), "--help")
	cmd.Env = []string{"HOME=" + dir}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hookctl --help: %v", err)
	}
	var rows [][4]string
	inFlags := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case line == "Flags:" || line == "Global Flags:":
			inFlags = true
			continue
		case line == "":
			inFlags = false
		}
		m := hookctlFlag.FindStringSubmatch(line)
		if !inFlags || m == nil || m[4] == "" {
			continue
		}
		name := "`--" + m[1] + "`"
		if m[2] != "" {
			name = "`--" + m[1] + " " + m[2] + "`"
		}
		def := "none"
		if m[2] == "" {
			def = "`false`" // cobra prints no default for a false bool
		}
		if m[5] != "" {
			def = "`" + strings.Trim(m[5], `"`) + "`"
		}
		rows = append(rows, [4]string{name, "`" + m[4] + "`", def, m[3]})
	}
	if len(rows) == 0 {
		t.Fatalf("no global flags with an environment variable in hookctl --help:\n%s", out)
	}
	return rows
}
