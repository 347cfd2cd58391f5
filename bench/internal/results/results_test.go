package results_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/bench/internal/results"
)

// The committed results: the newest bench/results/<date>.json parses and
// validates, BENCHMARKS.md is exactly what it renders to, and every
// scenario with runs has its chart.
func TestCommittedResults(t *testing.T) {
	dir := filepath.Join("..", "..", "results")
	latest, err := results.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := results.Load(latest)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(latest) != r.Date+".json" {
		t.Errorf("%s holds the run of %s", latest, r.Date)
	}
	md, err := os.ReadFile(filepath.Join("..", "..", "..", "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := results.Markdown(r, "bench/results"); string(md) != want {
		t.Errorf("BENCHMARKS.md does not match %s; re-render it with `cd bench && go run ./cmd/bench -render`.\nfirst difference at line %d", latest, firstDiff(string(md), want))
	}
	for _, s := range r.Scenarios {
		if len(s.Runs) == 0 || len(s.Chart.Metrics) == 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, s.ID+".svg")); err != nil {
			t.Errorf("chart of %s: %v", s.ID, err)
		}
	}
}

func firstDiff(a, b string) int {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

func TestTarget(t *testing.T) {
	for _, tt := range []struct {
		got, limit float64
		atMost     bool
		pass       bool
		want       string
	}{
		{1.4, 1.5, true, true, "≤ 1.5"},
		{1.6, 1.5, true, false, "≤ 1.5"},
		{0.9, 0.8, false, true, "≥ 0.8"},
		{0.7, 0.8, false, false, "≥ 0.8"},
	} {
		got := results.NewTarget("x", tt.got, tt.limit, tt.atMost, "")
		if got.Pass != tt.pass || got.Want != tt.want {
			t.Errorf("NewTarget(%v, %v, atMost %v) = pass %v want %q; want pass %v %q", tt.got, tt.limit, tt.atMost, got.Pass, got.Want, tt.pass, tt.want)
		}
	}
}

func TestMarkdownAndCharts(t *testing.T) {
	r := &results.Run{Date: "2026-01-02", Command: "make bench", Commit: "abc", Scale: 1,
		Scenarios: []results.Scenario{{
			ID: "s1-x", Issue: 11, Title: "Instant receiver", Workload: "50,000 deliveries.",
			Columns: []results.Column{{Key: "rate", Label: "deliveries/s"}, {Key: "cpu", Label: "CPU µs", Digits: 1}},
			Runs: []results.Case{
				{Name: "hookline", Metrics: map[string]float64{"rate": 12345.6, "cpu": 80.25}},
				{Name: "naive", Metrics: map[string]float64{"rate": 15000, "cpu": 50}},
			},
			Targets: []results.Target{results.NewTarget("CPU ratio", 1.6, 1.5, true, "x")},
			Chart:   results.Chart{Title: "t", YLabel: "y", Metrics: []string{"rate"}},
		}}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	md := results.Markdown(r, "bench/results")
	for _, want := range []string{
		"| hookline | 12,346 | 80.2 |",
		"| CPU ratio | ≤ 1.5 x | 1.60 x | ❌ fail |",
		"[1. Instant receiver](#1-instant-receiver)",
		"![t](bench/results/s1-x.svg)",
		"`make bench`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	dir := t.TempDir()
	paths, err := results.Charts(r, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 {
		t.Fatalf("charts %v", paths)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil || !strings.Contains(string(b), "<svg") {
		t.Errorf("chart is not an SVG (%v)", err)
	}
	path, err := results.Save(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := results.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if results.Markdown(back, "bench/results") != md {
		t.Error("a saved and loaded run renders differently")
	}
}
