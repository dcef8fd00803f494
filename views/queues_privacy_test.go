package views

import (
	"strings"
	"testing"

	"github.com/a-h/templ"
	"golang.org/x/net/html"
)

// Secrets a dead letter may carry, each of which no page may show.
const (
	bearerSecret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGF0Zm9ybSJ9.c2lnbmF0dXJlLXZhbHVl"
	apiKeySecret = "k3y-plain-short"
	cookieSecret = "sid=abc123def; theme=dark"
	urlSecret    = "u8RTk2pQ7wLm3xZ9vN4c"
	labelSecret  = "ghp_aBcDeFgHiJkLmNoPqRsTuV"
	bodySecret   = `{"card":"4111 1111 1111 1111"}`
)

// secretMessage is a dead letter whose headers, URL and labels carry
// secrets; its model holds them as they came (as a careless caller would
// pass them).
func secretMessage(show bool) DLQMessage {
	m := sampleDLQMessage()
	m.URL = "https://api.atum.example/hook?token=" + urlSecret + "&tenant=42"
	m.Labels = "deploy " + labelSecret
	m.Headers = []Header{
		{Name: "Authorization", Value: "Bearer " + bearerSecret},
		{Name: "Upstash-Forward-X-Api-Key", Value: apiKeySecret},
		{Name: "Cookie", Value: cookieSecret},
		{Name: "Content-Type", Value: "application/json"},
		{Name: "X-Request-Id", Value: "req-7f3a"},
		{Name: "X-Context", Value: "caller Bearer " + bearerSecret},
	}
	m.ResponseHeaders = []Header{{Name: "Set-Cookie", Value: cookieSecret}, {Name: "Content-Type", Value: "text/plain"}}
	m.Body = Body{Text: bodySecret, Size: len(bodySecret)}
	m.ResponseBody = Body{Text: "denied " + bodySecret, Size: 40}
	m.ShowContent = show
	if !show {
		m.ContentNote = "Header values and bodies are shown to support and above."
	}
	return m
}

// headerCells maps each header row's name to its value cell's text.
func headerCells(t *testing.T, doc *html.Node, id string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, row := range cellTexts(one(t, doc, id))[1:] {
		name, value, _ := strings.Cut(row, "|")
		out[name] = value
	}
	return out
}

func TestMessageSecretsMaskedForEveryRole(t *testing.T) {
	for _, show := range []bool{true, false} {
		out, doc := queuesDoc(t, DLQMessagePage(queuesPage(), secretMessage(show)))
		for _, s := range []string{bearerSecret, apiKeySecret, "abc123def", urlSecret, labelSecret} {
			if strings.Contains(out, s) {
				t.Errorf("show=%v: the page shows the secret %q", show, s)
			}
		}
		if got := text(one(t, doc, "message-url")); got != "https://api.atum.example/hook?token="+Masked+"&tenant=42" {
			t.Errorf("show=%v: URL = %q", show, got)
		}
		if got := text(one(t, doc, "message-labels")); got != "deploy "+Masked {
			t.Errorf("show=%v: labels = %q", show, got)
		}
	}
}

func TestMessageContentForSupport(t *testing.T) {
	out, doc := queuesDoc(t, DLQMessagePage(queuesPage(), secretMessage(true)))
	req := headerCells(t, doc, "request-headers")
	for name, want := range map[string]string{
		"Authorization":             Masked,
		"Upstash-Forward-X-Api-Key": Masked,
		"Cookie":                    Masked,
		"Content-Type":              "application/json",
		"X-Request-Id":              "req-7f3a",
		"X-Context":                 "caller Bearer " + Masked,
	} {
		if req[name] != want {
			t.Errorf("request header %s = %q, want %q", name, req[name], want)
		}
	}
	if resp := headerCells(t, doc, "response-headers"); resp["Set-Cookie"] != Masked || resp["Content-Type"] != "text/plain" {
		t.Errorf("response headers = %q", resp)
	}
	if !strings.Contains(out, html.EscapeString(bodySecret)) || len(byTestID(doc, "body-withheld")) != 0 {
		t.Error("the body is not shown to support")
	}
	if len(byTestID(doc, "content-note")) != 0 || len(byTestID(doc, "header-withheld")) != 0 {
		t.Error("support sees the viewers' note")
	}
}

