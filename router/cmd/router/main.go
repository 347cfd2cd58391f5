// Command router routes events from Kafka source topics to the
// subscriptions that want them: one Delivery record per matching
// subscription, produced exactly once. Run it with --help for its flags;
// each also reads a HOOKLINE_* environment variable.
//
// `router healthcheck [--ready]` checks a running router through its ops
// server and exits 0 or 1, for container images without a shell.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookline/hookline/router/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()
	if err := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
