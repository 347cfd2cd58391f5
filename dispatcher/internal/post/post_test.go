package post

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/dispatcher/internal/ssrf"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Allow == nil {
		cfg.Allow = loopback
	}
	if cfg.WaitMin == 0 {
		cfg.WaitMin, cfg.WaitMax = time.Millisecond, 5*time.Millisecond
	}
	c := New(cfg)
	t.Cleanup(c.Close)
	return c
}

func TestSendResults(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		header       map[string]string
		want         Result
		wantAttempts int
	}{
		{name: "200", status: 200, want: Delivered, wantAttempts: 1},
		{name: "204", status: 204, want: Delivered, wantAttempts: 1},
		{name: "410 dead-letters at once", status: 410, want: Gone, wantAttempts: 1},
		{name: "400 rejected", status: 400, want: Rejected, wantAttempts: 1},
		{name: "401 rejected", status: 401, want: Rejected, wantAttempts: 1},
		{name: "404 rejected", status: 404, want: Rejected, wantAttempts: 1},
		{name: "408 retried", status: 408, want: Failed, wantAttempts: 3},
		{name: "429 retried", status: 429, want: Failed, wantAttempts: 3},
		{name: "500 retried", status: 500, want: Failed, wantAttempts: 3},
		{name: "503 retried", status: 503, want: Failed, wantAttempts: 3},
		{name: "302 not followed", status: 302, header: map[string]string{"Location": "/elsewhere"}, want: Rejected, wantAttempts: 1},
		{name: "307 not followed", status: 307, header: map[string]string{"Location": "http://127.0.0.1:1/"}, want: Rejected, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits, elsewhere atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					elsewhere.Add(1)
					return
				}
				hits.Add(1)
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			var attempts []Attempt
			out := newClient(t, Config{Retries: 2}).Send(t.Context(), Request{
				URL: srv.URL + "/hook", Body: []byte(`{}`), Timeout: 2 * time.Second,
				OnAttempt: func(a Attempt) { attempts = append(attempts, a) },
			})
			if out.Result != tt.want || out.Status != tt.status || out.Attempts != tt.wantAttempts {
				t.Errorf("outcome %v status %d attempts %d, want %v %d %d (err %v)", out.Result, out.Status, out.Attempts, tt.want, tt.status, tt.wantAttempts, out.Err)
			}
			if int(hits.Load()) != tt.wantAttempts || len(attempts) != tt.wantAttempts {
				t.Errorf("server saw %d requests, %d attempts reported, want %d", hits.Load(), len(attempts), tt.wantAttempts)
			}
			for i, a := range attempts {
				if a.N != i+1 || a.Status != tt.status || a.Retry != (i+1 < tt.wantAttempts) {
					t.Errorf("attempt %d = %+v", i, a)
				}
			}
			if elsewhere.Load() != 0 {
				t.Error("a redirect was followed")
			}
			if tt.want != Delivered && out.Err == nil {
				t.Error("a failed outcome has no error")
			}
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	var hits atomic.Int32
	var sigs sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if string(body) != "payload" {
			t.Errorf("attempt %d body %q", hits.Load()+1, body)
		}
		sigs.Store(r.Header.Get("x-sig"), true)
		if hits.Add(1) < 3 {
			w.WriteHeader(502)
			return
		}
	}))
	defer srv.Close()
	var n atomic.Int32
	out := newClient(t, Config{Retries: 2}).Send(t.Context(), Request{
		URL: srv.URL, Body: []byte("payload"), Timeout: time.Second,
		Header: http.Header{"X-Custom": {"1"}},
		Sign:   func(h http.Header) { h.Set("x-sig", string(rune('a'+n.Add(1)))) },
	})
	if out.Result != Delivered || out.Attempts != 3 {
		t.Fatalf("outcome %+v", out)
	}
	count := 0
	sigs.Range(func(any, any) bool { count++; return true })
	if count != 3 {
		t.Errorf("%d distinct signatures over 3 attempts, want a fresh one per attempt", count)
	}
}

func TestTimeoutIsPerAttempt(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release) // before Close, which waits for handlers
	// A hang guard only: how long the attempts take is checked on the
	// virtual clock in TestTimingOnVirtualClock.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out := newClient(t, Config{Retries: 1}).Send(ctx, Request{URL: srv.URL, Timeout: 100 * time.Millisecond})
	if ctx.Err() != nil {
		t.Fatal("Send hung: the per-attempt timeout never ended an attempt")
	}
	if out.Result != Failed || out.Attempts != 2 || hits.Load() != 2 {
		t.Fatalf("outcome %+v hits %d", out, hits.Load())
	}
	if !strings.Contains(out.Err.Error(), "timed out") {
		t.Errorf("error %q does not say it timed out", out.Err)
	}
}

func TestSlowBodyCountsAgainstTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select { // headers sent, the body never ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	done := make(chan Outcome, 1)
	go func() {
		done <- newClient(t, Config{}).Send(t.Context(), Request{URL: srv.URL, Timeout: 200 * time.Millisecond})
	}()
	select {
	case out := <-done:
		if out.Result != Delivered {
			t.Errorf("outcome %+v, want delivered (the status arrived)", out)
		}
	case <-time.After(time.Minute): // a hang guard, not a speed bound
		t.Fatal("Send hung reading an endless body: the attempt timeout did not end it")
	}
}

func TestResponseBodyReadIsBounded(t *testing.T) {
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 32<<10)
		for range 1024 { // 32 MiB unless the client stops reading
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	out := newClient(t, Config{MaxResponseBytes: 64 << 10}).Send(t.Context(), Request{URL: srv.URL, Timeout: 5 * time.Second})
	if out.Result != Delivered {
		t.Fatalf("outcome %+v", out)
	}
	// The server may buffer a few MiB in socket buffers, never all 32.
	srv.CloseClientConnections()
	if w := written.Load(); w >= 32<<20 {
		t.Errorf("server wrote the whole %d byte body: the client read it all", w)
	}
}

func TestRetryAfterIsHonouredAndClamped(t *testing.T) {
	tests := []struct {
		name   string
		value  string
		status int
		want   time.Duration
	}{
		{"429 seconds", "1", 429, time.Second},
		{"503 seconds clamped", "3600", 503, 300 * time.Millisecond},
		{"429 zero", "0", 429, 0},
		{"500 ignores it", "1", 500, 0},
		{"garbage ignored", "soon", 429, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Config{RetryAfterMax: 300 * time.Millisecond})
			if tt.want == time.Second {
				c = newClient(t, Config{RetryAfterMax: 5 * time.Second})
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tt.value)
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			out := c.Send(t.Context(), Request{URL: srv.URL, Timeout: time.Second})
			if out.RetryAfter != tt.want {
				t.Errorf("RetryAfter %s, want %s", out.RetryAfter, tt.want)
			}
		})
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"5", 5 * time.Second, true},
		{"-1", 0, false},
		{"Thu, 01 Jan 2026 00:00:30 GMT", 30 * time.Second, true},
		{"Wed, 31 Dec 2025 23:00:00 GMT", 0, true},
		{"later", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.v, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

// TestIdleConnectionCaps: idle keep-alive connections are capped per host
// and in all, so calling many endpoints does not pile up sockets.
func TestIdleConnectionCaps(t *testing.T) {
	c := New(Config{})
	if c.trans.MaxIdleConns != 1024 || c.trans.MaxIdleConnsPerHost != 64 {
		t.Errorf("defaults: %d idle in all, %d per host; want 1024 and 64", c.trans.MaxIdleConns, c.trans.MaxIdleConnsPerHost)
	}
	c = New(Config{MaxIdleConns: 10, MaxIdleConnsPerHost: 2})
	if c.trans.MaxIdleConns != 10 || c.trans.MaxIdleConnsPerHost != 2 {
		t.Errorf("set: %d idle in all, %d per host; want 10 and 2", c.trans.MaxIdleConns, c.trans.MaxIdleConnsPerHost)
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	c := New(Config{})
	lo, hi := 100*time.Millisecond, time.Second
	for n := range 70 {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := c.backoff(lo, hi, n, nil)
			ceil := hi
			if n < 3 {
				ceil = lo << (n + 1) // 200ms, 400ms, 800ms
			}
			if d < lo || d > ceil {
				t.Fatalf("backoff(n=%d) = %s, want within [%s, %s]", n, d, lo, ceil)
			}
			seen[d] = true
		}
		// Jitter from the first retry on: 50 draws are not all alike.
		if len(seen) < 2 {
			t.Errorf("backoff(n=%d) drew %v 50 times: no jitter", n, seen)
		}
	}
	// Settings validation allows: no overflow, no panic, capped.
	for _, n := range []int{30, 61, 62, 63, 64, 1 << 20} {
		if d := c.backoff(20*time.Second, time.Hour, n, nil); d < 20*time.Second || d > time.Hour {
			t.Errorf("backoff(20s, 1h, n=%d) = %s", n, d)
		}
	}
	if d := c.backoff(time.Second, time.Second, 5, nil); d != time.Second {
		t.Errorf("backoff with min = max = 1s: %s", d)
	}
}

// TestGuardRefusesWithoutConnecting sends to a listening loopback server
// with an empty allow-list: the outcome is Refused at once, without
// retries, and the server never sees a connection.
func TestGuardRefusesWithoutConnecting(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newClient(t, Config{Retries: 2, Allow: []netip.Prefix{}})
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		out := c.Send(t.Context(), Request{URL: u, Timeout: time.Second})
		var re *ssrf.RefusedError
		if out.Result != Refused || out.Attempts != 1 || !errors.As(out.Err, &re) || re.Class != ssrf.Loopback {
			t.Errorf("%s: outcome %+v, want one refused loopback attempt", u, out)
		}
	}
	if conns.Load() != 0 {
		t.Errorf("the server saw %d connections", conns.Load())
	}
}

