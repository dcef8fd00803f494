package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/atum/ops-console/internal/auth"
)

// TestBrowserQueuesPagesStayInert opens, in headless Chromium as an
// operator (who sees everything a dead letter holds), every queues page
// that shows message data, with script in bodies, header names and
// values, URLs, labels, filters and flash parameters: the message page
// and its full view, fresh and as the copy shown during a 429; the list
// with a flash, with a made-up flash and as a stale copy; and a purge's
// preview. (A refused filter is a 400, which Chromium reports as an error
// of its own: views' tests cover its escaping.) Nothing runs, no dialog opens.
func TestBrowserQueuesPagesStayInert(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.CreateOperator(context.Background(), "op@atum.io", auth.Operator, password, false); err != nil {
		t.Fatal(err)
	}
	other := h.operator("other@atum.io", auth.Operator)
	secretID, _ := h.secretDeadLetter()
	ids := h.deadLetters(2, "billing")
	message := "/queues/dlq/" + secretID + "?region=eu"
	ctx, inert := inertBrowser(t, h, "op@atum.io", message, `[data-testid="dlq-message"]`)
	inert()

	resp := h.post(other, "/queues/purges", url.Values{"region": {"eu"}, "queue": {"billing"}, "label": {"deploy " + hostile}})
	body(resp)
	purge := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("preview: %d", resp.StatusCode)
	}
	visit := func(path, ready string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Navigate(h.ts.URL+path)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.WaitVisible(ready)); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		inert()
	}
	visit(message+"&full=1", `[data-testid="request-headers"]`)
	visit(purge, `[data-testid="purge-sample"]`)
	visit("/queues?region=eu&done=retry&retried=1&gone=1&failed=0&msg=msg_abc", `[data-testid="flash"]`)
	visit("/queues?region=eu&done=retry&retried=1&failed=1&why="+url.QueryEscape(hostile)+"&msg="+url.QueryEscape(hostile), `[data-testid="dlq-table"]`)

	// During a 429: the list's and the message's last good copies.
	visit("/queues?region=eu", `[data-testid="dlq-table"]`)
	if resp := h.post(other, "/queues/dlq/"+ids[1]+"/retry", url.Values{"region": {"eu"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry: %d", resp.StatusCode)
	}
	h.qs.FailNext(1000, http.StatusTooManyRequests)
	t.Cleanup(func() { h.qs.FailNext(0, 0) })
	visit("/queues?region=eu", `[data-testid="dlq-stale"]`)
	visit(message, `[data-testid="message-stale"]`)
}
