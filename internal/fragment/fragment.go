// Package fragment keeps the sections of a page that every viewer of a
// second sees alike (a table of 200 machines, the instances a switch
// reached) rendered and compressed once, and assembles a viewer's page
// from its own parts and those sections without rendering or compressing
// them again.
//
// A Fragment is raw DEFLATE data that starts with an empty window and
// ends on a byte boundary (a sync flush), so it can stand anywhere in a
// DEFLATE stream: its back-references never reach before its start. A
// Page compresses each of its own runs the same way, lays the fragments'
// data between them, closes the stream with an empty final block and
// wraps it in one gzip member (RFC 1951 §3.2.3, RFC 1952).
package fragment

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"sync"

	"github.com/a-h/templ"
	templruntime "github.com/a-h/templ/runtime"
)

// level is the compression of a fragment: it is compressed once for many
// viewers, so it gets the best.
const level = flate.BestCompression

// runLevel is the compression of a viewer's own runs, done per request.
const runLevel = flate.BestSpeed

// Fragment is a section rendered and compressed once. It is a
// templ.Component: rendered into a Page it is laid in as is; rendered
// anywhere else it writes its HTML.
type Fragment struct {
	html     []byte
	deflated []byte
}

// New renders c and compresses it.
func New(ctx context.Context, c templ.Component) (*Fragment, error) {
	var html bytes.Buffer
	if err := c.Render(ctx, &html); err != nil {
		return nil, err
	}
	f := &Fragment{html: html.Bytes()}
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, level)
	if _, err := zw.Write(f.html); err != nil {
		return nil, err
	}
	if err := zw.Flush(); err != nil {
		return nil, err
	}
	f.deflated = z.Bytes()
	return f, nil
}

// HTML is the fragment's markup.
func (f *Fragment) HTML() []byte { return f.html }

// Render lays f into the Page being rendered, or writes its HTML to any
// other writer.
func (f *Fragment) Render(_ context.Context, w io.Writer) error {
	if b, ok := w.(*templruntime.Buffer); ok {
		if p, ok := b.Underlying.(*Page); ok {
			if err := b.Flush(); err != nil {
				return err
			}
			p.add(f)
			return nil
		}
	}
	_, err := w.Write(f.html)
	return err
}

// Page is one viewer's page: runs of its own markup and fragments, in
// order. Render a templ.Component into it. The zero value is an empty
// page; Reset empties one for reuse.
type Page struct {
	buf   []byte // every run's markup, one after the other
	parts []part
	size  int
	frags int
}

// part is a run of markup (buf[from:to], frag nil) or a fragment.
type part struct {
	from, to int
	frag     *Fragment
}

// Reset empties p, keeping its memory.
func (p *Page) Reset() {
	*p = Page{buf: p.buf[:0], parts: p.parts[:0]}
}

// Write appends markup to the page's current run.
func (p *Page) Write(b []byte) (int, error) {
	if n := len(p.parts); n > 0 && p.parts[n-1].frag == nil {
		p.parts[n-1].to += len(b)
	} else {
		p.parts = append(p.parts, part{from: len(p.buf), to: len(p.buf) + len(b)})
	}
	p.buf = append(p.buf, b...)
	p.size += len(b)
	return len(b), nil
}

func (p *Page) add(f *Fragment) {
	p.parts = append(p.parts, part{frag: f})
	p.size += len(f.html)
	p.frags++
}

// markup is one part's markup.
func (p *Page) markup(pt part) []byte {
	if pt.frag != nil {
		return pt.frag.html
	}
	return p.buf[pt.from:pt.to]
}

// Len is the length of the page's markup.
func (p *Page) Len() int { return p.size }

// Fragments is how many fragments the page holds.
func (p *Page) Fragments() int { return p.frags }

// WriteTo writes the page's markup to w.
func (p *Page) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, pt := range p.parts {
		m, err := w.Write(p.markup(pt))
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Bytes is the page's markup.
func (p *Page) Bytes() []byte {
	if p.frags == 0 {
		return p.buf
	}
	b := bytes.NewBuffer(make([]byte, 0, p.size))
	_, _ = p.WriteTo(b)
	return b.Bytes()
}

// gzipHeader is a gzip member header: deflate, no name, no time, no
// flags, unknown OS.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// finalBlock is an empty final block with fixed codes: BFINAL 1, BTYPE
// 01, end of block; it ends the DEFLATE stream.
var finalBlock = []byte{0x03, 0x00}

// storedMax is the longest run sent as it is (a stored block): the
// markup between two fragments is often a closing tag, not worth a
// Huffman table of its own.
const storedMax = 256

// runWriters keeps the compressors of viewers' runs.
var runWriters = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(io.Discard, runLevel)
	return zw
}}

// appendBuffer is an io.Writer appending to a slice.
type appendBuffer struct{ b []byte }

func (a *appendBuffer) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// AppendGzip appends the page as one gzip member to dst: its runs
// compressed now, its fragments as they were compressed.
func (p *Page) AppendGzip(dst []byte) []byte {
	out := &appendBuffer{b: append(dst, gzipHeader...)}
	zw := runWriters.Get().(*flate.Writer)
	defer runWriters.Put(zw)
	crc := uint32(0)
	for _, pt := range p.parts {
		if pt.frag != nil {
			out.b = append(out.b, pt.frag.deflated...)
			crc = crc32.Update(crc, crc32.IEEETable, pt.frag.html)
			continue
		}
		run := p.buf[pt.from:pt.to]
		if len(run) == 0 {
			continue
		}
		crc = crc32.Update(crc, crc32.IEEETable, run)
		if len(run) <= storedMax {
			// A stored block: BFINAL 0, BTYPE 00, then LEN and NLEN.
			n := uint16(len(run))
			out.b = append(out.b, 0, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
			out.b = append(out.b, run...)
			continue
		}
		// Each run starts a fresh window: what came before it in the
		// page is not in this compressor's history.
		zw.Reset(out)
		_, _ = zw.Write(run)
		_ = zw.Flush()
	}
	out.b = append(out.b, finalBlock...)
	out.b = binary.LittleEndian.AppendUint32(out.b, crc)
	return binary.LittleEndian.AppendUint32(out.b, uint32(p.size))
}

// Writer is a response writer that sends a Page itself (compressing it
// from its fragments). WritePage returns the page's length.
type Writer interface {
	WritePage(p *Page) (int64, error)
}
