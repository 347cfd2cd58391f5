package cli

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hookline/hookline/schemas/record"
)

func TestLimiterSpacesEvents(t *testing.T) {
	tests := []struct {
		rate float64
		n    int
		want time.Duration
	}{
		{rate: 10, n: 5, want: 400 * time.Millisecond}, // the first goes at once
		{rate: 0.5, n: 3, want: 4 * time.Second},
		{rate: 0, n: 1000, want: 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rate), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLimiter(tt.rate)
				start := time.Now()
				for range tt.n {
					if err := l.wait(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
				if got := time.Since(start); got != tt.want {
					t.Fatalf("%d events at %g/s took %s, want %s", tt.n, tt.rate, got, tt.want)
				}
			})
		})
	}
}

func TestRotate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	tests := []struct {
		name string
		old  []record.Secret
		want []record.Secret
	}{
		{"one", []record.Secret{{Key: "a"}}, []record.Secret{{Key: "new"}, {Key: "a", ExpiresAt: at(time.Hour)}}},
		{"expired dropped", []record.Secret{{Key: "a"}, {Key: "b", ExpiresAt: at(-time.Second)}},
			[]record.Secret{{Key: "new"}, {Key: "a", ExpiresAt: at(time.Hour)}}},
		{"sooner expiry kept", []record.Secret{{Key: "a", ExpiresAt: at(time.Minute)}},
			[]record.Secret{{Key: "new"}, {Key: "a", ExpiresAt: at(time.Minute)}}},
		{"at most five", []record.Secret{{Key: "a"}, {Key: "b"}, {Key: "c"}, {Key: "d"}, {Key: "e"}},
			[]record.Secret{{Key: "new"}, {Key: "a", ExpiresAt: at(time.Hour)}, {Key: "b", ExpiresAt: at(time.Hour)},
				{Key: "c", ExpiresAt: at(time.Hour)}, {Key: "d", ExpiresAt: at(time.Hour)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rotate(tt.old, "new", now, time.Hour)
			if fmt.Sprint(secretsText(got)) != fmt.Sprint(secretsText(tt.want)) {
				t.Fatalf("got %v, want %v", secretsText(got), secretsText(tt.want))
			}
		})
	}
}

func secretsText(ss []record.Secret) []string {
	var out []string
	for _, s := range ss {
		e := "never"
		if s.ExpiresAt != nil {
			e = s.ExpiresAt.Format(time.RFC3339)
		}
		out = append(out, s.Key+"@"+e)
	}
	return out
}

func TestParsePosition(t *testing.T) {
	tests := []struct {
		in        string
		topic     string
		partition int32
		offset    int64
		ok        bool
	}{
		{"0/42", "dlq", 0, 42, true},
		{"x.dlq/2/7", "x.dlq", 2, 7, true},
		{"1", "", 0, 0, false},
		{"a/b", "", 0, 0, false},
		{"-1/3", "", 0, 0, false},
		{"1/2/3/4", "", 0, 0, false},
		{"/1/2", "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			topic, p, off, err := parsePosition(tt.in, "dlq")
			if (err == nil) != tt.ok || (tt.ok && (topic != tt.topic || p != tt.partition || off != tt.offset)) {
				t.Fatalf("parsePosition(%q) = %q %d %d %v", tt.in, topic, p, off, err)
			}
		})
	}
}
