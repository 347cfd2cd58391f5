package cli

import (
	"testing"

	"github.com/hookline/hookline/schemas/record"
)

func TestRawCut(t *testing.T) {
	tests := []struct {
		name string
		dl   record.DeadLetter
		want bool
	}{
		{name: "whole raw record", dl: record.DeadLetter{Reason: record.ReasonInvalidEvent, Raw: &record.RawRecord{Value: []byte("x")}}, want: false},
		{name: "flagged truncated", dl: record.DeadLetter{Reason: record.ReasonInvalidEvent, Raw: &record.RawRecord{Value: []byte("x"), Truncated: true}}, want: true},
		{name: "no value kept", dl: record.DeadLetter{Reason: record.ReasonInvalidEvent, Raw: &record.RawRecord{}}, want: true},
		{name: "too large", dl: record.DeadLetter{Reason: record.ReasonTooLarge, Raw: &record.RawRecord{Value: []byte("x")}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rawCut(&tt.dl); got != tt.want {
				t.Fatalf("rawCut = %v, want %v", got, tt.want)
			}
		})
	}
}
