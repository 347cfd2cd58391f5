package proc

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with a space and a parenthesis, utime 250, stime 50.
	line := []byte("4242 (my (proc) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 1000 10 18446744073709551615\n")
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("CPU = %s, want %s", got, want)
	}
	if _, err := parseStat([]byte("no name")); err == nil {
		t.Error("a line without ')' parsed")
	}
}

func TestParseHWM(t *testing.T) {
	got, err := parseHWM([]byte("Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got != 2048*1024 {
		t.Errorf("VmHWM = %d, want %d", got, 2048*1024)
	}
	if _, err := parseHWM([]byte("Name:\tx\n")); err == nil {
		t.Error("status without VmHWM parsed")
	}
}

// TestSelf reads this test process's own figures, which Linux must have.
func TestSelf(t *testing.T) {
	if _, err := CPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	rss, err := PeakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 {
		t.Errorf("peak RSS %d", rss)
	}
}
