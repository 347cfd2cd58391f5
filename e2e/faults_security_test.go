package e2e_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/schemas/webhook"
)

// trap is a TCP listener no webhook may reach: it counts the connections
// it accepts and closes them.
type trap struct {
	addr  string
	conns atomic.Int64
}

// newTrap listens on host at port (0: any) or skips the vector when the
// machine has no such address (IPv6 loopback).
func newTrap(t *testing.T, host, port string) *trap {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		t.Logf("no trap on %s: %v", host, err)
		return nil
	}
	tr := &trap{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tr.conns.Add(1)
			c.Close()
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return tr
}

// receiverOn is a fault receiver listening on addr instead of httptest's
// 127.0.0.1.
func receiverOn(t *testing.T, addr string, do behaviour) *faultReceiver {
	t.Helper()
	r := &faultReceiver{do: do, hits: map[string]*hit{}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(r.handler())
	r.srv.Listener.Close()
	r.srv.Listener = ln
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

// secrets are the API keys and signing secrets the suite used; the log
// scan looks for each.
var secrets = struct {
	sync.Mutex
	set map[string]bool
}{set: map[string]bool{}}

func noteSecret(s string) {
	secrets.Lock()
	secrets.set[s] = true
	secrets.Unlock()
}

// securityScenario runs the pipeline with an SSRF guard that allows only
// 127.0.0.3, where the one legitimate receiver listens, and subscribes
// the loopback vectors of the SSRF table to the same events: each must be
// dead-lettered "refused" without a connection to its trap. (Private,
// link-local, metadata and the IANA ranges are checked by
// dispatcher/internal/ssrf's tests at dial time: this suite sends no
// packet off the loopback.) It then checks the signatures the legitimate
// receiver got against tampering and replay, and the API's keys and
// scopes on the real producer.
func securityScenario(t *testing.T, b *ownBroker) []tally {
	began := time.Now()
	const ingestKey = "e2e-fault-ingest-key-0123456789"
	noteSecret(ingestKey)
	f := newFleet(t, b, fleetOpts{partitions: 3, routers: 1, dispatchers: 1, env: map[string]string{
		"HOOKLINE_ALLOW_CIDRS":     "127.0.0.3/32",
		"HOOKLINE_INGEST_API_KEYS": ingestKey,
		"HOOKLINE_RETRY_SCHEDULE":  "1s,2s",
	}})
	var mu sync.Mutex
	var captured []*http.Request
	good := f.subscribe("security: the allowed receiver (127.0.0.3)", receiverOn(t, "127.0.0.3:0", func(w http.ResponseWriter, r *http.Request, _ int) bool {
		mu.Lock()
		captured = append(captured, r.Clone(r.Context()))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return true
	}), faultEventType, nil)

	port := freePortAll(t)
	traps := map[string]*trap{}
	for _, h := range []string{"127.0.0.1", "127.0.0.2", "::1"} {
		if tr := newTrap(t, h, port); tr != nil {
			traps[h] = tr
		}
	}
	type vector struct {
		url, what string
	}
	vectors := []vector{
		{"http://127.0.0.2:" + port + "/hook", "loopback elsewhere in 127.0.0.0/8"},
		{"http://127.0.0.1:" + port + "/hook", "loopback"},
		{"http://localhost:" + port + "/hook", "a name that resolves to loopback"},
		{"http://[::ffff:127.0.0.2]:" + port + "/hook", "IPv4-mapped IPv6"},
		{"http://[::ffff:7f00:2]:" + port + "/hook", "IPv4-mapped IPv6, hex"},
		{"http://0.0.0.0:" + port + "/hook", "unspecified (Linux connects it to this host)"},
		{"http://[::]:" + port + "/hook", "IPv6 unspecified"},
		{"http://user:pw@127.0.0.2:" + port + "/hook?token=t", "loopback with credentials in the URL"},
	}
	if traps["::1"] != nil {
		vectors = append(vectors, vector{"http://[::1]:" + port + "/hook", "IPv6 loopback"})
	}
	var ssrfSubs []*sub
	for _, v := range vectors {
		s := f.subscribeURL("ssrf: "+v.what, v.url, faultEventType, map[string]any{"breaker_failures": -1})
		ssrfSubs = append(ssrfSubs, s)
	}
	dlq := f.readDLQ()
	l := f.startLoad(20, 20)
	l.wait()
	out := []tally{f.settle(good.name, l, dlq, []*sub{good}, nil, began, 120*time.Second)}
	for _, s := range ssrfSubs {
		shown := strings.Replace(strings.TrimPrefix(s.url, "http://"), ":"+port+"/", ":port/", 1)
		x := f.settle(s.name+", "+shown, l, dlq, []*sub{s}, nil, began, 60*time.Second)
		if x.Reasons["refused"] != x.Expected {
			t.Errorf("%s: dead letters %v of %d expected, want every one refused", s.name, x.Reasons, x.Expected)
		}
		out = append(out, x)
	}
	for h, tr := range traps {
		if n := tr.conns.Load(); n > 0 {
			t.Errorf("the trap on %s accepted %d connections: the SSRF guard let a webhook through", h, n)
		}
	}
	dlq.mu.Lock()
	for _, dl := range dlq.recs {
		if dl.Reason == "refused" && !strings.Contains(dl.LastError, "ssrf") {
			t.Errorf("refused dead letter's error %q does not say the SSRF guard refused it", dl.LastError)
			break
		}
		if strings.Contains(dl.LastError, "pw@") || strings.Contains(dl.LastError, "token=t") {
			t.Errorf("dead letter error %q carries the URL's credentials", dl.LastError)
			break
		}
	}
	dlq.mu.Unlock()

	verifierChecks(t, good, captured, &mu)
	authChecks(t, f, ingestKey)
	return out
}

// freePortAll is a port free on 127.0.0.1, 127.0.0.2 and ::1 alike.
func freePortAll(t *testing.T) string {
	t.Helper()
	for range 100 {
		_, p, _ := net.SplitHostPort(proctest.FreeAddr(t))
		ok := true
		for _, h := range []string{"127.0.0.2", "::1"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(h, p))
			if err != nil {
				if h == "::1" && !strings.Contains(err.Error(), "in use") {
					continue // no IPv6 loopback: newTrap skips it
				}
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no port free on every loopback address")
	return ""
}

// verifierChecks replays what the legitimate receiver got through the
// Standard Webhooks verifier: the request as sent verifies; a flipped byte
// of the body, another signature, another webhook-id, a moved timestamp,
// and the same request replayed six minutes later are all rejected.
func verifierChecks(t *testing.T, s *sub, captured []*http.Request, mu *sync.Mutex) {
	t.Helper()
	mu.Lock()
	reqs := slices.Clone(captured)
	mu.Unlock()
	if len(reqs) == 0 {
		t.Error("verifier: no request captured")
		return
	}
	r := reqs[0]
	body := s.recv.bodyOf(r.Header.Get(webhook.HeaderID))
	var sec int64
	if _, err := fmt.Sscan(r.Header.Get(webhook.HeaderTimestamp), &sec); err != nil {
		t.Fatalf("verifier: webhook-timestamp %q: %v", r.Header.Get(webhook.HeaderTimestamp), err)
	}
	// at is a verifier whose clock reads d after the request was signed.
	at := func(d time.Duration) *webhook.Verifier {
		v, err := webhook.NewVerifier([]string{s.secret}, webhook.WithClock(func() time.Time { return time.Unix(sec, 0).Add(d) }))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	other := func(k, v string) http.Header {
		h := r.Header.Clone()
		h.Set(k, v)
		return h
	}
	flipped := slices.Clone(body)
	flipped[len(flipped)/2] ^= 1
	cases := []struct {
		name string
		h    http.Header
		body []byte
		v    *webhook.Verifier
		want error
	}{
		{"as sent", r.Header, body, at(time.Second), nil},
		{"a flipped byte of the body", r.Header, flipped, at(time.Second), webhook.ErrNoMatchingSigning},
		{"a forged signature", other(webhook.HeaderSignature, "v1,"+strings.Repeat("A", 43)+"="), body, at(time.Second), webhook.ErrNoMatchingSigning},
		{"a truncated signature", other(webhook.HeaderSignature, r.Header.Get(webhook.HeaderSignature)[:20]), body, at(time.Second), webhook.ErrNoMatchingSigning},
		{"another webhook-id", other(webhook.HeaderID, r.Header.Get(webhook.HeaderID)+"x"), body, at(time.Second), webhook.ErrNoMatchingSigning},
		{"a timestamp moved by one second", other(webhook.HeaderTimestamp, fmt.Sprint(sec+1)), body, at(time.Second), webhook.ErrNoMatchingSigning},
		{"replayed six minutes later", r.Header, body, at(6 * time.Minute), webhook.ErrTimestampTooOld},
		{"replayed a day later", r.Header, body, at(24 * time.Hour), webhook.ErrTimestampTooOld},
		{"no signature", other(webhook.HeaderSignature, ""), body, at(time.Second), webhook.ErrMissingHeaders},
	}
	for _, c := range cases {
		err := c.v.Verify(c.h, c.body)
		if (c.want == nil && err != nil) || !errors.Is(err, c.want) {
			t.Errorf("verifier, %s: %v, want %v", c.name, err, c.want)
		} else {
			t.Logf("verifier, %s: %v", c.name, err)
		}
	}
}

// authChecks asks the real producer with no key, a wrong key, an ingest
// key and an admin key: 401 and 403 are JSON errors, the ingest key may
// only ingest.
func authChecks(t *testing.T, f *fleet, ingestKey string) {
	t.Helper()
	cases := []struct {
		name, method, path, auth, body string
		want                           int
	}{
		{"no key, ingest", "POST", "/v1/events", "", `{"type":"fault.test","seq":-1}`, 401},
		{"wrong key, ingest", "POST", "/v1/events", "Bearer " + strings.Repeat("x", 24), `{"type":"fault.test","seq":-1}`, 401},
		{"admin key without Bearer", "POST", "/v1/events", f.apiKey, `{"type":"fault.test","seq":-1}`, 401},
		{"admin key as a prefix", "GET", "/v1/subscriptions", "Bearer " + f.apiKey[:len(f.apiKey)-1], "", 401},
		{"no key, admin", "GET", "/v1/subscriptions", "", "", 401},
		{"ingest key, list subscriptions", "GET", "/v1/subscriptions", "Bearer " + ingestKey, "", 403},
		{"ingest key, create subscription", "POST", "/v1/subscriptions", "Bearer " + ingestKey, `{"url":"http://127.0.0.3:1/x","event_types":["*"]}`, 403},
		{"ingest key, dead letters", "GET", "/v1/dead-letters", "Bearer " + ingestKey, "", 403},
		{"ingest key, replay", "POST", "/v1/dead-letters/replay", "Bearer " + ingestKey, "{}", 403},
		{"ingest key, ingest", "POST", "/v1/events", "Bearer " + ingestKey, `{"type":"other.type","seq":-1}`, 202},
		{"admin key, list subscriptions", "GET", "/v1/subscriptions", "Bearer " + f.apiKey, "", 200},
	}
	for _, c := range cases {
		var rd io.Reader
		if c.body != "" {
			rd = strings.NewReader(c.body)
		}
		req, _ := http.NewRequestWithContext(t.Context(), c.method, f.api+c.path, rd)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("auth, %s: %v", c.name, err)
			continue
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("auth, %s: %d %s, want %d", c.name, resp.StatusCode, raw, c.want)
			continue
		}
		if c.want >= 400 && (resp.Header.Get("Content-Type") != "application/json" || !bytes.Contains(raw, []byte(`"error"`))) {
			t.Errorf("auth, %s: %d is not a JSON error: %s", c.name, c.want, raw)
		}
	}
}

// signaturePattern is a Standard Webhooks signature; secretPattern a
// signing secret.
var (
	signaturePattern = regexp.MustCompile(`v1,[A-Za-z0-9+/]{43}=`)
	secretPattern    = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]{8,}`)
)

// scanLogs reads every line every process of this test binary wrote and
// fails for each that holds an API key, a signing secret the suite used,
// anything shaped like a secret or a signature, or an Authorization
// header. It returns the number of lines read.
func scanLogs(t *testing.T) (files, lines int) {
	t.Helper()
	secrets.Lock()
	known := slices.Collect(maps.Keys(secrets.set))
	secrets.Unlock()
	paths, err := filepath.Glob(filepath.Join(logDir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, p := range paths {
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		n := 0
		for sc.Scan() {
			n++
			line := sc.Text()
			what := ""
			switch {
			case signaturePattern.MatchString(line):
				what = "a webhook signature"
			case secretPattern.MatchString(line):
				what = "a signing secret"
			case strings.Contains(strings.ToLower(line), "bearer "):
				what = "an Authorization header"
			}
			for _, s := range known {
				if strings.Contains(line, s) {
					what = "a secret the suite used"
				}
			}
			if what != "" {
				bad++
				if bad <= 5 {
					t.Errorf("%s line %d holds %s: %.300s", filepath.Base(p), n, what, line)
				}
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Errorf("reading %s: %v", p, err)
		}
		lines += n
	}
	if bad > 5 {
		t.Errorf("... %d log lines in all hold secrets or signatures", bad)
	}
	return len(paths), lines
}
