package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/web"
)

// diagnosisLine is one rendered line of a diagnosis table.
type diagnosisLine struct{ verdict, name, detail string }

// diagnosisLines reads the rows of the diagnosis table with the testid.
func diagnosisLines(t *testing.T, page, testid string) []diagnosisLine {
	t.Helper()
	tables := elements(t, page, testid)
	if len(tables) != 1 {
		t.Fatalf("%d tables %q on the page", len(tables), testid)
	}
	var out []diagnosisLine
	for _, body := range elementChildren(tables[0]) {
		for _, tr := range elementChildren(body) {
			if td := elementChildren(tr); len(td) == 3 {
				out = append(out, diagnosisLine{strings.TrimSpace(textOf(td[0])), textOf(td[1]), textOf(td[2])})
			}
		}
	}
	return out
}

func lineNamed(lines []diagnosisLine, name string) diagnosisLine {
	for _, l := range lines {
		if strings.HasPrefix(l.name, name) {
			return l
		}
	}
	return diagnosisLine{}
}

// customer makes a tenant with one user and one workspace; it returns
// the tenant's and the user's ids.
func (h *harness) customer(name string) (tenant, user string) {
	h.t.Helper()
	ctx := context.Background()
	if err := h.pool.QueryRow(ctx, `INSERT INTO tenants (id, slug, name, plan, status, created_at) VALUES (gen_random_uuid(), $1, $1, 'scale', 'active', now()) RETURNING id::text`, name).Scan(&tenant); err != nil {
		h.t.Fatal(err)
	}
	if err := h.pool.QueryRow(ctx, `INSERT INTO users (id, tenant_id, email, auth_provider, created_at) VALUES (gen_random_uuid(), $1::uuid, $2, 'password', now()) RETURNING id::text`,
		tenant, name+"@customer.example").Scan(&user); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `INSERT INTO workspaces (id, tenant_id, name, created_at) VALUES (gen_random_uuid(), $1::uuid, 'main', now())`, tenant); err != nil {
		h.t.Fatal(err)
	}
	return tenant, user
}

// TestAccountDiagnosisKeepsPlatformApart: on a platform with a machine
// without ENVIRONMENT, a silent machine and an instance on a database of
// the same host and name but another system identifier, a healthy
// account shows no problem; the conditions are in their own panel.
func TestAccountDiagnosisKeepsPlatformApart(t *testing.T) {
	h := newHarness(t, func(d *web.Deps) {
		d.AccountFleet = func() *accounts.Fleet {
			return &accounts.Fleet{Running: []string{"m1", "m-silent"}, WithoutEnvironment: []string{"m-noenv"}, Expected: "production"}
		}
	})
	h.seedPlatform()
	ctx := context.Background()
	id, err := store.ReadIdentity(ctx, h.pool, h.pool.Config().ConnString())
	if err != nil || id.SystemID == "" {
		t.Fatalf("identity = %+v, %v", id, err)
	}
	if _, err := h.pool.Exec(ctx, `INSERT INTO ops.instance_heartbeats (instance_id, machine_id, process_group, boot_id, started_at, environment, database_identity, suspend_redis, suspend_redis_source)
		VALUES ('api-1', 'm1', 'api', 'b', now(), 'staging', $1, false, 'database')`, id.Host+"/"+id.Database+"#1"+id.SystemID); err != nil {
		t.Fatal(err)
	}
	tenant, user := h.customer("healthy")
	sup := h.operator("support@atum.io", auth.Support)
	page := body(h.get(sup, "/accounts/users/"+user))
	if l := elements(t, page, "diagnosis-likely"); len(l) != 1 || !strings.Contains(textOf(l[0]), "Nothing found that explains a missing account") {
		t.Fatal("the likely cause of a healthy account")
	}
	for _, l := range diagnosisLines(t, page, "diagnosis") {
		if l.verdict == accounts.Problem {
			t.Errorf("a healthy account shows a problem: %+v", l)
		}
	}
	platform := diagnosisLines(t, page, "diagnosis-platform-lines")
	for name, want := range map[string]string{"Platform instances' database": "another system identifier",
		"Machines' ENVIRONMENT": "m-noenv", "Running machines without heartbeat": "m-silent"} {
		if l := lineNamed(platform, name); l.verdict != accounts.Problem || !strings.Contains(l.detail, want) {
			t.Errorf("platform panel: %s = %+v", name, l)
		}
	}

	// Protecting the account is no destructive action on it.
	admin := h.operator("admin@atum.io", auth.Admin)
	if resp := h.post(admin, "/accounts/tenants/"+tenant+"/protection", url.Values{"protect": {"true"}, "reason": {"real customer"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("protect: %d", resp.StatusCode)
	}
	page = body(h.get(admin, "/accounts/tenants/"+tenant))
	if !strings.Contains(page, "account.protect") {
		t.Fatal("the protection is not in the account's audit events")
	}
	if l := lineNamed(diagnosisLines(t, page, "diagnosis"), "Recent destructive actions"); l.verdict != accounts.OK {
		t.Errorf("protecting the account made its destructive line %+v", l)
	}

	// A soft-deleted user: the likely cause, and the first finding.
	if _, err := h.pool.Exec(ctx, `UPDATE users SET deleted_at = now() WHERE id = $1::uuid`, user); err != nil {
		t.Fatal(err)
	}
	page = body(h.get(sup, "/accounts/users/"+user))
	if l := elements(t, page, "diagnosis-likely"); len(l) != 1 || !strings.Contains(textOf(l[0]), "The user was soft-deleted on") {
		t.Error("the likely cause of a soft-deleted user")
	}
	if l := diagnosisLines(t, page, "diagnosis"); len(l) == 0 || l[0].name != "User soft-deleted" || l[0].verdict != accounts.Problem {
		t.Errorf("the first finding of a soft-deleted user: %+v", l)
	}
}
