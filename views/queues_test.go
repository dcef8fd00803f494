package views

import (
	"regexp"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"golang.org/x/net/html"

	"github.com/atum/ops-console/static"
)

// hostileAttr tries to break out of an attribute and add an element with
// an event handler.
const hostileAttr = `"><img src=x onerror=alert(2)>`

// hostileMsg is what a QStash message may carry in its URL, headers,
// body and labels.
const hostileMsg = hostile + hostileAttr

// hostileURL is a message destination that must stay text.
const hostileURL = "https://evil.example/hook?x=" + hostileMsg

func queuesPage() Page {
	p := samplePage("production")
	p.Title, p.Active = "Queues", "queues"
	return p
}

func sampleDLQRows() []DLQRow {
	return []DLQRow{
		{DLQID: "dlq-1", MessageID: "msg-1", URL: hostileURL, Method: "POST", Queue: hostileMsg, ResponseStatus: 503,
			Created: "2026-01-02 10:00:00Z", Labels: "deploy " + hostileMsg, Href: "/queues/dlq/dlq-1?region=eu"},
		{DLQID: "dlq-2", MessageID: "msg-2", URL: "https://api.atum.example/jobs", Method: "POST", Queue: "emails", ResponseStatus: 404,
			Created: "2026-01-02 10:01:00Z", Href: "/queues/dlq/dlq-2?region=eu"},
	}
}

func sampleQueues() Queues {
	return Queues{
		Regions: []Region{
			{Key: "eu", Label: "EU", Href: "/queues?region=eu", Active: true},
			{Key: "us", Label: "US", Href: "/queues?region=us"},
		},
		Region:  "eu",
		Sampled: "12s ago",
		Err:     hostileMsg,
		Queues: []QueueRow{
			{Name: hostileMsg, Lag: 42, Parallelism: 2, Paused: true, Updated: "3s ago"},
			{Name: "emails", Lag: 0, Parallelism: 1, Updated: "5s ago"},
		},
		TotalLag:   42,
		Filter:     DLQFilter{URL: hostileMsg, Queue: "billing", Label: hostileMsg, From: "2026-01-01", To: "2026-01-31"},
		DLQ:        sampleDLQRows(),
		DLQErr:     hostileMsg,
		NextURL:    "/queues?region=eu&cursor=abc",
		FirstURL:   "/queues?region=eu",
		CanAct:     true,
		Purges:     []PurgeRow{{ID: 7, Href: "/queues/purges/7", Region: "eu", State: "done", Count: 60, Created: "1h ago", By: hostileMsg}},
		RateLimits: "QStash rate limit: 97 of 100 left (seen 1s ago)",
	}
}

func sampleDLQMessage() DLQMessage {
	return DLQMessage{
		Region: "eu", DLQID: "dlq-1", MessageID: "msg-1", URL: hostileURL, Method: "POST", Queue: hostileMsg,
		Schedule: hostileMsg, Labels: hostileMsg,
		Headers:         []Header{{Name: "X-Evil", Value: hostileMsg}, {Name: hostileMsg, Value: "v"}},
		Body:            Body{Text: `{"html":"` + hostileMsg + `"}`, Size: 40},
		ResponseStatus:  500,
		ResponseHeaders: []Header{{Name: "Content-Type", Value: "text/html"}},
		ResponseBody:    Body{Text: hostileMsg, Size: len(hostileMsg)},
		MaxRetries:      3, Created: "2026-01-02 10:00:00Z", CallerIP: hostileMsg,
		CanAct: true, BackHref: "/queues?region=eu", ShowContent: true,
	}
}

func samplePurge(state string) Purge {
	return Purge{
		ID: 7, Region: "eu", State: state, StateNote: hostileMsg, Count: 60,
		Filters: []Header{{Name: "queue", Value: "billing"}, {Name: "label", Value: hostileMsg}},
		Sample:  sampleDLQRows(), Created: "2m ago", CreatedBy: "op@atum.io",
		NeedTyped: true, CanAct: true, FormError: hostileMsg,
		Deleted: 58, Gone: 2, APICalls: 1, Elapsed: "1.2s",
	}
}

