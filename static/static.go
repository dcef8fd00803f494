// Package static holds the console's own stylesheet and script, embedded
// into the binary so a deployed console serves them without a file system.
//
// Each asset is also served under a content-hashed name (see Path), read,
// hashed and gzip-compressed once at start, so that a page's stylesheet and
// script can be cached for a year and cost no compression per request.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// FS holds css/console.css and js/console.js. Serve it under /static/ so
// that /static/css/console.css resolves to css/console.css in FS.
//
//go:embed css js
var FS embed.FS

// Prefix is the URL path the assets are served under.
const Prefix = "/static/"

// Cache lifetimes: a hashed name never changes its bytes; an unhashed one
// (bookmarks, old pages) is revalidated after a few minutes.
const (
	ImmutableCache = "public, max-age=31536000, immutable"
	ShortCache     = "public, max-age=300"
)

// hashLen is the number of hex digits of the content hash in a name.
const hashLen = 12

// asset is one file, read and prepared once.
type asset struct {
	name   string // css/console.css
	hashed string // css/console.0123456789ab.css
	ctype  string
	body   []byte
	gz     []byte // nil when gzip does not make it smaller
	etag   string // strong, of body
	gzETag string // strong, of gz
}

// Assets serves the files of an fs.FS under their own and their
// content-hashed names. Build it with New.
type Assets struct {
	byName   map[string]*asset
	byHashed map[string]*asset
}

// New reads every file of fsys, hashes and pre-compresses it.
func New(fsys fs.FS) (*Assets, error) {
	a := &Assets{byName: map[string]*asset{}, byHashed: map[string]*asset{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])
		ext := path.Ext(name)
		x := &asset{name: name, hashed: strings.TrimSuffix(name, ext) + "." + h[:hashLen] + ext, body: body,
			etag: `"` + h[:32] + `"`, gzETag: `"` + h[:32] + `-gz"`}
		x.ctype = mime.TypeByExtension(ext)
		if x.ctype == "" {
			x.ctype = http.DetectContentType(body)
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := zw.Write(body); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if buf.Len() < len(body) {
			x.gz = buf.Bytes()
		}
		a.byName[name], a.byHashed[x.hashed] = x, x
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return a, nil
}

// Path returns the URL of the asset name (as in FS, e.g. "css/console.css")
// under its content-hashed name, or under its own name when there is no
// such asset.
func (a *Assets) Path(name string) string {
	if x, ok := a.byName[name]; ok {
		return Prefix + x.hashed
	}
	return Prefix + name
}

// Files returns the asset names and their hashed names.
func (a *Assets) Files() map[string]string {
	out := map[string]string{}
	for n, x := range a.byName {
		out[n] = x.hashed
	}
	return out
}

// lookup finds the asset at p (relative to Prefix) and whether p is its
// hashed name. A name with another hash (a page of an older or newer
// build) gets the current bytes, but not the immutable lifetime.
func (a *Assets) lookup(p string) (*asset, bool) {
	if x, ok := a.byHashed[p]; ok {
		return x, true
	}
	if x, ok := a.byName[p]; ok {
		return x, false
	}
	ext := path.Ext(p)
	stem := strings.TrimSuffix(p, ext)
	if i := strings.LastIndexByte(stem, '.'); i >= 0 && isHex(stem[i+1:]) && len(stem)-i-1 == hashLen {
		if x, ok := a.byName[stem[:i]+ext]; ok {
			return x, false
		}
	}
	return nil, false
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return s != ""
}

// ServeHTTP serves the asset at r.URL.Path (relative to Prefix): gzip
// bytes prepared at start when the client accepts gzip, a strong ETag,
// 304 on a matching If-None-Match, a year's immutable caching under the
// hashed name and ShortCache under the plain one.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	x, hashed := a.lookup(r.URL.Path)
	if x == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", ShortCache)
	if hashed {
		h.Set("Cache-Control", ImmutableCache)
	}
	body, etag := x.body, x.etag
	if x.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if AcceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = x.gz, x.gzETag
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && matchETag(inm, x.etag, x.gzETag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", x.ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// matchETag reports whether the If-None-Match list names one of tags
// (weak comparison, as RFC 9110 asks for If-None-Match) or is "*".
func matchETag(list string, tags ...string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" {
			return true
		}
		for _, want := range tags {
			if t == want {
				return true
			}
		}
	}
	return false
}

// AcceptsGzip reports whether an Accept-Encoding header allows gzip: it
// names gzip (or x-gzip), or *, with a q-value above 0. An explicit
// gzip;q=0 wins over *.
func AcceptsGzip(header string) bool {
	star, named := false, false
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		ok := qAboveZero(params)
		if coding == "*" {
			star = ok
			continue
		}
		if !ok {
			return false
		}
		named = true
	}
	return named || star
}

// qAboveZero reads the q parameter of a coding; without one it is 1.
func qAboveZero(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.ToLower(strings.TrimSpace(k)) != "q" {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return err == nil && q > 0
	}
	return true
}

var defaultAssets = sync.OnceValue(func() *Assets {
	a, err := New(FS)
	if err != nil {
		panic(err)
	}
	return a
})

// Path returns the content-hashed URL of the embedded asset name, e.g.
// Path("css/console.css") is "/static/css/console.0123456789ab.css". Pages
// link assets through it.
func Path(name string) string { return defaultAssets().Path(name) }

// Handler serves the embedded assets (strip Prefix first).
func Handler() *Assets { return defaultAssets() }
