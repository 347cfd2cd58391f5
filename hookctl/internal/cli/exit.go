package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Exit codes of hookctl, as --help lists them.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitNotFound    = 3
	ExitUnreachable = 4
	ExitInterrupted = 130
)

// exitCodesHelp is the part of hookctl --help that documents exit codes.
const exitCodesHelp = `Exit codes:
  0    ok
  1    failure
  2    usage: unknown command or flag, bad flag value, wrong arguments
  3    not found: no such subscription, dead letter or topic
  4    Kafka unreachable
  130  interrupted (Ctrl-C)`

// ExitCode returns the process exit code for an error that Run returned.
func ExitCode(err error) int {
	var ue *UsageError
	var ke *KafkaUnreachableError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrInterrupted):
		return ExitInterrupted
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ke):
		return ExitUnreachable
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoTopic):
		return ExitNotFound
	}
	return ExitFailure
}

// UsageError is a command line hookctl cannot run: an unknown command or
// flag, a bad flag value or the wrong arguments.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// usagef returns a UsageError with a formatted message.
func usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// KafkaUnreachableError means no seed broker answered.
type KafkaUnreachableError struct {
	Brokers []string
	Err     error // why, as the network put it
}

func (e *KafkaUnreachableError) Error() string {
	return fmt.Sprintf("cannot reach Kafka at %s (--brokers, HOOKLINE_BROKERS): %s", strings.Join(e.Brokers, ","), e.cause())
}

func (e *KafkaUnreachableError) Unwrap() error { return e.Err }

func (e *KafkaUnreachableError) cause() string {
	var errno syscall.Errno
	var dns *net.DNSError
	switch {
	case errors.As(e.Err, &errno):
		return errno.Error()
	case errors.As(e.Err, &dns):
		return "no such host " + dns.Name
	case errors.Is(e.Err, os.ErrDeadlineExceeded), errors.Is(e.Err, context.DeadlineExceeded):
		return "no answer in time"
	}
	return e.Err.Error()
}

// humanize rewrites err, returned by a command run with brokers, for
// people: an unreachable cluster becomes a KafkaUnreachableError, a
// cancelled run ErrInterrupted, and kadm's shard errors the first of the
// errors they hold. It probes the brokers only when err looks like a
// network failure or a timeout.
func humanize(ctx context.Context, err error, brokers []string, probeTimeout time.Duration) error {
	if err == nil {
		return nil
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return err
	}
	if ctx.Err() != nil {
		// Only a signal cancels Run's context; commands' own deadlines
		// are contexts of their own.
		return fmt.Errorf("%w: %w", ErrInterrupted, err)
	}
	var se *kadm.ShardErrors
	if errors.As(err, &se) && len(se.Errs) > 0 {
		first := se.Errs[0].Err
		msg := strings.Replace(err.Error(), se.Error(), first.Error(), 1)
		err = &rewritten{msg: msg, err: first}
	}
	var opErr *net.OpError
	var errno syscall.Errno
	if errors.As(err, &opErr) || errors.As(err, &errno) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		if perr := probe(ctx, brokers, probeTimeout); perr != nil {
			return &KafkaUnreachableError{Brokers: brokers, Err: perr}
		}
	}
	return err
}

// rewritten replaces an error's message and keeps the cause for errors.Is.
type rewritten struct {
	msg string
	err error
}

func (r *rewritten) Error() string { return r.msg }
func (r *rewritten) Unwrap() error { return r.err }

// probe dials every broker and returns nil once one accepts a TCP
// connection, else the last dial error.
func probe(ctx context.Context, brokers []string, timeout time.Duration) error {
	if timeout <= 0 || timeout > 5*time.Second {
		timeout = 5 * time.Second
	}
	var last error = errors.New("no brokers")
	for _, b := range brokers {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(context.WithoutCancel(ctx), "tcp", b)
		if err == nil {
			_ = c.Close()
			return nil
		}
		last = err
	}
	return last
}
