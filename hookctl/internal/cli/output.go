package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"go.yaml.in/yaml/v3"
)

// Output formats of -o.
const (
	outputTable = "table"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

// structured reports whether -o asks for JSON or YAML rather than a table.
func (o *options) structured() bool { return o.output != outputTable }

// printJSON writes v as indented JSON, or as YAML with -o yaml. YAML keeps
// the JSON field names and their order.
func (o *options) printJSON(v any) error {
	if o.output == outputYAML {
		return printYAML(o.stdout, v)
	}
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printYAML writes v as block-style YAML: it encodes v as JSON (so the
// json tags and omitempty rules hold), reads that as a YAML node, which
// keeps the order of fields, and writes the node in block style.
func printYAML(w interface{ Write([]byte) (int, error) }, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("converting to YAML: %w", err)
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// blockStyle clears the flow and quoting styles JSON input leaves on every
// node, so the encoder chooses plain YAML.
func blockStyle(n *yaml.Node) {
	// A string that reads as another type ("42", "true") stays a
	// string: its tag is !!str, so the encoder quotes it.
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// Version is hookctl's version. Release builds set it with
// -ldflags "-X github.com/hookline/hookline/hookctl/internal/cli.Version=v1.2.3";
// otherwise it is read from the build's module and VCS information.
var Version = ""

// buildInfo is what hookctl version prints.
type buildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	BuildTime string `json:"build_time,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func readBuildInfo() buildInfo {
	bi := buildInfo{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if bi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				bi.Revision = s.Value
			case "vcs.modified":
				bi.Modified = s.Value == "true"
			case "vcs.time":
				bi.BuildTime = s.Value
			}
		}
	}
	if bi.Version == "" {
		bi.Version = "devel"
	}
	return bi
}

// String is the one line --version prints.
func (b buildInfo) String() string {
	s := "hookctl " + b.Version
	if b.Revision != "" {
		rev := b.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (" + rev
		if b.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + b.GoVersion + " " + b.Platform
}