// queuesPages renders every Queues screen component with hostile strings
// wherever message or operator text can appear.
func queuesPages() map[string]templ.Component {
	p := queuesPage()
	done := samplePurge("done")
	done.CanUndo, done.Undone = true, 3
	running := samplePurge("running")
	running.Refresh, running.CanResume, running.Pending = true, true, 40
	viewer := sampleDLQMessage()
	viewer.ShowContent, viewer.ContentNote, viewer.Stale = false, hostileMsg, hostileMsg
	stale := sampleQueues()
	stale.Stale, stale.Count = hostileMsg, hostileMsg
	return map[string]templ.Component{
		"queues":             QueuesPage(p, sampleQueues()),
		"queues-stale":       QueuesPage(p, stale),
		"message-viewer":     DLQMessagePage(p, viewer),
		"queues-empty":       QueuesPage(p, Queues{}),
		"message":            DLQMessagePage(p, sampleDLQMessage()),
		"message-empty":      DLQMessagePage(p, DLQMessage{}),
		"purge-previewed":    PurgePage(p, samplePurge("previewed")),
		"purge-running":      PurgePage(p, running),
		"purge-done":         PurgePage(p, done),
		"purge-empty":        PurgePage(p, Purge{}),
		"purge-empty-canact": PurgePage(p, Purge{CanAct: true, State: "previewed"}),
	}
}

// queuesDoc renders c and parses it.
func queuesDoc(t *testing.T, c templ.Component) (string, *html.Node) {
	t.Helper()
	out := render(t, c)
	return out, parse(t, out)
}

// postForms returns the POST forms below n, by action, without the
// layout's logout form.
func postForms(n *html.Node) map[string]*html.Node {
	out := map[string]*html.Node{}
	for _, f := range findAll(n, func(n *html.Node) bool { return n.Data == "form" }) {
		m, _ := attr(f, "method")
		a, _ := attr(f, "action")
		if m == "post" && a != "/logout" {
			out[a] = f
		}
	}
	return out
}

// namedInputs returns the inputs below n by name.
func namedInputs(n *html.Node) map[string]*html.Node {
	out := map[string]*html.Node{}
	for _, in := range findAll(n, func(n *html.Node) bool { return n.Data == "input" }) {
		name, _ := attr(in, "name")
		out[name] = in
	}
	return out
}

// dtdd maps each <dt> text below n to the text of the <dd> after it.
func dtdd(n *html.Node) map[string]string {
	out := map[string]string{}
	for _, dt := range findAll(n, func(n *html.Node) bool { return n.Data == "dt" }) {
		for dd := dt.NextSibling; dd != nil; dd = dd.NextSibling {
			if dd.Type == html.ElementNode && dd.Data == "dd" {
				out[text(dt)] = text(dd)
				break
			}
		}
	}
	return out
}

// cellTexts returns the texts of the table cells below n, joined by "|"
// per row, one string per row.
func cellTexts(n *html.Node) []string {
	var out []string
	for _, tr := range findAll(n, func(n *html.Node) bool { return n.Data == "tr" }) {
		var cs []string
		for _, c := range findAll(tr, func(n *html.Node) bool { return n.Data == "td" || n.Data == "th" }) {
			cs = append(cs, text(c))
		}
		out = append(out, strings.Join(cs, "|"))
	}
	return out
}

