// Command producer serves Hookline's HTTP API: event ingest (POST
// /v1/events) and the subscription admin API (/v1/subscriptions), with
// the OpenAPI document at /openapi.json. Run it with --help for its flags;
// each also reads a HOOKLINE_* environment variable.
//
// `producer healthcheck [--ready]` checks a running producer through its ops
// server and exits 0 or 1, for container images without a shell.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookline/hookline/producer/app"
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
