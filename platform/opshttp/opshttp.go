// Package opshttp serves the operations endpoints of every Hookline binary:
// /metrics (Prometheus, plus hookline_ready, which mirrors /readyz),
// /healthz (the process is up) and /readyz (every registered readiness
// check passes), and, when enabled with WithPprof, the Go runtime's
// profiles under /debug/pprof/.
package opshttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Check reports nil when its component is ready.
type Check func() error

// Server is the operations HTTP server.
type Server struct {
	addr  string
	log   *zap.Logger
	mux   *http.ServeMux
	pprof bool // serve /debug/pprof/

	mu     sync.Mutex
	checks map[string]Check
	bound  string
	ready  chan struct{} // closed once listening
}

// Option configures a Server.
type Option interface{ apply(*Server) }

type optFunc func(*Server)

func (f optFunc) apply(s *Server) { f(s) }

// WithPprof serves the Go runtime's profiles (net/http/pprof) under
// /debug/pprof/ when on: CPU (/debug/pprof/profile?seconds=N), heap,
// allocs, goroutine, mutex, block and execution traces. Default off: the
// profiles reveal internals (command line included) to whoever reaches the
// ops port, and a CPU profile or trace costs CPU while it runs.
func WithPprof(on bool) Option {
	return optFunc(func(s *Server) { s.pprof = on })
}

// New returns a server for addr (":9090", or "127.0.0.1:0" in tests)
// exposing gatherer's metrics. log may be nil.
func New(addr string, gatherer prometheus.Gatherer, log *zap.Logger, opts ...Option) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{addr: addr, log: log, mux: http.NewServeMux(), checks: map[string]Check{}, ready: make(chan struct{})}
	for _, o := range opts {
		o.apply(s)
	}
	// hookline_ready mirrors /readyz, so alerts need not probe it.
	own := prometheus.NewRegistry()
	own.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hookline_ready",
		Help: "1 when every readiness check passes (/readyz answers 200), else 0."}, func() float64 {
		if len(s.failing()) > 0 {
			return 0
		}
		return 1
	}))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.Gatherers{gatherer, own}, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if s.pprof {
		// On this server's own mux: the package's init also registers
		// them on http.DefaultServeMux, which nothing here serves.
		s.mux.HandleFunc("/debug/pprof/", pprof.Index) // named profiles too: heap, allocs, goroutine...
		s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return s
}

// AddCheck registers a readiness check under name.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if failed := s.failing(); len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, f := range failed {
			fmt.Fprintln(w, f)
		}
		return
	}
	fmt.Fprintln(w, "ready")
}

// failing runs every check and returns "name: error" of those that fail,
// sorted by name.
func (s *Server) failing() []string {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	checks := make(map[string]Check, len(s.checks))
	for n, c := range s.checks {
		checks[n] = c
	}
	s.mu.Unlock()
	sort.Strings(names)
	var failed []string
	for _, n := range names {
		if err := checks[n](); err != nil {
			failed = append(failed, n+": "+err.Error())
		}
	}
	return failed
}

// Addr returns the bound address once Run is listening, else "".
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}

// Listening is closed once the server accepts connections.
func (s *Server) Listening() <-chan struct{} { return s.ready }

// Run serves until ctx ends, then shuts down within 5 seconds.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("opshttp: %w", err)
	}
	s.mu.Lock()
	s.bound = ln.Addr().String()
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("ops server listening", zap.String("addr", s.bound))
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("opshttp: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("opshttp: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("opshttp: %w", err)
	}
	return nil
}
