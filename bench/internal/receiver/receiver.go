// Package receiver is the webhook endpoint of the benchmarks: one HTTP
// server on loopback whose paths /r/<n> are endpoints with a behaviour of
// their own (answer at once, after a delay, never, or with 500). It keeps
// one arrival per request: when it came, which endpoint, and the "seq"
// number found in the body, so scenarios can compute rates and latencies.
package receiver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behaviour is what an endpoint does with a request.
type Behaviour struct {
	// Delay is how long the endpoint takes before answering.
	Delay time.Duration
	// Hang never answers: the request ends when the client gives up.
	Hang bool
	// Fail answers 500.
	Fail bool
}

// Instant answers 204 at once.
var Instant = Behaviour{}

// Arrival is one request as the receiver saw it.
type Arrival struct {
	At       time.Time
	Endpoint int
	Seq      int64 // -1 when the body has no "seq"
	OK       bool  // answered 2xx
	// WebhookID is the webhook-id header.
	WebhookID string
	// Stamps are the request's headers whose values are RFC 3339 times
	// (lower-case names), for stage breakdowns.
	Stamps map[string]time.Time
}

// Server is the receiver. Its zero value is not usable; call Start.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	base string

	mu        sync.Mutex
	behaviour map[int]Behaviour
	arrivals  []Arrival
	stamps    bool
	ok        atomic.Int64
	stop      chan struct{}
	stopOnce  sync.Once
}

// Start listens on 127.0.0.1 on a free port.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	s := &Server{ln: ln, base: "http://" + ln.Addr().String(), behaviour: map[int]Behaviour{}, stop: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server and ends hanging requests.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	return s.srv.Close()
}

// URL is the webhook URL of endpoint n.
func (s *Server) URL(n int) string { return s.base + "/r/" + strconv.Itoa(n) }

// Set gives endpoint n a behaviour (endpoints default to Instant).
func (s *Server) Set(n int, b Behaviour) {
	s.mu.Lock()
	s.behaviour[n] = b
	s.mu.Unlock()
}

// KeepStamps makes the receiver keep time-valued headers of each request.
func (s *Server) KeepStamps(on bool) {
	s.mu.Lock()
	s.stamps = on
	s.mu.Unlock()
}

// Reset forgets every arrival (behaviours stay).
func (s *Server) Reset() {
	s.mu.Lock()
	s.arrivals = nil
	s.ok.Store(0)
	s.mu.Unlock()
}

// OK is the number of requests answered 2xx since the last Reset.
func (s *Server) OK() int64 { return s.ok.Load() }

// Arrivals returns a copy of the arrivals since the last Reset.
func (s *Server) Arrivals() []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Arrival(nil), s.arrivals...)
}

// WaitOK waits until at least n requests were answered 2xx since the last
// Reset, or ctx ends, or stalled passes without a new 2xx answer. It
// returns the count reached.
func (s *Server) WaitOK(ctx context.Context, n int64, stalled time.Duration) (int64, error) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	last, lastChange := s.OK(), time.Now()
	for {
		got := s.OK()
		if got >= n {
			return got, nil
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > stalled {
			return got, fmt.Errorf("receiver: %d of %d delivered, none for %s", got, n, stalled)
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("receiver: %d of %d delivered: %w", got, n, context.Cause(ctx))
		case <-t.C:
		}
	}
}

var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP answers one webhook request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/r/")
	n, err := strconv.Atoi(rest)
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	buf := bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, _ = io.Copy(buf, r.Body)
	seq := Seq(buf.Bytes())
	bufs.Put(buf)

	s.mu.Lock()
	b := s.behaviour[n]
	keep := s.stamps
	s.mu.Unlock()
	switch {
	case b.Hang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	case b.Delay > 0:
		t := time.NewTimer(b.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	a := Arrival{At: time.Now(), Endpoint: n, Seq: seq, OK: !b.Fail, WebhookID: r.Header.Get("webhook-id")}
	if keep {
		a.Stamps = stamps(r.Header)
	}
	if b.Fail {
		w.WriteHeader(http.StatusInternalServerError)
	} else {
		w.WriteHeader(http.StatusNoContent)
	}
	s.mu.Lock()
	s.arrivals = append(s.arrivals, a)
	if a.OK {
		s.ok.Add(1)
	}
	s.mu.Unlock()
}

// stamps returns the headers whose value parses as an RFC 3339 time.
func stamps(h http.Header) map[string]time.Time {
	var m map[string]time.Time
	for k, v := range h {
		if len(v) != 1 || len(v[0]) < 20 {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v[0])
		if err != nil {
			continue
		}
		if m == nil {
			m = map[string]time.Time{}
		}
		m[strings.ToLower(k)] = t
	}
	return m
}

var seqKey = []byte(`"seq":`)

// Seq returns the number after the first "seq": in body, or -1.
func Seq(body []byte) int64 {
	i := bytes.Index(body, seqKey)
	if i < 0 {
		return -1
	}
	var n int64
	digits := 0
	for _, c := range body[i+len(seqKey):] {
		if c == ' ' && digits == 0 {
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
		digits++
	}
	if digits == 0 {
		return -1
	}
	return n
}
