package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/views"
)

// compressed serves h behind compress and returns the answer to a GET
// that accepts gzip.
func compressed(t testing.TB, h echo.HandlerFunc) *httptest.ResponseRecorder {
	t.Helper()
	e := echo.New()
	e.Use(compress())
	e.GET("/x", h)
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	return w
}

func unzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestCompressWriter(t *testing.T) {
	page := "<!DOCTYPE html>" + strings.Repeat("<p>row of the page</p>\n", 200)

	t.Run("page", func(t *testing.T) {
		w := compressed(t, func(c echo.Context) error { return c.HTML(http.StatusOK, page) })
		if w.Header().Get("Content-Encoding") != "gzip" || unzip(t, w.Body.Bytes()) != page {
			t.Fatalf("Content-Encoding %q", w.Header().Get("Content-Encoding"))
		}
		if w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) || w.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("Content-Length %q (%d bytes), Vary %q", w.Header().Get("Content-Length"), w.Body.Len(), w.Header().Get("Vary"))
		}
	})
	t.Run("small", func(t *testing.T) {
		w := compressed(t, func(c echo.Context) error { return c.HTML(http.StatusOK, page[:compressMin-1]) })
		if w.Header().Get("Content-Encoding") != "" || w.Body.String() != page[:compressMin-1] ||
			w.Header().Get("Content-Length") != strconv.Itoa(compressMin-1) || w.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("Content-Encoding %q, Content-Length %q, Vary %q", w.Header().Get("Content-Encoding"),
				w.Header().Get("Content-Length"), w.Header().Get("Vary"))
		}
	})
	t.Run("status kept", func(t *testing.T) {
		w := compressed(t, func(c echo.Context) error { return c.HTML(http.StatusServiceUnavailable, page) })
		if w.Code != http.StatusServiceUnavailable || unzip(t, w.Body.Bytes()) != page {
			t.Errorf("%d", w.Code)
		}
	})
	t.Run("long body streams", func(t *testing.T) {
		big := make([]byte, 3*compressHold)
		for i := range big {
			big[i] = byte('a' + (i*7919)%26) // compresses, but not below compressHold
		}
		w := compressed(t, func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderContentType, "text/csv")
			c.Response().WriteHeader(http.StatusOK)
			for i := 0; i < len(big); i += 4096 {
				if _, err := c.Response().Write(big[i:min(i+4096, len(big))]); err != nil {
					return err
				}
			}
			return nil
		})
		if w.Header().Get("Content-Encoding") != "gzip" || unzip(t, w.Body.Bytes()) != string(big) {
			t.Fatalf("Content-Encoding %q", w.Header().Get("Content-Encoding"))
		}
		if cl := w.Header().Get("Content-Length"); cl != "" && cl != strconv.Itoa(w.Body.Len()) {
			t.Errorf("Content-Length %q for %d bytes", cl, w.Body.Len())
		}
	})
	t.Run("flushed stream", func(t *testing.T) {
		w := compressed(t, func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderContentType, "text/event-stream")
			_, _ = c.Response().Write([]byte("data: 1\n\n"))
			c.Response().Flush()
			_, err := c.Response().Write([]byte(page))
			return err
		})
		if w.Header().Get("Content-Encoding") != "" || w.Body.String() != "data: 1\n\n"+page || !w.Flushed {
			t.Errorf("Content-Encoding %q, flushed %v", w.Header().Get("Content-Encoding"), w.Flushed)
		}
	})
	t.Run("flushed html before the threshold", func(t *testing.T) {
		w := compressed(t, func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderContentType, "text/html")
			_, _ = c.Response().Write([]byte("<p>"))
			c.Response().Flush()
			_, err := c.Response().Write([]byte(page))
			return err
		})
		if w.Header().Get("Content-Encoding") != "" || w.Body.String() != "<p>"+page || w.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("Content-Encoding %q, Vary %q", w.Header().Get("Content-Encoding"), w.Header().Get("Vary"))
		}
	})
	t.Run("already encoded", func(t *testing.T) {
		w := compressed(t, func(c echo.Context) error {
			c.Response().Header().Set("Content-Encoding", "br")
			return c.HTML(http.StatusOK, page)
		})
		if w.Header().Get("Content-Encoding") != "br" || w.Body.String() != page {
			t.Errorf("Content-Encoding %q", w.Header().Get("Content-Encoding"))
		}
	})
	t.Run("not text", func(t *testing.T) {
		w := compressed(t, func(c echo.Context) error { return c.Blob(http.StatusOK, "image/png", []byte(page)) })
		if w.Header().Get("Content-Encoding") != "" || w.Body.String() != page || w.Header().Get("Vary") != "" {
			t.Errorf("Content-Encoding %q, Vary %q", w.Header().Get("Content-Encoding"), w.Header().Get("Vary"))
		}
	})
	t.Run("no body", func(t *testing.T) {
		for _, code := range []int{http.StatusNoContent, http.StatusNotModified, http.StatusSeeOther} {
			w := compressed(t, func(c echo.Context) error { return c.NoContent(code) })
			if w.Code != code || w.Header().Get("Content-Encoding") != "" || w.Body.Len() != 0 {
				t.Errorf("%d: got %d, Content-Encoding %q", code, w.Code, w.Header().Get("Content-Encoding"))
			}
		}
	})
	t.Run("vary kept", func(t *testing.T) {
		w := compressed(t, func(c echo.Context) error {
			c.Response().Header().Set("Vary", "Cookie")
			return c.HTML(http.StatusOK, page)
		})
		if got := w.Header().Values("Vary"); len(got) != 2 || got[0] != "Cookie" || got[1] != "Accept-Encoding" {
			t.Errorf("Vary = %q", got)
		}
	})
}

