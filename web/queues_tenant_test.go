package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/internal/sim"
)

// tenantMessages publishes through the double, as the platform does, the
// messages of tenants acme and globex: some delivered, some dead letters,
// some with the forwarded tenant header only; and stores two dead letters
// directly (one with the header in its Upstash-Forward- form). It returns
// acme's message ids by kind and globex's ids.
func (h *harness) tenantMessages(t *testing.T) (acme map[string]string, globex []string) {
	t.Helper()
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/fail") {
			http.Error(w, hostile, http.StatusInternalServerError)
		}
	}))
	t.Cleanup(dest.Close)
	c, err := qstash.NewClient("eu", h.qsURL, "test-token", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	publish := func(path, tenant string, labels ...string) string {
		p, err := c.Publish(context.Background(), qstash.Publish{Destination: dest.URL + path, Body: []byte(`{"html":"` + hostile + `"}`),
			Labels: labels, Forward: http.Header{"X-Atum-Tenant": {tenant}}, Retries: &zero})
		if err != nil {
			t.Fatal(err)
		}
		return p.MessageID
	}
	acme = map[string]string{
		"delivered":   publish("/ok/acme", "acme", "tenant-acme"),
		"hostile":     publish("/ok/acme", "acme", "tenant-acme", hostile),
		"dead":        publish("/fail/acme?token=s3cr3t-value", "acme", "tenant-acme"),
		"header-only": publish("/fail/acme-unlabelled", "acme"),
	}
	globex = []string{publish("/ok/globex", "globex", "tenant-globex"), publish("/fail/globex", "globex", "tenant-globex"),
		publish("/fail/globex-unlabelled", "globex")}
	h.qs.AddDLQ(qstashdouble.DLQMessage{MessageID: "msg_forwardform", URL: "https://api.atum.example/raw?q=" + hostile,
		Header: map[string][]string{"Upstash-Forward-X-Atum-Tenant": {"acme"}}, Labels: []string{hostile}, ResponseStatus: 500})
	acme["forward-form"] = "msg_forwardform"
	h.qs.AddDLQ(qstashdouble.DLQMessage{MessageID: "msg_acmecorp", URL: "https://api.atum.example/corp",
		Header: map[string][]string{"X-Atum-Tenant": {"acme-corp"}}, ResponseStatus: 500})
	globex = append(globex, "msg_acmecorp")
	waitFor(t, func() bool { return h.qs.DLQCount() == 6 && h.qs.Delivered() == 3 })
	return acme, globex
}

// part is the text of the page's element with data-testid testid, and how
// many elements with data-testid row it holds.
func part(t *testing.T, page, testid, row string) (string, int) {
	t.Helper()
	els := elements(t, page, testid)
	if len(els) != 1 {
		t.Fatalf("%d elements %s", len(els), testid)
	}
	n := 0
	var walk func(*html.Node)
	walk = func(x *html.Node) {
		if x.Type == html.ElementNode && attrOf(x, "data-testid") == row {
			n++
		}
		for c := x.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(els[0])
	return textOf(els[0]), n
}

// The tenant page lists exactly acme's messages: its labelled dead letters,
// its recent messages from the logs (one row each, latest state), and dead
// letters without the label found by the forwarded header in either form;
// none of globex's; every hostile value escaped and secrets masked; the
// view audited.
func TestTenantMessagesPage(t *testing.T) {
	h := newHarness(t)
	sup := h.operator("support@atum.io", auth.Support)
	acme, globex := h.tenantMessages(t)
	resp := h.get(sup, "/queues/tenant/acme?region=eu")
	page := body(resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tenant page: %d %s", resp.StatusCode, page)
	}
	dlq, dlqRows := part(t, page, "tenant-dlq-part", "dlq-row")
	if dlqRows != 1 || !strings.Contains(dlq, acme["dead"]) {
		t.Fatalf("labelled dead letters (%d rows): %s", dlqRows, dlq)
	}
	if !strings.Contains(dlq, "[redacted]") || strings.Contains(page, "s3cr3t-value") {
		t.Fatal("the destination's token is not masked")
	}
	msgs, msgRows := part(t, page, "tenant-messages-part", "tenant-message")
	if msgRows != 3 {
		t.Fatalf("%d message rows, want 3: %s", msgRows, msgs)
	}
	for kind, want := range map[string]string{"delivered": "DELIVERED", "hostile": "DELIVERED", "dead": "FAILED"} {
		if strings.Count(msgs, acme[kind]) != 1 || !strings.Contains(msgs, acme[kind]+want) {
			t.Errorf("message %s (%s) not listed once with its latest state %s: %s", kind, acme[kind], want, msgs)
		}
	}
	if len(elements(t, page, "tenant-messages-error")) != 0 || !strings.Contains(msgs, "Every message with this label") {
		t.Errorf("messages note: %s", msgs)
	}
	scan, scanRows := part(t, page, "tenant-scan-part", "dlq-row")
	if scanRows != 2 || !strings.Contains(scan, acme["header-only"]) || !strings.Contains(scan, acme["forward-form"]) ||
		!strings.Contains(scan, "Scanned all 6 dead letters") {
		t.Fatalf("scan (%d rows): %s", scanRows, scan)
	}
	for _, id := range globex {
		if strings.Contains(page, id) {
			t.Errorf("globex's message %s is on acme's page", id)
		}
	}
	if strings.Contains(page, "<script>alert(1)") || strings.Contains(page, "<img src=x") ||
		!strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatal("a hostile label or destination is not escaped (or not shown)")
	}
	if !strings.Contains(page, `href="/queues/dlq/`) || !strings.Contains(page, `href="/queues?label=tenant-acme&amp;region=eu"`) {
		t.Fatal("the dead letters do not link to their pages or the filtered list")
	}
	ev := h.events("qstash.tenant.view")
	if len(ev) != 1 || ev[0].Target != "tenant:acme" || ev[0].Operator != "support@atum.io" || !strings.Contains(ev[0].DetailsJSON, "tenant-acme") {
		t.Fatalf("view audit = %+v", ev)
	}
}

