package filter_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/filter"
)

func TestFilter(t *testing.T) {
	ev := &event.Event{
		ID: "e1", Source: "gateway", Type: "payment.succeeded", SpecVersion: "1.0",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Subject: "cus_1",
		DataContentType: "application/json", Data: []byte(`{"amount":150.5,"currency":"USD","tags":["vip"]}`),
		Extensions: map[string]string{"tenant": "acme"},
	}
	vars := filter.Vars(ev)
	tests := []struct {
		expr       string
		want       bool
		compileErr bool
		evalErr    bool
	}{
		{expr: `type == "payment.succeeded"`, want: true},
		{expr: `data.amount > 100.0 && data.currency == "USD"`, want: true},
		{expr: `data.amount > 1000.0`, want: false},
		{expr: `"vip" in data.tags`, want: true},
		{expr: `ext.tenant == "acme" && subject.startsWith("cus_")`, want: true},
		{expr: `time > timestamp("2026-01-01T00:00:00Z")`, want: true},
		{expr: `data.missing == 1`, evalErr: true},
		{expr: `data.amount / 0 > 1`, evalErr: true},
		{expr: `type ==`, compileErr: true},
		{expr: `unknown_var == 1`, compileErr: true},
		{expr: `"a string"`, compileErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, err := filter.Compile(tt.expr)
			if tt.compileErr {
				if !errors.Is(err, filter.ErrCompile) {
					t.Fatalf("Compile err = %v, want ErrCompile", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Match(vars)
			if tt.evalErr {
				if !errors.Is(err, filter.ErrEval) || got {
					t.Fatalf("Match = %v, %v; want false, ErrEval", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Match = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestCostLimitStopsRunawayFilter(t *testing.T) {
	p, err := filter.Compile(`[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Match(filter.Vars(&event.Event{})); !errors.Is(err, filter.ErrEval) {
		t.Fatalf("runaway filter: err = %v, want ErrEval (cost limit)", err)
	}
}

func FuzzCompile(f *testing.F) {
	f.Add(`data.amount > 1.0`)
	f.Add(`type == "x" || ext["a"] == "b"`)
	vars := filter.Vars(&event.Event{Type: "x", Data: []byte(`{"amount":2}`)})
	f.Fuzz(func(t *testing.T, expr string) {
		p, err := filter.Compile(expr)
		if err != nil {
			return
		}
		_, _ = p.Match(vars) // must not panic
	})
}
