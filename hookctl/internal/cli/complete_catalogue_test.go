package cli_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/hookctl/internal/cli"
	"github.com/hookline/hookline/schemas/record"
)

// TestCompletionFromCatalogue: event types complete from the event-type
// catalogue (a type no subscription names yet included, with its
// description), then from the subscriptions' patterns; types get and rm
// complete their NAME; --stage and --result complete their values.
func TestCompletionFromCatalogue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addSubs(t, "billing")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, et := range []record.EventType{
		{Name: "invoice.paid", Description: "An invoice was paid.", CreatedAt: at, UpdatedAt: at, Revision: 1},
		{Name: "invoice.voided", CreatedAt: at, UpdatedAt: at, Revision: 1},
	} {
		r, err := et.Record(f.names.EventTypes())
		if err != nil {
			t.Fatal(err)
		}
		f.produce(t, r)
	}
	for _, tt := range []struct {
		args    []string
		want    []string
		notWant []string
	}{
		{[]string{"dlq", "ls", "--type", "inv"}, []string{"invoice.paid\tAn invoice was paid.", "invoice.voided"}, []string{"*"}},
		{[]string{"dlq", "replay", "--type", ""}, []string{"invoice.paid", "invoice.voided", "*"}, nil},
		{[]string{"subs", "add", "--types", "invoice.p"}, []string{"invoice.paid"}, []string{"invoice.voided"}},
		{[]string{"types", "get", "invoice.v"}, []string{"invoice.voided"}, []string{"invoice.paid"}},
		{[]string{"types", "rm", ""}, []string{"invoice.paid", "invoice.voided"}, nil},
		{[]string{"dlq", "ls", "--stage", ""}, []string{"route", "dispatch"}, nil},
		{[]string{"attempts", "--result", ""}, []string{"success", "retry", "failed"}, nil},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"__complete", "--topic-prefix", f.names.Prefix}, tt.args...)
		if err := cli.RunWithStdin(t.Context(), args, func(k string) string { return f.env[k] }, nil, &out, &errOut); err != nil {
			t.Fatal(err)
		}
		lines, names := map[string]bool{}, map[string]bool{}
		for _, l := range strings.Split(out.String(), "\n") {
			lines[l] = true
			name, _, _ := strings.Cut(l, "\t")
			names[name] = true
		}
		for _, w := range tt.want {
			if !lines[w] && !(names[w] && !strings.Contains(w, "\t")) {
				t.Errorf("%v: no %q in\n%s", tt.args, w, out.String())
			}
		}
		for _, w := range tt.notWant {
			if names[w] {
				t.Errorf("%v: %q offered in\n%s", tt.args, w, out.String())
			}
		}
	}
}
