package web_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/auth"
)

// Before sign-in, nothing names the infrastructure: the sign-in page, an
// error page and /readyz (which answers anyone, here with the database
// down) show no database host, user or system id, no system states (but
// /readyz's) and no error text.
func TestAnonymousSeeNoInfrastructure(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	h.ready = errors.New("console database unreachable: dial tcp 10.0.0.7:5432: connection refused")
	for _, path := range []string{"/login", "/no-such-page", "/readyz"} {
		resp := h.get(c, path)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(b)
		for _, leak := range []string{"127.0.0.1", "10.0.0.7", "system id", "7311", "as postgres", "PostgreSQL", "connection refused",
			"dial tcp", `data-testid="reads"`, `data-testid="db-identity"`} {
			if strings.Contains(page, leak) {
				t.Errorf("%s (%d) shows %q before sign-in", path, resp.StatusCode, leak)
			}
		}
		if path == "/readyz" && resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz with the database down: %d", resp.StatusCode)
		}
	}
	// Signed in, the banner names the database again.
	v := h.operator("v@atum.io", auth.Viewer)
	if p := body(h.get(v, "/")); !strings.Contains(p, "system id 7311") {
		t.Error("a signed-in page does not name the database")
	}
}
