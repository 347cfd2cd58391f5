// Command dispatcher consumes Hookline deliveries and POSTs each one,
// signed, to its subscription's webhook. Run it with --help for the flags.
//
// `dispatcher healthcheck [--ready]` checks a running dispatcher through its ops
// server and exits 0 or 1, for container images without a shell.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookline/hookline/dispatcher/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process.
		<-ctx.Done()
		stop()
	}()
	if err := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
