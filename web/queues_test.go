package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstashdouble"
)

const hostile = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`

func (h *harness) deadLetters(n int, queue string) []string {
	var ids []string
	for i := range n {
		ids = append(ids, h.qs.AddDLQ(qstashdouble.DLQMessage{URL: "https://api.atum.example/" + queue + "?q=" + url.QueryEscape(hostile), Method: "POST",
			QueueName: queue, Labels: []string{"deploy " + hostile}, Header: map[string][]string{"X-Evil": {hostile}},
			Body: fmt.Sprintf(`{"n":%d,"html":%q}`, i, hostile), ResponseStatus: 500, ResponseBody: hostile,
			ResponseHeader: map[string][]string{"Content-Type": {"text/html"}}}))
	}
	return ids
}

func TestQueuesPageListsAndFilters(t *testing.T) {
	h := newHarness(t)
	v := h.operator("viewer@atum.io", auth.Viewer)
	h.deadLetters(3, "billing")
	h.deadLetters(2, "emails")
	if _, err := h.queues.Tick(context.Background(), "eu"); err != nil {
		t.Fatal(err)
	}
	page := body(h.get(v, "/queues"))
	if strings.Count(page, `href="/queues/dlq/`) != 5 || strings.Contains(page, "<script>alert(1)") {
		t.Fatal("dead-letter list wrong or unescaped")
	}
	if strings.Contains(page, `data-testid="purge-form"`) || strings.Contains(page, `name="ids"`) {
		t.Fatal("a viewer sees retry or purge controls")
	}
	if page := body(h.get(v, "/queues?queue=emails")); strings.Count(page, `href="/queues/dlq/`) != 2 {
		t.Fatal("queue filter not applied")
	}
	resp := h.get(v, "/queues?response_status=abc&from=yesterday")
	if b := body(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, `data-testid="filter-error"`) {
		t.Fatalf("bad filter: %d", resp.StatusCode)
	}
	if resp := h.get(v, "/queues/dlq/1-0"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown dead letter: %d", resp.StatusCode)
	}
	if resp := h.get(v, "/queues/dlq/..%2Fx"); resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
		t.Fatalf("malformed id: %d", resp.StatusCode)
	}
}

func TestViewersAndSupportCannotRetryOrPurge(t *testing.T) {
	h := newHarness(t)
	ids := h.deadLetters(2, "billing")
	for _, role := range []auth.Role{auth.Viewer, auth.Support} {
		c := h.operator(string(role)+"@atum.io", role)
		for _, path := range []string{"/queues/dlq/" + ids[0] + "/retry", "/queues/dlq/retry", "/queues/purges"} {
			resp := h.post(c, path, url.Values{"ids": {ids[0]}, "region": {"eu"}, "queue": {"billing"}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s POST %s: %d", role, path, resp.StatusCode)
			}
		}
	}
	if h.qs.DLQCount() != 2 || len(h.events("authz.denied")) != 6 {
		t.Fatalf("dead letters %d, denials audited %d", h.qs.DLQCount(), len(h.events("authz.denied")))
	}
}

func TestRetryIsAudited(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	ids := h.deadLetters(3, "billing")
	if resp := h.post(op, "/queues/dlq/"+ids[0]+"/retry", url.Values{"region": {"eu"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry one: %d", resp.StatusCode)
	}
	if resp := h.post(op, "/queues/dlq/retry", url.Values{"region": {"eu"}, "ids": {ids[1], ids[2]}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry selected: %d", resp.StatusCode)
	}
	ev := h.events("dlq.retry") // newest first: each result after its intent
	if len(ev) != 4 || ev[1].Result != "intent" || ev[3].Result != "intent" ||
		!strings.Contains(ev[0].DetailsJSON, ids[1]) || !strings.Contains(ev[2].DetailsJSON, ids[0]) {
		t.Fatalf("retry audit = %+v", ev)
	}
	for _, id := range ids {
		for _, r := range h.qs.DLQIDs() {
			if r == id {
				t.Fatalf("%s still in the DLQ after its retry", id)
			}
		}
	}
}

// TestPurgeFlowThroughThePages: preview, a wrong typed count, the right
// one, the result, and undo; all audited.
func TestPurgeFlowThroughThePages(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	h.deadLetters(60, "billing")
	keep := h.deadLetters(5, "emails")
	resp := h.post(op, "/queues/purges", url.Values{"region": {"eu"}, "queue": {"billing"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("preview: %d %s", resp.StatusCode, body(resp))
	}
	purge := resp.Header.Get("Location")
	page := body(h.get(op, purge))
	if !strings.Contains(page, `data-testid="confirm-form"`) || !strings.Contains(page, `name="typed_count"`) || strings.Contains(page, "<script>alert(1)") {
		t.Fatal("preview page")
	}
	if resp := h.post(op, purge+"/confirm", url.Values{"typed_count": {"59"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong typed count: %d", resp.StatusCode)
	}
	if h.qs.DLQCount() != 65 {
		t.Fatal("a refused confirmation deleted something")
	}
	if resp := h.post(op, purge+"/confirm", url.Values{"typed_count": {"60"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	waitFor(t, func() bool { return strings.Contains(body(h.get(op, purge)), `data-testid="purge-result"`) })
	left := h.qs.DLQIDs()
	if len(left) != len(keep) {
		t.Fatalf("%d left, want %d", len(left), len(keep))
	}
	waitFor(t, func() bool { return len(h.events("dlq.purge.result")) == 1 })
	if res := h.events("dlq.purge.result")[0]; !strings.Contains(res.DetailsJSON, `"deleted": 60`) || res.Operator != "op@atum.io" {
		t.Fatalf("result audit = %+v", res)
	}
	if ev := h.events("dlq.purge.confirm"); len(ev) != 2 || ev[0].Result != "intent" {
		t.Fatalf("confirm audit = %+v", ev)
	}
	if resp := h.post(op, purge+"/undo", url.Values{"reason": {""}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("undo without reason: %d", resp.StatusCode)
	}
	if resp := h.post(op, purge+"/undo", url.Values{"reason": {"purged the wrong queue"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("undo: %d %s", resp.StatusCode, body(resp))
	}
	published := 0
	for _, r := range h.qs.Requests() {
		if strings.HasPrefix(r.Path, "/v2/enqueue/billing/https://api.atum.example/billing") { // back into their queue
			published++
		}
	}
	if published != 60 || len(h.qs.DangerousCalls()) != 0 {
		t.Fatalf("undo enqueued %d; dangerous calls %d", published, len(h.qs.DangerousCalls()))
	}
}

// TestBrowserHostileDeadLetterStaysInert opens a dead letter whose body,
// headers, URL and labels carry script in headless Chromium: nothing runs,
// no dialog opens.
func TestBrowserHostileDeadLetterStaysInert(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.CreateOperator(context.Background(), "op@atum.io", auth.Operator, password, false); err != nil {
		t.Fatal(err)
	}
	ids := h.deadLetters(1, "billing")
	ctx, inert := inertBrowser(t, h, "op@atum.io", "/queues/dlq/"+ids[0]+"?region=eu", `[data-testid="dlq-message"]`)
	inert()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(h.ts.URL+"/queues?region=eu")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible(`[data-testid="dlq-table"]`)); err != nil {
		t.Fatal(err)
	}
	inert()
}
