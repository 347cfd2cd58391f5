package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMeter(t *testing.T) {
	// Without a terminal: plain lines, at most once per interval.
	var buf bytes.Buffer
	o := &options{stderr: &buf}
	m := o.meter("replay", 100)
	lm := m.(*lineMeter)
	lm.every = 0
	m.set(10, 3)
	m.finish()
	if got := buf.String(); got != "replay: read 10 of at most 100, wrote 3\n" {
		t.Fatalf("line meter wrote %q", got)
	}

	// On a terminal: a bar with count, rate and time left. A file stands
	// in for the terminal.
	f, err := os.Create(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o = &options{stderr: &buf, stderrTTY: f}
	m = o.meter("replay", 100)
	if _, ok := m.(*barMeter); !ok {
		t.Fatalf("meter on a terminal is %T", m)
	}
	m.set(50, 10)
	m.finish()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replay", "50/100", "records/s", "[0s:"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("bar misses %q: %q", want, b)
		}
	}
}