// overviewHTML renders an Overview like a viewer's, of about the size of a
// real one with a dozen alerts (about 7 KB).
func overviewHTML(tb testing.TB) []byte {
	p := views.Page{Title: "Overview", Active: "overview", Env: "production", Version: "v1.42.0",
		DB:   views.DBIdentity{Host: "ep-cool-river-123456.eu-central-1.aws.neon.tech", Database: "atum", User: "console", ServerVersion: "15.8", SystemID: "7311"},
		User: &views.Operator{ID: 7, Email: "viewer@atum.io", Role: "viewer"}}
	for _, k := range []string{"overview", "alerts", "connections", "cache", "switches", "queues", "accounts", "fleet", "timeline"} {
		p.Nav = append(p.Nav, views.NavItem{Key: k, Label: strings.ToUpper(k[:1]) + k[1:], Path: "/" + k})
	}
	m := views.Overview{Alerts: []views.Alert{{Level: "critical", Text: "Postgres connections at 93% of max_connections", Href: "/connections"},
		{Level: "warning", Text: "Dead letters in eu: 300", Href: "/queues"}}}
	for i := range 10 {
		m.Alerts = append(m.Alerts, views.Alert{Level: "warning", Href: "/fleet/machines/" + strconv.Itoa(i),
			Text: "Machine api-" + strconv.Itoa(i) + " runs the previous image registry.fly.io/atum-api:deployment-01J" + strconv.Itoa(i)})
	}
	for _, s := range []string{"Console database", "Platform database", "PgBouncer", "Redis", "QStash", "Fly"} {
		m.Tiles = append(m.Tiles, views.Tile{Key: strings.ToLower(s[:3]), Name: s, State: "ok", StateLabel: "OK",
			Detail: "PostgreSQL 15.8, 41 of 100 connections", Checked: "3s ago", Href: "/connections"})
	}
	var b bytes.Buffer
	if err := views.OverviewPage(p, m).Render(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkCompressPage measures gzipping an Overview-sized page per
// request: through the middleware (compressLevel) and, for the choice of
// level, a pooled gzip.Writer at levels 1, 5, 6 and 9 alone.
func BenchmarkCompressPage(b *testing.B) {
	page := overviewHTML(b)
	b.Logf("page: %d bytes", len(page))
	for _, accept := range []string{"gzip", "identity"} {
		b.Run("middleware/"+accept, func(b *testing.B) {
			e := echo.New()
			e.Use(compress())
			e.GET("/", func(c echo.Context) error { return c.HTMLBlob(http.StatusOK, page) })
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Accept-Encoding", accept)
			w := &nopWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				e.ServeHTTP(w, r)
			}
			n, _ := strconv.Atoi(w.h.Get("Content-Length"))
			b.ReportMetric(float64(n), "wire-bytes")
		})
	}
	for _, level := range []int{gzip.BestSpeed, 5, gzip.DefaultCompression, gzip.BestCompression} {
		b.Run("gzip-level="+strconv.Itoa(level), func(b *testing.B) {
			pool := sync.Pool{New: func() any { z, _ := gzip.NewWriterLevel(io.Discard, level); return z }}
			var out bytes.Buffer
			b.ReportAllocs()
			b.SetBytes(int64(len(page)))
			for b.Loop() {
				out.Reset()
				z := pool.Get().(*gzip.Writer)
				z.Reset(&out)
				_, _ = z.Write(page)
				_ = z.Close()
				pool.Put(z)
			}
			b.ReportMetric(float64(out.Len()), "wire-bytes")
		})
	}
}
