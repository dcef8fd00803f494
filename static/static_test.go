package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestFSHoldsAssets(t *testing.T) {
	for _, name := range []string{"css/console.css", "js/console.js", "js/passkey.js"} {
		t.Run(name, func(t *testing.T) {
			b, err := fs.ReadFile(FS, name)
			if err != nil {
				t.Fatalf("read %s: %v", name, err)
			}
			if len(b) == 0 {
				t.Fatalf("%s is empty", name)
			}
		})
	}
}

func TestCSSHasEnvironmentBanners(t *testing.T) {
	b, err := fs.ReadFile(FS, "css/console.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, class := range []string{".env-production", ".env-staging", ".env-development", ".env-demo"} {
		if !strings.Contains(string(b), class) {
			t.Errorf("console.css has no %s rule", class)
		}
	}
}

func get(t testing.TB, h http.Handler, method, p string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, Prefix+p, nil)
	r.URL.Path = strings.TrimPrefix(r.URL.Path, Prefix)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

func TestPathIsContentHashed(t *testing.T) {
	css, _ := fs.ReadFile(FS, "css/console.css")
	sum := sha256.Sum256(css)
	want := "/static/css/console." + hex.EncodeToString(sum[:])[:12] + ".css"
	if got := Path("css/console.css"); got != want {
		t.Errorf("Path(css) = %q, want %q", got, want)
	}
	if got := Path("js/console.js"); !regexp.MustCompile(`^/static/js/console\.[0-9a-f]{12}\.js$`).MatchString(got) {
		t.Errorf("Path(js) = %q", got)
	}
	if got := Path("nope.css"); got != "/static/nope.css" {
		t.Errorf("Path(unknown) = %q", got)
	}
	// Other bytes, another name.
	other, err := New(fstest.MapFS{"css/console.css": {Data: append(css, '\n')}})
	if err != nil {
		t.Fatal(err)
	}
	if other.Path("css/console.css") == Path("css/console.css") {
		t.Error("changed bytes kept the hashed name")
	}
}

func TestServeHashed(t *testing.T) {
	css, _ := fs.ReadFile(FS, "css/console.css")
	hashed := strings.TrimPrefix(Path("css/console.css"), Prefix)
	h := Handler()

	gz := get(t, h, http.MethodGet, hashed, "Accept-Encoding", "br, gzip")
	if gz.Code != 200 || gz.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %d, Content-Encoding %q", gz.Code, gz.Header().Get("Content-Encoding"))
	}
	if !bytes.Equal(gunzip(t, gz.Body.Bytes()), css) {
		t.Error("gzip body does not decompress to the stylesheet")
	}
	if gz.Body.Len() >= len(css)/2 {
		t.Errorf("gzip body %d bytes of %d", gz.Body.Len(), len(css))
	}
	for k, want := range map[string]string{"Cache-Control": ImmutableCache, "Vary": "Accept-Encoding",
		"Content-Type": "text/css; charset=utf-8", "Content-Length": strconv.Itoa(gz.Body.Len())} {
		if got := gz.Header().Get(k); got != want {
			t.Errorf("gzip: %s = %q, want %q", k, got, want)
		}
	}
	etag := gz.Header().Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{32}-gz"$`).MatchString(etag) {
		t.Errorf("gzip ETag = %q, want a strong tag", etag)
	}

	for _, ae := range []string{"", "identity", "gzip;q=0", "gzip;q=0, *", "deflate, br"} {
		id := get(t, h, http.MethodGet, hashed, "Accept-Encoding", ae)
		if id.Code != 200 || id.Header().Get("Content-Encoding") != "" || !bytes.Equal(id.Body.Bytes(), css) {
			t.Errorf("Accept-Encoding %q: %d, Content-Encoding %q, %d bytes", ae, id.Code, id.Header().Get("Content-Encoding"), id.Body.Len())
		}
		if id.Header().Get("Vary") != "Accept-Encoding" || id.Header().Get("Cache-Control") != ImmutableCache {
			t.Errorf("Accept-Encoding %q: Vary %q, Cache-Control %q", ae, id.Header().Get("Vary"), id.Header().Get("Cache-Control"))
		}
		if e := id.Header().Get("ETag"); e == etag || !strings.HasPrefix(e, `"`) {
			t.Errorf("identity ETag %q (gzip's %q)", e, etag)
		}
	}

	for _, inm := range []string{etag, `"x", ` + etag, "W/" + etag, "*"} {
		nm := get(t, h, http.MethodGet, hashed, "Accept-Encoding", "gzip", "If-None-Match", inm)
		if nm.Code != http.StatusNotModified || nm.Body.Len() != 0 || nm.Header().Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d, %d bytes, ETag %q", inm, nm.Code, nm.Body.Len(), nm.Header().Get("ETag"))
		}
		if nm.Header().Get("Content-Encoding") != "" {
			t.Errorf("304 with Content-Encoding %q", nm.Header().Get("Content-Encoding"))
		}
	}
	if stale := get(t, h, http.MethodGet, hashed, "If-None-Match", `"0123"`); stale.Code != 200 {
		t.Errorf("other If-None-Match: %d", stale.Code)
	}

	head := get(t, h, http.MethodHead, hashed, "Accept-Encoding", "gzip")
	if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Length") != strconv.Itoa(gz.Body.Len()) {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}
}

