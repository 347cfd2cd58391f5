// Command naive is the baseline consumer of the benchmarks (issue 11): see
// package naive. It prints its counts when it stops.
//
//	naive --brokers 127.0.0.1:9092 --topic-prefix hookline. --group naive
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hookline/hookline/bench/internal/naive"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("naive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka seed brokers")
	prefix := fs.String("topic-prefix", "hookline.", "prefix of Hookline's topic names")
	group := fs.String("group", "naive", "consumer group")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var st naive.Stats
	err := naive.Run(ctx, naive.Config{Brokers: strings.Split(*brokers, ","), Prefix: *prefix, Group: *group}, &st)
	fmt.Fprintf(stdout, "naive: delivered %d, failed %d, undecodable %d\n", st.Delivered.Load(), st.Failed.Load(), st.Undecodable.Load())
	return err
}
