package e2e_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/webhook"
)

// The console's browser tests drive Debian's Chromium, headless, through
// chromedp against a running `hookctl dev`: sign in, look up an event's
// attempts, replay a dead letter and see it delivered, pause and resume a
// subscription. A screenshot of each page goes to
// $HOOKLINE_CONSOLE_ARTIFACTS, by default e2e/artifacts/console/ (ignored
// by git). Without a Chromium they skip, saying how to get one.

// chromium returns the path of a Chromium or Chrome binary:
// $HOOKLINE_CHROMIUM if set, else the first of the usual names on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HOOKLINE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("SKIP: no Chromium found, so the console's browser tests cannot run. Install Debian's package " +
		"(apt-get install -y chromium) or point HOOKLINE_CHROMIUM at a Chromium or Chrome binary.")
	return ""
}

// artifacts returns the directory for the console's screenshots.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HOOKLINE_CONSOLE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(repoRoot, "e2e", "artifacts", "console")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts a headless Chromium and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests and CI run as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelTab)
	// Start the browser now, so a broken install fails here, clearly.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	return ctx
}

// consoleReceiver is a webhook endpoint whose answer can change; it
// verifies signatures and counts 2xx answers by webhook-id.
type consoleReceiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	status    int
	verifier  *webhook.Verifier
	delivered map[string]int
	bad       []string
}

