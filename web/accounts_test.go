package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/sim"
)

func (h *harness) seedPlatform() {
	h.t.Helper()
	if _, err := sim.Seed(context.Background(), h.pool, sim.SeedOptions{Tenants: 100, Users: 1000}); err != nil {
		h.t.Fatal(err)
	}
	if err := accounts.CreateIndexes(context.Background(), h.pool); err != nil {
		h.t.Fatal(err)
	}
}

func TestAccountLookupAndDiagnosis(t *testing.T) {
	h := newHarness(t)
	h.seedPlatform()
	ctx := context.Background()
	sup := h.operator("support@atum.io", auth.Support)
	var email, id, tenant string
	if err := h.pool.QueryRow(ctx, `SELECT u.email, u.id::text, t.name FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.email LIKE 'user200@%'`).Scan(&email, &id, &tenant); err != nil {
		t.Fatal(err)
	}
	// A hostile tenant and workspace name must stay inert.
	if _, err := h.pool.Exec(ctx, `UPDATE tenants SET name = '<script>alert(1)</script>' WHERE id = (SELECT tenant_id FROM users WHERE id = $1::uuid)`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `INSERT INTO workspaces (id, tenant_id, name, created_at) SELECT gen_random_uuid(), tenant_id, '<script>alert(1)</script>', now() FROM users WHERE id = $1::uuid`, id); err != nil {
		t.Fatal(err)
	}
	page := body(h.get(sup, "/accounts?q="+url.QueryEscape("  "+strings.ToUpper(email)+" ")+"&reason=TICKET-1"))
	if !strings.Contains(page, "/accounts/users/"+id) || !strings.Contains(page, "exact") {
		t.Fatal("mixed-case padded search did not find the user")
	}
	for _, evil := range []string{"' OR 1=1 --", "<script>alert(1)</script>", "%"} {
		resp := h.get(sup, "/accounts?q="+url.QueryEscape(evil))
		b := body(resp)
		if resp.StatusCode != 200 || strings.Contains(b, "<script>alert(1)") || (evil != "<script>alert(1)</script>" && !strings.Contains(b, "No user or tenant matches")) {
			t.Errorf("search %q: %d", evil, resp.StatusCode)
		}
	}
	acct := body(h.get(sup, "/accounts/users/"+id))
	if !strings.Contains(acct, `data-testid="diagnosis"`) || !strings.Contains(acct, "Accounts differing only in case") || strings.Contains(acct, "<script>alert(1)") {
		t.Fatal("account page")
	}
	if !strings.Contains(acct, `data-testid="workspace"`) || !strings.Contains(acct, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatal("the workspaces are not listed, escaped")
	}
	if !strings.Contains(acct, `data-testid="duplicates"`) {
		t.Fatal("the seeded case twin is not reported")
	}
	if ev := h.events("account.search"); len(ev) != 4 || ev[3].Reason != "TICKET-1" {
		t.Fatalf("lookups not audited: %+v", ev)
	}
	if len(h.events("account.view")) != 1 {
		t.Fatal("account view not audited")
	}
	if resp := h.get(sup, "/accounts/users/00000000-0000-0000-0000-000000000000"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown user: %d", resp.StatusCode)
	}
	// Support can invalidate the cache but not protect.
	var tenantID string
	_ = h.pool.QueryRow(ctx, `SELECT tenant_id::text FROM users WHERE id = $1::uuid`, id).Scan(&tenantID)
	if resp := h.post(sup, "/accounts/tenants/"+tenantID+"/cache/invalidate", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("invalidate: %d", resp.StatusCode)
	}
	if resp := h.post(sup, "/accounts/tenants/"+tenantID+"/protection", url.Values{"protect": {"true"}, "reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("support protect: %d", resp.StatusCode)
	}
	admin := h.operator("admin@atum.io", auth.Admin)
	if resp := h.post(admin, "/accounts/tenants/"+tenantID+"/protection", url.Values{"protect": {"true"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("protect without reason: %d", resp.StatusCode)
	}
	if resp := h.post(admin, "/accounts/tenants/"+tenantID+"/protection", url.Values{"protect": {"true"}, "reason": {"real customer"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("protect: %d", resp.StatusCode)
	}
	// Newest first: the result, the intent written before acting, and the
	// refused attempt without a reason.
	if ev := h.events("account.protect"); len(ev) != 3 || ev[0].Reason != "real customer" || ev[0].Result != audit.Success ||
		ev[1].Result != audit.Intent || ev[2].Result != audit.Failure {
		t.Fatalf("protect audit = %+v", ev)
	}
	if v := h.operator("viewer@atum.io", auth.Viewer); h.get(v, "/accounts").StatusCode != http.StatusForbidden {
		t.Fatal("a viewer can search accounts")
	}
}
