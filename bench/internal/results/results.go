// Package results is the record of one `make bench` run: the JSON file
// bench/results/<date>.json, BENCHMARKS.md rendered from it, and one SVG
// chart per scenario drawn with gonum/plot. The Markdown and the charts
// are functions of the JSON alone, so a test can check that the committed
// BENCHMARKS.md matches the committed results.
package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Run is one `make bench` run.
type Run struct {
	// Date is the run's UTC date, YYYY-MM-DD; the file is <Date>.json.
	Date       string    `json:"date"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Command is what produced the run.
	Command string `json:"command"`
	// Scale multiplies every scenario's size (1 is the full run).
	Scale  float64 `json:"scale"`
	Commit string  `json:"commit"`
	Dirty  bool    `json:"dirty"` // built from a work tree with uncommitted changes
	// Source is what the binaries were built from: "worktree" or "HEAD".
	Source  string   `json:"source"`
	Machine Machine  `json:"machine"`
	Version Versions `json:"versions"`
	// Notes are shown under the run's header in BENCHMARKS.md.
	Notes     []string   `json:"notes,omitempty"`
	Scenarios []Scenario `json:"scenarios"`
}

// Machine is what the run ran on.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemoryMB int64  `json:"memory_mib"`
	Kernel   string `json:"kernel"`
	OS       string `json:"os"`
}

// Versions of what was measured.
type Versions struct {
	Go       string            `json:"go"`
	Kafka    string            `json:"kafka"`
	Java     string            `json:"java"`
	Binaries map[string]string `json:"binaries"` // `<binary> version`
}

// Scenario is one measured situation, with its runs side by side.
type Scenario struct {
	ID       string `json:"id"` // also the chart's file name
	Issue    int    `json:"issue"`
	Title    string `json:"title"`
	Workload string `json:"workload"`
	// Columns say which metrics of the runs the table shows, in order.
	Columns []Column `json:"columns"`
	Runs    []Case   `json:"runs"`
	Targets []Target `json:"targets,omitempty"`
	Chart   Chart    `json:"chart"`
	Notes   []string `json:"notes,omitempty"`
	// Error is set when the scenario could not finish; its runs are what
	// was measured before.
	Error string `json:"error,omitempty"`
}

// Column is one metric shown in a scenario's table.
type Column struct {
	Key    string `json:"key"`
	Label  string `json:"label"`
	Digits int    `json:"digits"` // decimals shown
}

// Case is one run of a scenario: a configuration and its measured metrics.
type Case struct {
	Name    string             `json:"name"`
	Metrics map[string]float64 `json:"metrics"`
}

// Target is one goal of an issue, checked against the run.
type Target struct {
	Name  string  `json:"name"`
	Want  string  `json:"want"` // e.g. "<= 1.5"
	Got   float64 `json:"got"`
	Limit float64 `json:"limit"`
	// AtMost: Got must be at most Limit; otherwise at least.
	AtMost bool   `json:"at_most"`
	Pass   bool   `json:"pass"`
	Unit   string `json:"unit,omitempty"`
}

// NewTarget checks got against limit.
func NewTarget(name string, got, limit float64, atMost bool, unit string) Target {
	t := Target{Name: name, Got: got, Limit: limit, AtMost: atMost, Unit: unit}
	if atMost {
		t.Want = "≤ " + trim(limit)
		t.Pass = got <= limit
	} else {
		t.Want = "≥ " + trim(limit)
		t.Pass = got >= limit
	}
	if unit != "" {
		t.Want += " " + unit
	}
	return t
}

// Chart says how a scenario's chart is drawn: grouped bars of Metrics
// for each run.
type Chart struct {
	Title   string   `json:"title"`
	YLabel  string   `json:"y_label"`
	Metrics []string `json:"metrics"`
	Labels  []string `json:"labels"` // legend names of Metrics
}

// Case returns the run named name, or nil.
func (s *Scenario) Case(name string) *Case {
	for i := range s.Runs {
		if s.Runs[i].Name == name {
			return &s.Runs[i]
		}
	}
	return nil
}

// Validate checks what rendering relies on.
func (r *Run) Validate() error {
	if _, err := time.Parse(time.DateOnly, r.Date); err != nil {
		return fmt.Errorf("results: date %q: %w", r.Date, err)
	}
	if r.Commit == "" || r.Command == "" {
		return errors.New("results: commit and command are required")
	}
	if len(r.Scenarios) == 0 {
		return errors.New("results: no scenarios")
	}
	seen := map[string]bool{}
	for _, s := range r.Scenarios {
		if s.ID == "" || seen[s.ID] || strings.ContainsAny(s.ID, "/ ") {
			return fmt.Errorf("results: scenario id %q missing, repeated or not a file name", s.ID)
		}
		seen[s.ID] = true
		if len(s.Runs) == 0 && s.Error == "" {
			return fmt.Errorf("results: scenario %s has no runs and no error", s.ID)
		}
		for _, c := range s.Runs {
			for k, v := range c.Metrics {
				if v != v { // NaN does not encode in JSON anyway; keep the check explicit
					return fmt.Errorf("results: %s/%s: %s is NaN", s.ID, c.Name, k)
				}
			}
		}
	}
	return nil
}

// Load reads and validates a results file.
func Load(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	return &r, nil
}

// Latest returns the path of the newest results file in dir (by name:
// dates sort as text).
func Latest(dir string) (string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return "", err
	}
	if len(m) == 0 {
		return "", fmt.Errorf("results: no results file in %s", dir)
	}
	slices.Sort(m)
	return m[len(m)-1], nil
}

// Save writes r as indented JSON to dir/<date>.json and returns the path.
func Save(dir string, r *Run) (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	path := filepath.Join(dir, r.Date+".json")
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}