// Viewers get a 403; a slug that cannot be one is a 400 before anything
// reaches QStash or the audit log as a view; an unknown region a 404.
func TestTenantMessagesPageRefuses(t *testing.T) {
	h := newHarness(t)
	viewer := h.operator("viewer@atum.io", auth.Viewer)
	sup := h.operator("support@atum.io", auth.Support)
	if resp := h.get(viewer, "/queues/tenant/acme"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer: %d", resp.StatusCode)
	}
	h.qs.ResetRequests()
	for _, slug := range []string{"ACME", "-acme", "a.b", "a%2Cb", "a%20b", "..", "%3Cscript%3E", strings.Repeat("a", 64)} {
		if resp := h.get(sup, "/queues/tenant/"+slug); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("slug %q: %d", slug, resp.StatusCode)
		}
	}
	if resp := h.get(sup, "/queues/tenant/acme?region=eu&region=us"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("region twice: %d", resp.StatusCode)
	}
	if resp := h.get(sup, "/queues/tenant/acme?region=us"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown region: %d", resp.StatusCode)
	}
	if r := h.qs.Requests(); len(r) != 0 {
		t.Fatalf("refused requests reached QStash: %+v", r)
	}
	if ev := h.events("qstash.tenant.view"); len(ev) != 0 {
		t.Fatalf("refused requests audited as views: %+v", ev)
	}
}

// When QStash fails, refuses or hangs, the page still answers 200 within
// the page's time, each part saying what went wrong.
func TestTenantMessagesPageWhenQStashIsDown(t *testing.T) {
	h := newHarness(t)
	sup := h.operator("support@atum.io", auth.Support)
	for _, tc := range []struct {
		name, want string
		breakIt    func()
	}{
		{"HTTP 503", "QStash answered HTTP 503", func() { h.qs.FailNext(100, http.StatusServiceUnavailable) }},
		{"HTTP 429", "rate-limiting the console (HTTP 429)", func() { h.qs.FailNext(100, http.StatusTooManyRequests) }},
		{"no answer", "did not answer", func() { h.qs.FailNext(0, 0); h.qs.SetLatency(3 * time.Second) }},
	} {
		tc.breakIt()
		start := time.Now()
		resp := h.get(sup, "/queues/tenant/acme?region=eu")
		page := body(resp)
		if took := time.Since(start); resp.StatusCode != http.StatusOK || took > 1500*time.Millisecond {
			t.Fatalf("%s: %d after %s", tc.name, resp.StatusCode, took)
		}
		for _, id := range []string{"tenant-dlq-error", "tenant-messages-error", "tenant-scan-error"} {
			if els := elements(t, page, id); len(els) != 1 || !strings.Contains(textOf(els[0]), tc.want) {
				t.Errorf("%s: %s does not say %q", tc.name, id, tc.want)
			}
		}
	}
}

// The account page of a tenant links to its QStash messages, unless its
// slug cannot be a QStash label.
func TestAccountPageLinksTenantMessages(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := sim.Seed(ctx, h.pool, sim.SeedOptions{Tenants: 2, Users: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `UPDATE tenants SET slug = 'Tenant.Two' WHERE slug = 'tenant-2'`); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, slug := range []string{"tenant-1", "Tenant.Two"} {
		var id string
		if err := h.pool.QueryRow(ctx, `SELECT id::text FROM tenants WHERE slug = $1`, slug).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[slug] = id
	}
	sup := h.operator("support@atum.io", auth.Support)
	page := body(h.get(sup, "/accounts/tenants/"+ids["tenant-1"]))
	links := elements(t, page, "tenant-qstash-link")
	if len(links) != 1 || attrOf(links[0], "href") != "/queues/tenant/tenant-1" || textOf(links[0]) != "QStash messages of this tenant" {
		t.Fatalf("no link to the tenant's QStash messages: %d", len(links))
	}
	if resp := h.get(sup, attrOf(links[0], "href")); resp.StatusCode != http.StatusOK {
		t.Fatalf("the link answers %d", resp.StatusCode)
	}
	page = body(h.get(sup, "/accounts/tenants/"+ids["Tenant.Two"]))
	if len(elements(t, page, "tenant-qstash-link")) != 0 || len(elements(t, page, "tenant-qstash-note")) != 1 {
		t.Fatal("a slug QStash cannot label is linked")
	}
}
