// Package httpapi is the producer's HTTP API: event ingest (POST
// /v1/events), the subscription admin API (/v1/subscriptions...), attempt
// history and dead letters (/v1/attempts, /v1/dead-letters...), sums of
// them for the console (/v1/attempts/stats, /v1/dead-letters/stats,
// /v1/consumer-groups, /v1/endpoint-status), the OpenAPI document
// (/openapi.json), liveness and readiness probes, and with WithConsole the
// web console (/console/).
//
// Every /v1 route needs an API key (Authorization: Bearer <key>) unless
// the server is built without keys, which the binary allows only with
// --insecure-no-auth. Keys have scopes: admin keys (Config.APIKeys) may do
// everything, ingest keys (Config.IngestAPIKeys) only POST /v1/events. A
// missing or unknown key is 401, a key without the route's scope 403.
// Errors are JSON:
//
//	{"error":{"code":"validation_failed","message":"...",
//	  "details":[{"index":0,"field":"data/amount","message":"..."}]}}
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hookline/hookline/producer/api"
	"github.com/hookline/hookline/producer/internal/history"
	"github.com/hookline/hookline/producer/internal/subadmin"
	"github.com/hookline/hookline/producer/internal/typeadmin"
	"github.com/hookline/hookline/producer/publish"
	"go.uber.org/zap"
)

// Config holds the API's limits. Zero fields take the defaults noted.
type Config struct {
	// APIKeys are the admin keys: bearer tokens with every scope. With
	// neither APIKeys nor IngestAPIKeys the API needs no key at all.
	APIKeys []string
	// IngestAPIKeys are bearer tokens that may only ingest events (POST
	// /v1/events); any other /v1 route answers them 403.
	IngestAPIKeys []string
	// MaxEventBytes bounds one event's Kafka record; default 256 KiB.
	// It is enforced by the publish.Client (publish.MaxEventBytes) and
	// only reported here.
	MaxEventBytes int
	// MaxRequestBytes bounds a request body; default 4 MiB.
	MaxRequestBytes int64
	// MaxBatchEvents bounds the events of one request; default 1000.
	MaxBatchEvents int
	// MaxReplayItems bounds the dead letters one POST
	// /v1/dead-letters/replay replays, or lists in a dry run: a request's
	// limit defaults to it and cannot exceed it, so one request holds the
	// server for a bounded time; the answer says complete=false and the
	// next request continues. Default 1000.
	MaxReplayItems int
	// ProduceTimeout bounds how long a request waits for Kafka; default 10 s.
	ProduceTimeout time.Duration
	// RetryAfter is the Retry-After of 503 answers; default 5 s.
	RetryAfter time.Duration
	// RotationGrace is how long a rotated-out secret stays valid unless
	// the request says otherwise; default 24 h.
	RotationGrace time.Duration
	// IdempotencyEntries bounds the answers to requests with an
	// Idempotency-Key kept in memory (without WithAnswers); default 10000.
	IdempotencyEntries int
	// IdempotencyTTL is how long an answer kept in memory (without
	// WithAnswers) is replayed; default 24 h.
	IdempotencyTTL time.Duration
}