func TestLookupHookIsGuarded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "private.test":
			return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
		case "local.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, errors.New("no such host")
	}
	c := newClient(t, Config{Lookup: lookup})
	out := c.Send(t.Context(), Request{URL: "http://private.test:" + port + "/", Timeout: time.Second})
	if out.Result != Refused {
		t.Errorf("private.test: %+v, want refused", out)
	}
	// Allowed through the allow-list, the mapped name connects.
	if out := c.Send(t.Context(), Request{URL: "http://local.test:" + port + "/", Timeout: time.Second}); out.Result != Delivered {
		t.Errorf("local.test: %+v, want delivered", out)
	}
}

// TestConnectionsArePooled sends many requests to one server, some to a
// failing one in between: connections to the healthy server are reused,
// even though retryablehttp asks to close idle connections after each
// failure.
func TestConnectionsArePooled(t *testing.T) {
	var conns atomic.Int32
	good := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	good.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	good.Start()
	defer good.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer bad.Close()
	c := newClient(t, Config{Retries: 1})
	for i := range 50 {
		if out := c.Send(t.Context(), Request{URL: good.URL, Timeout: time.Second}); out.Result != Delivered {
			t.Fatalf("request %d: %+v", i, out)
		}
		if i%10 == 0 {
			c.Send(t.Context(), Request{URL: bad.URL, Timeout: time.Second})
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("50 sequential requests opened %d connections, want 1", n)
	}
}

func TestCanceledContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.AfterFunc(50*time.Millisecond, cancel) }()
	out := newClient(t, Config{Retries: 2}).Send(ctx, Request{URL: srv.URL, Timeout: 10 * time.Second})
	if out.Result != Canceled {
		t.Errorf("outcome %+v, want canceled", out)
	}
}

// BenchmarkSend measures one delivered Send of a 1 KiB body to a local
// receiver, with the hooks the dispatcher sets (client and receiver in
// this process: compare allocations rather than time).
//
//	go test -run '^$' -bench BenchmarkSend -benchmem ./internal/post/
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	c := New(Config{Allow: loopback})
	b.Cleanup(c.Close)
	body := []byte(`{"pad":"` + strings.Repeat("x", 1010) + `"}`)
	b.ReportAllocs()
	for b.Loop() {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		out := c.Send(b.Context(), Request{
			URL: srv.URL, Header: h, Body: body, Timeout: 10 * time.Second,
			Sign:      func(h http.Header) { h.Set("Webhook-Id", "msg_1") },
			OnAttempt: func(Attempt) {},
			Release:   func() {},
			Acquire:   func(context.Context) error { return nil },
		})
		if out.Result != Delivered {
			b.Fatalf("outcome %+v", out)
		}
	}
}

// TestNewRequestAsHTTP: a request built on the cached URL has the URL,
// Host and body http.NewRequest would give it, an empty port dropped;
// the URL is parsed once per endpoint, and a bad one is refused.
func TestNewRequestAsHTTP(t *testing.T) {
	c := New(Config{})
	for _, raw := range []string{"http://127.0.0.1:8080/hook?a=1", "http://example.test:/x", "http://[::1]:9000/", "http://user:pw@example.test/p"} {
		want, err := http.NewRequest(http.MethodPost, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.newRequest(context.Background(), raw, []byte("body"))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got.URL.String() != want.URL.String() || got.Host != want.Host || got.ContentLength != 4 || got.Method != http.MethodPost {
			t.Errorf("%s: URL %s host %q length %d method %s, want URL %s host %q length 4", raw, got.URL, got.Host, got.ContentLength, got.Method, want.URL, want.Host)
		}
		again, _ := c.newRequest(context.Background(), raw, nil)
		if again.URL != got.URL {
			t.Errorf("%s parsed twice", raw)
		}
	}
	if _, err := c.newRequest(context.Background(), "http://bad host/", nil); err == nil {
		t.Error("a URL with a space in its host was accepted")
	}
}
