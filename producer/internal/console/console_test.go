package console_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hookline/hookline/producer/internal/console"
)

func get(t *testing.T, h http.Handler, method, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServesTheBundle(t *testing.T) {
	h := console.New()
	for _, tt := range []struct {
		path, ctype, contains string
	}{
		{"/console/", "text/html; charset=utf-8", `<main id="main"`},
		{"/console/index.html", "text/html; charset=utf-8", `<html lang="en">`},
		{"/console/console.js", "text/javascript; charset=utf-8", "'use strict';"},
		{"/console/console.css", "text/css; charset=utf-8", ":focus-visible"},
		{"/console/favicon.svg", "image/svg+xml", "<svg"},
	} {
		rec := get(t, h, "GET", tt.path)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != tt.ctype || !strings.Contains(rec.Body.String(), tt.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tt.path, rec.Code, rec.Header().Get("Content-Type"), tt.contains, strings.Contains(rec.Body.String(), tt.contains))
		}
		for k, want := range map[string]string{
			"Content-Security-Policy": console.ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-cache",
		} {
			if got := rec.Header().Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", tt.path, k, got, want)
			}
		}
		// Revalidation answers 304 while the file is unchanged.
		if etag := rec.Header().Get("ETag"); etag == "" {
			t.Errorf("GET %s: no ETag", tt.path)
		} else if again := get(t, h, "GET", tt.path, "If-None-Match", etag); again.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: %d", tt.path, again.Code)
		}
	}
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/console/nope.js", http.StatusNotFound},
		{"GET", "/console/../openapi.json", http.StatusNotFound},
		{"GET", "/elsewhere", http.StatusNotFound},
		{"HEAD", "/console/", http.StatusOK},
		{"POST", "/console/", http.StatusMethodNotAllowed},
	} {
		if rec := get(t, h, tt.method, tt.path); rec.Code != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, rec.Code, tt.status)
		}
	}
}

// TestBundleIsSelfContained checks what the Content-Security-Policy
// relies on and what the issue asks: every file the page loads is in the
// bundle, nothing comes from another host, and there is no inline script,
// style or event handler. It also keeps the script from parsing API
// values as HTML.
func TestBundleIsSelfContained(t *testing.T) {
	h := console.New()
	files := h.Files()
	for _, name := range []string{"index.html", "console.js", "console.css", "favicon.svg"} {
		if !slices.Contains(files, name) {
			t.Errorf("the bundle lacks %s (has %v)", name, files)
		}
	}
	index := get(t, h, "GET", "/console/").Body.String()
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(index, -1) {
		ref := m[1]
		if ref == "/openapi.json" { // the <noscript> pointer to the API's document
			continue
		}
		if strings.Contains(ref, "//") || strings.HasPrefix(ref, "/") {
			t.Errorf("index.html loads %s from outside the bundle", ref)
		} else if !slices.Contains(files, ref) {
			t.Errorf("index.html loads %s, which the bundle lacks", ref)
		}
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(index) || strings.Contains(index, "<style") ||
		regexp.MustCompile(`\son[a-z]+=`).MatchString(index) || strings.Contains(index, "style=") {
		t.Error("index.html has inline script, style or event handlers, which the Content-Security-Policy refuses")
	}
	for _, name := range files {
		body := get(t, h, "GET", "/console/"+name).Body.String()
		// The SVG namespace is a name, not a fetch.
		rest := strings.ReplaceAll(body, "http://www.w3.org/2000/svg", "")
		if strings.Contains(rest, "http://") || strings.Contains(rest, "https://") || strings.Contains(rest, "@import") {
			t.Errorf("%s refers to another host", name)
		}
	}
	js := get(t, h, "GET", "/console/console.js").Body.String()
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage"} {
		if strings.Contains(js, bad) {
			t.Errorf("console.js uses %s", bad)
		}
	}
	if !strings.Contains(js, "sessionStorage") {
		t.Error("console.js keeps the key somewhere other than sessionStorage")
	}
}
