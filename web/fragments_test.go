package web_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/testenv"
)

// sameSecond runs try until both of its requests fell in one wall-clock
// second (pages word ages to the second), at most 5 times.
func sameSecond(t *testing.T, try func()) {
	t.Helper()
	for range 5 {
		start := time.Now().Unix()
		try()
		if time.Now().Unix() == start {
			return
		}
	}
	t.Fatal("no two requests fell in the same second in 5 tries")
}

// Screens laid from sections rendered once for every viewer answer the
// same page gzipped or not: the gzip stream built from the shared
// sections decodes to the page, with its Content-Length and headers.
func TestSharedSectionsGzipWhole(t *testing.T) {
	h := newHarness(t)
	h.platform(10, "api-1", "api-2", "worker-1")
	if err := h.sampler.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.redis.Tick(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	op := h.operator("op@atum.io", auth.Operator)
	for _, path := range []string{"/cache", "/switches", "/connections", "/connections?range=14d"} {
		var plain, zipped string
		var gz *http.Response
		var n int
		sameSecond(t, func() {
			plain = string(raw(t, h.get(op, path, "Accept-Encoding", "identity")))
			gz = h.get(op, path, "Accept-Encoding", "gzip")
			b := raw(t, gz)
			n = len(b)
			zipped = ungzip(t, b)
		})
		if gz.StatusCode != http.StatusOK || gz.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: %d, Content-Encoding %q", path, gz.StatusCode, gz.Header.Get("Content-Encoding"))
		}
		if zipped != plain || !strings.Contains(plain, "</html>") {
			t.Errorf("%s: the gzipped page (%d bytes) differs from the page (%d bytes)", path, len(zipped), len(plain))
		}
		if gz.Header.Get("Content-Length") != strconv.Itoa(n) || !hasVary(gz) || gz.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Content-Length %q for %d bytes, Vary %q, Cache-Control %q", path,
				gz.Header.Get("Content-Length"), n, gz.Header.Values("Vary"), gz.Header.Get("Cache-Control"))
		}
	}
}

// A section shared by the viewers of a second is shared only among those
// allowed to see it alike: statements an operator sees on /connections
// never reach a viewer who opens the page in the same second.
func TestSharedSectionsKeepRolesApart(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Stack(t).PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, `SELECT 1 AS shared_section_probe`); err != nil {
		t.Fatal(err)
	}
	if err := h.sampler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	op := h.operator("op@atum.io", auth.Operator)
	viewer := h.operator("viewer@atum.io", auth.Viewer)
	var seen, leaked string
	sameSecond(t, func() {
		seen = body(h.get(op, "/connections"))
		leaked = body(h.get(viewer, "/connections"))
	})
	if !strings.Contains(seen, "shared_section_probe") {
		t.Fatal("the operator does not see the idle transaction's statement")
	}
	if strings.Contains(leaked, "shared_section_probe") {
		t.Error("a viewer sees the statement the operator saw in the same second")
	}
}
