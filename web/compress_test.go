package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/static"
)

// raw reads a response's body as sent: the requests here set
// Accept-Encoding themselves, so the client does not decompress.
func raw(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ungzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("body is not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return string(out)
}

func hasVary(resp *http.Response) bool {
	for _, v := range resp.Header.Values("Vary") {
		if strings.Contains(v, "Accept-Encoding") {
			return true
		}
	}
	return false
}

// Pages are gzipped for clients that accept it, whole and with the
// security headers and no-store intact; others get them as they are.
func TestPagesCompressed(t *testing.T) {
	h := newHarness(t)
	c := h.client()

	// The sign-in form is the same page on every request.
	gzResp := h.get(c, "/login", "Accept-Encoding", "gzip, deflate, br")
	gzBody := raw(t, gzResp)
	idResp := h.get(c, "/login", "Accept-Encoding", "identity")
	idBody := raw(t, idResp)
	if gzResp.StatusCode != 200 || gzResp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip accepted: %d, Content-Encoding %q", gzResp.StatusCode, gzResp.Header.Get("Content-Encoding"))
	}
	if got := ungzip(t, gzBody); got != string(idBody) || !strings.Contains(got, "</html>") {
		t.Errorf("gzip page differs from the identity page (%d vs %d bytes)", len(got), len(idBody))
	}
	if len(gzBody) >= len(idBody)*2/3 {
		t.Errorf("gzip page %d bytes of %d", len(gzBody), len(idBody))
	}
	if gzResp.Header.Get("Content-Length") != strconv.Itoa(len(gzBody)) {
		t.Errorf("gzip Content-Length %q, body %d bytes", gzResp.Header.Get("Content-Length"), len(gzBody))
	}
	if idResp.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(strings.ToLower(string(idBody)), "<!doctype html>") {
		t.Errorf("identity: Content-Encoding %q, body %.40q", idResp.Header.Get("Content-Encoding"), idBody)
	}
	for name, resp := range map[string]*http.Response{"gzip": gzResp, "identity": idResp} {
		if !hasVary(resp) {
			t.Errorf("%s: Vary = %q", name, resp.Header.Values("Vary"))
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control = %q, want no-store", name, got)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP = %q", name, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers lost: %v", name, resp.Header)
		}
	}

	// q=0 refuses gzip.
	for _, ae := range []string{"gzip;q=0", "gzip;q=0, *;q=1", "br"} {
		resp := h.get(c, "/login", "Accept-Encoding", ae)
		b := raw(t, resp)
		if resp.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(strings.ToLower(string(b)), "<!doctype html>") {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", ae, resp.Header.Get("Content-Encoding"))
		}
	}

	// A signed-in screen and HEAD on it.
	v := h.operator("v@atum.io", auth.Viewer)
	resp := h.get(v, "/", "Accept-Encoding", "gzip")
	page := ungzip(t, raw(t, resp))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(page, "</html>") {
		t.Fatalf("overview: %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("overview: Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	req, _ := http.NewRequest(http.MethodHead, h.ts.URL+"/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	head, err := v.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := raw(t, head); head.StatusCode != 200 || len(b) != 0 || head.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("HEAD: %d, %d bytes, Content-Encoding %q", head.StatusCode, len(b), head.Header.Get("Content-Encoding"))
	}

	// The error page is whole, compressed or not.
	nf := h.get(v, "/nope", "Accept-Encoding", "gzip")
	if b := raw(t, nf); nf.StatusCode != 404 || nf.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(ungzip(t, b), "</html>") {
		t.Errorf("error page: %d, Content-Encoding %q", nf.StatusCode, nf.Header.Get("Content-Encoding"))
	}
}

// Small bodies and bodiless answers are left alone.
func TestSmallAndEmptyNotCompressed(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	resp := h.get(c, "/healthz", "Accept-Encoding", "gzip")
	if b := raw(t, resp); resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || string(b) != "ok\n" {
		t.Errorf("healthz: %d, Content-Encoding %q, %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), b)
	}
	if resp.Header.Get("Content-Length") != "3" {
		t.Errorf("healthz: Content-Length %q", resp.Header.Get("Content-Length"))
	}
	redirect := h.get(c, "/", "Accept-Encoding", "gzip")
	if b := raw(t, redirect); redirect.StatusCode != http.StatusSeeOther || redirect.Header.Get("Content-Encoding") != "" ||
		!strings.HasPrefix(redirect.Header.Get("Location"), "/login") || len(b) != 0 {
		t.Errorf("redirect: %d, Content-Encoding %q, Location %q, %d bytes", redirect.StatusCode,
			redirect.Header.Get("Content-Encoding"), redirect.Header.Get("Location"), len(b))
	}
}

var cssHref = regexp.MustCompile(`<link rel="stylesheet" href="(/static/css/console\.[0-9a-f]{12}\.css)"`)

// Pages link the stylesheet by its content hash; that name is cached for a
// year, revalidates with a strong ETag and comes pre-compressed.
func TestHashedStylesheet(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	m := cssHref.FindStringSubmatch(body(h.get(c, "/login")))
	if m == nil {
		t.Fatal("the page links no hashed stylesheet")
	}
	if m[1] != static.Path("css/console.css") {
		t.Errorf("page links %s, static.Path says %s", m[1], static.Path("css/console.css"))
	}
	css, err := fs.ReadFile(static.FS, "css/console.css")
	if err != nil {
		t.Fatal(err)
	}

	resp := h.get(c, m[1], "Accept-Encoding", "gzip")
	gz := raw(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || ungzip(t, gz) != string(css) {
		t.Fatalf("hashed css: %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("hashed css: Cache-Control = %q", got)
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Errorf("hashed css: ETag = %q, want a strong one", etag)
	}
	if !hasVary(resp) || resp.Header.Get("Content-Length") != strconv.Itoa(len(gz)) {
		t.Errorf("hashed css: Vary %q, Content-Length %q (%d bytes)", resp.Header.Values("Vary"), resp.Header.Get("Content-Length"), len(gz))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("hashed css: CSP = %q", csp)
	}

	nm := h.get(c, m[1], "Accept-Encoding", "gzip", "If-None-Match", etag)
	if b := raw(t, nm); nm.StatusCode != http.StatusNotModified || len(b) != 0 || nm.Header.Get("Content-Encoding") != "" {
		t.Errorf("If-None-Match: %d, %d bytes, Content-Encoding %q", nm.StatusCode, len(b), nm.Header.Get("Content-Encoding"))
	}
	if nm.Header.Get("ETag") != etag {
		t.Errorf("304 ETag %q, want %q", nm.Header.Get("ETag"), etag)
	}

	id := h.get(c, m[1], "Accept-Encoding", "identity")
	if b := raw(t, id); id.StatusCode != 200 || id.Header.Get("Content-Encoding") != "" || string(b) != string(css) {
		t.Errorf("identity css: %d, Content-Encoding %q, %d bytes", id.StatusCode, id.Header.Get("Content-Encoding"), len(b))
	}

	// The old, unhashed address still answers, for a short while.
	old := h.get(c, "/static/css/console.css", "Accept-Encoding", "identity")
	if b := raw(t, old); old.StatusCode != 200 || string(b) != string(css) {
		t.Errorf("unhashed css: %d, %d bytes", old.StatusCode, len(b))
	}
	if got := old.Header.Get("Cache-Control"); strings.Contains(got, "immutable") || !strings.Contains(got, "max-age=") {
		t.Errorf("unhashed css: Cache-Control = %q", got)
	}
	if old.Header.Get("ETag") == "" {
		t.Error("unhashed css: no ETag")
	}
	js := h.get(c, static.Path("js/console.js"))
	if b := raw(t, js); js.StatusCode != 200 || len(b) == 0 || js.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("hashed js: %d, %d bytes, Cache-Control %q", js.StatusCode, len(b), js.Header.Get("Cache-Control"))
	}
}
