package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/web"
)

// evilQueue and evilLabel try to break out of markup and to add filters
// of their own to a link.
const (
	evilQueue = `<script>alert(1)</script>"&region=us&x=1`
	evilLabel = `<img src=x onerror=alert(2)>"&queue=billing&region=us`
)

// withSummaries gives the harness a dead-letter summariser over its
// QStash double, returned through s.
func withSummaries(s **qstash.Summariser, calls int) option {
	return func(d *web.Deps) {
		*s = &qstash.Summariser{Pool: d.Console, Clients: d.QStash, Interval: time.Minute, Calls: calls}
		d.DLQSummary = *s
	}
}

// seedSummary adds 7 dead letters: 4 of queue billing (500, label
// deploy-7, 20 Nov), 2 of evilQueue (502, labels evilLabel and one with a
// comma, 21 Nov) and one without queue, response or label.
func (h *harness) seedSummary() {
	day := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for range 4 {
		h.qs.AddDLQ(qstashdouble.DLQMessage{QueueName: "billing", URL: "https://api.atum.example/billing", ResponseStatus: 500,
			Labels: []string{"deploy-7"}, CreatedAt: day.UnixMilli()})
	}
	for range 2 {
		h.qs.AddDLQ(qstashdouble.DLQMessage{QueueName: evilQueue, URL: "https://api.atum.example/x?a=" + url.QueryEscape(evilQueue),
			ResponseStatus: 502, Labels: []string{evilLabel, "a,b"}, CreatedAt: day.Add(24 * time.Hour).UnixMilli()})
	}
	h.qs.AddDLQ(qstashdouble.DLQMessage{URL: "https://api.atum.example/direct", CreatedAt: day.UnixMilli()})
}

// elements returns the elements of page with the data-testid testid.
func elements(t *testing.T, page, testid string) []*html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && attrOf(n, "data-testid") == testid {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// elementChildren returns n's child elements.
func elementChildren(n *html.Node) []*html.Node {
	var out []*html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			out = append(out, c)
		}
	}
	return out
}

// textOf is the text below n.
func textOf(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(textOf(c))
	}
	return b.String()
}

// summaryLinks maps each group link's text to its query.
func summaryLinks(t *testing.T, page string) map[string]url.Values {
	t.Helper()
	out := map[string]url.Values{}
	for _, a := range elements(t, page, "summary-link") {
		u, err := url.Parse(attrOf(a, "href"))
		if err != nil || u.Path != "/queues" {
			t.Fatalf("group link %q: %v", attrOf(a, "href"), err)
		}
		out[textOf(a)] = u.Query()
	}
	return out
}