func (c *Config) defaults() {
	if c.MaxEventBytes <= 0 {
		c.MaxEventBytes = publish.DefaultMaxEventBytes
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 4 << 20
	}
	if c.MaxBatchEvents <= 0 {
		c.MaxBatchEvents = 1000
	}
	if c.MaxReplayItems <= 0 {
		c.MaxReplayItems = 1000
	}
	if c.ProduceTimeout <= 0 {
		c.ProduceTimeout = 10 * time.Second
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 5 * time.Second
	}
	if c.RotationGrace <= 0 {
		c.RotationGrace = 24 * time.Hour
	}
	if c.IdempotencyEntries <= 0 {
		c.IdempotencyEntries = 10000
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
}

// Recorder receives the API's measurements; the binary backs it with
// Prometheus. Methods are called concurrently.
type Recorder interface {
	// Request is called once per request with its route pattern
	// ("POST /v1/events"), status code and duration.
	Request(route string, status int, d time.Duration)
	// Events counts ingested events by outcome: "accepted", "invalid",
	// "too_large", "unavailable" or "failed".
	Events(outcome string, n int)
}

type nopRecorder struct{}

func (nopRecorder) Request(string, int, time.Duration) {}
func (nopRecorder) Events(string, int)                 {}

// Check reports nil when a dependency is ready.
type Check func() error

// Server is the HTTP API. Build it with New and serve Handler().
type Server struct {
	cfg      Config
	pub      *publish.Client
	subs     *subadmin.Store
	types    *typeadmin.Store
	hist     *history.Reader
	log      *zap.Logger
	rec      Recorder
	checks   map[string]Check
	kafka    KafkaHealth
	keys     []apiKey
	answers  Answers
	inflight inflight
	now      func() time.Time
	console  http.Handler
	mux      *http.ServeMux
}

// Opt configures a Server.
type Opt interface{ apply(*Server) }

type opt func(*Server)

func (o opt) apply(s *Server) { o(s) }

// WithLogger sets the logger; the default discards.
func WithLogger(l *zap.Logger) Opt { return opt(func(s *Server) { s.log = l }) }

// WithRecorder sets the metrics recorder; the default discards.
func WithRecorder(r Recorder) Opt { return opt(func(s *Server) { s.rec = r }) }

// WithCheck adds a readiness check that /readyz runs on every request: c
// must be cheap and must not reach the network. /readyz names a failing
// check but does not show its error.
func WithCheck(name string, c Check) Opt { return opt(func(s *Server) { s.checks[name] = c }) }

// KafkaHealth says whether Kafka is reachable; *kafkahealth.Tracker.
type KafkaHealth interface {
	// Check returns nil while Kafka is reachable.
	Check() error
	// DownContext is done once Kafka is found unreachable.
	DownContext() context.Context
}

// WithKafkaHealth makes ingest answer 503 at once while h reports Kafka
// down, and give up on requests in flight when it goes down, instead of
// waiting for ProduceTimeout. By default every request waits.
func WithKafkaHealth(h KafkaHealth) Opt { return opt(func(s *Server) { s.kafka = h }) }

// WithClock sets the clock of the in-memory idempotency answers; default
// time.Now.
func WithClock(now func() time.Time) Opt { return opt(func(s *Server) { s.now = now }) }

// New returns the API publishing events with pub and changing
// subscriptions through subs.
func New(cfg Config, pub *publish.Client, subs *subadmin.Store, opts ...Opt) *Server {
	cfg.defaults()
	s := &Server{cfg: cfg, pub: pub, subs: subs, log: zap.NewNop(), rec: nopRecorder{},
		checks: map[string]Check{}, now: time.Now}
	for _, o := range opts {
		o.apply(s)
	}
	for _, k := range cfg.APIKeys {
		s.keys = append(s.keys, apiKey{sum: sha256.Sum256([]byte(k)), admin: true})
	}
	for _, k := range cfg.IngestAPIKeys {
		s.keys = append(s.keys, apiKey{sum: sha256.Sum256([]byte(k))})
	}
	if s.answers == nil {
		s.answers = newMemAnswers(cfg.IdempotencyEntries, cfg.IdempotencyTTL, s.now)
	}
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		pattern := rt.method + " " + rt.path
		h := rt.handle
		if rt.method == http.MethodPost && rt.path != "/v1/events" {
			h = s.idempotent(pattern, h)
		}
		if rt.scope != scopePublic {
			h = s.authenticate(rt.scope, h)
		}
		s.mux.Handle(pattern, s.instrument(pattern, h))
	}
	// Every other method of a known path, and any unknown path, gets the
	// JSON error shape too (the mux alone would answer in plain text).
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range s.routes() {
		if allowed[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for _, path := range paths {
		allow := strings.Join(allowed[path], ", ")
		s.mux.Handle(path, s.instrument("* "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
				message: r.Method + " is not allowed on " + path + "; allowed: " + allow})
		}))
	}
	s.mux.Handle("/", s.instrument("* /", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", message: "no such route: " + r.URL.Path})
	}))
	s.mountConsole()
	return s
}

// Handler returns the API's handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Routes returns the API's routes as "METHOD /path" patterns, sorted.
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.routes() {
		out = append(out, rt.method+" "+rt.path)
	}
	sort.Strings(out)
	return out
}

// scope is what a route needs of the request's API key.
type scope int

const (
	scopePublic scope = iota // no key
	scopeIngest              // an ingest or an admin key
	scopeAdmin               // an admin key
)

type route struct {
	method, path string
	scope        scope
	handle       http.HandlerFunc
}

// apiKey is an accepted key, kept as its SHA-256.
type apiKey struct {
	sum   [sha256.Size]byte
	admin bool
}

