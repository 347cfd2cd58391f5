package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
	"go.uber.org/zap"
)

// idempotent honours Idempotency-Key on a POST route other than
// /v1/events (which has its own, event-id-aware handling): the first
// successful (2xx) answer to a key is kept, through the same Answers as
// ingest (shared by every replica through Kafka), and a retry of the same
// request (method, path and body) gets it back, marked
// Idempotent-Replayed; another request under the key gets 422. Refusals
// are not kept, so a fixed request may reuse its key. Keys are per route.
// A signing secret in an answer is shown once: a replayed answer has it
// redacted (rotate the secret to get a new one).
func (s *Server) idempotent(pattern string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			h(w, r)
			return
		}
		if len(key) > MaxIdempotencyKeyLen || strings.ContainsFunc(key, func(c rune) bool { return c < ' ' || c == 0x7f }) {
			writeError(w, &apiError{status: http.StatusBadRequest, code: "invalid_idempotency_key",
				message: fmt.Sprintf("Idempotency-Key must be 1-%d printable characters", MaxIdempotencyKeyLen)})
			return
		}
		body, aerr := s.readBody(w, r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		answerKey := record.IdempotencyKey(scopeOf(r.Context()), pattern+"\x00"+key)
		d := sha256.New()
		d.Write([]byte(r.Method + " " + r.URL.Path + "\x00"))
		d.Write(body)
		sum := [32]byte(d.Sum(nil))
		hash := hex.EncodeToString(sum[:])
		if s.replay(w, answerKey, hash) {
			return
		}
		switch s.inflight.begin(answerKey, sum) {
		case inflightBusy:
			writeError(w, &apiError{status: http.StatusConflict, code: "request_in_progress", retryAfter: time.Second,
				message: "a request with this Idempotency-Key is being processed"})
			return
		case inflightMismatch:
			writeError(w, errKeyReused)
			return
		}
		defer s.inflight.end(answerKey)
		if s.replay(w, answerKey, hash) {
			return
		}
		rec := &captured{header: http.Header{}}
		h(rec, r)
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if status >= 200 && status < 300 {
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProduceTimeout)
			// Signing secrets are shown once: the kept answer (a Kafka
			// record every replica reads) has them redacted.
			kept := secretPattern.ReplaceAll(bytes.TrimSuffix(rec.body.Bytes(), []byte("\n")), []byte(webhook.SecretPrefix+"[redacted]"))
			a := record.Idempotency{Key: answerKey, RequestHash: hash, Status: status, Body: kept, CreatedAt: s.now()}
			if err := s.answers.Put(ctx, a); err != nil {
				s.log.Warn("keeping the answer to an Idempotency-Key request failed; a retry will run again", zap.String("route", pattern), zap.Error(err))
			}
			cancel()
		}
		w.WriteHeader(status)
		_, _ = w.Write(rec.body.Bytes())
	}
}

// secretPattern matches an encoded signing secret.
var secretPattern = regexp.MustCompile(regexp.QuoteMeta(webhook.SecretPrefix) + `[A-Za-z0-9+/=]+`)

// captured records a handler's answer so it can be kept before it is sent.
type captured struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captured) Header() http.Header { return c.header }

func (c *captured) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *captured) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(b)
}
