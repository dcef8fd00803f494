package fragment_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/a-h/templ"
	templruntime "github.com/a-h/templ/runtime"

	"github.com/atum/ops-console/internal/fragment"
)

// text writes s as a generated templ component does: through the
// render's buffer.
func text(s string) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		b, existing := templruntime.GetBuffer(w)
		if !existing {
			defer func() { _ = templruntime.ReleaseBuffer(b) }()
		}
		_, err := b.WriteString(s)
		return err
	})
}

// page renders its parts in order as a generated templ component renders
// its children: each into the same buffer.
func page(parts ...templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		b, existing := templruntime.GetBuffer(w)
		if !existing {
			defer func() { _ = templruntime.ReleaseBuffer(b) }()
		}
		for _, p := range parts {
			if err := p.Render(ctx, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// rows is a table of n rows, alike enough to compress, different enough
// to be a page's real work; seed varies it.
func rows(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString(`<table class="machines">`)
	for i := range n {
		fmt.Fprintf(&b, `<tr class="row"><td><code>api-%03d</code></td><td class="num">%d</td><td>%.1f %%</td></tr>`,
			i, r.IntN(1_000_000), r.Float64()*100)
	}
	b.WriteString(`</table>`)
	return b.String()
}

func newFragment(t *testing.T, c templ.Component) *fragment.Fragment {
	t.Helper()
	f, err := fragment.New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func gunzip(t *testing.T, z []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip stream does not decode: %v", err)
	}
	return b
}

// A page of its own runs and fragments, some longer than DEFLATE's 32 KiB
// window, compresses to one gzip member that decodes, in Go, in GNU gzip
// and in zlib (what browsers use), to exactly the page rendered without
// fragments.
func TestGzipDecodesToThePage(t *testing.T) {
	tables := newFragment(t, text(rows(800, 1)))
	small := newFragment(t, text(`<p class="note">shared &amp; small</p>`))
	head := `<!doctype html><html><head><title>Cache</title></head><body><nav>` + rows(3, 9) + `</nav>`
	comp := page(text(head), tables, text(`<section>`+rows(400, 2)+`</section>`), small, small, tables,
		text(`<form><input name="csrf" value="per-viewer"></form></body></html>`))
	var want bytes.Buffer
	if err := comp.Render(context.Background(), &want); err != nil {
		t.Fatal(err)
	}
	var p fragment.Page
	if err := comp.Render(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Fragments() != 4 || p.Len() != want.Len() {
		t.Fatalf("page holds %d fragments and %d bytes; want 4 and %d", p.Fragments(), p.Len(), want.Len())
	}
	if !bytes.Equal(p.Bytes(), want.Bytes()) {
		t.Fatal("the page's markup differs from the component rendered anywhere else")
	}
	z := p.AppendGzip(nil)
	if got := gunzip(t, z); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("gzip decodes to %d bytes that differ from the page's %d", len(got), want.Len())
	}
	if len(z) > want.Len()/3 {
		t.Errorf("gzip of %d bytes for a page of %d: the fragments are not compressed", len(z), want.Len())
	}
	for _, dec := range [][]string{{"gzip", "-dc"}, {"python3", "-c", "import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read(), 31))"}} {
		cmd := exec.Command(dec[0], dec[1:]...)
		cmd.Stdin = bytes.NewReader(z)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s does not decode the page: %v", dec[0], err)
		}
		if !bytes.Equal(out, want.Bytes()) {
			t.Errorf("%s decodes the page to %d different bytes", dec[0], len(out))
		}
	}
}

// A page without fragments, an empty page and a page that is only a
// fragment are valid gzip too.
func TestGzipEdges(t *testing.T) {
	only := newFragment(t, text(rows(50, 3)))
	for name, comp := range map[string]templ.Component{
		"no fragment": text(rows(20, 4)), "empty": text(""), "only a fragment": page(only),
		"empty fragment": page(text("a"), newFragment(t, text("")), text("b")),
	} {
		var want bytes.Buffer
		if err := comp.Render(context.Background(), &want); err != nil {
			t.Fatal(err)
		}
		var p fragment.Page
		if err := comp.Render(context.Background(), &p); err != nil {
			t.Fatal(err)
		}
		if got := gunzip(t, p.AppendGzip([]byte("kept"))[4:]); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: gzip decodes to %q; want %q", name, clip(got), clip(want.Bytes()))
		}
	}
}

// Reset empties a page for the next request.
func TestReset(t *testing.T) {
	var p fragment.Page
	f := newFragment(t, text("<b>shared</b>"))
	if err := page(text("first "), f).Render(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if err := text("second").Render(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	if string(p.Bytes()) != "second" || p.Fragments() != 0 || string(gunzip(t, p.AppendGzip(nil))) != "second" {
		t.Fatalf("after Reset the page is %q with %d fragments", p.Bytes(), p.Fragments())
	}
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// BenchmarkPage compares a page of a 200-row shared table rendered and
// gzipped per request with the same page laid from a fragment.
func BenchmarkPage(b *testing.B) {
	table, own := rows(200, 5), `<html><body><nav>`+rows(3, 6)+`</nav><form>csrf</form>`
	b.Run("rendered", func(b *testing.B) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		for b.Loop() {
			buf.Reset()
			zw.Reset(&buf)
			_ = page(text(own), text(table)).Render(context.Background(), zw)
			_ = zw.Close()
		}
	})
	b.Run("fragment", func(b *testing.B) {
		f, _ := fragment.New(context.Background(), text(table))
		var p fragment.Page
		var out []byte
		for b.Loop() {
			p.Reset()
			_ = page(text(own), f).Render(context.Background(), &p)
			out = p.AppendGzip(out[:0])
		}
	})
}
