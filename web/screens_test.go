package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
)

func TestOperatorManagement(t *testing.T) {
	h := newHarness(t)
	admin := h.operator("admin@atum.io", auth.Admin)
	ctx := context.Background()

	// An admin invites by email and role and never chooses a password: a
	// one-time link is shown once.
	resp := h.post(admin, "/operators", url.Values{"email": {"New.Support@atum.io"}, "role": {"support"}, "password": {password}})
	link := passwordLink(t, resp)
	resp = h.post(admin, "/operators", url.Values{"email": {"new.support@ATUM.io"}, "role": {"viewer"}})
	if b := body(resp); resp.StatusCode != http.StatusConflict || !strings.Contains(b, "already exists") {
		t.Fatalf("duplicate add: %d", resp.StatusCode)
	}
	for _, bad := range []url.Values{
		{"email": {"x@atum.io"}, "role": {"root"}},
		{"email": {"not-an-email"}, "role": {"viewer"}},
	} {
		if resp := h.post(admin, "/operators", bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("add %v: %d, want 400", bad, resp.StatusCode)
		}
	}
	// The password the admin typed (old habit) was not set.
	if _, err := h.store.Authenticate(ctx, "new.support@atum.io", password, "127.0.0.9"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("the invited operator has a password before using the link: %v", err)
	}

	// The new operator sets a password with the link (once), then signs
	// in; then the admin changes the role, disables the account (which
	// ends its session), enables it and ends sessions.
	supportClient := h.client()
	usePasswordLink(t, h, supportClient, link, "support's own password")
	if resp := h.post(supportClient, "/password", url.Values{"token": {link}, "new_password": {"another password 1"},
		"new_password_again": {"another password 1"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a password link used twice: %d", resp.StatusCode)
	}
	h.post(supportClient, "/login", url.Values{"email": {"new.support@atum.io"}, "password": {"support's own password"}}).Body.Close()
	if resp := h.get(supportClient, "/"); resp.StatusCode != 200 {
		t.Fatalf("new operator cannot open the overview: %d", resp.StatusCode)
	}
	ops, _ := h.store.Operators(ctx)
	var id string
	for _, o := range ops {
		if o.Email == "new.support@atum.io" {
			id = itoa(o.ID)
		}
	}
	steps := []struct{ path, role string }{
		{"/operators/" + id + "/role", "operator"},
		{"/operators/" + id + "/disable", ""},
	}
	for _, s := range steps {
		resp := h.post(admin, s.path, url.Values{"role": {s.role}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", s.path, resp.StatusCode, body(resp))
		}
	}
	if resp := h.get(supportClient, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disabled operator still signed in: %d", resp.StatusCode)
	}
	if resp := h.post(admin, "/operators/"+id+"/enable", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", resp.StatusCode)
	}
	if resp := h.post(admin, "/operators/"+id+"/sessions/end", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("end sessions: %d", resp.StatusCode)
	}
	page := body(h.get(admin, "/operators?done=enabled"))
	if !strings.Contains(page, "new.support@atum.io") || !strings.Contains(page, "Operator enabled.") {
		t.Fatal("operators page does not list the new operator")
	}

	role := h.events("operator.role") // newest first: the result, then its intent
	if len(role) != 2 || role[1].Result != audit.Intent || role[0].Result != audit.Success || !strings.Contains(role[0].DetailsJSON, `"before": "support"`) || !strings.Contains(role[0].DetailsJSON, `"after": "operator"`) ||
		role[0].Operator != "admin@atum.io" || role[0].Target != "operator:new.support@atum.io" {
		t.Fatalf("role change audit = %+v", role)
	}
	for _, action := range []string{"operator.create", "operator.disable", "operator.enable", "operator.sessions.end",
		"operator.password.link", "operator.password.reset"} {
		if len(h.events(action)) == 0 {
			t.Errorf("%s not audited", action)
		}
	}

	// An admin cannot disable or demote themselves, and bad ids are clear errors.
	self := ""
	for _, o := range ops {
		if o.Email == "admin@atum.io" {
			self = itoa(o.ID)
		}
	}
	if resp := h.post(admin, "/operators/"+self+"/disable", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("self-disable: %d, want 400", resp.StatusCode)
	}
	if resp := h.post(admin, "/operators/abc/disable", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("non-numeric id: %d", resp.StatusCode)
	}
	if resp := h.post(admin, "/operators/999999/disable", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown id: %d", resp.StatusCode)
	}
	if resp := h.post(admin, "/operators/"+id+"/role", url.Values{"role": {"god"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown role: %d", resp.StatusCode)
	}
}

func TestAuditPageFiltersEscapesAndExports(t *testing.T) {
	h := newHarness(t)
	op := h.operator("ops@atum.io", auth.Operator)
	ctx := context.Background()
	if err := h.audit.Record(ctx, audit.Entry{Operator: "ops@atum.io", Action: "test.hostile",
		Target: `tenant:<script>alert(1)</script>`, Reason: `"><img src=x onerror=alert(2)>`, Result: audit.Success}); err != nil {
		t.Fatal(err)
	}
	page := body(h.get(op, "/audit"))
	if strings.Contains(page, "<script>alert(1)") || strings.Contains(page, "<img src=x") {
		t.Fatal("audit page renders hostile text unescaped")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatal("audit page does not show the escaped target")
	}
	if b := body(h.get(op, "/audit?action=test.")); !strings.Contains(b, "test.hostile") || strings.Contains(b, ">login<") {
		t.Error("action filter not applied")
	}
	resp := h.get(op, "/audit?from=yesterday")
	if b := body(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "is not a date") {
		t.Errorf("bad filter: %d", resp.StatusCode)
	}

	resp = h.get(op, "/audit.csv?action=test.")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("csv: %d %v", resp.StatusCode, resp.Header)
	}
	recs, err := csv.NewReader(strings.NewReader(body(resp))).ReadAll()
	if err != nil || len(recs) != 2 || recs[0][0] != "id" || recs[1][5] != "test.hostile" {
		t.Fatalf("csv rows = %q, %v", recs, err)
	}
	if ev := h.events("audit.export"); len(ev) != 1 || !strings.Contains(ev[0].DetailsJSON, "action=test.") {
		t.Fatalf("export not audited: %+v", ev)
	}
}

func TestAuditPagesPage(t *testing.T) {
	h := newHarness(t)
	op := h.operator("ops@atum.io", auth.Operator)
	for i := range audit.MaxPage + 5 {
		if err := h.audit.Record(context.Background(), audit.Entry{Action: "bulk.test", Target: itoa(int64(i)), Result: audit.Success}); err != nil {
			t.Fatal(err)
		}
	}
	page := body(h.get(op, "/audit?action=bulk."))
	i := strings.Index(page, "/audit?action=bulk.&amp;before=")
	if i < 0 {
		t.Fatal("no link to older events")
	}
	next := strings.ReplaceAll(page[i:i+strings.Index(page[i:], `"`)], "&amp;", "&")
	older := body(h.get(op, next))
	if n := strings.Count(older, "bulk.test"); n != 5 {
		t.Fatalf("second page shows %d events, want 5", n)
	}
}

func TestOverviewShowsEveryTileAndAlerts(t *testing.T) {
	h := newHarness(t)
	v := h.operator("v@atum.io", auth.Viewer)
	waitFor(t, func() bool { return strings.Contains(body(h.get(v, "/")), "connection refused") })
	page := body(h.get(v, "/"))
	for _, want := range []string{`data-testid="tile-postgres"`, `data-testid="tile-redis"`, `data-testid="tile-qstash"`,
		"not configured", "reachable", "connection refused", "STAGING", "system id 7311"} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>x</script>") {
		t.Error("an upstream error is rendered unescaped")
	}
	if strings.Contains(page, `href="/operators"`) || strings.Contains(page, `href="/audit"`) {
		t.Error("a viewer's navigation shows screens they may not open")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	if resp := h.get(c, "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	var ready struct {
		Status  string                       `json:"status"`
		Systems map[string]map[string]string `json:"systems"`
	}
	resp := h.get(c, "/readyz")
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil || resp.StatusCode != 200 || ready.Status != "ready" {
		t.Fatalf("/readyz: %d %+v %v", resp.StatusCode, ready, err)
	}
	if ready.Systems["qstash"]["state"] != "not_configured" || ready.Systems["postgres"]["state"] != "ok" {
		t.Fatalf("systems = %+v", ready.Systems)
	}
	h.ready = errors.New("console database unreachable: connection refused")
	resp = h.get(c, "/readyz")
	_ = json.NewDecoder(resp.Body).Decode(&ready)
	if resp.StatusCode != http.StatusServiceUnavailable || ready.Status != "unavailable" || ready.Systems["postgres"]["state"] != "error" {
		t.Fatalf("/readyz with the database down: %d %+v", resp.StatusCode, ready)
	}
	if resp := h.get(c, "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz with the database down: %d", resp.StatusCode)
	}
}

func TestOutOfDateSchemaStopsPages(t *testing.T) {
	h := newHarness(t)
	h.schema = errors.New("schema ops is at version 0, this console needs 1: run `atum-console migrate` first")
	resp := h.get(h.client(), "/login")
	if b := body(resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "atum-console migrate") {
		t.Fatalf("/login on an old schema: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	if resp := h.get(h.client(), "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz on an old schema: %d", resp.StatusCode)
	}
}

func TestIdleSessionExpires(t *testing.T) {
	h := newHarness(t)
	c := h.operator("idle@atum.io", auth.Viewer)
	if _, err := h.pool.Exec(context.Background(), `UPDATE ops.sessions SET last_seen_at = now() - $1::interval`, (31 * time.Minute).String()); err != nil {
		t.Fatal(err)
	}
	resp := h.get(c, "/")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("idle session: %d, want a redirect to login", resp.StatusCode)
	}
}

func TestDatabaseDownIsAClear503(t *testing.T) {
	h := newHarness(t)
	c := h.operator("v@atum.io", auth.Viewer)
	h.pool.Close()
	resp := h.get(c, "/")
	if b := body(resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "database is unreachable") ||
		!strings.Contains(b, `data-testid="env-banner"`) {
		t.Fatalf("overview with the database down: %d\n%s", resp.StatusCode, b)
	}
	if resp := h.get(c, "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
}

// passwordLink returns the token of the one-time password link the
// operators page shows after an invitation or a link request.
func passwordLink(t *testing.T, resp *http.Response) string {
	t.Helper()
	b := body(resp)
	m := regexp.MustCompile(`/password\?token=([A-Za-z0-9_-]{20,})`).FindStringSubmatch(b)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("no password link shown: %d %s", resp.StatusCode, b)
	}
	return m[1]
}

// usePasswordLink sets password with the link token, as its operator.
func usePasswordLink(t *testing.T, h *harness, c *http.Client, token, password string) {
	t.Helper()
	if resp := h.get(c, "/password?token="+token); resp.StatusCode != http.StatusOK {
		t.Fatalf("password link page: %d", resp.StatusCode)
	}
	resp := h.post(c, "/password", url.Values{"token": {token}, "new_password": {password}, "new_password_again": {password}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?done=password" {
		t.Fatalf("set password with the link: %d %s", resp.StatusCode, body(resp))
	}
}
