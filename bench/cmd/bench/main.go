// Command bench is `make bench`: it starts a real Apache Kafka as CI does
// (make kafka-up on its own port), builds the binaries and the naive
// baseline, runs the scenarios of issues 11 and 18, and writes
// bench/results/<date>.json, one SVG chart per scenario beside it and
// BENCHMARKS.md. See "Benchmarks" in the README.
//
//	go run ./bench/cmd/bench                   # the full run (11-14 minutes on a busy 2-core machine)
//	go run ./bench/cmd/bench -quick            # a tenth of the sizes
//	go run ./bench/cmd/bench -only 1,7         # some scenarios
//	go run ./bench/cmd/bench -render           # BENCHMARKS.md and charts from the newest results
//
// For diagnosis: HOOKLINE_PPROF=true serves /debug/pprof on each binary's
// ops port, and HOOKLINE_BENCH_PROFILES=<dir> then writes CPU profiles of
// every process of the live scenario (8), and of each Hookline process
// draining in scenarios 1-3, to <dir>;
// HOOKLINE_BENCH_ARRIVALS=<path> writes the arrivals of each drain of
// scenarios 1-3 to <path>-<process>.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookline/hookline/bench/internal/driver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := driver.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
