package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/views"
	"github.com/atum/ops-console/web"
)

// Viewers of one instance share what every viewer reads alike: views
// right after a first one send the console's database nothing, whatever
// the screen.
func TestViewersShareReads(t *testing.T) {
	var mu sync.Mutex
	sent := map[string][]int64{}
	h := newHarness(t, func(d *web.Deps) {
		d.Observe = func(string, string, int, time.Duration) {}
		d.ObserveQueries = func(route string, n int64) {
			mu.Lock()
			defer mu.Unlock()
			sent[route] = append(sent[route], n)
		}
		// The console reads its alerts from memory; the harness's
		// default evaluates them on each page.
		d.Alerts = func(context.Context) []views.Alert { return nil }
	})
	h.platform(10, "api-1", "api-2")
	// The samplers have sampled once, as a running console has.
	if err := h.sampler.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.redis.Tick(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	admin := h.operator("admin@atum.io", auth.Admin)
	for _, path := range []string{"/switches", "/cache", "/connections", "/audit", "/timeline"} {
		for range 4 {
			if resp := h.get(admin, path); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", path, resp.StatusCode)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	read := false
	for _, path := range []string{"/switches", "/cache", "/connections", "/audit", "/timeline"} {
		views := sent[path]
		if len(views) != 4 {
			t.Errorf("%s: statements per view %v; want 4 views", path, views)
			continue
		}
		// A first view may find its reads shared already: the Overview
		// the sign-in led to, or the screen before, read them this second.
		read = read || views[0] > 0
		// A view that crosses into the next second may read again.
		free := 0
		for _, n := range views[1:] {
			if n == 0 {
				free++
			}
		}
		if free < 2 {
			t.Errorf("%s: statements per view %v; want the views right after the first to share its reads", path, views)
		}
	}
	if !read {
		t.Error("no screen's first view read anything: the statements are not counted")
	}
}

// What an operator changes on this instance shows at once, shared reads
// or not: a switch flipped, and the audit event of it.
func TestOwnChangesShowAtOnce(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	admin := h.operator("admin@atum.io", auth.Admin)
	if p := body(h.get(op, "/switches")); !strings.Contains(p, `data-testid="switch-state">OFF`) {
		t.Fatal("SUSPEND_REDIS is not OFF to begin with")
	}
	body(h.get(admin, "/audit"))
	sw, err := h.switches.Get(context.Background(), "SUSPEND_REDIS")
	if err != nil {
		t.Fatal(err)
	}
	resp := h.post(op, "/switches/SUSPEND_REDIS", toggleForm("true", sw.Version, "shared reads test", "SUSPEND_REDIS"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("flip: %d %s", resp.StatusCode, body(resp))
	}
	if p := body(h.get(op, "/switches")); !strings.Contains(p, `data-testid="switch-state">ON`) {
		t.Error("the flip does not show at once on /switches")
	}
	if p := body(h.get(admin, "/audit")); !strings.Contains(p, "shared reads test") {
		t.Error("the flip's audit event does not show at once on /audit")
	}
}

// A session ended behind this instance's back (on another instance)
// stops opening pages within web.SessionFresh, and no change is ever
// accepted on it.
func TestSessionEndedElsewhere(t *testing.T) {
	h := newHarness(t)
	c := h.operator("op@atum.io", auth.Operator)
	if resp := h.get(c, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d", resp.StatusCode)
	}
	ops, err := h.store.Operators(context.Background())
	if err != nil || len(ops) != 1 {
		t.Fatal(ops, err)
	}
	if _, err := h.store.EndSessions(context.Background(), ops[0].ID); err != nil {
		t.Fatal(err)
	}
	resp := h.post(c, "/switches/SUSPEND_REDIS", url.Values{"enabled": {"true"}, "reason": {"x"}, "confirm": {"SUSPEND_REDIS"}})
	if resp.StatusCode == http.StatusSeeOther && !strings.Contains(resp.Header.Get("Location"), "/login") {
		t.Fatalf("a change on an ended session was accepted: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	time.Sleep(web.SessionFresh)
	if resp := h.get(c, "/"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("a session ended elsewhere still opens pages after %s: %d", web.SessionFresh, resp.StatusCode)
	}
}