func newConsoleReceiver(t *testing.T, status int) *consoleReceiver {
	t.Helper()
	r := &consoleReceiver{status: status, delivered: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.verifier == nil {
			r.bad = append(r.bad, "request before the secret was known")
		} else if err := r.verifier.Verify(req.Header, body); err != nil {
			r.bad = append(r.bad, err.Error())
		}
		if r.status < 300 {
			r.delivered[req.Header.Get(webhook.HeaderID)]++
		}
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *consoleReceiver) set(status int, secret string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
	if secret != "" {
		v, err := webhook.NewVerifier([]string{secret})
		if err != nil {
			return err
		}
		r.verifier = v
	}
	return nil
}

func (r *consoleReceiver) deliveredTimes(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delivered[id]
}

// startDevForConsole runs hookctl dev on an embedded Kafka and returns the
// API client and the console address its banner prints.
func startDevForConsole(t *testing.T) (*stack, string) {
	t.Helper()
	kafkaAddr, apiAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	p := start(t, "hookctl", nil, "dev", "--ephemeral", "--kafka-addr", kafkaAddr, "--api-addr", apiAddr, "--ops-port", "0", "--partitions", "2")
	key := devKey(t, p)
	consoleRE := regexp.MustCompile(`console +(http://\S+/console/)`)
	var consoleURL string
	f, err := os.Open(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := consoleRE.FindStringSubmatch(sc.Text()); m != nil {
			consoleURL = m[1]
		}
	}
	f.Close()
	if want := "http://" + apiAddr + "/console/"; consoleURL != want {
		t.Fatalf("hookctl dev's banner shows the console at %q, want %q", consoleURL, want)
	}
	return &stack{api: "http://" + apiAddr, apiKey: key}, consoleURL
}

func TestConsoleInBrowser(t *testing.T) {
	ctx := browser(t) // skips without Chromium, before anything starts
	s, consoleURL := startDevForConsole(t)
	shots := artifacts(t)

	// A subscription whose endpoint refuses at first: its first event is
	// dead-lettered at once (400 is not retried), the second delivered.
	recv := newConsoleReceiver(t, http.StatusBadRequest)
	const subID = "orders-eu"
	var created struct {
		Secret string `json:"secret"`
	}
	proctest.Eventually(t, 60*time.Second, "the subscription API", func() bool {
		return s.call(t, "POST", "/v1/subscriptions", map[string]any{
			"id": subID, "url": recv.srv.URL + "/webhook", "event_types": []string{"payment_success"}, "format": "raw",
		}, &created) == 201
	})
	if err := recv.set(http.StatusBadRequest, created.Secret); err != nil {
		t.Fatal(err)
	}
	send := func(customer string) string {
		t.Helper()
		var ids struct {
			IDs []string `json:"ids"`
		}
		if code := s.call(t, "POST", "/v1/events", map[string]any{"type": "payment_success", "amount": 49.99, "customer": customer}, &ids); code != 202 || len(ids.IDs) != 1 {
			t.Fatalf("publishing: %d %v", code, ids.IDs)
		}
		return ids.IDs[0]
	}
	refused := send("refused@example.com")
	refusedDelivery := record.DeliveryID("urn:hookline:producer", refused, subID)
	proctest.Eventually(t, 60*time.Second, "the refused event in the dead-letter topic", func() bool {
		var dl struct {
			Total int `json:"total"`
		}
		s.call(t, "GET", "/v1/dead-letters?event_id="+refused, nil, &dl)
		return dl.Total == 1
	})
	if err := recv.set(http.StatusOK, ""); err != nil {
		t.Fatal(err)
	}
	ok := send("alice@example.com")
	okDelivery := record.DeliveryID("urn:hookline:producer", ok, subID)
	proctest.Eventually(t, 60*time.Second, "the second event at the receiver", func() bool { return recv.deliveredTimes(okDelivery) == 1 })
	// The overview counts attempt records, which the dispatcher writes
	// up to a tenth of a second after the POST.
	proctest.Eventually(t, 60*time.Second, "the second event's attempt record", func() bool {
		var at struct {
			Total int `json:"total"`
		}
		s.call(t, "GET", "/v1/attempts?event_id="+ok, nil, &at)
		return at.Total == 1
	})

	b := &page{t: t, ctx: ctx, dir: shots}

	t.Run("sign in", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Navigate(consoleURL), chromedp.WaitVisible(chromedp.ID("api-key")))
		b.audit("sign-in")
		b.shot("01-sign-in")
		// A wrong key is refused, and the form says so.
		b.run(chromedp.SendKeys(chromedp.ID("api-key"), "not-a-key-0123456789"), chromedp.Click(chromedp.ID("sign-in")),
			chromedp.WaitVisible(chromedp.CSS("#login-error .error")))
		if msg := b.text("#login-error"); !strings.Contains(msg, "not accepted") {
			t.Fatalf("a wrong key: %q", msg)
		}
		b.run(chromedp.Evaluate[chromedp.Void](`document.getElementById('api-key').value = ''`),
			chromedp.SendKeys(chromedp.ID("api-key"), s.apiKey), chromedp.KeyEvent(kb.Enter), // the keyboard submits the form
			chromedp.WaitVisible(chromedp.ID("delivery-chart")), chromedp.WaitVisible(chromedp.ID("lag-table")),
			chromedp.WaitVisible(chromedp.ID("dlq-total")))
		// The key is in this tab's session storage, and nowhere else.
		local := value(b, chromedp.Evaluate[string](`JSON.stringify(localStorage)`))
		session := value(b, chromedp.Evaluate[string](`sessionStorage.getItem('hookline.console.key')`))
		if session != s.apiKey || strings.Contains(local, s.apiKey) {
			t.Fatalf("session storage %q, local storage %q", session, local)
		}
		if got := b.text("#delivered-total"); got != "1" {
			t.Errorf("overview: %s delivered in the last hour, want 1", got)
		}
		if got := b.text("#dlq-total"); got != "1" {
			t.Errorf("overview: %s dead letters, want 1", got)
		}
		if lag := b.text("#lag-table"); !strings.Contains(lag, "hookline-dispatcher") || !strings.Contains(lag, "hookline-router") {
			t.Errorf("overview lag table lacks the pipeline's groups: %q", lag)
		}
		b.audit("overview")
		b.shot("02-overview")
	})
	if t.Failed() {
		return
	}

	t.Run("look up an event's attempts", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Click(chromedp.CSS(`#nav a[data-page="events"]`)), chromedp.WaitVisible(chromedp.ID("event-id")),
			chromedp.SendKeys(chromedp.ID("event-id"), ok), chromedp.Click(chromedp.ID("look-up")),
			chromedp.WaitVisible(chromedp.CSS(`#event-results section[data-subscription="`+subID+`"] table`)))
		got := b.text("#event-results")
		for _, want := range []string{subID, "delivered", okDelivery, "success", "200"} {
			if !strings.Contains(got, want) {
				t.Errorf("the look-up of %s lacks %q:\n%s", ok, want, got)
			}
		}
		b.audit("event look-up")
		b.shot("03-event-look-up")
	})

	t.Run("replay a dead letter and see it delivered", func(t *testing.T) {
		b.t = t
		row := `#dlq-table tr[data-position]`
		b.run(chromedp.Click(chromedp.CSS(`#nav a[data-page="dead-letters"]`)), chromedp.WaitVisible(chromedp.CSS(row)))
		if got := b.text("#dlq-table tbody"); !strings.Contains(got, refused) || !strings.Contains(got, "rejected") {
			t.Fatalf("dead letters table: %q", got)
		}
		// Filter by reason and subscription: the form keeps them in the URL.
		b.run(chromedp.SetValue(chromedp.ID("f-reason"), "rejected"), chromedp.SetValue(chromedp.ID("f-subscription"), subID),
			chromedp.SetValue(chromedp.ID("f-since"), "1h"), chromedp.Click(chromedp.ID("apply-filter")),
			chromedp.WaitVisible(chromedp.CSS(row)))
		loc := value(b, chromedp.Location())
		if !strings.Contains(loc, "reason=rejected") || !strings.Contains(loc, "subscription_id="+subID) || !strings.Contains(loc, "since=1h") {
			t.Errorf("filtered URL %s", loc)
		}
		b.audit("dead letters")
		b.shot("04-dead-letters")
		// Inspect shows the record; Escape closes it.
		b.run(chromedp.Click(chromedp.CSS(row+` button`)), chromedp.WaitVisible(chromedp.CSS("#inspect-dialog pre")))
		if rec := b.text("#inspect-dialog pre"); !strings.Contains(rec, refusedDelivery) || !strings.Contains(rec, `"reason": "rejected"`) {
			t.Errorf("inspected record: %s", rec)
		}
		b.shot("05-dead-letter-inspect")
		b.run(chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(chromedp.ID("inspect-dialog")))

		// Select it, dry run, confirm.
		b.run(chromedp.Click(chromedp.CSS(row+` input[type="checkbox"]`)), chromedp.Click(chromedp.ID("replay-selected")),
			chromedp.WaitVisible(chromedp.ID("dry-run-summary")))
		if got := b.text("#dry-run-summary"); !strings.Contains(got, "1 dead letter would be replayed") {
			t.Fatalf("dry run: %q", got)
		}
		b.shot("06-replay-dry-run")
		if n := recv.deliveredTimes(refusedDelivery); n != 0 {
			t.Fatalf("the dry run delivered %d times", n)
		}
		b.run(chromedp.Click(chromedp.ID("dialog-confirm")), chromedp.WaitVisible(chromedp.ID("replay-result")))
		if got := b.text("#replay-result"); !strings.Contains(got, "Replayed 1 dead letter") {
			t.Fatalf("replay result: %q", got)
		}
		proctest.Eventually(t, 60*time.Second, "the replayed dead letter at the receiver", func() bool { return recv.deliveredTimes(refusedDelivery) == 1 })
		// The console sees it delivered too: its attempts now end in a
		// success, under the original webhook-id.
		b.run(chromedp.Click(chromedp.CSS(`#replay-result a[href="#/events/` + refused + `"]`)))
		proctest.Eventually(t, 60*time.Second, "the console showing the replayed event delivered", func() bool {
			b.run(chromedp.WaitVisible(chromedp.ID("event-results")))
			if strings.Contains(b.text(`#event-results`), "delivered") {
				return true
			}
			b.run(chromedp.Click(chromedp.ID("look-up")))
			return false
		})
		got := b.text("#event-results")
		for _, want := range []string{refusedDelivery, "rejected", "success", "400", "200"} {
			if !strings.Contains(got, want) {
				t.Errorf("the replayed event's look-up lacks %q:\n%s", want, got)
			}
		}
		b.shot("07-replayed-event")
	})

	t.Run("pause and resume a subscription", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Click(chromedp.CSS(`#nav a[data-page="subscriptions"]`)), chromedp.WaitVisible(chromedp.CSS(`#subscriptions-table tr[data-id="`+subID+`"]`)))
		if got := b.text(`#subscriptions-table tr[data-id="` + subID + `"]`); !strings.Contains(got, "active") || !strings.Contains(got, "%") {
			t.Errorf("subscription row: %q", got)
		}
		b.audit("subscriptions")
		b.shot("08-subscriptions")
		b.run(chromedp.Click(chromedp.CSS(`#subscriptions-table a[href="#/subscriptions/`+subID+`"]`)),
			chromedp.WaitVisible(chromedp.ID("settings")), chromedp.WaitVisible(chromedp.CSS("#attempts table")))
		settings := b.text("#settings")
		if strings.Contains(settings, created.Secret) || !strings.Contains(settings, "1 (hidden)") {
			t.Errorf("settings show a secret or no count of them: %q", settings)
		}
		b.audit("subscription")
		b.shot("09-subscription")

		// Escape cancels the confirmation: nothing changes.
		b.run(chromedp.Click(chromedp.ID("pause")), chromedp.WaitVisible(chromedp.ID("pause-reason")), chromedp.KeyEvent(kb.Escape),
			chromedp.WaitNotPresent(chromedp.CSS("dialog")))
		if st := subState(t, s, subID); st != record.StateActive {
			t.Fatalf("after a cancelled pause the subscription is %s", st)
		}
		b.run(chromedp.Click(chromedp.ID("pause")), chromedp.WaitVisible(chromedp.ID("pause-reason")),
			chromedp.SendKeys(chromedp.ID("pause-reason"), "receiver maintenance"))
		b.shot("10-pause-confirm")
		b.run(chromedp.Click(chromedp.ID("dialog-confirm")), chromedp.WaitVisible(chromedp.ID("resume")), chromedp.WaitVisible(chromedp.ID("action-result")))
		if st := subState(t, s, subID); st != record.StatePaused {
			t.Fatalf("after pausing in the console the subscription is %s", st)
		}
		if got := b.text("#page-title"); !strings.Contains(got, "paused") {
			t.Errorf("heading after pausing: %q", got)
		}
		b.shot("11-subscription-paused")
		b.run(chromedp.Click(chromedp.ID("resume")), chromedp.WaitVisible(chromedp.ID("dialog-confirm")), chromedp.Click(chromedp.ID("dialog-confirm")),
			chromedp.WaitVisible(chromedp.ID("pause")))
		if st := subState(t, s, subID); st != record.StateActive {
			t.Fatalf("after resuming in the console the subscription is %s", st)
		}
		if got := b.text("#page-title"); !strings.Contains(got, "active") {
			t.Errorf("heading after resuming: %q", got)
		}

		// Rotate, confirmed first: the new secret is shown once.
		b.run(chromedp.Click(chromedp.ID("rotate")), chromedp.WaitVisible(chromedp.ID("rotate-grace")), chromedp.Click(chromedp.ID("dialog-confirm")),
			chromedp.WaitVisible(chromedp.ID("new-secret")))
		secret := value(b, chromedp.Value(chromedp.ID("new-secret")))
		if !strings.HasPrefix(secret, "whsec_") || secret == created.Secret {
			t.Fatalf("rotated secret %q", secret)
		}
		b.shot("12-secret-rotated")
		b.run(chromedp.Click(chromedp.ID("dialog-cancel")), chromedp.WaitVisible(chromedp.ID("action-result")))
		// The settings are drawn again once the console has read the
		// rotated subscription back, which may come after the result.
		proctest.Eventually(t, 30*time.Second, "the settings showing two signing secrets", func() bool {
			return strings.Contains(b.textNow("#settings"), "2 (hidden)")
		})
		if got := b.text("#settings"); strings.Contains(got, secret) {
			t.Errorf("settings after rotating show the new secret: %q", got)
		}
	})

	t.Run("event types", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Click(chromedp.CSS(`#nav a[data-page="event-types"]`)), chromedp.WaitVisible(chromedp.ID("type-payment_success")),
			chromedp.Click(chromedp.CSS(`#type-payment_success summary`)))
		if got := b.text(`#type-payment_success`); !strings.Contains(got, `"properties"`) {
			t.Errorf("payment_success shows no schema: %q", got)
		}
		b.audit("event types")
		b.shot("13-event-types")
	})

	t.Run("sign out", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("api-key")))
		session := value(b, chromedp.Evaluate[string](`String(sessionStorage.getItem('hookline.console.key'))`))
		if session != "null" {
			t.Fatalf("the key stayed in session storage: %q", session)
		}
	})
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.bad) > 0 {
		t.Fatalf("bad signatures: %v", recv.bad)
	}
	t.Logf("screenshots in %s", shots)
}

