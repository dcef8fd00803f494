package web

import (
	"cmp"
	"compress/gzip"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/fragment"
	"github.com/atum/ops-console/static"
)

// Compression of the console's own answers (pages, error pages, CSV, JSON).
// Echo's middleware.Gzip is not used: it cannot hold a body back to leave
// small ones alone with a correct Content-Length, and it compresses at the
// default level. The level is BestSpeed: on an Overview-sized page it costs
// a fraction of level 5's or 6's time for a few percent more bytes (see
// BenchmarkCompressPage).
const (
	// compressMin is the smallest body worth compressing: below it the
	// gzip header and a round of work buy nothing.
	compressMin = 1024
	// compressHold is how much compressed output is held back to send an
	// exact Content-Length; a longer body is streamed (chunked).
	compressHold  = 64 << 10
	compressLevel = gzip.BestSpeed
)

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, compressLevel)
	return w
}}

// writerPool keeps compressWriters with their buffers for reuse.
var writerPool = sync.Pool{New: func() any { return new(compressWriter) }}

// compressibleTypes are the media types worth compressing.
var compressibleTypes = map[string]bool{
	"text/html": true, "text/css": true, "text/plain": true, "text/csv": true, "text/javascript": true,
	"application/javascript": true, "application/json": true, "image/svg+xml": true,
}

func compressible(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get(echo.HeaderContentType))
	return compressibleTypes[mt]
}

// addVary adds Accept-Encoding to the Vary header unless it is there.
func addVary(h http.Header) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); strings.EqualFold(f, "Accept-Encoding") || f == "*" {
				return
			}
		}
	}
	h.Add("Vary", "Accept-Encoding")
}

// compress gzips answers of a compressible type of at least compressMin
// bytes when the request accepts gzip, and marks every answer of such a
// type Vary: Accept-Encoding. Answers without a body (redirects, 204,
// 304), with a Content-Encoding already, partial ones and ones flushed
// before compressMin bytes (streams) pass unchanged. Static assets carry
// their own, pre-compressed, encoding.
func compress() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Path() == "/static/*" {
				return next(c)
			}
			res := c.Response()
			if !static.AcceptsGzip(c.Request().Header.Get("Accept-Encoding")) {
				res.Before(func() {
					if compressible(res.Header()) {
						addVary(res.Header())
					}
				})
				return next(c)
			}
			cw := writerPool.Get().(*compressWriter)
			*cw = compressWriter{w: res.Writer, buf: cw.buf[:0], out: cw.out[:0]}
			res.Writer = cw
			defer func() {
				cw.finish()
				res.Writer = cw.w
				if cap(cw.buf)+cap(cw.out) <= 4*compressHold {
					*cw = compressWriter{buf: cw.buf[:0], out: cw.out[:0]}
					writerPool.Put(cw)
				}
			}()
			return next(c)
		}
	}
}

const (
	undecided = iota
	plain
	gzipping
)

// compressWriter holds a body back until it is compressMin long, or ends,
// or is flushed, then either passes it through or gzips it. Compressed
// output is held (up to compressHold) so that the answer gets an exact
// Content-Length.
type compressWriter struct {
	w      http.ResponseWriter
	status int
	mode   int
	buf    []byte // body held while undecided
	zw     *gzip.Writer
	out    []byte // compressed output held while holding
	hold   bool
	sent   bool // header written to w
}

func (cw *compressWriter) Header() http.Header { return cw.w.Header() }

// Unwrap lets http.ResponseController reach the connection's writer.
func (cw *compressWriter) Unwrap() http.ResponseWriter { return cw.w }

func (cw *compressWriter) WriteHeader(code int) {
	if cw.status == 0 && !cw.sent {
		cw.status = code
	}
}

func (cw *compressWriter) sendHeader() {
	if cw.sent {
		return
	}
	cw.sent = true
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	cw.w.WriteHeader(cw.status)
}

