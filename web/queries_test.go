package web_test

import (
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/web"
)

// TestObserveQueriesPerRequest checks that each answered request reports
// the statements it sent to the console's database: some for a signed-in
// page (the session check at least), none for /healthz, and the same
// count for the same page twice, not a running total.
func TestObserveQueriesPerRequest(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]int64{}
	h := newHarness(t, func(d *web.Deps) {
		d.Observe = func(string, string, int, time.Duration) {}
		d.ObserveQueries = func(route string, n int64) {
			mu.Lock()
			defer mu.Unlock()
			got[route] = append(got[route], n)
		}
	})
	admin := h.operator("admin@atum.io", auth.Admin)
	anon := h.client()
	mu.Lock()
	clear(got)
	mu.Unlock()
	for range 3 {
		body(h.get(admin, "/audit"))
	}
	body(h.get(anon, "/healthz"))

	mu.Lock()
	defer mu.Unlock()
	audit := got["/audit"]
	if len(audit) != 3 {
		t.Fatalf("/audit reported %d times; want 3 (got %v)", len(audit), got)
	}
	if audit[0] <= 0 {
		t.Errorf("/audit sent %d statements; want more than 0", audit[0])
	}
	if audit[1] != audit[2] {
		t.Errorf("/audit reported %v statements on consecutive views; want a count per request, the same each time", audit)
	}
	if hz := got["/healthz"]; len(hz) != 1 || hz[0] != 0 {
		t.Errorf("/healthz reported %v statements; want [0]", hz)
	}
	t.Logf("statements per request: %v", got)
}