func subState(t *testing.T, s *stack, id string) string {
	t.Helper()
	var sub record.Subscription
	if code := s.call(t, "GET", "/v1/subscriptions/"+id, nil, &sub); code != 200 {
		t.Fatalf("GET subscription %s: %d", id, code)
	}
	return sub.State
}

// page drives the browser tab for one test at a time.
type page struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func (p *page) run(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	value(p, chromedp.Steps(steps...))
}

// value runs one action and returns its value; a failure ends the test
// with a screenshot and the page's text.
func value[T any](p *page, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.shot("failed-" + strings.NewReplacer(" ", "-", "/", "-").Replace(p.t.Name()))
		body, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("body")))
		p.t.Fatalf("browser: %v\npage text:\n%s", err, body)
	}
	return v
}

func (p *page) text(sel string) string {
	p.t.Helper()
	return value(p, chromedp.Text(chromedp.CSS(sel)))
}

// textNow is the text of sel, or "" when it cannot be read now: the
// console may be drawing the node again between finding and reading it
// ("No node with given id found"). For polling; text fails the test.
func (p *page) textNow(sel string) string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		return ""
	}
	return v
}

// shot saves a full-page screenshot as <dir>/<name>.png.
func (p *page) shot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(p.dir, name+".png"), png, 0o644); err != nil {
		p.t.Error(err)
	}
}

