package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/web"
)

// midSecond waits until the clock is between 0.3 s and 0.6 s into a
// second: the double's 429 then asks to wait until the next second,
// 0.4 to 0.7 s, which fits a page's budget with room to spare.
func midSecond() {
	for {
		f := time.Duration(time.Now().Nanosecond())
		if f >= 300*time.Millisecond && f < 600*time.Millisecond {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dlqCalls counts the double's GET requests under path.
func (h *harness) dlqCalls(path string) (calls, limited int) {
	for _, r := range h.qs.Requests() {
		if r.Method == http.MethodGet && r.Path == path {
			calls++
			if r.Status == http.StatusTooManyRequests {
				limited++
			}
		}
	}
	return calls, limited
}

// TestListWaitsOutA429: a 429 whose wait fits the page's budget is waited
// out and the list shown fresh, within the budget.
func TestListWaitsOutA429(t *testing.T) {
	h := newHarness(t)
	v := h.operator("viewer@atum.io", auth.Viewer)
	h.deadLetters(2, "billing")
	h.qs.ResetRequests()
	midSecond()
	h.qs.FailNext(1, http.StatusTooManyRequests)
	start := time.Now()
	resp := h.get(v, "/queues?region=eu")
	page, took := body(resp), time.Since(start)
	if resp.StatusCode != http.StatusOK || strings.Count(page, `data-testid="dlq-row"`) != 2 ||
		strings.Contains(page, `data-testid="dlq-error"`) || strings.Contains(page, `data-testid="dlq-stale"`) {
		t.Fatalf("after a 429: %d\n%s", resp.StatusCode, page)
	}
	if calls, limited := h.dlqCalls("/v2/dlq"); calls != 2 || limited != 1 {
		t.Errorf("calls %d (429: %d), want a 429 then the page", calls, limited)
	}
	if took < 250*time.Millisecond || took > web.PageBudget {
		t.Errorf("took %v: the wait was not made, or not within the budget", took)
	}
}

// TestLastGoodCopyDuringA429: while QStash keeps answering 429, the list
// shows its last good copy with its age, a dead letter read before shows
// its copy, and one never read is a clear 503 with Retry-After.
func TestLastGoodCopyDuringA429(t *testing.T) {
	h := newHarness(t)
	v := h.operator("viewer@atum.io", auth.Viewer)
	support := h.operator("support@atum.io", auth.Support)
	op := h.operator("op@atum.io", auth.Operator)
	ids := h.deadLetters(3, "billing")
	if page := body(h.get(v, "/queues?region=eu")); strings.Count(page, `data-testid="dlq-row"`) != 3 {
		t.Fatal("first listing")
	}
	if page := body(h.get(support, "/queues/dlq/"+ids[1]+"?region=eu")); !strings.Contains(page, `&#34;n&#34;:1`) {
		t.Fatal("first read of the dead letter")
	}
	time.Sleep(1100 * time.Millisecond) // the copies are a second old
	// A retry here empties the shared page cache, so the next list asks.
	if resp := h.post(op, "/queues/dlq/"+ids[2]+"/retry", url.Values{"region": {"eu"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry: %d", resp.StatusCode)
	}

	h.qs.FailNext(1000, http.StatusTooManyRequests)
	t.Cleanup(func() { h.qs.FailNext(0, 0) })
	start := time.Now()
	resp := h.get(v, "/queues?region=eu")
	page, took := body(resp), time.Since(start)
	if resp.StatusCode != http.StatusOK || strings.Count(page, `data-testid="dlq-row"`) != 3 || took > web.PageBudget {
		t.Fatalf("list during a 429: %d, %v", resp.StatusCode, took)
	}
	if !strings.Contains(page, `data-testid="dlq-stale"`) || !strings.Contains(page, "QStash is rate-limiting the console (HTTP 429), so this list is the copy read ") ||
		!regexp.MustCompile(`copy read [0-9]+s ago; it may have changed since\.`).MatchString(page) {
		t.Errorf("the list does not say it is a copy, and how old:\n%s", page)
	}

	resp = h.get(support, "/queues/dlq/"+ids[1]+"?region=eu")
	page = body(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `&#34;n&#34;:1`) || !strings.Contains(page, `data-testid="message-stale"`) ||
		!strings.Contains(page, "this dead letter is the copy read ") {
		t.Errorf("a dead letter read before, during a 429: %d", resp.StatusCode)
	}

	resp = h.get(support, "/queues/dlq/"+ids[0]+"?region=eu")
	page = body(resp)
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusServiceUnavailable || err != nil || ra < 1 || ra > 60 {
		t.Errorf("a dead letter never read, during a 429: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(page, "QStash is rate-limiting the console (HTTP 429) and this console has no recent copy of it") ||
		strings.Contains(page, "did not answer") || strings.Contains(page, "502") {
		t.Errorf("the 503 does not say QStash is rate-limiting:\n%s", page)
	}

	// Another failure is an error of the page, said above the same copy.
	h.qs.FailNext(1000, http.StatusInternalServerError)
	page = body(h.get(v, "/queues?region=eu"))
	if !strings.Contains(page, `data-testid="dlq-error"`) || !strings.Contains(page, "QStash answered HTTP 500 when asked for the dead letters") ||
		!strings.Contains(page, "QStash answered HTTP 500 now, so this list is the copy read ") || strings.Count(page, `data-testid="dlq-row"`) != 3 {
		t.Errorf("the list during QStash errors:\n%s", page)
	}
}

// TestListParametersCheckedBeforeQStash: a bad cursor, count or filter is
// a 400 naming it, and nothing is sent; a cursor QStash gave works.
func TestListParametersCheckedBeforeQStash(t *testing.T) {
	h := newHarness(t)
	v := h.operator("viewer@atum.io", auth.Viewer)
	h.deadLetters(3, "billing")
	h.qs.ResetRequests()
	for q, want := range map[string]string{
		"cursor=" + strings.Repeat("a", 201):         "page cursor is not one QStash gives",
		"cursor=" + url.QueryEscape(`a"><x`):         "page cursor is not one QStash gives",
		"cursor=" + url.QueryEscape("a b"):           "page cursor is not one QStash gives",
		"cursor=" + url.QueryEscape("a&count=100"):   "page cursor is not one QStash gives",
		"cursor=a&cursor=b":                          "cursor is given 2 times",
		"count=0":                                    "count &#34;0&#34; is not a page size (1–100)",
		"count=101":                                  "is not a page size",
		"count=ten":                                  "is not a page size",
		"queue=" + url.QueryEscape("billing,emails"): "which QStash reads as",
		"queue=" + url.QueryEscape("bill ing"):       "is not a queue name",
		"schedule=" + url.QueryEscape("scd/1"):       "is not a schedule id",
		"label=" + url.QueryEscape("a,b"):            "holds a comma",
		"url=" + url.QueryEscape("https://a/x,y"):    "holds a comma",
		"response_status=99":                         "is not an HTTP status",
	} {
		resp := h.get(v, "/queues?region=eu&"+q)
		page := body(resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `data-testid="filter-error"`) || !strings.Contains(page, want) {
			t.Errorf("%s: %d, want 400 saying %q", q, resp.StatusCode, want)
		}
	}
	if reqs := h.qs.Requests(); len(reqs) != 0 {
		t.Fatalf("refused parameters reached QStash: %+v", reqs)
	}
	if resp := h.get(v, "/queues/dlq/"+h.qs.DLQIDs()[0]+"?region=eu&full=yes"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("full=yes: %d", resp.StatusCode)
	}

	page := body(h.get(v, "/queues?region=eu&count=1&queue=billing"))
	i := strings.Index(page, `data-testid="dlq-next"`)
	if i < 0 {
		t.Fatal("no next page link")
	}
	href := page[strings.LastIndex(page[:i], `href="`)+len(`href="`):]
	href = strings.ReplaceAll(href[:strings.Index(href, `"`)], "&amp;", "&")
	next, _ := url.Parse(href)
	if next.Query().Get("count") != "1" || next.Query().Get("queue") != "billing" || next.Query().Get("cursor") == "" {
		t.Errorf("next link %q", href)
	}
	resp := h.get(v, href)
	if page := body(resp); resp.StatusCode != http.StatusOK || strings.Count(page, `data-testid="dlq-row"`) != 1 {
		t.Errorf("the cursor QStash gave: %d", resp.StatusCode)
	}
	for _, r := range h.qs.Requests() {
		if r.Path == "/v2/dlq" && r.Query.Get("count") != "1" {
			t.Errorf("count not sent as asked: %v", r.Query)
		}
	}
}
