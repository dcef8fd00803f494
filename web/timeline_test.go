package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/switches"
)

// TestTimelineShowsASwitchFlipEscaped flips SUSPEND_REDIS through the
// console with a hostile reason; a viewer finds the flip on /timeline, as
// text, and a bad range is a 400 that says why.
func TestTimelineShowsASwitchFlipEscaped(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	viewer := h.operator("viewer@atum.io", auth.Viewer)
	reason := `crash loop <script>alert(1)</script> on "acme" & co`
	before, err := h.switches.Get(context.Background(), switches.SuspendRedis)
	if err != nil {
		t.Fatal(err)
	}
	if resp := h.post(op, "/switches/SUSPEND_REDIS", toggleForm("true", before.Version, reason, switches.SuspendRedis)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("toggle: %d %s", resp.StatusCode, body(resp))
	}

	resp := h.get(viewer, "/timeline")
	page := body(resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /timeline as viewer: %d\n%.500s", resp.StatusCode, page)
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Fatal("hostile reason reached the page unescaped")
	}
	for _, want := range []string{
		`SUSPEND_REDIS turned ON: crash loop &lt;script&gt;alert(1)&lt;/script&gt; on &#34;acme&#34; &amp; co`,
		`href="/switches#switch-SUSPEND_REDIS"`, "op@atum.io", `href="/timeline"`, ">Timeline</a>",
		`data-testid="timeline-row"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("timeline lacks %q\n%.3000s", want, page)
		}
	}
	if strings.Contains(page, `data-testid="timeline-note"`) {
		t.Errorf("a source failed:\n%.3000s", page)
	}

	// The system filter leaves the flip out when switches are not asked for.
	if p := body(h.get(viewer, "/timeline?system=fly&system=operators")); strings.Contains(p, "SUSPEND_REDIS turned ON") {
		t.Error("system filter ignored")
	}
	if resp := h.get(viewer, "/timeline?system=switches"); !strings.Contains(body(resp), "SUSPEND_REDIS turned ON") {
		t.Error("switches filter lost the flip")
	}
	for q, want := range map[string]string{
		"from=2026-01-01T00:00&to=2026-02-01T00:00": "at most 14 days",
		"from=%3Cb%3Enow": "is not a time",
		"system=redis":    "is not one of",
	} {
		resp := h.get(viewer, "/timeline?"+q)
		p := body(resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(p, want) || strings.Contains(p, "<b>now") {
			t.Errorf("%s: %d, want 400 with %q", q, resp.StatusCode, want)
		}
	}
	// The Cache chart marks the flip: two heartbeats (as the heartbeat
	// trigger keeps them, for the rollups) give it a point.
	if _, err := h.pool.Exec(context.Background(), `
		WITH h AS (INSERT INTO ops.heartbeat_history
			(instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands) VALUES
			('api-1', now() - interval '10 minutes', 'b1', now() - interval '1 hour', 10, 5, 1, 6),
			('api-1', now() - interval '5 minutes', 'b1', now() - interval '1 hour', 20, 9, 2, 11) RETURNING *)
		INSERT INTO ops.heartbeat_inbox (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
		SELECT instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands FROM h ORDER BY at`); err != nil {
		t.Fatal(err)
	}
	cache := body(h.get(viewer, "/cache"))
	if !strings.Contains(cache, `<a class="chart-marker" href="/switches#switch-SUSPEND_REDIS" data-testid="chart-marker"><title>`) ||
		!strings.Contains(cache, "SUSPEND_REDIS turned ON: crash loop &lt;script&gt;") || strings.Contains(cache, "<script>alert(1)") {
		t.Errorf("the cache chart does not mark the flip, escaped:\n%.4000s", cache)
	}

	req, _ := http.NewRequest(http.MethodHead, h.ts.URL+"/timeline", nil)
	if resp, err := viewer.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD /timeline: %v %v", resp, err)
	}
}
