package cli

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
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
