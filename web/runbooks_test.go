package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/web"
)

// /alerts shows each open alert's runbook with its safe action and the
// team's runbook; each rule's runbook has a page of its own; hostile text
// stays text.
func TestAlertRunbooks(t *testing.T) {
	var engine *alerts.Engine
	h := newHarness(t, func(d *web.Deps) {
		engine = &alerts.Engine{DefaultFor: 0}
		d.AlertStore = engine
	})
	engine.Pool = h.pool
	alerts.SetRunbookURLs(map[string]string{"fleet.crash-loop": "https://wiki.atum.io/runbooks/crash?a=1&b=<2>"})
	t.Cleanup(func() { alerts.SetRunbookURLs(nil) })
	found := []alerts.Finding{
		{Rule: "fleet.crash-loop", Subject: "e7842", Group: "machines", Severity: alerts.Critical, Summary: "crash loop: <script>x</script>"},
		{Rule: "fleet.crash-loop", Subject: `m"><img>`, Group: "machines", Severity: alerts.Critical, Summary: "crash loop"},
		{Rule: "connections.waiting", Severity: alerts.Critical, Summary: "3 clients waiting", Href: "/connections"},
	}
	if _, ran, err := engine.Evaluate(context.Background(), found, time.Now()); err != nil || !ran {
		t.Fatalf("evaluate: %v %v", ran, err)
	}
	viewer := h.operator("v@atum.io", auth.Viewer)
	page := body(h.get(viewer, "/alerts"))
	for _, want := range []string{
		`data-testid="runbook"`, "Machines are crash-looping", "MapperConfigurationError",
		`href="/switches#switch-SUSPEND_REDIS"`, `href="/fleet/machines/e7842"`, `href="/fleet/machines/m%22%3E%3Cimg%3E"`,
		`href="https://wiki.atum.io/runbooks/crash?a=1&amp;b=&lt;2&gt;"`, `href="/alerts/runbooks/fleet.crash-loop"`,
		`href="/connections?overflow=5&amp;pool=15&amp;whatif=1#whatif"`, "Clients waiting in PgBouncer",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/alerts lacks %s", want)
		}
	}
	for _, hostile := range []string{"<script>x", `"><img>`, "<img>"} {
		if strings.Contains(page, hostile) {
			t.Errorf("/alerts shows %q unescaped", hostile)
		}
	}

	resp := h.get(viewer, "/alerts/runbooks/fleet.crash-loop")
	page = body(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="runbook-page"`) ||
		!strings.Contains(page, `href="/switches#switch-SUSPEND_REDIS"`) || !strings.Contains(page, "wiki.atum.io/runbooks/crash") {
		t.Fatalf("runbook page: %d\n%.3000s", resp.StatusCode, page)
	}
	for _, path := range []string{"/alerts/runbooks/nope", "/alerts/runbooks/%3Cscript%3Ealert(1)%3C%2Fscript%3E"} {
		resp := h.get(viewer, path)
		if b := body(resp); resp.StatusCode != http.StatusNotFound || strings.Contains(b, "<script>alert") {
			t.Errorf("%s: %d\n%.1000s", path, resp.StatusCode, b)
		}
	}
	if resp := h.get(h.client(), "/alerts/runbooks/fleet.crash-loop"); resp.StatusCode == http.StatusOK {
		t.Errorf("a runbook without a session: %d", resp.StatusCode)
	}
}
