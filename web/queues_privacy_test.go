package web_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/web"
)

// Secrets and customer data a dead letter carries; the first four must
// reach no page, export or log, the last reaches support and above only.
const (
	hostileAttrValue = `"><img src=x onerror=alert(3)>`
	jwtSecret        = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGF0Zm9ybSJ9.c2lnbmF0dXJlLXZhbHVl"
	keySecret        = "plain-api-key-value"
	cookieValue      = "sid=s3ss10n-c00kie"
	urlToken         = "u8RTk2pQ7wLm3xZ9vN4c"
	customerData     = "card 4111 1111 1111 1111"
	requestID        = "req-7f3a9"
)

// secretDeadLetter stores a dead letter whose headers carry the platform's
// own credentials (also forwarded, also hostile) and whose body holds
// customer data; it returns its dlqId and message id.
func (h *harness) secretDeadLetter() (string, string) {
	mid := "msg_secret" + itoa(int64(h.qs.DLQCount()+1))
	id := h.qs.AddDLQ(qstashdouble.DLQMessage{
		MessageID: mid, URL: "https://api.atum.example/hook?token=" + urlToken + "&tenant=42", Method: "POST", QueueName: "billing",
		Labels: []string{"deploy " + hostile},
		Header: map[string][]string{
			"Authorization":             {"Bearer " + jwtSecret},
			"Upstash-Forward-X-Api-Key": {keySecret},
			"Cookie":                    {cookieValue},
			"Content-Type":              {"application/json"},
			"X-Request-Id":              {requestID},
			"X-Evil":                    {hostile},
			hostile:                     {hostileAttrValue},
		},
		Body: `{"note":"` + customerData + `","html":"` + strings.ReplaceAll(hostile, `"`, `'`) + `"}`, ResponseStatus: 500,
		ResponseHeader: map[string][]string{"Set-Cookie": {cookieValue}, "Content-Type": {"text/plain"}},
		ResponseBody:   "refused " + customerData + " " + hostile,
	})
	return id, mid
}

// lockedBuffer collects the console's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// secretsIn returns the secrets that s holds.
func secretsIn(s string) []string {
	var found []string
	for _, secret := range []string{jwtSecret, keySecret, "s3ss10n-c00kie", urlToken} {
		if strings.Contains(s, secret) {
			found = append(found, secret)
		}
	}
	return found
}

