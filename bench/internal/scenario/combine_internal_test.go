package scenario

import (
	"math"
	"testing"
)

// TestCombineDrains: a side's figures are over all its drains; the
// broker's CPU per delivery only when every drain measured it.
func TestCombineDrains(t *testing.T) {
	a := map[string]float64{"deliveries": 100, "queued": 100, "seconds": 1, "cpu_s": 0.01, "requests": 100, "rss_mib": 50, "complete": 1, "cpu_broker_s": 0.002}
	b := map[string]float64{"deliveries": 100, "queued": 100, "seconds": 3, "cpu_s": 0.03, "requests": 110, "rss_mib": 70, "complete": 1, "cpu_broker_s": 0.004}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	got := combineDrains(a, b)
	for k, want := range map[string]float64{"deliveries": 200, "rate": 50, "cpu_us": 200, "rss_mib": 70, "complete": 1, "duplicate_rate": 0.05, "cpu_broker_us": 30} {
		if !near(got[k], want) {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	delete(b, "cpu_broker_s")
	if v, ok := combineDrains(a, b)["cpu_broker_us"]; ok {
		t.Errorf("one drain without the broker's CPU: cpu_broker_us = %v, want none", v)
	}
}