func TestQueuesHostileEscaped(t *testing.T) {
	for name, c := range queuesPages() {
		t.Run(name, func(t *testing.T) {
			out, doc := queuesDoc(t, c)
			for _, bad := range []string{"<script>alert", "<img", "alert(1)</script>"} {
				if strings.Contains(out, bad) {
					t.Errorf("output contains %q unescaped", bad)
				}
			}
			if imgs := findAll(doc, func(n *html.Node) bool { return n.Data == "img" }); len(imgs) > 0 {
				t.Errorf("%d injected <img> elements", len(imgs))
			}
			for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
				for _, a := range n.Attr {
					if strings.HasPrefix(a.Key, "on") || (a.Key == "src" && n.Data != "script") {
						t.Errorf("<%s> has attribute %s=%q", n.Data, a.Key, a.Val)
					}
				}
			}
		})
	}

	// The hostile text is still there, as text, where it belongs.
	_, msg := queuesDoc(t, DLQMessagePage(queuesPage(), sampleDLQMessage()))
	for _, id := range []string{"message-url", "message-labels", "request-headers"} {
		if got := text(one(t, msg, id)); !strings.Contains(got, hostileMsg) {
			t.Errorf("%s = %q, want it to contain the hostile text", id, got)
		}
	}
	pres := findAll(one(t, msg, "request"), func(n *html.Node) bool { return n.Data == "pre" })
	if len(pres) != 1 || !strings.Contains(text(pres[0]), hostileMsg) {
		t.Errorf("request body not shown as text in one <pre>")
	}
	_, list := queuesDoc(t, QueuesPage(queuesPage(), sampleQueues()))
	rows := byTestID(list, "dlq-row")
	if len(rows) != 2 || !strings.Contains(text(rows[0]), hostileURL) || !strings.Contains(text(rows[0]), "deploy "+hostileMsg) {
		t.Errorf("dead-letter row does not show URL and labels as text")
	}
	// Hostile filter values round-trip as attribute values only.
	if v, _ := attr(namedInputs(one(t, list, "dlq-filter"))["url"], "value"); v != hostileMsg {
		t.Errorf("url filter value = %q", v)
	}
}

func TestQueuesMessageURLNeverLinked(t *testing.T) {
	for name, c := range queuesPages() {
		t.Run(name, func(t *testing.T) {
			_, doc := queuesDoc(t, c)
			for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
				for _, a := range n.Attr {
					if (a.Key == "href" || a.Key == "action" || a.Key == "src") &&
						(strings.Contains(a.Val, "evil.example") || strings.Contains(a.Val, "api.atum.example")) {
						t.Errorf("<%s %s=%q> links a message URL", n.Data, a.Key, a.Val)
					}
				}
			}
		})
	}
}

var metaRefresh = regexp.MustCompile(`(?i)<meta[^>]*http-equiv`)

func TestQueuesCSPCompatible(t *testing.T) {
	for name, c := range queuesPages() {
		t.Run(name, func(t *testing.T) {
			out, doc := queuesDoc(t, c)
			scripts := findAll(doc, func(n *html.Node) bool { return n.Data == "script" })
			if len(scripts) != 1 {
				t.Errorf("found %d <script> elements, want 1", len(scripts))
			}
			for _, s := range scripts {
				if src, ok := attr(s, "src"); !ok || src != static.Path("js/console.js") || s.FirstChild != nil {
					t.Errorf("script without our src or with inline content: src=%q", src)
				}
			}
			for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
				for _, a := range n.Attr {
					if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
						t.Errorf("<%s> has attribute %s", n.Data, a.Key)
					}
				}
			}
			// Attributes are checked on the parsed page: the raw-text
			// patterns for style= and on…= cannot tell an attribute from
			// escaped hostile text inside a value (where > is &gt;).
			for _, re := range []*regexp.Regexp{jsURL, styleElement, metaRefresh} {
				if m := re.FindString(out); m != "" {
					t.Errorf("CSP violation %q", m)
				}
			}
		})
	}
}

