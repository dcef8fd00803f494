package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/testenv"
	"github.com/atum/ops-console/web"
)

// account makes a tenant with slug and one user with email (in a seeded
// platform) and returns their ids.
func (h *harness) account(slug, email string) (tenant, user string) {
	h.t.Helper()
	ctx := context.Background()
	var seeded bool
	if err := h.pool.QueryRow(ctx, `SELECT to_regclass('public.tenants') IS NOT NULL`).Scan(&seeded); err != nil || !seeded {
		h.seedPlatform()
	}
	if err := h.pool.QueryRow(ctx, `INSERT INTO tenants (id, slug, name, plan, status, created_at) VALUES (gen_random_uuid(), $1, $1, 'scale', 'active', now()) RETURNING id::text`, slug).Scan(&tenant); err != nil {
		h.t.Fatal(err)
	}
	if err := h.pool.QueryRow(ctx, `INSERT INTO users (id, tenant_id, email, auth_provider, created_at) VALUES (gen_random_uuid(), $1::uuid, $2, 'password', now()) RETURNING id::text`,
		tenant, email).Scan(&user); err != nil {
		h.t.Fatal(err)
	}
	return tenant, user
}

// auditRows is the text of each row of the account page's audit events.
func auditRows(t *testing.T, page string) []string {
	t.Helper()
	var out []string
	for _, tr := range elements(t, page, "account-audit-event") {
		out = append(out, textOf(tr))
	}
	return out
}

