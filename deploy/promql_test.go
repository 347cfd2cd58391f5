package deploy_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

var (
	alertsFile    = filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml")
	dashboardFile = filepath.Join(repoRoot, "deploy", "grafana", "hookline.json")
	operationsDoc = filepath.Join(repoRoot, "docs", "operations.md")
	promParser    = parser.NewParser(parser.Options{})
)

// builtin are the series Prometheus makes itself rather than scrapes.
var builtin = map[string]bool{"up": true}

// query is one PromQL expression of the alert rules or the dashboard.
type query struct {
	where string // "alerts.yml: HooklineDLQGrowing", "hookline.json: Throughput"
	expr  string
}

// alertRules parses alerts.yml with Prometheus's rule parser, as
// `promtool check rules` does: YAML shape, PromQL, durations, label and
// annotation templates.
func alertRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.LegacyValidation, promParser, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("alerts.yml: %v", errs)
	}
	return groups
}

// dashboard is the part of a Grafana dashboard these tests read.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("hookline.json: %v", err)
	}
	return d
}

// grafanaVars are Grafana's interval variables, which PromQL cannot parse.
var grafanaVars = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)

// queries returns every expression of the alert rules and the dashboard.
func queries(t *testing.T) []query {
	t.Helper()
	var qs []query
	for _, g := range alertRules(t).Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"alerts.yml: " + r.Alert + r.Record, r.Expr})
		}
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				qs = append(qs, query{"hookline.json: " + p.Title, grafanaVars.ReplaceAllString(tg.Expr, "5m")})
			}
			walk(p.Panels)
		}
	}
	walk(loadDashboard(t).Panels)
	return qs
}

// metricNames parses each query and returns the metric names its
// selectors use, each with the queries that use it.
func metricNames(t *testing.T, qs []query) map[string][]string {
	t.Helper()
	names := map[string][]string{}
	for _, q := range qs {
		expr, err := promParser.ParseExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, q.expr)
			continue
		}
		found := 0
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				if vs.Name == "" {
					t.Errorf("%s: a selector without a metric name: %s", q.where, vs)
				}
				if !slices.Contains(names[vs.Name], q.where) {
					names[vs.Name] = append(names[vs.Name], q.where)
				}
				found++
			}
			return nil
		})
		if found == 0 {
			t.Errorf("%s: no metric in %s", q.where, q.expr)
		}
	}
	return names
}

// TestAlertRules checks the rules as promtool would, that each alert is
// labelled and described, that each is explained in docs/operations.md,
// and that the rules cover what issue 13 asks for.
func TestAlertRules(t *testing.T) {
	groups := alertRules(t)
	doc, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a summary and a description", r.Alert)
			}
			if !strings.Contains(string(doc), "### "+r.Alert+"\n") {
				t.Errorf("%s: docs/operations.md has no section \"### %s\"", r.Alert, r.Alert)
			}
		}
	}
	for _, want := range []string{"HooklineDLQGrowing", "HooklineDeadLettersByReason", "HooklineRouterLagRising",
		"HooklineDispatcherLagRising", "HooklineDispatcherNotReady", "HooklineRouterTransactionAborts", "HooklineBreakersOpen"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
	metricNames(t, queries(t))
}

// TestDashboard checks that the dashboard parses, that every panel's
// queries are valid PromQL, and that it has the panels issue 13 lists.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "hookline" || d.Title != "Hookline" {
		t.Errorf("uid %q title %q", d.UID, d.Title)
	}
	var titles []string
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		titles = append(titles, strings.ToLower(p.Title))
	}
	for _, want := range []string{"throughput", "latency", "failures by reason", "dlq rate", "lag", "circuit breakers", "window fill"} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no panel about %q in %v", want, titles)
		}
	}
	metricNames(t, queries(t))
}