// TestDLQSummaryPage: counts per dimension, links with exactly the
// Queues page's filters, hostile names escaped and kept whole, purge
// previews for operators only.
func TestDLQSummaryPage(t *testing.T) {
	var s *qstash.Summariser
	h := newHarness(t, withSummaries(&s, 0))
	v := h.operator("viewer@atum.io", auth.Viewer)
	if page := body(h.get(v, "/queues/summary")); len(elements(t, page, "summary-not-yet")) != 1 {
		t.Fatal("no 'not summarised yet' before the first summary")
	}
	h.seedSummary()
	if _, took, err := s.Tick(context.Background(), "eu", false); err != nil || !took {
		t.Fatalf("Tick: %v, %v", took, err)
	}
	resp := h.get(v, "/queues/summary")
	page := body(resp)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "<script>alert(1)") || strings.Contains(page, "<img src=x") ||
		!strings.Contains(page, "&lt;script&gt;alert(1)") || !strings.Contains(page, "&lt;img src=x") {
		t.Fatalf("summary page: %d, hostile names unescaped or missing", resp.StatusCode)
	}
	if got := textOf(elements(t, page, "summary-scanned")[0]); got != "7 dead letters" {
		t.Fatalf("scanned %q", got)
	}
	rows := map[string]bool{}
	for _, row := range elements(t, page, "summary-group") {
		value := elementChildren(elementChildren(row)[0])[0]
		rows[textOf(value)+" | "+textOf(elementChildren(row)[1])] = true
	}
	for _, want := range []string{"billing | 4", evilQueue + " | 2", "(no queue) | 1", "500 | 4", "502 | 2", "(no response) | 1",
		"deploy-7 | 4", evilLabel + " | 2", "a,b | 2", "(no label) | 1", "2026-11-20 | 5", "2026-11-21 | 2"} {
		if !rows[want] {
			t.Errorf("no row %q in %v", want, rows)
		}
	}
	hints := map[string]int{}
	for _, n := range elements(t, page, "summary-no-filter") {
		hints[textOf(n)]++
	}
	// No queue, no response, no label; label a,b has a comma.
	if hints["no filter selects these"] != 3 || hints["no filter selects exactly this value (it has a comma)"] != 1 {
		t.Errorf("hints: %v", hints)
	}
	links := summaryLinks(t, page)
	for text, want := range map[string]url.Values{
		"billing":                          {"region": {"eu"}, "queue": {"billing"}},
		evilLabel:                          {"region": {"eu"}, "label": {evilLabel}},
		"https://api.atum.example/billing": {"region": {"eu"}, "url": {"https://api.atum.example/billing"}},
		"502":                              {"region": {"eu"}, "response_status": {"502"}},
		"deploy-7":                         {"region": {"eu"}, "label": {"deploy-7"}},
		"2026-11-21":                       {"region": {"eu"}, "from": {"2026-11-21"}, "to": {"2026-11-21"}},
	} {
		if got := links[text]; got.Encode() != want.Encode() {
			t.Errorf("link of %q: %v, want %v", text, got, want)
		}
	}
	// The list may refuse a queue name QStash would not take: then there
	// is no link, else it carries the name whole.
	if q, ok := links[evilQueue]; ok && q.Encode() != (url.Values{"region": {"eu"}, "queue": {evilQueue}}).Encode() {
		t.Errorf("link of the hostile queue: %v", q)
	}
	if _, ok := links["a,b"]; ok || len(elements(t, page, "summary-purge-form")) != 0 {
		t.Fatal("a link for a label with a comma, or a purge form for a viewer")
	}
	// The hostile label's link lists exactly its dead letters.
	h.qs.ResetRequests()
	if resp := h.get(v, "/queues?"+links[evilLabel].Encode()); resp.StatusCode != http.StatusOK {
		t.Fatalf("filtered list: %d", resp.StatusCode)
	}
	assertListedWith(t, h, url.Values{"label": {evilLabel}})

	op := h.operator("op@atum.io", auth.Operator)
	page = body(h.get(op, "/queues/summary"))
	forms := elements(t, page, "summary-purge-form")
	if len(forms) != len(links) {
		t.Fatalf("%d purge forms for %d links", len(forms), len(links))
	}
	var evil url.Values
	for _, f := range forms {
		fields := formFields(f)
		if fields.Get("label") == evilLabel {
			evil = fields
		}
	}
	want := url.Values{"region": {"eu"}, "url": {""}, "queue": {""}, "schedule": {""}, "response_status": {""}, "label": {evilLabel}, "from": {""}, "to": {""}}
	if attrOf(forms[0], "action") != "/queues/purges" || evil.Encode() != want.Encode() {
		t.Fatalf("purge form of the hostile label: %v", evil)
	}
	h.qs.ResetRequests()
	if resp := h.post(op, "/queues/purges", evil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/queues/purges/") {
		t.Fatalf("purge preview: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	assertListedWith(t, h, url.Values{"label": {evilLabel}})
	if h.qs.DLQCount() != 7 {
		t.Fatal("a preview deleted dead letters")
	}
}

// formFields returns the names and values of a form's inputs.
func formFields(form *html.Node) url.Values {
	out := url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			out.Add(attrOf(n, "name"), attrOf(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	return out
}

// assertListedWith checks that QStash was asked for dead letters, and
// only with the filter want.
func assertListedWith(t *testing.T, h *harness, want url.Values) {
	t.Helper()
	listed := 0
	for _, r := range h.qs.Requests() {
		if r.Method != http.MethodGet || r.Path != "/v2/dlq" {
			continue
		}
		listed++
		q := url.Values{}
		for k, vs := range r.Query {
			if k != "count" && k != "cursor" {
				q[k] = vs
			}
		}
		if q.Encode() != want.Encode() {
			t.Fatalf("QStash listed dead letters with %v, want %v", q, want)
		}
	}
	if listed == 0 {
		t.Fatal("QStash was not asked for dead letters")
	}
}

// TestDLQSummaryPageAtLeast: a summary that spent its call budget says
// "at least" and why; one that read nothing says it failed.
func TestDLQSummaryPageAtLeast(t *testing.T) {
	var s *qstash.Summariser
	h := newHarness(t, withSummaries(&s, 1))
	v := h.operator("viewer@atum.io", auth.Viewer)
	for i := range 150 {
		h.qs.AddDLQ(qstashdouble.DLQMessage{QueueName: "billing", URL: fmt.Sprintf("https://api.atum.example/%02d", i%25), ResponseStatus: 500})
	}
	if _, _, err := s.Tick(context.Background(), "eu", false); err != nil {
		t.Fatal(err)
	}
	page := body(h.get(v, "/queues/summary"))
	partial := elements(t, page, "summary-partial")
	if got := textOf(elements(t, page, "summary-scanned")[0]); got != "at least 100 dead letters" ||
		len(partial) != 1 || !strings.Contains(textOf(partial[0]), "call budget of 1 call was spent") || !strings.Contains(page, "Count (at least)") {
		t.Fatalf("partial summary: scanned %q, %d notes", got, len(partial))
	}
	// 100 read, 4 to each of 25 destinations: 20 shown.
	more := elements(t, page, "summary-more")
	if len(more) != 1 || textOf(more[0]) != "and 5 more (20 in all)" || len(elements(t, page, "summary-group")) != 1+20+1+1+1 {
		t.Fatalf("%d 'more' rows, %d groups", len(more), len(elements(t, page, "summary-group")))
	}
	// A summary that read nothing is a failure, not "at least 0".
	h.qs.FailNext(1, http.StatusServiceUnavailable)
	if _, _, err := s.Tick(context.Background(), "eu", true); err != nil {
		t.Fatal(err)
	}
	page = body(h.get(v, "/queues/summary"))
	failed := elements(t, page, "summary-failed")
	if len(failed) != 1 || !strings.Contains(textOf(failed[0]), "read no dead letters: QStash failed: qstash: HTTP 503") ||
		len(elements(t, page, "summary-group")) != 0 {
		t.Fatalf("failed summary: %d notes, %d groups", len(failed), len(elements(t, page, "summary-group")))
	}
}
