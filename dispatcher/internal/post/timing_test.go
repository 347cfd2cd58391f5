package post

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// fakeTransport answers from a function, without a network, so the
// timing tests run on synctest's virtual clock.
type fakeTransport func(*http.Request) (*http.Response, error)

func (f fakeTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func respond(r *http.Request, status int, header http.Header) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader("")), Request: r}
}

// withTransport returns a client whose attempts go to rt.
func withTransport(cfg Config, rt http.RoundTripper) *Client {
	c := New(cfg)
	c.rc.HTTPClient.Transport = attemptTransport{base: rt}
	return c
}

func TestTimingOnVirtualClock(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		timeout time.Duration
		// answer returns the n-th (1-based) attempt's response.
		answer       func(n int, r *http.Request) (*http.Response, error)
		want         Result
		wantAttempts int
		wantElapsed  time.Duration
	}{
		{
			name: "429 waits Retry-After",
			cfg:  Config{Retries: 2, WaitMin: 100 * time.Millisecond, WaitMax: 100 * time.Millisecond},
			answer: func(n int, r *http.Request) (*http.Response, error) {
				if n == 1 {
					return respond(r, 429, http.Header{"Retry-After": {"3"}}), nil
				}
				return respond(r, 200, nil), nil
			},
			want: Delivered, wantAttempts: 2, wantElapsed: 3 * time.Second,
		},
		{
			name: "503 Retry-After is clamped",
			cfg:  Config{Retries: 1, WaitMin: 100 * time.Millisecond, WaitMax: 100 * time.Millisecond, RetryAfterMax: 10 * time.Second},
			answer: func(n int, r *http.Request) (*http.Response, error) {
				return respond(r, 503, http.Header{"Retry-After": {"3600"}}), nil
			},
			want: Failed, wantAttempts: 2, wantElapsed: 10 * time.Second,
		},
		{
			name:    "each attempt gets the full timeout, then a backoff",
			cfg:     Config{Retries: 1, WaitMin: 500 * time.Millisecond, WaitMax: 500 * time.Millisecond},
			timeout: 2 * time.Second,
			answer: func(_ int, r *http.Request) (*http.Response, error) {
				<-r.Context().Done()
				return nil, r.Context().Err()
			},
			want: Failed, wantAttempts: 2, wantElapsed: 4500 * time.Millisecond,
		},
		{
			name: "backoff without Retry-After stays within its bounds",
			cfg:  Config{Retries: 2, WaitMin: time.Second, WaitMax: 4 * time.Second},
			answer: func(n int, r *http.Request) (*http.Response, error) {
				if n < 3 {
					return respond(r, 500, nil), nil
				}
				return respond(r, 204, nil), nil
			},
			// Waits: [1s, 2s] after the first attempt, [1s, 4s] after the second.
			want: Delivered, wantAttempts: 3, wantElapsed: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := 0
				c := withTransport(tt.cfg, fakeTransport(func(r *http.Request) (*http.Response, error) {
					n++
					return tt.answer(n, r)
				}))
				timeout := tt.timeout
				if timeout == 0 {
					timeout = time.Minute
				}
				start := time.Now()
				out := c.Send(context.Background(), Request{URL: "http://hooks.example/x", Timeout: timeout})
				elapsed := time.Since(start)
				if out.Result != tt.want || out.Attempts != tt.wantAttempts {
					t.Fatalf("outcome %v after %d attempts (%v), want %v after %d", out.Result, out.Attempts, out.Err, tt.want, tt.wantAttempts)
				}
				switch {
				case tt.wantElapsed >= 0 && elapsed != tt.wantElapsed:
					t.Errorf("took %s, want exactly %s", elapsed, tt.wantElapsed)
				case tt.wantElapsed < 0 && (elapsed < 2*time.Second || elapsed > 6*time.Second):
					t.Errorf("took %s, want between 2s and 6s", elapsed)
				}
			})
		})
	}
}

// TestErrorsRedactURL: errors carry the URL without its query or
// credentials, since they reach logs, attempt records and dead letters.
func TestErrorsRedactURL(t *testing.T) {
	c := withTransport(Config{}, fakeTransport(func(*http.Request) (*http.Response, error) {
		return nil, io.ErrUnexpectedEOF
	}))
	out := c.Send(t.Context(), Request{URL: "http://user:hunter2@hooks.example/x?token=s3cret", Timeout: time.Second})
	if out.Result != Failed || out.Err == nil {
		t.Fatalf("outcome %+v", out)
	}
	for _, leak := range []string{"hunter2", "s3cret", "user"} {
		if strings.Contains(out.Err.Error(), leak) {
			t.Errorf("error %q contains %q", out.Err, leak)
		}
	}
	if !strings.Contains(out.Err.Error(), "hooks.example/x") {
		t.Errorf("error %q lost the redacted URL", out.Err)
	}
}
