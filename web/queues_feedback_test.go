package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
)

// flashRE finds the flash and its class on a page.
var flashRE = regexp.MustCompile(`<div class="flash (flash-[a-z]+)" role="status" data-testid="flash">([^<]*)</div>`)

// retryAndFollow posts a retry, expects the redirect to the list and
// returns the flash's class and text on the page it leads to.
func (h *harness) retryAndFollow(c *http.Client, path string, form url.Values) (string, string, string) {
	h.t.Helper()
	resp := h.post(c, path, form)
	body(resp)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/queues?") {
		h.t.Fatalf("retry %s: %d → %q", path, resp.StatusCode, loc)
	}
	page := body(h.get(c, loc))
	m := flashRE.FindStringSubmatch(page)
	if m == nil {
		h.t.Fatalf("no flash after the retry (%s)", loc)
	}
	return m[1], m[2], loc
}

// TestRetryFeedback: a retry says what became of each dead letter on the
// next page: retried with the new message id, already gone, failed and
// why; the redirect carries a fixed key and counts, never text.
func TestRetryFeedback(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	ids := h.deadLetters(6, "billing")
	eu := url.Values{"region": {"eu"}}

	class, text, loc := h.retryAndFollow(op, "/queues/dlq/"+ids[0]+"/retry", eu)
	q, _ := url.Parse(loc)
	mid := q.Query().Get("msg")
	if class != "flash-ok" || !strings.HasPrefix(mid, "msg_") || text != "Retried: QStash accepted the dead letter again as message "+mid+"." {
		t.Errorf("retried: %s %q (%s)", class, text, loc)
	}
	if ev := h.events("dlq.retry"); len(ev) != 2 || !strings.Contains(ev[0].DetailsJSON, mid) {
		t.Errorf("the new message id is not audited: %+v", ev)
	}

	h.qs.RemoveDLQ(ids[1])
	class, text, _ = h.retryAndFollow(op, "/queues/dlq/"+ids[1]+"/retry", eu)
	if class != "flash-ok" || text != "1 dead letter was already gone (deleted, retried or expired), so not retried." {
		t.Errorf("gone: %s %q", class, text)
	}

	h.qs.FailNext(1, http.StatusInternalServerError)
	class, text, _ = h.retryAndFollow(op, "/queues/dlq/"+ids[2]+"/retry", eu)
	if class != "flash-error" || text != "1 dead letter not retried: QStash answered with a server error. The audit log has each error." {
		t.Errorf("failed: %s %q", class, text)
	}
	if ev := h.events("dlq.retry"); ev[0].Result != audit.Error || !strings.Contains(ev[0].DetailsJSON, "HTTP 500") {
		t.Errorf("failure audit = %+v", ev[0])
	}

	// Selected (one given twice): one retried, one gone; back on the same
	// filtered list.
	h.qs.RemoveDLQ(ids[4])
	form := url.Values{"region": {"eu"}, "ids": {ids[3], ids[4], ids[3]}, "queue": {"billing"}, "count": {"20"}, "label": {""}}
	class, text, loc = h.retryAndFollow(op, "/queues/dlq/retry", form)
	if class != "flash-ok" || !strings.HasPrefix(text, "Retried: QStash accepted the dead letter again as message msg_") ||
		!strings.HasSuffix(text, ". 1 dead letter was already gone (deleted, retried or expired), so not retried.") {
		t.Errorf("selected: %s %q", class, text)
	}
	if q, _ := url.Parse(loc); q.Query().Get("queue") != "billing" || q.Query().Get("count") != "20" || q.Query().Has("label") {
		t.Errorf("the redirect lost the list it came from: %s", loc)
	}

	// QStash rate-limiting: the 429 is not waited out forever and the rest
	// is not sent.
	h.qs.FailNext(50, http.StatusTooManyRequests)
	h.qs.ResetRequests()
	class, text, _ = h.retryAndFollow(op, "/queues/dlq/retry", url.Values{"region": {"eu"}, "ids": {ids[2], ids[5]}})
	h.qs.FailNext(0, 0)
	if class != "flash-error" || !strings.HasPrefix(text, "2 dead letters not retried: QStash is rate-limiting the console (HTTP 429)") {
		t.Errorf("rate-limited: %s %q", class, text)
	}
	sent := 0
	for _, r := range h.qs.Requests() {
		if strings.HasPrefix(r.Path, "/v2/dlq/retry/") {
			sent++
			if strings.HasSuffix(r.Path, ids[5]) {
				t.Error("the retry went on after QStash refused")
			}
		}
	}
	if sent < 1 || sent > 2 {
		t.Errorf("%d retry calls during the storm, want the first and at most one more after its wait", sent)
	}
}

// TestFlashTakesNoTextFromTheURL: a made-up redirect shows a flash built
// from known keys only, or none.
func TestFlashTakesNoTextFromTheURL(t *testing.T) {
	h := newHarness(t)
	v := h.operator("viewer@atum.io", auth.Viewer)
	for q, want := range map[string]string{
		"done=retry&retried=1&gone=0&failed=0&msg=" + url.QueryEscape(hostile): "Retried 1 dead letter: QStash accepted each again as a new message (the new ids are in the audit log).",
		"done=retry&retried=0&gone=0&failed=1&why=" + url.QueryEscape(hostile): "",
		"done=retry&retried=0&gone=0&failed=1&why=rate":                        "1 dead letter not retried: QStash is rate-limiting the console (HTTP 429); try again in a minute. The audit log has each error.",
		"done=" + url.QueryEscape(hostile) + "&retried=1":                      "",
		"done=retry&retried=-1&gone=0&failed=0":                                "",
		"done=retry&retried=1000&gone=0&failed=0":                              "",
		"done=retry&retried=0&gone=0&failed=0":                                 "",
	} {
		page := body(h.get(v, "/queues?region=eu&"+q))
		if strings.Contains(page, "<script>alert(1)") || strings.Contains(page, "alert(1)") && strings.Contains(page, `data-testid="flash"`) {
			t.Errorf("%s: the URL's text reached the page", q)
		}
		got := ""
		if m := flashRE.FindStringSubmatch(page); m != nil {
			got = m[2]
		}
		if got != want {
			t.Errorf("%s: flash %q, want %q", q, got, want)
		}
	}
}
