package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// meter shows the progress of long work: a bar with rate and ETA on a
// terminal, a plain line at most once a second otherwise.
type meter interface {
	// set reports done units of the total and what came of them.
	set(done, written int)
	// finish ends the bar or prints the last line.
	finish()
}

// meter returns a meter for work over at most total units (dead letters
// read), named what.
func (o *options) meter(what string, total int64) meter {
	if o.stderrTTY == nil {
		return &lineMeter{w: o.stderr, what: what, total: total, every: time.Second, last: time.Now()}
	}
	return &barMeter{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(o.stderrTTY),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("records"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

type barMeter struct{ bar *progressbar.ProgressBar }

func (b *barMeter) set(done, _ int) { _ = b.bar.Set(done) }
func (b *barMeter) finish()         { _ = b.bar.Finish() }

type lineMeter struct {
	w             io.Writer
	what          string
	total         int64
	done, written int
	every         time.Duration
	last          time.Time
}

func (l *lineMeter) set(done, written int) {
	l.done, l.written = done, written
	if now := time.Now(); now.Sub(l.last) >= l.every {
		l.last = now
		fmt.Fprintf(l.w, "%s: read %d of at most %d, wrote %d\n", l.what, l.done, l.total, l.written)
	}
}

func (l *lineMeter) finish() {}
