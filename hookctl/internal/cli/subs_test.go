package cli_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/hookctl/internal/cli"
	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
)

type secretResult struct {
	Subscription record.Subscription `json:"subscription"`
	Secret       string              `json:"secret"`
}

// lastSub returns the last record of the subscriptions topic for id,
// decoded (nil for a tombstone).
func (f *fixture) lastSub(t *testing.T, id string) *record.Subscription {
	t.Helper()
	var last *record.Subscription
	found := false
	for _, r := range f.readAll(t, f.names.Subscriptions()) {
		if string(r.Key) != id {
			continue
		}
		found = true
		if r.Value == nil {
			last = nil
			continue
		}
		s, err := record.DecodeSubscription(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		last = &s
	}
	if !found {
		t.Fatalf("no record of subscription %s", id)
	}
	return last
}

func TestSubsLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	out := f.ok(t, "subs", "add", "--id", "billing", "--url", "https://billing.example.com/hook",
		"--types", "payment.*,order.*", "--filter", "data.amount >= 100.0", "--header", "X-Team=billing",
		"--rate-limit", "5", "--max-in-flight", "3", "--ordered", "--request-timeout", "2s", "-o", "json")
	var created secretResult
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := webhook.ParseSecret(created.Secret); err != nil || !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("secret %q: %v", created.Secret, err)
	}
	if strings.Count(out, created.Secret) != 1 {
		t.Fatalf("the secret should be printed exactly once:\n%s", out)
	}
	stored := f.lastSub(t, "billing")
	if stored == nil || len(stored.Secrets) != 1 || stored.Secrets[0].Key != created.Secret {
		t.Fatalf("stored subscription %+v does not hold the printed secret", stored)
	}
	if stored.URL != "https://billing.example.com/hook" || stored.Filter != "data.amount >= 100.0" ||
		stored.Headers["X-Team"] != "billing" || stored.RateLimit != 5 || stored.MaxInFlight != 3 ||
		!stored.Ordered || stored.TimeoutMillis != 2000 || stored.State != record.StateActive ||
		strings.Join(stored.EventTypes, ",") != "payment.*,order.*" {
		t.Fatalf("stored subscription = %+v", stored)
	}

	// A generated id, table output.
	out = f.ok(t, "subs", "add", "--url", "http://127.0.0.1:3000/webhook", "--types", "payment_success")
	if !strings.Contains(out, "created subscription sub_") || !strings.Contains(out, "signing secret: whsec_") {
		t.Fatalf("add output:\n%s", out)
	}

	// Reads never show a secret.
	for _, args := range [][]string{
		{"subs", "ls"}, {"subs", "ls", "-o", "json"}, {"subs", "get", "billing"}, {"subs", "get", "billing", "-o", "json"},
	} {
		out := f.ok(t, args...)
		if strings.Contains(out, created.Secret) || !strings.Contains(out, "billing") {
			t.Fatalf("%v leaks the secret or misses the subscription:\n%s", args, out)
		}
	}
	var all []record.Subscription
	if err := json.Unmarshal([]byte(f.ok(t, "subs", "ls", "-o", "json")), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != "billing" || all[0].Secrets[0].Key != webhook.SecretPrefix+"[redacted]" {
		t.Fatalf("ls = %+v", all)
	}

	// Pause and resume.
	f.ok(t, "subs", "pause", "billing", "--reason", "maintenance")
	if s := f.lastSub(t, "billing"); s.State != record.StatePaused || s.StateReason != "maintenance" || !s.UpdatedAt.After(stored.UpdatedAt) {
		t.Fatalf("after pause: %+v", s)
	}
	if out := f.ok(t, "subs", "get", "billing"); !strings.Contains(out, "paused (maintenance)") || !regexp.MustCompile(`BREAKER\s+closed\n`).MatchString(out) {
		t.Fatalf("get after pause:\n%s", out)
	}
	// The dispatcher writes its breaker's state to the endpoint-status
	// topic; get shows the latest.
	since := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
	for _, st := range []record.EndpointStatus{
		{SubscriptionID: "billing", Breaker: record.BreakerOpen, Since: since.Add(-time.Hour)},
		{SubscriptionID: "other", Breaker: record.BreakerClosed, Since: since},
		{SubscriptionID: "billing", Breaker: record.BreakerHalfOpen, Since: since},
	} {
		r, err := st.Record(f.names.EndpointStatus())
		if err != nil {
			t.Fatal(err)
		}
		f.produce(t, r)
	}
	if out := f.ok(t, "subs", "get", "billing"); !regexp.MustCompile(`BREAKER\s+half-open since 2026-12-06T01:02:03Z\n`).MatchString(out) {
		t.Fatalf("get with a breaker half-open:\n%s", out)
	}
	f.ok(t, "subs", "resume", "billing")
	if s := f.lastSub(t, "billing"); s.State != record.StateActive || s.StateReason != "" || s.Secrets[0].Key != created.Secret {
		t.Fatalf("after resume: %+v", s)
	}
	// Disable, then resume.
	f.ok(t, "subs", "disable", "billing", "--reason", "endpoint retired")
	if out := f.ok(t, "subs", "get", "billing"); !strings.Contains(out, "disabled (endpoint retired)") {
		t.Fatalf("get after disable:\n%s", out)
	}
	f.ok(t, "subs", "resume", "billing")
	if s := f.lastSub(t, "billing"); s.State != record.StateActive || s.StateReason != "" {
		t.Fatalf("after resume from disabled: %+v", s)
	}

	// Rotation keeps the old secret until the grace window ends.
	before := time.Now()
	out = f.ok(t, "subs", "rotate-secret", "billing", "--grace", "1h", "-o", "json")
	var rotated secretResult
	if err := json.Unmarshal([]byte(out), &rotated); err != nil {
		t.Fatal(err)
	}
	if rotated.Secret == created.Secret || strings.Contains(out, created.Secret) {
		t.Fatalf("rotate printed the old secret or no new one:\n%s", out)
	}
	s := f.lastSub(t, "billing")
	if len(s.Secrets) != 2 || s.Secrets[0].Key != rotated.Secret || s.Secrets[0].ExpiresAt != nil ||
		s.Secrets[1].Key != created.Secret || s.Secrets[1].ExpiresAt == nil {
		t.Fatalf("secrets after rotation: %+v", s.Secrets)
	}
	if exp := *s.Secrets[1].ExpiresAt; exp.Before(before.Add(time.Hour-time.Minute)) || exp.After(time.Now().Add(time.Hour)) {
		t.Fatalf("old secret expires at %s, want about an hour from now", exp)
	}
	if got := len(s.SigningSecrets(time.Now())); got != 2 {
		t.Fatalf("%d signing secrets during the grace window, want 2", got)
	}

	// Delete: refused without a terminal or --yes, aborted by a no.
	if err := f.fail(t, "subs", "rm", "billing"); !errors.Is(err, cli.ErrNoConfirmation) || cli.ExitCode(err) != 1 {
		t.Fatalf("rm without --yes: %v", err)
	}
	if _, errOut, err := f.exec(t.Context(), strings.NewReader("n\n"), "subs", "rm", "billing"); !errors.Is(err, cli.ErrAborted) || !strings.Contains(errOut, "Delete subscription billing") {
		t.Fatalf("rm answered no: %v\n%s", err, errOut)
	}
	if s := f.lastSub(t, "billing"); s == nil {
		t.Fatal("rm answered no wrote a tombstone")
	}
	f.ok(t, "subs", "rm", "billing", "--yes")
	if s := f.lastSub(t, "billing"); s != nil {
		t.Fatalf("no tombstone after rm: %+v", s)
	}
	if err := f.fail(t, "subs", "get", "billing"); !errors.Is(err, cli.ErrNotFound) {
		t.Fatalf("get after rm: %v", err)
	}
}

func TestSubsErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.ok(t, "subs", "add", "--id", "a", "--url", "https://a.example.com/", "--types", "*")
	tests := []struct {
		name string
		args []string
		is   error
		want string
	}{
		{"duplicate id", []string{"subs", "add", "--id", "a", "--url", "https://a.example.com/", "--types", "*"}, cli.ErrExists, `"a"`},
		{"bad filter", []string{"subs", "add", "--url", "https://a.example.com/", "--types", "*", "--filter", "data.amount >"}, nil, "filter"},
		{"filter not bool", []string{"subs", "add", "--url", "https://a.example.com/", "--types", "*", "--filter", "1 + 2"}, nil, "want bool"},
		{"bad url", []string{"subs", "add", "--url", "ftp://a.example.com/", "--types", "*"}, record.ErrInvalid, "url"},
		{"bad pattern", []string{"subs", "add", "--url", "https://a.example.com/", "--types", "pay*ment"}, record.ErrInvalid, "pattern"},
		{"bad format", []string{"subs", "add", "--url", "https://a.example.com/", "--types", "*", "--format", "xml"}, record.ErrInvalid, "format"},
		{"bad header", []string{"subs", "add", "--url", "https://a.example.com/", "--types", "*", "--header", "novalue"}, nil, "name=value"},
		{"reserved header", []string{"subs", "add", "--url", "https://a.example.com/", "--types", "*", "--header", "webhook-id=x"}, record.ErrInvalid, "set by Hookline"},
		{"timeout too long", []string{"subs", "add", "--url", "https://a.example.com/", "--types", "*", "--request-timeout", "2m"}, record.ErrInvalid, "timeout"},
		{"missing url", []string{"subs", "add", "--types", "*"}, nil, "--url"},
		{"unknown get", []string{"subs", "get", "nope"}, cli.ErrNotFound, `"nope"`},
		{"unknown rm", []string{"subs", "rm", "nope"}, cli.ErrNotFound, `"nope"`},
		{"unknown pause", []string{"subs", "pause", "nope"}, cli.ErrNotFound, `"nope"`},
		{"unknown rotate", []string{"subs", "rotate-secret", "nope"}, cli.ErrNotFound, `"nope"`},
		{"get without id", []string{"subs", "get"}, nil, "arg"},
		{"negative grace", []string{"subs", "rotate-secret", "a", "--grace", "-1h"}, nil, "--grace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.fail(t, tt.args...)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
	// Nothing invalid was written: still one subscription.
	var all []record.Subscription
	if err := json.Unmarshal([]byte(f.ok(t, "subs", "ls", "-o", "json")), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d subscriptions after failed adds, want 1", len(all))
	}
}

func TestSubsWithoutTopicIsClear(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	env := map[string]string{"HOOKLINE_BROKERS": strings.Join(c.Brokers, ",")}
	_, err := run(t, env, "subs", "ls", "--topic-prefix", kafkatest.Name(t, "missing")+".")
	if err == nil || !errors.Is(err, cli.ErrNoTopic) || !strings.Contains(err.Error(), "topics init") {
		t.Fatalf("err = %v", err)
	}
}
