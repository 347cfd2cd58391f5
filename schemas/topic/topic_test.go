package topic_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/schemas/internal/golden"
	"github.com/hookline/hookline/schemas/topic"
)

// specsText renders specs one per line with configs in key order.
func specsText(specs []topic.Spec) []byte {
	var b strings.Builder
	for _, s := range specs {
		fmt.Fprintf(&b, "%s partitions=%d rf=%d", s.Name, s.Partitions, s.ReplicationFactor)
		for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
			fmt.Fprintf(&b, " %s=%s", k, s.Configs[k])
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func TestSpecsGolden(t *testing.T) {
	tests := []struct {
		name  string
		names topic.Names
		opts  topic.SpecOpts
	}{
		{"default", topic.Default(), topic.SpecOpts{}},
		{"custom", topic.New("acme.hl."), topic.SpecOpts{
			Partitions: 48, ReplicationFactor: 3, RetryLevels: 3,
			DLQRetention: 30 * 24 * time.Hour, AttemptsRetention: 6 * time.Hour,
			IdempotencyTTL: 2 * time.Hour, Sources: []string{"events", "orders"},
		}},
		{"no prefix", topic.Names{}, topic.SpecOpts{RetryLevels: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden.Assert(t, "specs-"+strings.ReplaceAll(tt.name, " ", "-")+".golden", specsText(tt.names.Specs(tt.opts)))
		})
	}
}

func TestSpecsInvariants(t *testing.T) {
	specs := topic.Default().Specs(topic.SpecOpts{Sources: []string{topic.DefaultSource}})
	seen := map[string]bool{}
	for _, s := range specs {
		if seen[s.Name] {
			t.Errorf("topic %q specified twice", s.Name)
		}
		seen[s.Name] = true
		if s.Partitions < 1 || s.ReplicationFactor < 1 {
			t.Errorf("%s: partitions=%d rf=%d", s.Name, s.Partitions, s.ReplicationFactor)
		}
		if p := s.Configs["cleanup.policy"]; p != "delete" && p != "compact" && p != "compact,delete" {
			t.Errorf("%s: cleanup.policy = %q", s.Name, p)
		}
	}
	n := topic.Default()
	want := []string{n.Subscriptions(), n.EventTypes(), n.Deliveries(), n.DLQ(), n.Attempts(), n.EndpointStatus(), n.Idempotency(), topic.DefaultSource}
	for i := 1; i <= topic.DefaultRetryLevels; i++ {
		want = append(want, n.Retry(i))
	}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("no spec for %q", name)
		}
	}
	if len(specs) != len(want) {
		t.Errorf("%d specs, want %d", len(specs), len(want))
	}
}

func TestNames(t *testing.T) {
	n := topic.Default()
	tests := []struct{ got, want string }{
		{n.Subscriptions(), "hookline.subscriptions"},
		{n.EventTypes(), "hookline.event-types"},
		{n.Deliveries(), "hookline.deliveries"},
		{n.Idempotency(), "hookline.idempotency"},
		{n.DLQ(), "hookline.dlq"},
		{n.Attempts(), "hookline.attempts"},
		{n.Retry(1), "hookline.retry.1"},
		{n.Retry(7), "hookline.retry.7"},
		{n.Retry(12), "hookline.retry.12"},
		{topic.New("x.").Retry(2), "x.retry.2"},
		{topic.Names{}.DLQ(), "dlq"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestSpecString(t *testing.T) {
	s := topic.Spec{Name: "hookline.dlq", Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1", "cleanup.policy": "delete"}}
	if got, want := s.String(), "hookline.dlq partitions=3 rf=1 map[cleanup.policy:delete retention.ms:1]"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}
