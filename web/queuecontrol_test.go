package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/web"
)

// queuePaused reads the queue's state from the double through the API.
func queuePaused(t *testing.T, h *harness, name string) bool {
	t.Helper()
	c, _ := qstash.NewClient("eu", h.qsURL, "test-token", 5*time.Second)
	qs, err := c.Queues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == name {
			return q.Paused
		}
	}
	t.Fatalf("no queue %s", name)
	return false
}

// An operator pauses a queue feeding the dead-letter queue and resumes
// it: a reason is required, in production the name typed too; both are
// audited intent first; viewers cannot.
func TestQueuePauseAndResume(t *testing.T) {
	h := newHarness(t, func(d *web.Deps) { d.Env = "production" })
	h.qs.SetPaused("billing", false)
	viewer := h.operator("v@atum.io", auth.Viewer)
	op := h.operator("op@atum.io", auth.Operator)
	if resp := h.post(viewer, "/queues/queues/billing/pause", url.Values{"region": {"eu"}, "reason": {"x"}, "confirm": {"billing"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a viewer paused a queue: %d", resp.StatusCode)
	}
	for _, bad := range []url.Values{
		{"region": {"eu"}, "confirm": {"billing"}},
		{"region": {"eu"}, "reason": {"crash loop"}, "confirm": {"Billing"}},
	} {
		if resp := h.post(op, "/queues/queues/billing/pause", bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", bad, resp.StatusCode)
		}
	}
	if resp := h.post(op, "/queues/queues/bill%20ing/pause", url.Values{"region": {"eu"}, "reason": {"x"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a made-up queue name: %d", resp.StatusCode)
	}
	if queuePaused(t, h, "billing") {
		t.Fatal("a refused request paused the queue")
	}
	resp := h.post(op, "/queues/queues/billing/pause", url.Values{"region": {"eu"}, "reason": {"worker crash loop"}, "confirm": {"billing"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pause: %d %s", resp.StatusCode, body(resp))
	}
	if !queuePaused(t, h, "billing") {
		t.Fatal("the queue is not paused")
	}
	page := body(h.get(op, resp.Header.Get("Location")))
	if !strings.Contains(page, "Queue billing is paused") || !strings.Contains(page, `data-testid="queue-paused"`) {
		t.Fatal("the queues page does not say the queue is paused")
	}
	if resp := h.post(op, "/queues/queues/billing/resume", url.Values{"region": {"eu"}, "reason": {"fixed"}, "confirm": {"billing"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resume: %d", resp.StatusCode)
	}
	if queuePaused(t, h, "billing") {
		t.Fatal("the queue is still paused")
	}
	for _, action := range []string{"qstash.queue.pause", "qstash.queue.resume"} {
		ev := h.events(action)
		if len(ev) != 2 || ev[1].Result != audit.Intent || ev[0].Result != audit.Success || ev[0].Target != "qstash:eu/queue/billing" {
			t.Errorf("%s audit: %+v", action, ev)
		}
	}
}

// Changing a queue's parallelism keeps its paused state (QStash's upsert
// sets both) and is audited with before and after.
func TestQueueParallelismKeepsPausedState(t *testing.T) {
	h := newHarness(t)
	h.qs.SetPaused("emails", true)
	op := h.operator("op@atum.io", auth.Operator)
	for _, bad := range []string{"0", "101", "two", ""} {
		if resp := h.post(op, "/queues/queues/emails/parallelism", url.Values{"region": {"eu"}, "reason": {"x"}, "parallelism": {bad}}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("parallelism %q: %d, want 400", bad, resp.StatusCode)
		}
	}
	if resp := h.post(op, "/queues/queues/nosuch/parallelism", url.Values{"region": {"eu"}, "reason": {"x"}, "parallelism": {"2"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown queue: %d, want 404", resp.StatusCode)
	}
	resp := h.post(op, "/queues/queues/emails/parallelism", url.Values{"region": {"eu"}, "reason": {"drain faster"}, "parallelism": {"3"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set parallelism: %d %s", resp.StatusCode, body(resp))
	}
	c, _ := qstash.NewClient("eu", h.qsURL, "test-token", 5*time.Second)
	qs, err := c.Queues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == "emails" && (q.Parallelism != 3 || !q.Paused) {
			t.Fatalf("after the change: %+v", q)
		}
	}
	if ev := h.events("qstash.queue.parallelism"); len(ev) != 2 || ev[0].Result != audit.Success || !strings.Contains(ev[0].DetailsJSON, `"after": 3`) {
		t.Fatalf("audit: %+v", ev)
	}
}
