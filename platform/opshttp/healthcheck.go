package opshttp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hookline/hookline/platform/flagenv"
)

// Healthcheck is the `healthcheck` subcommand of every Hookline binary, for
// container images that have no shell or curl (`producer healthcheck
// --ready`). It GETs the binary's own /healthz, or /readyz with --ready, on
// --admin-addr and returns nil on 200 OK, an error otherwise (the binary
// then exits 1).
//
// defaultAddr is the binary's --admin-addr default. The address is also
// read from HOOKLINE_ADMIN_ADDR, so a container configured through its
// environment checks the port it serves; no other variable is read. A
// wildcard host (":9101", "0.0.0.0:9101", "[::]:9101") is reached on
// loopback. --timeout (default 3 s) bounds the request.
func Healthcheck(ctx context.Context, name, defaultAddr string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name+" healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("admin-addr", defaultAddr, "listen address of the ops server to check (env "+flagenv.Name("admin-addr")+")")
	ready := fs.Bool("ready", false, "check /readyz (every readiness check passes) instead of /healthz (the process serves)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: %s healthcheck [flags]\n\nExits 0 when the %s's ops server answers 200 on /healthz (or /readyz with --ready), 1 otherwise.\n\nFlags:\n", name, name)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected arguments: %v", fs.Args())
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "admin-addr" })
	if v := getenv(flagenv.Name("admin-addr")); !given && v != "" {
		*addr = v
	}
	target, err := probeAddr(*addr)
	if err != nil {
		return fmt.Errorf("healthcheck: --admin-addr %q: %w", *addr, err)
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	url := "http://" + target + path
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s: %s", url, resp.Status, strings.ReplaceAll(msg, "\n", "; "))
	}
	fmt.Fprintf(stdout, "%s: %s\n", url, msg)
	return nil
}

// probeAddr turns a listen address into one to dial: a wildcard or empty
// host becomes loopback.
func probeAddr(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}
