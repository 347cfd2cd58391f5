// Package post sends one webhook request with a few quick retries and
// classifies how it ended. It wraps go-retryablehttp around a pooled
// keep-alive transport whose dialer refuses non-public addresses (package
// ssrf), follows no redirects, bounds each attempt by a per-request
// timeout and reads at most a small prefix of each response body.
package post

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/hookline/hookline/dispatcher/internal/ssrf"
	"github.com/hookline/hookline/schemas/record"
)

// Result classifies how a request ended.
type Result int

// Results of Send.
const (
	// Canceled: the context ended before an outcome; nothing is known. It
	// is the zero value, so an outcome never claims more than it knows.
	Canceled Result = iota
	// Delivered: a 2xx response.
	Delivered
	// Failed: every attempt failed with a network error, a timeout, 408,
	// 429 or 5xx; later attempts may succeed.
	Failed
	// Gone: 410 Gone; the endpoint asks never to be called again.
	Gone
	// Rejected: another 4xx, a redirect or an unusable request: retrying
	// the same request cannot help.
	Rejected
	// Refused: the SSRF guard refused the address.
	Refused
)

func (r Result) String() string {
	switch r {
	case Delivered:
		return "delivered"
	case Failed:
		return "failed"
	case Gone:
		return "gone"
	case Rejected:
		return "rejected"
	case Refused:
		return "refused"
	case Canceled:
		return "canceled"
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}

// Attempt describes one HTTP attempt, for attempt records and metrics.
type Attempt struct {
	N       int // 1-based within this Send
	Status  int // 0 without a response
	Latency time.Duration
	Err     error
	Retry   bool // another attempt follows
}

// Outcome is how a Send ended.
type Outcome struct {
	Result   Result
	Status   int   // last HTTP status; 0 without a response
	Err      error // last error; for non-2xx statuses, a description of it
	Attempts int
	// RetryAfter is the delay the endpoint asked for with Retry-After on
	// its last 429 or 503 response (clamped), else zero. Such a response
	// ends the quick retries: the caller schedules the next attempt.
	RetryAfter time.Duration
}

// Request is one webhook to send.
type Request struct {
	URL string
	// Header is sent with every attempt. Send takes it over: the first
	// attempt sends this map, Sign included, and later attempts copies.
	Header  http.Header
	Body    []byte
	Timeout time.Duration // per attempt; required
	// Sign, when set, is called before every attempt to set fresh
	// signature headers on a copy of Header.
	Sign func(http.Header)
	// OnAttempt, when set, is called after every attempt.
	OnAttempt func(Attempt)
	// NoRetry makes one attempt only: no quick retries.
	NoRetry bool
	// Release and Acquire, when set, give back and take again whatever
	// slot the caller holds for the request (a share of a global cap)
	// around the backoff between quick retries, so no slot is held while
	// waiting. Acquire returning an error ends the Send as Canceled.
	Release func()
	Acquire func(context.Context) error
}

// Config configures a Client. Zero fields take the defaults noted.
type Config struct {
	Retries             int           // quick retries after the first attempt; default 0 (set by caller)
	WaitMin             time.Duration // first backoff before jitter; default 250ms
	WaitMax             time.Duration // longest backoff; default 2s
	RetryAfterMax       time.Duration // clamp for Retry-After; default 1h
	MaxResponseBytes    int64         // response body bytes read; default 64 KiB
	MaxIdleConnsPerHost int           // idle keep-alive connections kept per host; default 64
	MaxIdleConns        int           // idle keep-alive connections kept in all; default 1024
	Allow               []netip.Prefix
	// Lookup, when set, resolves host names instead of the system
	// resolver (tests map names to addresses with it).
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Client sends webhooks. It is safe for concurrent use.
type Client struct {
	cfg   Config
	rc    *retryablehttp.Client
	trans *http.Transport
	urls  urlCache
}

// New returns a client.
func New(cfg Config) *Client {
	if cfg.WaitMin <= 0 {
		cfg.WaitMin = 250 * time.Millisecond
	}
	if cfg.WaitMax < cfg.WaitMin {
		cfg.WaitMax = max(2*time.Second, cfg.WaitMin)
	}
	if cfg.RetryAfterMax <= 0 {
		cfg.RetryAfterMax = time.Hour
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 64 << 10
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = 64
	}
	if cfg.MaxIdleConns <= 0 {
		cfg.MaxIdleConns = 1024
	}
	guard := ssrf.New(cfg.Allow)
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: guard.Control}
	dial := dialer.DialContext
	if cfg.Lookup != nil {
		dial = lookupDialer(dialer, cfg.Lookup)
	}
	trans := &http.Transport{
		// No proxy: the guard must see the endpoint's address, not a
		// proxy's.
		Proxy:                  nil,
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           cfg.MaxIdleConns,
		MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c := &Client{cfg: cfg, trans: trans}
	c.rc = &retryablehttp.Client{
		HTTPClient: &http.Client{
			// attemptTransport hides CloseIdleConnections: retryablehttp
			// calls it whenever one request gives up, which would drop
			// every endpoint's pooled connections because of one bad one.
			Transport: attemptTransport{base: trans},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		Logger:       nil,
		RetryWaitMin: cfg.WaitMin,
		RetryWaitMax: cfg.WaitMax,
		RetryMax:     max(cfg.Retries, 0),
		CheckRetry:   c.checkRetry,
		Backoff:      c.backoff,
		ErrorHandler: func(resp *http.Response, err error, _ int) (*http.Response, error) { return resp, err },
		PrepareRetry: prepareRetry,
	}
	return c
}

// Close releases idle connections.
func (c *Client) Close() { c.trans.CloseIdleConnections() }

// call is the state of one Send, carried in the request context so the
// retryablehttp hooks can reach it.
type call struct {
	req        Request
	attempt    int
	start      time.Time
	last       Outcome
	acquireErr error // Request.Acquire failed before a retry
}

type callKey struct{}

func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// Send posts r until it is delivered, fails for good or the retries run
// out. It never returns an error: the Outcome says what happened.
func (c *Client) Send(ctx context.Context, r Request) Outcome {
	cl := &call{req: r} // a copy: r itself stays on the stack
	ctx = context.WithValue(ctx, callKey{}, cl)
	// A typed empty body would be sent as chunked with unknown length.
	var body any
	if len(r.Body) > 0 {
		body = r.Body
	}
	req, err := c.newRequest(ctx, r.URL, body)
	if err != nil {
		return Outcome{Result: Rejected, Err: fmt.Errorf("post: building request: %w", err)}
	}
	req.Header = r.Header
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if r.Sign != nil {
		r.Sign(req.Header)
	}
	resp, err := c.rc.Do(req)
	if resp != nil {
		// Read a little so the connection can be reused, then let go.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, c.cfg.MaxResponseBytes))
		resp.Body.Close()
	}
	out := cl.last
	if ctx.Err() != nil && out.Result != Delivered {
		return Outcome{Result: Canceled, Status: out.Status, Err: context.Cause(ctx), Attempts: cl.attempt}
	}
	if cl.acquireErr != nil {
		return Outcome{Result: Canceled, Status: out.Status, Err: cl.acquireErr, Attempts: cl.attempt}
	}
	if cl.attempt == 0 {
		// Do failed before any attempt (a body that cannot be rewound).
		return Outcome{Result: Rejected, Err: err}
	}
	return out
}

// newRequest is retryablehttp.NewRequestWithContext for a POST to rawURL,
// with the URL parsed once per endpoint (urls) rather than per request.
func (c *Client) newRequest(ctx context.Context, rawURL string, body any) (*retryablehttp.Request, error) {
	u, err := c.urls.parse(rawURL)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "", nil)
	if err != nil {
		return nil, err
	}
	// As http.NewRequestWithContext sets them from a URL. The URL is
	// shared by every request to the endpoint: nothing on the way
	// modifies a request's URL (a redirect, not followed, would build a
	// new one).
	hr.URL, hr.Host = u, u.Host
	req := &retryablehttp.Request{Request: hr}
	if err := req.SetBody(body); err != nil {
		return nil, err
	}
	return req, nil
}

// urlCache keeps parsed endpoint URLs. It holds at most urlCacheMax and
// starts over when full. Safe for concurrent use.
type urlCache struct {
	mu   sync.RWMutex
	urls map[string]*url.URL
}

const urlCacheMax = 1 << 14

// parse returns the parsed raw, which must not be modified.
func (uc *urlCache) parse(raw string) (*url.URL, error) {
	uc.mu.RLock()
	u := uc.urls[raw]
	uc.mu.RUnlock()
	if u != nil {
		return u, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	// An empty port ("host:") goes, as http.NewRequest drops it.
	u.Host = strings.TrimSuffix(u.Host, ":")
	uc.mu.Lock()
	if uc.urls == nil || len(uc.urls) >= urlCacheMax {
		uc.urls = map[string]*url.URL{}
	}
	uc.urls[raw] = u
	uc.mu.Unlock()
	return u, nil
}

// checkRetry runs after every attempt: it records the attempt, classifies
// it, and says whether to try again.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	cl := callOf(ctx)
	out := classify(resp, err)
	out.Attempts = cl.attempt
	if ctx.Err() != nil && out.Result != Delivered {
		cl.last = Outcome{Result: Canceled, Status: out.Status, Err: context.Cause(ctx), Attempts: cl.attempt}
		return false, ctx.Err()
	}
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			out.RetryAfter = min(d, c.cfg.RetryAfterMax)
		}
	}
	cl.last = out
	// An endpoint that names a time to come back is not retried here:
	// the caller schedules the next attempt through its retry path, so
	// nothing waits in process for as long as the endpoint asked.
	retry := out.Result == Failed && cl.attempt <= c.cfg.Retries && !cl.req.NoRetry && out.RetryAfter == 0
	if cl.req.OnAttempt != nil {
		cl.req.OnAttempt(Attempt{N: cl.attempt, Status: out.Status, Latency: time.Since(cl.start), Err: out.Err, Retry: retry})
	}
	if retry && cl.req.Release != nil {
		cl.req.Release() // taken again by prepareRetry, after the backoff
	}
	return retry, nil
}

