// Package console is Hookline's web console: a small static bundle (one
// HTML page, a script and a style sheet, embedded in the binary) that the
// producer serves at /console/. Its pages call the producer's JSON API
// (/v1/...) from the browser with the admin API key the user signs in
// with, so the console has no data path of its own and needs no key to be
// served: the key is kept in the browser tab's sessionStorage only.
//
// The pages: an overview (deliveries and failures per minute, consumer
// group lag, dead-letter count), the subscriptions with their state,
// success rate and last attempt, one subscription (settings with secrets
// hidden, recent attempts, pause, resume and rotate, each confirmed),
// event look-up by id, dead letters (filter, inspect, replay after a dry
// run) and the event types with their schemas. Navigation is by URL
// fragment (#/subscriptions/abc), so every page is a link.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Prefix is where the console is served.
const Prefix = "/console/"

// ContentSecurityPolicy is sent with every file of the console: scripts,
// styles and API calls from the producer's own origin only, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// file is one embedded file, ready to serve.
type file struct {
	name  string
	body  []byte
	ctype string
	etag  string
}

// Handler serves the console under Prefix: the page at Prefix itself, its
// script and styles beside it, 404 for anything else. Files are
// revalidated on every load (Cache-Control: no-cache, with an ETag), so an
// upgraded producer serves its new console at once.
type Handler struct {
	files map[string]*file
}

// New returns the console's handler.
func New() *Handler {
	h := &Handler{files: map[string]*file{}}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // not every system's MIME table knows these
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".html":
			ctype = "text/html; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		h.files[p] = &file{name: p, body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return h
}

// Files lists the names of the console's files, as served under Prefix.
func (h *Handler) Files() []string {
	out := make([]string, 0, len(h.files))
	for name := range h.files {
		out = append(out, name)
	}
	return out
}

// ServeHTTP serves GET and HEAD requests under Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	f := h.files[name]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	hd.Set("Content-Type", f.ctype)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
