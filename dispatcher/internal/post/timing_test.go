package post

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
		answer         func(n int, r *http.Request) (*http.Response, error)
		want           Result
		wantAttempts   int
		wantElapsed    time.Duration
		wantRetryAfter time.Duration
	}{
		{
			// The caller schedules the next attempt: nothing waits here.
			name: "429 with Retry-After ends the quick retries at once",
			cfg:  Config{Retries: 2, WaitMin: 100 * time.Millisecond, WaitMax: 100 * time.Millisecond},
			answer: func(n int, r *http.Request) (*http.Response, error) {
				if n == 1 {
					return respond(r, 429, http.Header{"Retry-After": {"3"}}), nil
				}
				return respond(r, 200, nil), nil
			},
			want: Failed, wantAttempts: 1, wantElapsed: 0, wantRetryAfter: 3 * time.Second,
		},
		{
			name: "503 Retry-After is clamped",
			cfg:  Config{Retries: 1, WaitMin: 100 * time.Millisecond, WaitMax: 100 * time.Millisecond, RetryAfterMax: 10 * time.Second},
			answer: func(n int, r *http.Request) (*http.Response, error) {
				return respond(r, 503, http.Header{"Retry-After": {"3600"}}), nil
			},
			want: Failed, wantAttempts: 1, wantElapsed: 0, wantRetryAfter: 10 * time.Second,
		},
		{
			name: "503 without Retry-After is retried after a backoff",
			cfg:  Config{Retries: 1, WaitMin: 100 * time.Millisecond, WaitMax: 100 * time.Millisecond},
			answer: func(n int, r *http.Request) (*http.Response, error) {
				return respond(r, 503, nil), nil
			},
			want: Failed, wantAttempts: 2, wantElapsed: 100 * time.Millisecond,
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
				if out.Result != tt.want || out.Attempts != tt.wantAttempts || out.RetryAfter != tt.wantRetryAfter {
					t.Fatalf("outcome %v after %d attempts (%v), Retry-After %s; want %v after %d, Retry-After %s",
						out.Result, out.Attempts, out.Err, out.RetryAfter, tt.want, tt.wantAttempts, tt.wantRetryAfter)
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

// TestSlotReleasedDuringBackoff: the caller's slot is given back for the
// backoff between quick retries and taken again before the next attempt,
// so every attempt holds one and no wait does.
func TestSlotReleasedDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The observer goroutines read the count while Send runs: atomics
		// and a mutex, so that the race detector has nothing to report.
		var held atomic.Int32
		var mu sync.Mutex
		var heldAtAttempt, heldDuringWait []int32
		c := withTransport(Config{Retries: 2, WaitMin: time.Second, WaitMax: time.Second}, fakeTransport(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			heldAtAttempt = append(heldAtAttempt, held.Load())
			mu.Unlock()
			return respond(r, 500, nil), nil
		}))
		held.Store(1) // the caller takes the first slot before Send
		out := c.Send(context.Background(), Request{
			URL: "http://hooks.example/x", Timeout: time.Minute,
			Release: func() {
				held.Add(-1)
				go func() { // observe the slot mid-backoff
					time.Sleep(500 * time.Millisecond)
					mu.Lock()
					heldDuringWait = append(heldDuringWait, held.Load())
					mu.Unlock()
				}()
			},
			Acquire: func(context.Context) error { held.Add(1); return nil },
		})
		synctest.Wait()
		if out.Result != Failed || out.Attempts != 3 {
			t.Fatalf("outcome %v after %d attempts", out.Result, out.Attempts)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(heldAtAttempt, []int32{1, 1, 1}) || !slices.Equal(heldDuringWait, []int32{0, 0}) || held.Load() != 1 {
			t.Errorf("slots held at each attempt %v, during each backoff %v, at the end %d; want [1 1 1], [0 0], 1",
				heldAtAttempt, heldDuringWait, held.Load())
		}
	})
}

// TestAcquireFailureCancels: a slot that cannot be taken again (shutdown)
// ends the Send as Canceled, claiming no outcome.
func TestAcquireFailureCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := withTransport(Config{Retries: 2, WaitMin: time.Second, WaitMax: time.Second}, fakeTransport(func(r *http.Request) (*http.Response, error) {
			return respond(r, 500, nil), nil
		}))
		out := c.Send(context.Background(), Request{
			URL: "http://hooks.example/x", Timeout: time.Minute,
			Release: func() {},
			Acquire: func(context.Context) error { return context.Canceled },
		})
		if out.Result != Canceled || out.Attempts != 1 {
			t.Fatalf("outcome %v after %d attempts, want canceled after 1", out.Result, out.Attempts)
		}
	})
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