// TestAccountPageShowsOnlyItsEvents: events about another account whose
// target holds this slug, or this email with LIKE's "_" matching any
// character, an operator's sign-in and a switch change naming the slug
// never show on the account page; its own views, search and QStash view
// do, on the user's page and on its tenant's.
func TestAccountPageShowsOnlyItsEvents(t *testing.T) {
	h := newHarness(t)
	tenant, user := h.account("brennan", "r_x@brennan.ca")
	other, otherUser := h.account("brennan-old", "rax@brennan.ca")
	sup := h.operator("support@atum.io", auth.Support)
	for _, path := range []string{"/accounts/tenants/" + other, "/accounts/users/" + otherUser, "/accounts?q=rax%40brennan.ca"} {
		if resp := h.get(sup, path); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	op := h.operator("brennan.ops@atum.io", auth.Operator)
	sw, _ := h.switches.Get(context.Background(), switches.SuspendRedis)
	if resp := h.post(op, "/switches/SUSPEND_REDIS", toggleForm("true", sw.Version, "brennan r_x@brennan.ca hammers Redis", switches.SuspendRedis)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("switch: %d", resp.StatusCode)
	}
	for _, path := range []string{"/accounts?q=r_x%40brennan.ca", "/accounts/users/" + user, "/queues/tenant/brennan?region=eu"} {
		if resp := h.get(sup, path); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	page := body(h.get(sup, "/accounts/users/"+user))
	rows := auditRows(t, page)
	var actions []string
	for _, r := range rows {
		for _, bad := range []string{"brennan-old", "rax@", otherUser, "login", "killswitch", "brennan.ops@atum.io"} {
			if strings.Contains(r, bad) {
				t.Errorf("the account page lists an event about something else (%q): %s", bad, r)
			}
		}
		for _, a := range []string{"account.view", "account.search", "qstash.tenant.view"} {
			if strings.Contains(r, a) {
				actions = append(actions, a)
			}
		}
	}
	// The page lists the events before its own view.
	if want := []string{"qstash.tenant.view", "account.view", "account.search"}; !slices.Equal(actions, want) {
		t.Fatalf("the user's events = %v, want %v:\n%s", actions, want, strings.Join(rows, "\n"))
	}
	if strings.Contains(page, "brennan.ops@atum.io") || strings.Contains(page, "hammers Redis") {
		t.Fatal("the operator's sign-in or switch change shows on the account page")
	}
	// The tenant's page lists its users' events too, and still nothing else.
	rows = auditRows(t, body(h.get(sup, "/accounts/tenants/"+tenant)))
	if len(rows) != 4 || !strings.Contains(rows[0], "user:"+user) || strings.Contains(strings.Join(rows, "\n"), "tenant:"+tenant) {
		t.Fatalf("the tenant's events:\n%s", strings.Join(rows, "\n"))
	}
	for _, r := range rows {
		if strings.Contains(r, "brennan-old") || strings.Contains(r, "rax@") || strings.Contains(r, "killswitch") {
			t.Errorf("the tenant page lists %s", r)
		}
	}
	// Each event names the account by its exact identifiers.
	ev := h.events("qstash.tenant.view")
	if len(ev) != 1 || ev[0].Account.Slug != "brennan" {
		t.Fatalf("QStash view linked to %+v", ev)
	}
	if ev := h.events("account.search"); len(ev) != 2 || ev[0].Account.UserID != user || ev[0].Account.Email != "r_x@brennan.ca" || ev[1].Account.UserID != otherUser {
		t.Fatalf("searches linked to %+v", ev)
	}
}

// TestAccountViewsNeedTheReason: with ACCOUNT_LOOKUP_REASON_REQUIRED a
// direct link to an account page or a tenant's QStash page shows the
// reason form, reads and records nothing; with the reason the view is
// recorded with it, and the page's links and forms keep it.
func TestAccountViewsNeedTheReason(t *testing.T) {
	h := newHarness(t, func(d *web.Deps) { d.LookupReasonRequired = true })
	tenant, user := h.account("reasoned", "Rachel@Reasoned.example")
	sup := h.operator("support@atum.io", auth.Support)
	for _, path := range []string{"/accounts/users/" + user, "/accounts/tenants/" + tenant, "/queues/tenant/reasoned?region=eu"} {
		resp := h.get(sup, path)
		page := body(resp)
		forms := elements(t, page, "account-reason-form")
		if resp.StatusCode != http.StatusOK || len(forms) != 1 || attrOf(forms[0], "action") != strings.Split(path, "?")[0] {
			t.Fatalf("%s without a reason: %d, %d forms", path, resp.StatusCode, len(forms))
		}
		if strings.Contains(page, "rachel@reasoned.example") || strings.Contains(page, "Rachel@") || strings.Contains(page, `data-testid="tenant-contract"`) {
			t.Fatalf("%s shows the account before the reason", path)
		}
		if strings.HasPrefix(path, "/queues") && formFields(forms[0]).Get("region") != "eu" {
			t.Fatal("the reason form drops the region")
		}
	}
	if n := len(h.events("account.view")) + len(h.events("qstash.tenant.view")); n != 0 {
		t.Fatalf("%d views recorded without a reason", n)
	}
	if resp := h.get(sup, "/accounts/users/"+user+"?reason="+strings.Repeat("x", 301)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a reason over 300 bytes: %d", resp.StatusCode)
	}

	page := body(h.get(sup, "/accounts/users/"+user+"?reason=TICKET-9"))
	if !strings.Contains(page, "Rachel@Reasoned.example") {
		t.Fatal("the page does not open with a reason")
	}
	ev := h.events("account.view")
	if len(ev) != 1 || ev[0].Reason != "TICKET-9" || ev[0].Result != audit.Success || ev[0].Account.UserID != user || ev[0].Account.TenantID != tenant {
		t.Fatalf("view = %+v", ev)
	}
	if l := elements(t, page, "tenant-qstash-link"); len(l) != 1 || attrOf(l[0], "href") != "/queues/tenant/reasoned?reason=TICKET-9" {
		t.Fatal("the QStash link drops the reason")
	}
	forms := elements(t, page, "invalidate-form")
	if len(forms) != 1 || formFields(forms[0]).Get("lookup_reason") != "TICKET-9" || formFields(forms[0]).Get("reason") != "TICKET-9" {
		t.Fatal("the invalidate form drops the reason")
	}
	resp := h.post(sup, attrOf(forms[0], "action"), formFields(forms[0]))
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || loc != "/accounts/tenants/"+tenant+"?done=gone&reason=TICKET-9" {
		t.Fatalf("invalidate: %d %s", resp.StatusCode, loc)
	}
	if e := h.events("account.cache.invalidate"); len(e) != 2 || e[0].Reason != "TICKET-9" || e[0].Account.TenantID != tenant {
		t.Fatalf("invalidation = %+v", e)
	}
	if page := body(h.get(sup, loc)); len(elements(t, page, "account-reason-form")) != 0 || !strings.Contains(page, "There was no cache entry.") {
		t.Fatal("the page after the action asks the reason again")
	}
	// Without any reason an invalidation is refused.
	if resp := h.post(sup, "/accounts/tenants/"+tenant+"/cache/invalidate", url.Values{}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("invalidate without a reason: %d", resp.StatusCode)
	}

	page = body(h.get(sup, "/queues/tenant/reasoned?region=eu&reason=TICKET-9"))
	if r := elements(t, page, "region-eu"); len(r) != 1 || attrOf(r[0], "href") != "/queues/tenant/reasoned?region=eu&reason=TICKET-9" {
		t.Fatal("the region link drops the reason")
	}
	if e := h.events("qstash.tenant.view"); len(e) != 1 || e[0].Reason != "TICKET-9" || e[0].Account.Slug != "reasoned" {
		t.Fatalf("QStash view = %+v", e)
	}
}

// TestProtectedTenantCacheNeedsAnAdminOverride: support cannot
// invalidate a protected tenant's cache entry (denied, audited), nor an
// admin without overriding it with a reason; with both it is done and
// audited as an override.
func TestProtectedTenantCacheNeedsAnAdminOverride(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tenant, _ := h.account("guarded", "g@guarded.example")
	rc, err := rediscache.NewClient(testenv.Stack(t).RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := rc.Set(ctx, accounts.CacheKey("guarded"), `{"id":"`+tenant+`","slug":"guarded","plan":"scale","status":"active"}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	admin := h.operator("admin@atum.io", auth.Admin)
	sup := h.operator("support@atum.io", auth.Support)
	if resp := h.post(admin, "/accounts/tenants/"+tenant+"/protection", url.Values{"protect": {"true"}, "reason": {"VIP customer"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("protect: %d", resp.StatusCode)
	}
	page := body(h.get(sup, "/accounts/tenants/"+tenant))
	if s := elements(t, page, "protection-state"); len(s) != 1 || !strings.Contains(textOf(s[0]), "refuses to invalidate this tenant's cache entry unless an admin overrides") ||
		strings.Contains(page, "Every destructive action") || len(elements(t, page, "invalidate-form")) != 0 {
		t.Fatal("the page does not say what the protection covers, or offers support the invalidation")
	}
	path := "/accounts/tenants/" + tenant + "/cache/invalidate"
	for _, try := range []struct {
		who    *http.Client
		form   url.Values
		status int
		result string
	}{
		{sup, url.Values{"reason": {"TICKET-1"}}, http.StatusForbidden, audit.Denied},
		{sup, url.Values{"reason": {"TICKET-1"}, "override": {"1"}}, http.StatusForbidden, audit.Denied},
		{admin, url.Values{"reason": {"TICKET-1"}}, http.StatusForbidden, audit.Denied},
		{admin, url.Values{"override": {"1"}}, http.StatusBadRequest, audit.Failure},
	} {
		resp := h.post(try.who, path, try.form)
		b := body(resp)
		ev := h.events("account.cache.invalidate")
		if resp.StatusCode != try.status || !strings.Contains(b, "protected") || ev[0].Result != try.result || ev[0].Account.TenantID != tenant {
			t.Fatalf("%v: %d, audited %+v", try.form, resp.StatusCode, ev[0])
		}
		if n, _ := rc.Exists(ctx, accounts.CacheKey("guarded")).Result(); n != 1 {
			t.Fatalf("%v deleted the entry", try.form)
		}
	}
	page = body(h.get(admin, "/accounts/tenants/"+tenant))
	forms := elements(t, page, "invalidate-form")
	if len(forms) != 1 {
		t.Fatal("no invalidation form for the admin")
	}
	form := formFields(forms[0])
	form.Set("reason", "customer asked, TICKET-3")
	if resp := h.post(admin, path, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("override: %d", resp.StatusCode)
	}
	if n, _ := rc.Exists(ctx, accounts.CacheKey("guarded")).Result(); n != 0 {
		t.Fatal("the override did not invalidate")
	}
	ev := h.events("account.cache.invalidate")
	if len(ev) != 6 || ev[0].Result != audit.Success || ev[0].Reason != "customer asked, TICKET-3" || !strings.Contains(ev[0].DetailsJSON, `"override": true`) ||
		ev[1].Result != audit.Intent || ev[0].Operator != "admin@atum.io" {
		t.Fatalf("override audited as %+v", ev[:2])
	}
	if len(h.events("account.view")) != 2 {
		t.Fatal("a refused action was recorded as a view")
	}
}

// TestProtectionChangesAreKept: a protection without a reason is an
// account.protect failure (not a view), protecting again records the
// change with both reasons, unprotecting what is not protected fails, and
// the page lists the history.
func TestProtectionChangesAreKept(t *testing.T) {
	h := newHarness(t)
	_, user := h.account("kept", "k@kept.example")
	admin := h.operator("admin@atum.io", auth.Admin)
	path := "/accounts/users/" + user + "/protection"
	if resp := h.post(admin, path, url.Values{"protect": {"true"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("protect without reason: %d", resp.StatusCode)
	}
	ev := h.events("account.protect")
	if len(ev) != 1 || ev[0].Result != audit.Failure || !strings.Contains(ev[0].DetailsJSON, "Give a reason") || ev[0].Account.UserID != user {
		t.Fatalf("protect without reason audited as %+v", ev)
	}
	if n := len(h.events("account.view")); n != 0 {
		t.Fatalf("a refused protection recorded %d views", n)
	}
	for _, step := range []struct{ protect, reason, done string }{
		{"true", "first reason", "protected"}, {"true", "second reason", "changed"}, {"false", "customer left", "unprotected"},
	} {
		resp := h.post(admin, path, url.Values{"protect": {step.protect}, "reason": {step.reason}, "lookup_reason": {"T-5"}})
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/accounts/users/"+user+"?done="+step.done+"&reason=T-5" {
			t.Fatalf("%+v: %d %s", step, resp.StatusCode, loc)
		}
	}
	if resp := h.post(admin, path, url.Values{"protect": {"false"}, "reason": {"again"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unprotecting what is not protected: %d", resp.StatusCode)
	}
	if ev := h.events("account.unprotect"); len(ev) != 3 || ev[0].Result != audit.Failure || ev[1].Result != audit.Success || ev[2].Result != audit.Intent {
		t.Fatalf("unprotect audited as %+v", ev)
	}
	if ev := h.events("account.protect"); len(ev) != 5 || ev[0].Result != audit.Success || !strings.Contains(ev[0].DetailsJSON, `"previous_reason": "first reason"`) {
		t.Fatalf("the second protection audited as %+v", ev[0])
	}
	page := body(h.get(admin, "/accounts/users/"+user))
	var rows []string
	for _, tr := range elements(t, page, "protection-change") {
		var cells []string
		for _, td := range elementChildren(tr) {
			cells = append(cells, textOf(td))
		}
		rows = append(rows, strings.Join(cells, " "))
	}
	if len(rows) != 3 || !strings.Contains(rows[0], "unprotect customer left second reason") ||
		!strings.Contains(rows[1], "change second reason first reason admin@atum.io") || !strings.Contains(rows[2], "protect first reason") {
		t.Fatalf("protection history:\n%s", strings.Join(rows, "\n"))
	}
	// An action on an account that does not exist is audited under the
	// action, never as a view.
	if resp := h.post(admin, "/accounts/tenants/00000000-0000-4000-8000-000000000000/cache/invalidate", url.Values{"reason": {"x"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("invalidate a missing tenant: %d", resp.StatusCode)
	}
	if ev := h.events("account.cache.invalidate"); len(ev) != 1 || ev[0].Result != audit.Failure || len(h.events("account.view")) != 1 {
		t.Fatalf("a missing tenant's invalidation audited as %+v", ev)
	}
}

// TestAccountTimelineAndTicketSummary: the account page's timeline lists
// the fixture's story in order, and the summary for the ticket masks the
// email and names no operator.
func TestAccountTimelineAndTicketSummary(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tenant, user := h.account("story", "Rachel.Story@Story.example")
	day := func(d int) time.Time { return time.Date(2025, 3, d, 8, 0, 0, 0, time.UTC) }
	for sql, args := range map[string][]any{
		`UPDATE tenants SET created_at = $2 WHERE id = $1::uuid`:                                                                    {tenant, day(1)},
		`UPDATE users SET created_at = $2, last_login_at = $3 WHERE tenant_id = $1::uuid`:                                           {tenant, day(2), day(10)},
		`INSERT INTO workspaces (id, tenant_id, name, created_at, deleted_at) VALUES (gen_random_uuid(), $1::uuid, 'main', $2, $3)`: {tenant, day(3), day(12)},
	} {
		if _, err := h.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	admin := h.operator("admin@atum.io", auth.Admin)
	sup := h.operator("support@atum.io", auth.Support)
	if resp := h.post(admin, "/accounts/tenants/"+tenant+"/protection", url.Values{"protect": {"true"}, "reason": {"ask admin@atum.io"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("protect: %d", resp.StatusCode)
	}
	if resp := h.post(admin, "/accounts/tenants/"+tenant+"/cache/invalidate", url.Values{"override": {"1"}, "reason": {"TICKET-4"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("override: %d", resp.StatusCode)
	}
	h.get(sup, "/accounts/users/"+user+"?reason=TICKET-4").Body.Close()
	page := body(h.get(sup, "/accounts/users/"+user+"?reason=TICKET-4"))
	var got []string
	for _, tr := range elements(t, page, "timeline-line") {
		td := elementChildren(tr)
		got = append(got, textOf(td[1])+": "+textOf(td[2]))
	}
	want := []string{
		"platform: tenant story created",
		"platform: user created (signs in with password)",
		"platform: workspace main created",
		"platform: user's last sign-in (users.last_login_at)",
		"platform: workspace main soft-deleted",
		"protection: tenant protected: ask admin@atum.io",
		"console: tenant cache invalidation: there was no entry (protection overridden by an admin)",
		"console: account page opened",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	s := elements(t, page, "ticket-summary")
	if len(s) != 1 {
		t.Fatal("no summary")
	}
	sum := textOf(s[0])
	for _, in := range []string{"User " + user, "email: r***@story.example", "Tenant " + tenant + " (slug story)", "protected: yes",
		"Likely cause:", "2025-03-10 08:00Z  user's last sign-in", "tenant protected", "tenant cache invalidation", "searches not listed: 1"} {
		if !strings.Contains(sum, in) {
			t.Errorf("the summary lacks %q:\n%s", in, sum)
		}
	}
	for _, out := range []string{"Rachel.Story@", "rachel.story@", "admin@atum.io", "support@atum.io", "TICKET-4"} {
		if strings.Contains(strings.ToLower(sum), strings.ToLower(out)) {
			t.Errorf("the summary holds %q:\n%s", out, sum)
		}
	}
}