// classify maps one attempt's response or error to a Result.
func classify(resp *http.Response, err error) Outcome {
	if err != nil {
		// net/http quotes the whole URL in its errors, query included;
		// these errors reach logs, attempt records and dead letters.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = record.RedactURL(ue.URL)
		}
		if errors.Is(err, ssrf.ErrRefused) {
			return Outcome{Result: Refused, Err: err}
		}
		return Outcome{Result: Failed, Err: err}
	}
	s := resp.StatusCode
	o := Outcome{Status: s}
	switch {
	case s >= 200 && s < 300:
		o.Result = Delivered
		return o
	case s == http.StatusGone:
		o.Result = Gone
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
		o.Result = Failed
	case s >= 300 && s < 400:
		o.Result = Rejected
		o.Err = fmt.Errorf("post: HTTP %d redirect not followed", s)
		return o
	default:
		o.Result = Rejected
	}
	o.Err = fmt.Errorf("post: HTTP %d %s", s, http.StatusText(s))
	return o
}

// backoff waits a jittered exponential delay: uniformly between WaitMin
// and twice the previous ceiling (WaitMin·2^(n+1)), capped at WaitMax, so
// even the first retry is spread and failures do not retry in a herd. (A
// response with Retry-After is never retried here; see checkRetry.)
func (c *Client) backoff(lo, hi time.Duration, n int, _ *http.Response) time.Duration {
	ceil := hi
	// lo<<(n+1) without overflow: only while it stays below hi.
	if s := n + 1; s < 62 && lo <= hi>>s {
		ceil = lo << s
	}
	if ceil <= lo {
		return lo
	}
	return lo + rand.N(ceil-lo+1)
}