// TestDeadLetterContentByRole: a viewer sees the metadata, header names
// and a note, never a header's value or a body; support sees the bodies
// and the plain headers' values, never a secret; each reveal is audited
// once per operator and message (the full-body view included), the audit
// export and the console's log hold no secret.
func TestDeadLetterContentByRole(t *testing.T) {
	logs := &lockedBuffer{}
	h := newHarness(t, func(d *web.Deps) { d.Log = slog.New(slog.NewTextHandler(logs, nil)) })
	viewer := h.operator("viewer@atum.io", auth.Viewer)
	support := h.operator("support@atum.io", auth.Support)
	support2 := h.operator("support2@atum.io", auth.Support)
	op := h.operator("op@atum.io", auth.Operator)
	id, mid := h.secretDeadLetter()
	page := "/queues/dlq/" + id + "?region=eu"

	resp := h.get(viewer, page)
	v := body(resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("viewer: %d", resp.StatusCode)
	}
	for _, s := range append(secretsIn(v), customerData, requestID, "application/json", "text/plain") {
		if strings.Contains(v, s) {
			t.Errorf("a viewer sees %q", s)
		}
	}
	for _, s := range []string{`data-testid="content-note"`, "Authorization", "X-Request-Id", "billing", "api.atum.example/hook?token=[redacted]", `data-testid="body-withheld"`} {
		if !strings.Contains(v, s) {
			t.Errorf("the viewer's page lacks %q", s)
		}
	}
	if n := len(h.events("dlq.message.view")); n != 0 {
		t.Fatalf("a viewer's visit audited %d reveals", n)
	}

	s := body(h.get(support, page))
	if found := secretsIn(s); len(found) > 0 {
		t.Errorf("support sees secrets %q", found)
	}
	for _, want := range []string{customerData, requestID, "application/json", "[redacted]"} {
		if !strings.Contains(s, want) {
			t.Errorf("support's page lacks %q", want)
		}
	}
	if strings.Contains(s, `data-testid="content-note"`) || strings.Contains(s, "<script>alert(1)") {
		t.Error("support's page shows the viewers' note or unescaped script")
	}
	body(h.get(support, page))
	if full := body(h.get(support, page+"&full=1")); !strings.Contains(full, customerData) || len(secretsIn(full)) > 0 {
		t.Error("the full view")
	}
	ev := h.events("dlq.message.view")
	if len(ev) != 1 || ev[0].Target != mid || ev[0].Operator != "support@atum.io" || ev[0].Result != audit.Success ||
		!strings.Contains(ev[0].DetailsJSON, `"region": "eu"`) || !strings.Contains(ev[0].DetailsJSON, id) {
		t.Fatalf("reveals audited = %+v", ev)
	}
	body(h.get(support2, page+"&full=1"))
	body(h.get(op, page))
	if n := len(h.events("dlq.message.view")); n != 3 {
		t.Fatalf("three operators' reveals audited %d times, want 3", n)
	}

	resp = h.get(op, "/audit.csv?action=dlq.message.view")
	csv := body(resp)
	if resp.StatusCode != http.StatusOK || strings.Count(csv, mid) != 3 || !strings.Contains(csv, "api.atum.example/hook?token=[redacted]") {
		t.Fatalf("export: %d\n%s", resp.StatusCode, csv)
	}
	if found := secretsIn(csv); len(found) > 0 {
		t.Errorf("the audit export holds secrets %q", found)
	}
	for _, e := range h.events("dlq.message.view") {
		if found := secretsIn(e.DetailsJSON + e.Target); len(found) > 0 {
			t.Errorf("the audit log holds secrets %q", found)
		}
	}

	// A dead letter QStash cannot give now fails with its error logged:
	// still no secret in the log.
	h.qs.FailNext(3, http.StatusInternalServerError)
	if resp := h.get(support, "/queues/dlq/1-99?region=eu"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("QStash error: %d", resp.StatusCode)
	}
	h.qs.FailNext(0, 0)
	if found := secretsIn(logs.String()); len(found) > 0 || !strings.Contains(logs.String(), "/queues/dlq/") {
		t.Errorf("the log holds secrets %q (or nothing was logged)", found)
	}
}

// viewRefusingAudit is the audit log refusing the reveal events.
type viewRefusingAudit struct {
	inner interface {
		handlers.Auditor
		handlers.AuditReader
	}
}

func (a *viewRefusingAudit) Record(ctx context.Context, e audit.Entry) error {
	if e.Action == "dlq.message.view" {
		return errors.New("audit: record: connection refused")
	}
	return a.inner.Record(ctx, e)
}

func (a *viewRefusingAudit) List(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	return a.inner.List(ctx, f)
}

// TestUnauditedRevealShowsNothing: when the reveal cannot be audited,
// support sees the metadata and a note, not the content.
func TestUnauditedRevealShowsNothing(t *testing.T) {
	refusing := &viewRefusingAudit{}
	h := newHarness(t, func(d *web.Deps) { refusing.inner = d.Audit; d.Audit = refusing })
	support := h.operator("support@atum.io", auth.Support)
	id, _ := h.secretDeadLetter()
	resp := h.get(support, "/queues/dlq/"+id+"?region=eu")
	b := body(resp)
	if resp.StatusCode != http.StatusOK || strings.Contains(b, customerData) || strings.Contains(b, requestID) ||
		!strings.Contains(b, "did not record this view") {
		t.Fatalf("unaudited reveal: %d", resp.StatusCode)
	}
}

// TestListMasksURLs: the list and a purge's sample show a destination's
// token masked, to every role.
func TestListMasksURLs(t *testing.T) {
	h := newHarness(t)
	viewer := h.operator("viewer@atum.io", auth.Viewer)
	op := h.operator("op@atum.io", auth.Operator)
	h.secretDeadLetter()
	list := body(h.get(viewer, "/queues?region=eu"))
	if strings.Contains(list, urlToken) || !strings.Contains(list, "hook?token=[redacted]&amp;tenant=42") {
		t.Error("the list shows the destination's token")
	}
	resp := h.post(op, "/queues/purges", url.Values{"region": {"eu"}, "queue": {"billing"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("preview: %d", resp.StatusCode)
	}
	if p := body(h.get(viewer, resp.Header.Get("Location"))); strings.Contains(p, urlToken) || !strings.Contains(p, "token=[redacted]") {
		t.Error("the purge sample shows the destination's token")
	}
}