func (cw *compressWriter) Write(b []byte) (int, error) {
	switch cw.mode {
	case plain:
		cw.sendHeader()
		return cw.w.Write(b)
	case gzipping:
		return cw.zw.Write(b)
	}
	cw.buf = append(cw.buf, b...)
	if len(cw.buf) >= compressMin {
		if err := cw.decide(); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// bodyAllowed reports whether status may carry a body to compress.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusPartialContent &&
		status != http.StatusNotModified
}

// decide picks plain or gzip for what is held and writes it on.
func (cw *compressWriter) decide() error {
	h := cw.w.Header()
	status := cw.status
	if status == 0 {
		status = http.StatusOK
	}
	typed := compressible(h)
	if typed {
		addVary(h)
	}
	buf := cw.buf
	cw.buf = buf[:0]
	if !typed || len(buf) < compressMin || !bodyAllowed(status) || h.Get("Content-Encoding") != "" ||
		h.Get("Content-Range") != "" {
		cw.mode = plain
		cw.sendHeader()
		_, err := cw.w.Write(buf)
		return err
	}
	cw.mode = gzipping
	h.Set("Content-Encoding", "gzip")
	h.Del("Content-Length")
	cw.hold = true
	cw.zw = gzipPool.Get().(*gzip.Writer)
	cw.zw.Reset(zsink{cw})
	_, err := cw.zw.Write(buf)
	return err
}

// zsink receives the gzip stream: held while the answer may still get a
// Content-Length, written through after.
type zsink struct{ cw *compressWriter }

func (s zsink) Write(p []byte) (int, error) {
	cw := s.cw
	if cw.hold {
		cw.out = append(cw.out, p...)
		if len(cw.out) <= compressHold {
			return len(p), nil
		}
		return len(p), cw.release()
	}
	return cw.w.Write(p)
}

// release stops holding compressed output: the header goes out without a
// Content-Length, then what was held.
func (cw *compressWriter) release() error {
	cw.hold = false
	cw.sendHeader()
	_, err := cw.w.Write(cw.out)
	cw.out = cw.out[:0]
	return err
}

// Flush sends what is held. A body flushed before it was decided is a
// stream and goes out uncompressed.
func (cw *compressWriter) Flush() {
	switch cw.mode {
	case undecided:
		cw.mode = plain
		if compressible(cw.w.Header()) {
			addVary(cw.w.Header())
		}
		cw.sendHeader()
		_, _ = cw.w.Write(cw.buf)
		cw.buf = cw.buf[:0]
	case gzipping:
		_ = cw.zw.Flush()
		if cw.hold {
			_ = cw.release()
		}
	}
	_ = http.NewResponseController(cw.w).Flush()
}

// WritePage sends a page rendered with shared fragments: gzipped from
// them when it would be gzipped at all, its markup otherwise. It returns
// the page's (uncompressed) length.
func (cw *compressWriter) WritePage(p *fragment.Page) (int64, error) {
	h := cw.w.Header()
	status := cmp.Or(cw.status, http.StatusOK)
	if cw.mode != undecided || len(cw.buf) > 0 || p.Len() < compressMin || !compressible(h) || !bodyAllowed(status) ||
		h.Get("Content-Encoding") != "" || h.Get("Content-Range") != "" {
		return p.WriteTo(cw)
	}
	addVary(h)
	h.Set("Content-Encoding", "gzip")
	cw.out = p.AppendGzip(cw.out[:0])
	h.Set("Content-Length", strconv.Itoa(len(cw.out)))
	cw.mode = plain
	cw.sendHeader()
	_, err := cw.w.Write(cw.out)
	cw.out = cw.out[:0]
	return int64(p.Len()), err
}

// finish ends the answer once the handler (and the error handler) are done.
func (cw *compressWriter) finish() {
	switch cw.mode {
	case undecided:
		if cw.status == 0 && len(cw.buf) == 0 {
			return // nothing written: whoever answers next writes directly
		}
		if len(cw.buf) > 0 && cw.w.Header().Get("Content-Length") == "" {
			cw.w.Header().Set("Content-Length", strconv.Itoa(len(cw.buf)))
		}
		_ = cw.decide()
	case gzipping:
		_ = cw.zw.Close()
		cw.zw.Reset(io.Discard)
		gzipPool.Put(cw.zw)
		cw.zw = nil
		if cw.hold {
			cw.hold = false
			cw.w.Header().Set("Content-Length", strconv.Itoa(len(cw.out)))
			cw.sendHeader()
			_, _ = cw.w.Write(cw.out)
			cw.out = cw.out[:0]
		}
	}
}