// auditJS checks what a machine can check of accessibility on the page
// as shown: a language, one h1, a name for every form control, button,
// link and chart, unique ids, and text contrast (WCAG 2 AA: 4.5:1, 3:1 for
// large text) against the nearest opaque background.
const auditJS = `(() => {
  const out = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) && getComputedStyle(el).visibility !== 'hidden';
  if (!document.documentElement.lang) out.push('<html> has no lang');
  const root = document.querySelector('dialog[open]') || document;
  const h1s = [...document.querySelectorAll('h1')].filter(visible);
  if (h1s.length !== 1) out.push('want one visible h1, have ' + h1s.length);
  for (const el of root.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!visible(el)) continue;
    if (!((el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))) out.push('unlabelled ' + el.outerHTML.slice(0, 100));
  }
  for (const el of root.querySelectorAll('button, a[href], summary')) {
    if (!visible(el)) continue;
    const name = el.textContent.trim() || el.getAttribute('aria-label') || el.querySelector('img[alt]:not([alt=""])');
    if (!name) out.push('nameless ' + el.outerHTML.slice(0, 100));
  }
  for (const el of document.querySelectorAll('svg[role=img]')) if (!el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) out.push('chart without a name');
  const ids = new Set();
  for (const el of document.querySelectorAll('[id]')) { if (ids.has(el.id)) out.push('duplicate id ' + el.id); ids.add(el.id); }
  const rgb = (s) => { const m = s.match(/[\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; };
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bgOf = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length < 4 || c[3] > 0.9) return c; } return [255, 255, 255]; };
  const walker = document.createTreeWalker(root === document ? document.body : root, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || !visible(el) || el.closest('svg, .visually-hidden, [disabled], option')) continue;
    seen.add(el);
    const cs = getComputedStyle(el);
    const fg = rgb(cs.color), bg = bgOf(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) out.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ' for "' + n.textContent.trim().slice(0, 40) + '"');
  }
  return out;
})()`

// audit fails the test on accessibility problems of the page shown, and
// checks that the keyboard reaches its controls: Tab moves focus to
// something focusable.
func (p *page) audit(what string) {
	p.t.Helper()
	problems := value(p, chromedp.Evaluate[[]string](auditJS))
	for _, pr := range problems {
		p.t.Errorf("%s: %s", what, pr)
	}
	p.run(chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur && document.activeElement.blur(), undefined`),
		chromedp.KeyEvent(kb.Tab))
	focused := value(p, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.tagName + ' ' + (document.activeElement.textContent || '').trim().slice(0, 30) : ''`))
	if focused == "" || strings.HasPrefix(focused, "BODY") {
		p.t.Errorf("%s: Tab focuses nothing (%q)", what, focused)
	}
}
