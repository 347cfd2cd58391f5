package app

import "testing"

// TestMemoryLimit: the soft memory limit follows --window-bytes unless
// GOMEMLIMIT or --memory-limit says otherwise.
func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name        string
		flag, bytes int64
		gomemlimit  string
		want        int64
	}{
		{name: "from the window bytes", bytes: 8 << 20, want: 128 << 20},
		{name: "explicit", flag: 300 << 20, bytes: 8 << 20, want: 300 << 20},
		{name: "none", flag: -1, bytes: 8 << 20, want: 0},
		{name: "GOMEMLIMIT wins", bytes: 8 << 20, gomemlimit: "1GiB", want: 0},
	} {
		c := Config{MemoryLimit: tc.flag, WindowBytes: tc.bytes}
		if got := c.memoryLimit(envWith("GOMEMLIMIT", tc.gomemlimit)); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestGCPercent: under its own memory limit the dispatcher raises GOGC,
// unless GOGC is set.
func TestGCPercent(t *testing.T) {
	if got := gcPercent(envWith("GOGC", "")); got != gcPercentUnderLimit {
		t.Errorf("GOGC unset: %d, want %d", got, gcPercentUnderLimit)
	}
	if got := gcPercent(envWith("GOGC", "50")); got != 0 {
		t.Errorf("GOGC=50: %d, want 0 (the runtime's GOGC stays)", got)
	}
}

// envWith is a getenv in which only key is set, to v.
func envWith(key, v string) func(string) string {
	return func(k string) string {
		if k == key {
			return v
		}
		return ""
	}
}