// retryAfter parses a Retry-After value: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, 1<<30)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// prepareRetry runs after the backoff, before a retry: it takes the
// caller's slot again and re-signs the request with a fresh timestamp, on
// a fresh header map (the previous attempt's may still be read by the
// transport).
func prepareRetry(r *http.Request) error {
	r.Header = r.Header.Clone()
	cl := callOf(r.Context())
	if cl == nil {
		return nil
	}
	if cl.req.Acquire != nil {
		if err := cl.req.Acquire(r.Context()); err != nil {
			cl.acquireErr = err
			return err
		}
	}
	if cl.req.Sign != nil {
		cl.req.Sign(r.Header)
	}
	return nil
}

// attemptTransport bounds each attempt by the request's timeout, counting
// the response body read, and notes when the attempt started.
type attemptTransport struct {
	base http.RoundTripper
}

func (t attemptTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	cl := callOf(r.Context())
	if cl == nil {
		return t.base.RoundTrip(r)
	}
	cl.attempt++
	cl.start = time.Now()
	ctx, cancel := context.WithTimeoutCause(r.Context(), cl.req.Timeout, timeoutError(cl.req.Timeout))
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && r.Context().Err() == nil {
			err = fmt.Errorf("%w (%w)", cause, err)
		}
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// timeoutError is the cause of an attempt's context when its timeout
// passes (formatted only if it is read).
type timeoutError time.Duration

func (e timeoutError) Error() string {
	return "post: attempt timed out after " + time.Duration(e).String()
}

// cancelBody ends an attempt's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// lookupDialer dials the addresses lookup returns for a host name, in
// order, through d (whose Control still checks each one).
func lookupDialer(d *net.Dialer, lookup func(context.Context, string) ([]netip.Addr, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return d.DialContext(ctx, network, addr)
		}
		addrs, err := lookup(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("post: resolving %s: %w", host, err)
		}
		first := fmt.Errorf("post: no addresses for %s", host)
		for i, a := range addrs {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			if i == 0 {
				first = err
			}
		}
		return nil, first
	}
}