func (s *Server) routes() []route {
	return []route{
		{"POST", "/v1/events", scopeIngest, s.postEvents},
		{"POST", "/v1/subscriptions", scopeAdmin, s.createSubscription},
		{"GET", "/v1/subscriptions", scopeAdmin, s.listSubscriptions},
		{"GET", "/v1/subscriptions/{id}", scopeAdmin, s.getSubscription},
		{"PUT", "/v1/subscriptions/{id}", scopeAdmin, s.putSubscription},
		{"PATCH", "/v1/subscriptions/{id}", scopeAdmin, s.patchSubscription},
		{"DELETE", "/v1/subscriptions/{id}", scopeAdmin, s.deleteSubscription},
		{"POST", "/v1/subscriptions/{id}/rotate-secret", scopeAdmin, s.rotateSecret},
		{"POST", "/v1/subscriptions/{id}/pause", scopeAdmin, s.pauseSubscription},
		{"POST", "/v1/subscriptions/{id}/resume", scopeAdmin, s.resumeSubscription},
		{"POST", "/v1/subscriptions/{id}/test", scopeAdmin, s.sendTest},
		{"GET", "/v1/event-types", scopeAdmin, s.listEventTypes},
		{"POST", "/v1/event-types", scopeAdmin, s.createEventType},
		{"GET", "/v1/event-types/{name}", scopeAdmin, s.getEventType},
		{"PUT", "/v1/event-types/{name}", scopeAdmin, s.putEventType},
		{"DELETE", "/v1/event-types/{name}", scopeAdmin, s.deleteEventType},
		{"GET", "/v1/attempts", scopeAdmin, s.listAttempts},
		{"GET", "/v1/attempts/stats", scopeAdmin, s.attemptStats},
		{"GET", "/v1/dead-letters", scopeAdmin, s.listDeadLetters},
		{"GET", "/v1/dead-letters/stats", scopeAdmin, s.deadLetterStats},
		{"POST", "/v1/dead-letters/replay", scopeAdmin, s.replayDeadLetters},
		{"GET", "/v1/consumer-groups", scopeAdmin, s.consumerGroups},
		{"GET", "/v1/endpoint-status", scopeAdmin, s.endpointStatus},
		{"GET", "/openapi.json", scopePublic, s.openAPI},
		{"GET", "/healthz", scopePublic, s.healthz},
		{"GET", "/readyz", scopePublic, s.readyz},
	}
}

// scopeKey is the request context key of the authenticated key's scope.
type scopeKey struct{}

// authenticate lets requests with a valid bearer key of the route's scope
// through: 401 without a valid key, 403 with a key that lacks the scope.
// Every key is compared, each in constant time over its SHA-256 (equal
// lengths), so timing tells nothing about which key or how much of it
// matched.
func (s *Server) authenticate(need scope, next http.HandlerFunc) http.HandlerFunc {
	if len(s.keys) == 0 {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer") // the scheme is case-insensitive (RFC 9110)
		sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
		match, admin := 0, 0
		for i := range s.keys {
			eq := subtle.ConstantTimeCompare(sum[:], s.keys[i].sum[:])
			match |= eq
			if s.keys[i].admin {
				admin |= eq
			}
		}
		if !ok || match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookline"`)
			writeError(w, &apiError{status: http.StatusUnauthorized, code: "unauthorized",
				message: "a valid API key is required: Authorization: Bearer <key>"})
			return
		}
		if need == scopeAdmin && admin != 1 {
			writeError(w, &apiError{status: http.StatusForbidden, code: "forbidden",
				message: "this API key may only ingest events (POST /v1/events); this route needs an admin key (--api-keys)"})
			return
		}
		next(w, r.WithContext(withScope(r.Context(), sum)))
	}
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) instrument(pattern string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		s.rec.Request(pattern, sw.status, d)
		if ce := s.log.Check(zap.DebugLevel, "request"); ce != nil {
			ce.Write(zap.String("route", pattern), zap.Int("status", sw.status), zap.Duration("took", d))
		}
	})
}

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(api.OpenAPI)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers on the public API port, so it names the checks that
// fail but never their causes, which carry broker addresses and client
// internals; the ops server's /readyz has the details. The checks read
// state their owners keep current (the Kafka check is the health
// tracker's last verdict), so a request never reaches Kafka.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	failed := map[string]string{}
	for name, c := range s.checks {
		if err := c(); err != nil {
			failed[name] = "not ready (details on the ops server's /readyz)"
		}
	}
	if len(failed) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failed": failed})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