func TestServeUnhashedAndUnknown(t *testing.T) {
	css, _ := fs.ReadFile(FS, "css/console.css")
	h := Handler()
	for _, p := range []string{"css/console.css", "css/console.0123456789ab.css"} {
		w := get(t, h, http.MethodGet, p)
		if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), css) {
			t.Errorf("%s: %d, %d bytes", p, w.Code, w.Body.Len())
		}
		if got := w.Header().Get("Cache-Control"); got != ShortCache {
			t.Errorf("%s: Cache-Control %q, want %q", p, got, ShortCache)
		}
		if w.Header().Get("ETag") == "" {
			t.Errorf("%s: no ETag", p)
		}
		if nm := get(t, h, http.MethodGet, p, "If-None-Match", w.Header().Get("ETag")); nm.Code != http.StatusNotModified {
			t.Errorf("%s: If-None-Match: %d", p, nm.Code)
		}
	}
	for _, p := range []string{"", "css/", "css", "css/nope.css", "css/console.zzzzzzzzzzzz.css", "../static.go"} {
		if w := get(t, h, http.MethodGet, p); w.Code != http.StatusNotFound {
			t.Errorf("%q: %d, want 404", p, w.Code)
		}
	}
	// The script is smaller than its gzip stream would gain: served as is.
	js := get(t, h, http.MethodGet, strings.TrimPrefix(Path("js/console.js"), Prefix), "Accept-Encoding", "gzip")
	if js.Code != 200 || !strings.HasPrefix(js.Header().Get("Content-Type"), "text/javascript") {
		t.Errorf("script: %d %q", js.Code, js.Header().Get("Content-Type"))
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=0.5": true, "gzip;q=0": false, "gzip; q=0.0": false,
		"*": true, "*;q=0": false, "gzip;q=0, *": false, "identity": false, "br": false, "x-gzip": true,
		"gzip;q=1.0, identity; q=0.5, *;q=0": true, "gzipx": false,
	} {
		if got := AcceptsGzip(h); got != want {
			t.Errorf("AcceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

// discard is a ResponseWriter that keeps nothing but its header.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkServeHashedCSS measures serving the stylesheet under its hashed
// name with its gzip bytes prepared at start: no compression per request.
func BenchmarkServeHashedCSS(b *testing.B) {
	h := Handler()
	r := httptest.NewRequest(http.MethodGet, Path("css/console.css"), nil)
	r.URL.Path = strings.TrimPrefix(r.URL.Path, Prefix)
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	if w.h.Get("Content-Encoding") != "gzip" {
		b.Fatal("not gzipped")
	}
}