func TestQueuesEmptyModels(t *testing.T) {
	// Render without panic, with their empty states.
	_, q := queuesDoc(t, QueuesPage(queuesPage(), Queues{}))
	for id, want := range map[string]string{"dlq-empty": "No dead letters match", "queues-empty": "No queues", "purges-empty": "No purges or retries yet"} {
		if got := text(one(t, q, id)); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	for _, id := range []string{"regions", "queues-error", "filter-error", "dlq-error", "dlq-pager", "rate-limits", "purge-form"} {
		if n := len(byTestID(q, id)); n != 0 {
			t.Errorf("%s shown on an empty page", id)
		}
	}
	_, m := queuesDoc(t, DLQMessagePage(queuesPage(), DLQMessage{CanAct: true}))
	one(t, m, "dlq-message")
	if n := len(byTestID(m, "retry-form")); n != 0 {
		t.Error("retry form without a dead-letter id")
	}
	if n := len(byTestID(m, "body-withheld")); n != 2 {
		t.Errorf("found %d withheld bodies, want 2 (content is shown only when asked)", n)
	}
	_, m = queuesDoc(t, DLQMessagePage(queuesPage(), DLQMessage{ShowContent: true}))
	if n := len(byTestID(m, "body-empty")); n != 2 {
		t.Errorf("found %d empty bodies, want 2", n)
	}
	_, p := queuesDoc(t, PurgePage(queuesPage(), Purge{}))
	one(t, p, "purge")
	if got := text(one(t, p, "purge-state")); got != "unknown" {
		t.Errorf("empty state = %q", got)
	}
}

func TestQueuesTables(t *testing.T) {
	_, doc := queuesDoc(t, QueuesPage(queuesPage(), sampleQueues()))
	regions := one(t, doc, "regions")
	eu, us := one(t, regions, "region-eu"), one(t, regions, "region-us")
	if !hasClass(eu, "active") || hasClass(us, "active") {
		t.Error("active region is not the only highlighted one")
	}
	if v, _ := attr(eu, "aria-current"); v != "page" {
		t.Errorf("active region aria-current = %q", v)
	}
	if href, _ := attr(us, "href"); href != "/queues?region=us" {
		t.Errorf("region href = %q", href)
	}
	if got := text(one(t, doc, "queues-summary")); got != "Total lag 42 · sampled 12s ago · Schedules (cron, last and next run)" {
		t.Errorf("summary = %q", got)
	}
	qrows := byTestID(one(t, doc, "queues-table"), "queue-row")
	if len(qrows) != 2 || len(byTestID(qrows[0], "queue-paused")) != 1 || len(byTestID(qrows[1], "queue-paused")) != 0 {
		t.Error("paused badge not on the paused queue only")
	}
	if got := text(one(t, doc, "rate-limits")); !strings.Contains(got, "97 of 100 left") {
		t.Errorf("rate limits = %q", got)
	}

	rows := byTestID(one(t, doc, "dlq-table"), "dlq-row")
	links := findAll(rows[0], func(n *html.Node) bool { return n.Data == "a" })
	if len(links) != 1 || text(links[0]) != "dlq-1" {
		t.Fatalf("dead-letter row has %d links, want only its id", len(links))
	}
	if href, _ := attr(links[0], "href"); href != "/queues/dlq/dlq-1?region=eu" {
		t.Errorf("dead-letter href = %q", href)
	}

	badge := func(row *html.Node) *html.Node {
		return findAll(row, func(n *html.Node) bool { return n.Data == "span" && hasClass(n, "badge") })[0]
	}
	if b := badge(rows[0]); !hasClass(b, "status-5xx") || text(b) != "503" {
		t.Errorf("503 badge = %q", text(b))
	}
	if b := badge(rows[1]); !hasClass(b, "status-4xx") || text(b) != "404" {
		t.Errorf("404 badge = %q", text(b))
	}
	if got := dlqStatusText(0); got != "—" {
		t.Errorf("no status = %q", got)
	}

	if href, _ := attr(one(t, doc, "dlq-first"), "href"); href != "/queues?region=eu" {
		t.Errorf("first page href = %q", href)
	}
	next := one(t, doc, "dlq-next")
	if href, _ := attr(next, "href"); href != "/queues?region=eu&cursor=abc" || text(next) != "Next page →" {
		t.Errorf("next page = %q %q", href, text(next))
	}

	purges := byTestID(one(t, doc, "purges-table"), "purge-row")
	if got := cellTexts(purges[0]); len(purges) != 1 || got[0] != "Purge #7|eu|done|60|1h ago|"+hostileMsg {
		t.Errorf("purge rows = %d %q", len(purges), got)
	}
	if href, _ := attr(findAll(purges[0], func(n *html.Node) bool { return n.Data == "a" })[0], "href"); href != "/queues/purges/7" {
		t.Errorf("purge href = %q", href)
	}
}

func TestQueuesFilterForm(t *testing.T) {
	m := sampleQueues()
	m.FilterErr = "response status \"abc\" is not an HTTP status (100–599)"
	_, doc := queuesDoc(t, QueuesPage(queuesPage(), m))
	form := one(t, doc, "dlq-filter")
	if a, _ := attr(form, "action"); a != "/queues" {
		t.Errorf("filter action = %q", a)
	}
	if meth, _ := attr(form, "method"); meth != "get" {
		t.Errorf("filter method = %q", meth)
	}
	in := namedInputs(form)
	for _, name := range []string{"region", "url", "queue", "schedule", "response_status", "label", "from", "to"} {
		if in[name] == nil {
			t.Errorf("filter has no input %q", name)
		}
	}
	if typ, _ := attr(in["region"], "type"); typ != "hidden" {
		t.Errorf("region input type = %q", typ)
	}
	if v, _ := attr(in["region"], "value"); v != "eu" {
		t.Errorf("region = %q", v)
	}
	for _, name := range []string{"from", "to"} {
		if typ, _ := attr(in[name], "type"); typ != "date" {
			t.Errorf("%s type = %q", name, typ)
		}
	}
	if got := text(one(t, doc, "filter-error")); !strings.Contains(got, "not an HTTP status") {
		t.Errorf("filter error = %q", got)
	}
	if n := len(byTestID(doc, "purge-form")); n != 0 {
		t.Error("purge preview offered for filters that do not parse")
	}
}

func TestQueuesFormsOnlyWithCanAct(t *testing.T) {
	m := sampleQueues()
	_, doc := queuesDoc(t, QueuesPage(queuesPage(), m))
	forms := postForms(doc)
	retry := forms["/queues/dlq/retry"]
	if retry == nil || len(forms) != 2 {
		t.Fatalf("operator forms = %v, want retry and purge", forms)
	}
	one(t, retry, "dlq-table")
	boxes := findAll(retry, func(n *html.Node) bool {
		typ, _ := attr(n, "type")
		name, _ := attr(n, "name")
		return n.Data == "input" && typ == "checkbox" && name == "ids"
	})
	if len(boxes) != 2 {
		t.Fatalf("found %d ids checkboxes, want 2", len(boxes))
	}
	if v, _ := attr(boxes[0], "value"); v != "dlq-1" {
		t.Errorf("checkbox value = %q", v)
	}
	if v, _ := attr(namedInputs(retry)["region"], "value"); v != "eu" {
		t.Errorf("retry region = %q", v)
	}
	if !strings.Contains(text(retry), "Retry selected") {
		t.Error("no Retry selected button")
	}

	purge := one(t, doc, "purge-form")
	if a, _ := attr(purge, "action"); a != "/queues/purges" {
		t.Errorf("purge action = %q", a)
	}
	want := map[string]string{"region": "eu", "url": hostileMsg, "queue": "billing", "schedule": "", "response_status": "",
		"label": hostileMsg, "from": "2026-01-01", "to": "2026-01-31"}
	in := namedInputs(purge)
	for name, v := range want {
		if in[name] == nil {
			t.Errorf("purge form has no input %q", name)
			continue
		}
		if typ, _ := attr(in[name], "type"); typ != "hidden" {
			t.Errorf("purge %s type = %q", name, typ)
		}
		if got, _ := attr(in[name], "value"); got != v {
			t.Errorf("purge %s = %q, want %q", name, got, v)
		}
	}
	for _, s := range []string{"Preview first: nothing is deleted or sent until you confirm the exact set.", "Preview purge of the messages matching these filters"} {
		if !strings.Contains(text(purge), s) {
			t.Errorf("purge form lacks %q", s)
		}
	}

	m.CanAct = false
	out, doc := queuesDoc(t, QueuesPage(queuesPage(), m))
	if forms := postForms(doc); len(forms) != 0 {
		t.Errorf("viewer sees POST forms %v", forms)
	}
	if strings.Contains(out, `name="ids"`) {
		t.Error("viewer sees checkboxes")
	}
	one(t, doc, "dlq-table")

	msg := sampleDLQMessage()
	msg.DLQID = "a/b?c"
	_, doc = queuesDoc(t, DLQMessagePage(queuesPage(), msg))
	rf := one(t, doc, "retry-form")
	if a, _ := attr(rf, "action"); a != "/queues/dlq/a%2Fb%3Fc/retry" {
		t.Errorf("retry action = %q", a)
	}
	if v, _ := attr(namedInputs(rf)["region"], "value"); v != "eu" || !strings.Contains(text(rf), "Retry this message") {
		t.Errorf("retry form region %q, text %q", v, text(rf))
	}
	msg.DLQID = ".."
	_, doc = queuesDoc(t, DLQMessagePage(queuesPage(), msg))
	if forms := postForms(doc); len(forms) != 0 {
		t.Errorf("dot-segment id has forms %v", forms)
	}
	msg.DLQID, msg.CanAct = "dlq-1", false
	_, doc = queuesDoc(t, DLQMessagePage(queuesPage(), msg))
	if forms := postForms(doc); len(forms) != 0 {
		t.Errorf("viewer sees forms %v on a message", forms)
	}

	for _, state := range []string{"previewed", "running", "paused", "done"} {
		pm := samplePurge(state)
		pm.CanAct, pm.CanResume, pm.CanUndo = false, false, false
		_, doc = queuesDoc(t, PurgePage(queuesPage(), pm))
		if forms := postForms(doc); len(forms) != 0 {
			t.Errorf("%s: viewer sees forms %v", state, forms)
		}
	}
}

func TestDLQMessagePage(t *testing.T) {
	_, doc := queuesDoc(t, DLQMessagePage(queuesPage(), sampleDLQMessage()))
	head := text(one(t, doc, "message-head"))
	for _, s := range []string{"dlq-1", "msg-1", "eu"} {
		if !strings.Contains(head, s) {
			t.Errorf("header %q lacks %q", head, s)
		}
	}
	if href, _ := attr(one(t, doc, "back-link"), "href"); href != "/queues?region=eu" {
		t.Errorf("back href = %q", href)
	}
	if code := findAll(one(t, doc, "message-url"), func(*html.Node) bool { return true }); len(code) != 1 {
		t.Error("message URL has child elements")
	}
	status := one(t, doc, "response-status")
	if !hasClass(status, "status-5xx") || text(status) != "500" {
		t.Errorf("response status = %q", text(status))
	}
	if got := cellTexts(one(t, doc, "response-headers")); len(got) != 2 || got[1] != "Content-Type|text/html" {
		t.Errorf("response headers = %q", got)
	}
	facts := dtdd(one(t, doc, "request"))
	for k, v := range map[string]string{"Method": "POST", "URL": hostileURL, "Queue": hostileMsg, "Caller IP": hostileMsg,
		"Created (UTC)": "2026-01-02 10:00:00Z", "Not before (UTC)": "—", "Max retries": "3"} {
		if facts[k] != v {
			t.Errorf("request %s = %q, want %q", k, facts[k], v)
		}
	}
	if len(byTestID(doc, "body-base64")) != 0 || len(byTestID(doc, "body-truncated")) != 0 {
		t.Error("badge or truncation shown for a short UTF-8 body")
	}
}

func TestBodyView(t *testing.T) {
	_, doc := queuesDoc(t, bodyView(Body{Text: "AAEC/w==", Base64: true, Size: 4}))
	if got := text(one(t, doc, "body-base64")); got != "base64 (not UTF-8)" {
		t.Errorf("badge = %q", got)
	}
	if len(byTestID(doc, "body-truncated")) != 0 {
		t.Error("truncation shown for a whole body")
	}

	_, doc = queuesDoc(t, bodyView(Body{Text: strings.Repeat("a", 4096), Truncated: true, Size: 10000, FullHref: "/queues/dlq/x?region=eu&full=1"}))
	tr := one(t, doc, "body-truncated")
	if got := text(tr); got != "showing the first 4096 of 10000 bytes — show all" {
		t.Errorf("truncated = %q", got)
	}
	if href, _ := attr(one(t, tr, "body-full"), "href"); href != "/queues/dlq/x?region=eu&full=1" {
		t.Errorf("show all href = %q", href)
	}
	pre := findAll(doc, func(n *html.Node) bool { return n.Data == "pre" })
	if len(pre) != 1 || len(text(pre[0])) != 4096 {
		t.Error("body not in one <pre>")
	}

	_, doc = queuesDoc(t, bodyView(Body{Text: strings.Repeat("QUJD", 1024), Base64: true, Truncated: true, Size: 9000, FullHref: "/x"}))
	if got := text(one(t, doc, "body-truncated")); got != "showing the first 3072 of 9000 bytes — show all" {
		t.Errorf("base64 truncated = %q", got)
	}

	_, doc = queuesDoc(t, bodyView(Body{Text: hostileMsg, Size: len(hostileMsg)}))
	if got := text(findAll(doc, func(n *html.Node) bool { return n.Data == "pre" })[0]); got != hostileMsg {
		t.Errorf("body = %q", got)
	}
}

func TestPurgePreviewed(t *testing.T) {
	_, doc := queuesDoc(t, PurgePage(queuesPage(), samplePurge("previewed")))
	h1 := findAll(doc, func(n *html.Node) bool { return n.Data == "h1" })
	if len(h1) != 1 || text(h1[0]) != "Purge #7" {
		t.Errorf("title = %v", h1)
	}
	if got := text(one(t, doc, "purge-count")); got != "Count: 60 dead letters frozen" {
		t.Errorf("count = %q", got)
	}
	if got := cellTexts(one(t, doc, "purge-filters")); len(got) != 3 || got[1] != "queue|billing" || got[2] != "label|"+hostileMsg {
		t.Errorf("filters = %q", got)
	}
	if got := text(one(t, doc, "purge-error")); got != hostileMsg {
		t.Errorf("form error = %q", got)
	}
	forms := postForms(doc)
	confirm := forms["/queues/purges/7/confirm"]
	if confirm == nil || forms["/queues/purges/7/discard"] == nil || len(forms) != 2 {
		t.Fatalf("forms = %v, want confirm and discard", forms)
	}
	if c := one(t, doc, "confirm-form"); c != confirm {
		t.Error("confirm-form is not the confirm action")
	}
	got := text(confirm)
	for _, s := range []string{"Exactly these 60 frozen IDs will be deleted", "chunks of at most 100", "copy of every message is kept",
		"Type the number of messages, 60, to confirm", "Delete 60 dead letters"} {
		if !strings.Contains(got, s) {
			t.Errorf("confirm form lacks %q", s)
		}
	}
	tc := namedInputs(confirm)["typed_count"]
	if tc == nil {
		t.Fatal("no typed_count input")
	}
	if _, ok := attr(tc, "required"); !ok {
		t.Error("typed_count is not required")
	}
	if v, _ := attr(tc, "inputmode"); v != "numeric" {
		t.Errorf("typed_count inputmode = %q", v)
	}
	if !hasClass(one(t, doc, "confirm-submit"), "danger") {
		t.Error("delete button is not a danger button")
	}
	for _, id := range []string{"purge-progress", "purge-result", "undo-form", "resume-form"} {
		if len(byTestID(doc, id)) != 0 {
			t.Errorf("%s shown on a preview", id)
		}
	}

	small := samplePurge("previewed")
	small.NeedTyped, small.Count = false, 3
	out, doc := queuesDoc(t, PurgePage(queuesPage(), small))
	one(t, doc, "confirm-form")
	if strings.Contains(out, "typed_count") {
		t.Error("typed_count shown without NeedTyped")
	}
	if !strings.Contains(text(one(t, doc, "confirm-submit")), "Delete 3 dead letters") {
		t.Error("small purge button")
	}

	none := samplePurge("previewed")
	none.Count, none.Sample = 0, nil
	_, doc = queuesDoc(t, PurgePage(queuesPage(), none))
	if forms := postForms(doc); len(forms) != 1 || forms["/queues/purges/7/discard"] == nil {
		t.Errorf("empty purge forms = %v, want discard only", forms)
	}
}

func TestPurgeSampleCapped(t *testing.T) {
	m := samplePurge("previewed")
	m.Sample = nil
	for range 25 {
		m.Sample = append(m.Sample, DLQRow{DLQID: "d", Href: "/queues/dlq/d?region=eu"})
	}
	_, doc := queuesDoc(t, PurgePage(queuesPage(), m))
	if n := len(byTestID(one(t, doc, "purge-sample"), "dlq-row")); n != purgeSampleMax {
		t.Errorf("sample rows = %d, want %d", n, purgeSampleMax)
	}
}

func TestPurgeProgress(t *testing.T) {
	for _, state := range []string{"running", "confirmed", "paused"} {
		t.Run(state, func(t *testing.T) {
			m := samplePurge(state)
			m.Pending, m.Failed, m.StateNote = 40, 1, "waiting for the rate limit"
			m.Refresh, m.CanResume = true, true
			out, doc := queuesDoc(t, PurgePage(queuesPage(), m))
			progress := one(t, doc, "purge-progress")
			got := dtdd(progress)
			for k, v := range map[string]string{"Deleted": "58", "Already gone (404)": "2", "Failed": "1", "Pending": "40"} {
				if got[k] != v {
					t.Errorf("progress %s = %q, want %q", k, got[k], v)
				}
			}
			if got := text(one(t, doc, "purge-note")); got != "waiting for the rate limit" {
				t.Errorf("state note = %q", got)
			}
			if href, _ := attr(one(t, doc, "purge-refresh"), "href"); href != "/queues/purges/7" {
				t.Errorf("refresh href = %q", href)
			}
			if strings.Contains(strings.ToLower(out), "http-equiv") {
				t.Error("meta refresh in the page")
			}
			if a, _ := attr(one(t, doc, "resume-form"), "action"); a != "/queues/purges/7/resume" {
				t.Errorf("resume action = %q", a)
			}
			for _, id := range []string{"confirm-form", "purge-result", "undo-form"} {
				if len(byTestID(doc, id)) != 0 {
					t.Errorf("%s shown while %s", id, state)
				}
			}

			m.Refresh, m.CanResume = false, false
			_, doc = queuesDoc(t, PurgePage(queuesPage(), m))
			if len(byTestID(doc, "purge-refresh")) != 0 || len(byTestID(doc, "resume-form")) != 0 {
				t.Error("refresh or resume shown without Refresh / CanResume")
			}
		})
	}
}

func TestPurgeResult(t *testing.T) {
	for _, state := range []string{"done", "failed", "undone", "discarded"} {
		t.Run(state, func(t *testing.T) {
			m := samplePurge(state)
			m.CanUndo, m.Undone = true, 5
			_, doc := queuesDoc(t, PurgePage(queuesPage(), m))
			got := dtdd(one(t, doc, "purge-result"))
			for k, v := range map[string]string{"Deleted": "58", "Already gone (404)": "2", "Failed": "0", "API calls": "1",
				"Elapsed": "1.2s", "Republished (undo)": "5"} {
				if got[k] != v {
					t.Errorf("result %s = %q, want %q", k, got[k], v)
				}
			}
			undo := one(t, doc, "undo-form")
			if a, _ := attr(undo, "action"); a != "/queues/purges/7/undo" {
				t.Errorf("undo action = %q", a)
			}
			reason := namedInputs(undo)["reason"]
			if reason == nil {
				t.Fatal("undo form has no reason")
			}
			if _, ok := attr(reason, "required"); !ok {
				t.Error("reason is not required")
			}
			if !strings.Contains(text(undo), "Undo: republish the archived messages to their original destinations") {
				t.Errorf("undo button = %q", text(undo))
			}
			if forms := postForms(doc); len(forms) != 1 {
				t.Errorf("forms = %v, want undo only", forms)
			}

			m.CanUndo, m.Undone = false, 0
			_, doc = queuesDoc(t, PurgePage(queuesPage(), m))
			if len(byTestID(doc, "undo-form")) != 0 {
				t.Error("undo form without CanUndo")
			}
			if len(byTestID(doc, "purge-undone")) != 0 {
				t.Error("republished count shown when zero")
			}
		})
	}
}

func TestPurgeStateClass(t *testing.T) {
	tests := map[string]string{
		"done": "purge-state-done", "failed": "purge-state-failed", "running": "purge-state-running",
		"previewed": "purge-state-previewed", hostileAttr: "purge-state",
	}
	for state, want := range tests {
		if got := purgeStateClass(state); !strings.HasSuffix(got, want) || strings.Contains(got, `"`) {
			t.Errorf("purgeStateClass(%q) = %q, want it to end in %q", state, got, want)
		}
	}
}
