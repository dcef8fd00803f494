package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/web"
)

// withApproval sets the two-person approval policy.
func withApproval(p qstash.ApprovalPolicy) option {
	return func(d *web.Deps) { d.Approval = p }
}

// retriedIDs lists the dead-letter ids the double was asked to retry, and
// fails on a retry call that named none.
func (h *harness) retriedIDs() []string {
	h.t.Helper()
	var ids []string
	for _, r := range h.qs.Requests() {
		switch {
		case r.Method != http.MethodPost || !strings.HasPrefix(r.Path, "/v2/dlq/retry"):
		case r.Path == "/v2/dlq/retry" && len(r.Query["dlqIds"]) == 0:
			h.t.Fatalf("a bulk retry without ids: %+v", r)
		case r.Path == "/v2/dlq/retry":
			ids = append(ids, r.Query["dlqIds"]...)
		default:
			ids = append(ids, strings.TrimPrefix(r.Path, "/v2/dlq/retry/"))
		}
	}
	return ids
}

// TestBulkRetryFlowThroughThePages: preview a retry of a queue's dead
// letters, a refused override, the confirmation with the count typed and
// an override; exactly the frozen set is retried with it; audited.
func TestBulkRetryFlowThroughThePages(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	frozen := h.deadLetters(60, "billing")
	keep := h.deadLetters(5, "emails")
	resp := h.post(op, "/queues/purges", url.Values{"region": {"eu"}, "queue": {"billing"}, "kind": {"retry"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("preview: %d %s", resp.StatusCode, body(resp))
	}
	retry := resp.Header.Get("Location")
	page := body(h.get(op, retry))
	for _, want := range []string{`data-kind="retry"`, `name="upstash_retries"`, `name="typed_count"`, "Retry 60 dead letters", "Retry #"} {
		if !strings.Contains(page, want) {
			t.Fatalf("retry preview lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Fatal("unescaped dead letter on the retry page")
	}
	if resp := h.post(op, "/queues/purges", url.Values{"region": {"eu"}, "kind": {"requeue"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown kind: %d", resp.StatusCode)
	}
	resp = h.post(op, retry+"/confirm", url.Values{"typed_count": {"60"}, "upstash_retries": {"1; rm"}})
	if page := body(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "Upstash-Retries") {
		t.Fatalf("bad override: %d %s", resp.StatusCode, page)
	}
	if len(h.retriedIDs()) != 0 {
		t.Fatal("a refused confirmation retried something")
	}
	if resp := h.post(op, retry+"/confirm", url.Values{"typed_count": {"60"}, "upstash_retries": {"0"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d %s", resp.StatusCode, body(resp))
	}
	waitFor(t, func() bool { return len(h.events("dlq.bulk_retry.result")) == 1 })
	res := h.events("dlq.bulk_retry.result")[0]
	if !strings.Contains(res.DetailsJSON, `"retried": 60`) || !strings.Contains(res.DetailsJSON, `"Upstash-Retries": "0"`) || res.Operator != "op@atum.io" {
		t.Fatalf("result audit = %+v", res)
	}
	for _, id := range h.retriedIDs() {
		if !slices.Contains(frozen, id) {
			t.Fatalf("retried %s, outside the frozen set", id)
		}
	}
	for _, r := range h.qs.Requests() {
		if strings.HasPrefix(r.Path, "/v2/dlq/retry") && r.Upstash.Get("Upstash-Retries") != "0" {
			t.Fatalf("a retry call without the override: %+v", r)
		}
	}
	left := h.qs.DLQIDs()
	for _, k := range keep {
		if !slices.Contains(left, k) {
			t.Fatalf("dead letter %s outside the frozen set left the queue", k)
		}
	}
	page = body(h.get(op, retry))
	if !strings.Contains(page, `data-testid="retry-retried">60<`) || strings.Contains(page, `data-testid="undo-form"`) {
		t.Fatal("the result page: wrong count, or an undo offered for a retry")
	}
	if resp := h.post(op, retry+"/undo", url.Values{"reason": {"no"}}); resp.StatusCode != http.StatusConflict {
		t.Fatalf("undo of a retry: %d", resp.StatusCode)
	}
}

// TestTwoPersonApprovalThroughThePages: with every purge needing a second
// operator, the requester cannot approve (403, audited as denied); another
// operator sees the request on /queues and approves it; a viewer cannot.
func TestTwoPersonApprovalThroughThePages(t *testing.T) {
	h := newHarness(t, withApproval(qstash.ApprovalPolicy{Kinds: []string{qstash.KindPurge, qstash.KindRetry}, Expiry: time.Hour}))
	alice := h.operator("alice@atum.io", auth.Operator)
	bob := h.operator("bob@atum.io", auth.Operator)
	viewer := h.operator("viewer@atum.io", auth.Viewer)
	h.deadLetters(3, "billing")
	resp := h.post(alice, "/queues/purges", url.Values{"region": {"eu"}, "queue": {"billing"}})
	purge := resp.Header.Get("Location")
	if page := body(h.get(alice, purge)); !strings.Contains(page, `data-testid="needs-approval"`) || !strings.Contains(page, "Ask for approval") {
		t.Fatal("the confirmation does not say it needs a second operator")
	}
	resp = h.post(alice, purge+"/confirm", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=requested") {
		t.Fatalf("request: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	time.Sleep(100 * time.Millisecond)
	if h.qs.DLQCount() != 3 {
		t.Fatal("a request deleted something before its approval")
	}
	page := body(h.get(alice, purge+"?done=requested"))
	if !strings.Contains(page, `data-testid="own-request"`) || strings.Contains(page, `data-testid="approve-form"`) || !strings.Contains(page, "Asked for approval") {
		t.Fatal("the requester's page")
	}
	resp = h.post(alice, purge+"/approve", nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the requester approved: %d", resp.StatusCode)
	}
	if ev := h.events("dlq.purge.approve"); len(ev) != 1 || ev[0].Result != "denied" || ev[0].Operator != "alice@atum.io" {
		t.Fatalf("refusal audit = %+v", ev)
	}
	if resp := h.post(viewer, purge+"/approve", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a viewer approved: %d", resp.StatusCode)
	}
	if q := body(h.get(bob, "/queues")); !strings.Contains(q, `data-testid="approvals"`) || !strings.Contains(q, purge) {
		t.Fatal("/queues does not list the request waiting for approval")
	}
	if page := body(h.get(bob, purge)); !strings.Contains(page, `data-testid="approve-form"`) || !strings.Contains(page, "alice@atum.io") {
		t.Fatal("another operator is not offered the approval")
	}
	if resp := h.post(bob, purge+"/approve", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approval: %d %s", resp.StatusCode, body(resp))
	}
	waitFor(t, func() bool { return len(h.events("dlq.purge.result")) == 1 })
	if res := h.events("dlq.purge.result")[0]; res.Operator != "bob@atum.io" || !strings.Contains(res.DetailsJSON, `"requested_by": "alice@atum.io"`) {
		t.Fatalf("result audit = %+v", res)
	}
	if h.qs.DLQCount() != 0 {
		t.Fatalf("%d dead letters left after the approved purge", h.qs.DLQCount())
	}
	if resp := h.post(bob, purge+"/approve", nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("approved twice: %d", resp.StatusCode)
	}

	// A second request: withdrawn by its requester, with a reason.
	h.deadLetters(2, "emails")
	resp = h.post(alice, "/queues/purges", url.Values{"region": {"eu"}, "queue": {"emails"}, "kind": {"retry"}})
	retry := resp.Header.Get("Location")
	h.post(alice, retry+"/confirm", nil)
	if resp := h.post(alice, retry+"/reject", url.Values{"reason": {""}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("withdrawal without a reason: %d", resp.StatusCode)
	}
	if resp := h.post(alice, retry+"/reject", url.Values{"reason": {"wrong queue"}}); resp.StatusCode != http.StatusSeeOther ||
		!strings.HasSuffix(resp.Header.Get("Location"), "done=withdrawn") {
		t.Fatalf("withdrawal: %d", resp.StatusCode)
	}
	if ev := h.events("dlq.bulk_retry.reject"); len(ev) != 1 || ev[0].Reason != "wrong queue" || !strings.Contains(ev[0].DetailsJSON, `"withdrawn": true`) {
		t.Fatalf("withdrawal audit = %+v", ev)
	}
	if resp := h.post(bob, retry+"/approve", nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("a withdrawn request was approved: %d", resp.StatusCode)
	}
	if len(h.retriedIDs()) != 0 {
		t.Fatal("a withdrawn retry sent something")
	}
}

// TestBrowserBulkActionPagesStayInert opens, in headless Chromium, a
// retry waiting for approval, the queues page listing it, the summary,
// the schedules and a tenant's messages, over dead letters and schedules
// that carry script everywhere: nothing runs, no dialog opens.
func TestBrowserBulkActionPagesStayInert(t *testing.T) {
	h := newHarness(t, withApproval(qstash.ApprovalPolicy{Kinds: []string{qstash.KindRetry}, Expiry: time.Hour}))
	alice := h.operator("alice@atum.io", auth.Operator)
	if _, err := h.store.CreateOperator(context.Background(), "bob@atum.io", auth.Operator, password, false); err != nil {
		t.Fatal(err)
	}
	h.deadLetters(3, "billing")
	resp := h.post(alice, "/queues/purges", url.Values{"region": {"eu"}, "queue": {"billing"}, "kind": {"retry"}})
	retry := resp.Header.Get("Location")
	if resp := h.post(alice, retry+"/confirm", url.Values{"upstash_delay": {"10m"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("request: %d", resp.StatusCode)
	}
	h.qs.AddDLQ(qstashdouble.DLQMessage{URL: "https://api.atum.example/t?x=" + url.QueryEscape(hostile), Method: "POST",
		Labels: []string{"tenant-acme", hostile}, Header: map[string][]string{"X-Atum-Tenant": {"acme"}, "X-Evil": {hostile}},
		Body: hostile, ResponseStatus: 500, ResponseBody: hostile})
	h.qs.AddSchedule(qstashdouble.Schedule{Cron: "*/5 * * * *", Destination: "https://api.atum.example/cron?x=" + url.QueryEscape(hostile),
		Method: "POST", Labels: []string{hostile}, LastScheduleStates: map[string]string{"msg_1": hostile}})
	ctx, inert := inertBrowser(t, h, "bob@atum.io", retry, `[data-testid="approve-form"]`)
	inert()
	for _, step := range []struct{ path, ready string }{
		{"/queues?region=eu", `[data-testid="approvals"]`},
		{"/queues/summary?region=eu", `[data-testid="summary-intro"]`},
		{"/queues/schedules?region=eu", `[data-testid="schedule-row"]`},
		{"/queues/tenant/acme?region=eu", `[data-testid="tenant-dlq-part"] [data-testid="dlq-row"]`},
	} {
		if _, err := chromedp.Run(ctx, chromedp.Navigate(h.ts.URL+step.path)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.WaitVisible(step.ready)); err != nil {
			t.Fatal(err)
		}
		inert()
	}
}