func TestMessageContentWithheldFromViewers(t *testing.T) {
	out, doc := queuesDoc(t, DLQMessagePage(queuesPage(), secretMessage(false)))
	for _, s := range []string{html.EscapeString(bodySecret), "4111", "application/json", "req-7f3a", "text/plain", Masked + "</code></td>"} {
		if strings.Contains(out, s) {
			t.Errorf("a viewer sees %q", s)
		}
	}
	req := headerCells(t, doc, "request-headers")
	if len(req) != 6 || req["Authorization"] != "withheld" || req["Content-Type"] != "withheld" {
		t.Errorf("viewer's request headers = %q", req)
	}
	if n := len(byTestID(doc, "body-withheld")); n != 2 {
		t.Errorf("found %d withheld bodies, want 2", n)
	}
	if pres := findAll(doc, func(n *html.Node) bool { return n.Data == "pre" }); len(pres) != 0 {
		t.Error("a viewer sees a body")
	}
	if got := text(one(t, doc, "content-note")); !strings.Contains(got, "support and above") {
		t.Errorf("note = %q", got)
	}
	// Metadata stays.
	facts := dtdd(one(t, doc, "request"))
	if facts["Queue"] != hostileMsg || facts["Created (UTC)"] != "2026-01-02 10:00:00Z" || text(one(t, doc, "response-status")) != "500" {
		t.Errorf("viewer's metadata = %q", facts)
	}
}

func TestListAndPurgeMaskURLsAndLabels(t *testing.T) {
	rows := []DLQRow{{DLQID: "dlq-1", URL: "https://hooks.example/h?api_key=" + urlSecret, Labels: "t " + labelSecret, Href: "/queues/dlq/dlq-1?region=eu"}}
	q := sampleQueues()
	q.DLQ = rows
	p := samplePurge("previewed")
	p.Sample = rows
	for name, c := range map[string]templ.Component{"list": QueuesPage(queuesPage(), q), "purge": PurgePage(queuesPage(), p)} {
		out, doc := queuesDoc(t, c)
		if strings.Contains(out, urlSecret) || strings.Contains(out, labelSecret) {
			t.Errorf("%s: a secret in a URL or label is shown", name)
		}
		if got := text(byTestID(doc, "dlq-row")[0]); !strings.Contains(got, "https://hooks.example/h?api_key="+Masked) {
			t.Errorf("%s: row = %q", name, got)
		}
	}
}

func TestStaleNotes(t *testing.T) {
	q := sampleQueues()
	q.Stale = "QStash is rate-limiting the console (HTTP 429), so this list is the copy read 2m ago; it may have changed since."
	_, doc := queuesDoc(t, QueuesPage(queuesPage(), q))
	if got := text(one(t, doc, "dlq-stale")); got != q.Stale {
		t.Errorf("list note = %q", got)
	}
	if len(byTestID(doc, "dlq-row")) != 2 {
		t.Error("the stale copy's rows are not listed")
	}
	m := sampleDLQMessage()
	m.Stale = "QStash is rate-limiting the console (HTTP 429), so this dead letter is the copy read 40s ago; it may have changed since."
	_, doc = queuesDoc(t, DLQMessagePage(queuesPage(), m))
	if got := text(one(t, doc, "message-stale")); got != m.Stale {
		t.Errorf("message note = %q", got)
	}
	_, doc = queuesDoc(t, QueuesPage(queuesPage(), sampleQueues()))
	if len(byTestID(doc, "dlq-stale")) != 0 {
		t.Error("a fresh list says it is stale")
	}
}

func TestRetryFormKeepsTheList(t *testing.T) {
	q := sampleQueues()
	q.Count = "20"
	_, doc := queuesDoc(t, QueuesPage(queuesPage(), q))
	in := namedInputs(one(t, doc, "retry-selected-form"))
	for name, want := range map[string]string{"region": "eu", "queue": "billing", "label": hostileMsg, "from": "2026-01-01", "count": "20"} {
		if v, _ := attr(in[name], "value"); v != want {
			t.Errorf("retry form %s = %q, want %q", name, v, want)
		}
	}
	if v, _ := attr(namedInputs(one(t, doc, "dlq-filter"))["count"], "value"); v != "20" {
		t.Errorf("filter form count = %q", v)
	}
}

func TestShownValues(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{ShownHeader("Authorization", "Basic dXNlcjpwYXNz"), Masked},
		{ShownHeader("upstash-forward-x-signature", "v1=abc"), Masked},
		{ShownHeader("Proxy-Authorization", "x"), Masked},
		{ShownHeader("Set-Cookie", "a=b"), Masked},
		{ShownHeader("Content-Type", "application/json"), "application/json"},
		{ShownHeader("X-Evil", hostileMsg), hostileMsg},
		{ShownURL("https://u:pw@hooks.example/a"), "https://u:" + Masked + "@hooks.example/a"},
		{ShownURL(hostileURL), hostileURL},
		{ShownText("deploy 2026-01"), "deploy 2026-01"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
