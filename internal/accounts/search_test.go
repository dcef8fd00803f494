package accounts_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/accounts"
)

// twinAddresses are the customer's address and its twins: the same once
// normalised, or (the Cyrillic and the inner zero-width ones) rendering
// alike.
var twinAddresses = map[string]string{
	"real":      "rish@brennan.ca",
	"nbsp":      "rish@brennan.ca\u00a0",
	"tab":       "\trish@brennan.ca",
	"zerowidth": "\u200brish@brennan.ca",
	"fullwidth": "ｒｉｓｈ＠ｂｒｅｎｎａｎ．ｃａ",
	"cyrillic":  "rish@brenn\u0430n.ca",
	"innerzw":   "ri\u200dsh@brennan.ca",
}

// lookalikes are the twins that differ once normalised.
var lookalikes = map[string]bool{"cyrillic": true, "innerzw": true}

// twinWorld adds the tenant brennan (name "Brennan Consulting") with the
// twins of rish@brennan.ca and alice@brennan.ca, a soft-deleted tenant
// brennan-old holding the tab twin, and a user of brennan.ca.evil.example.
// It returns the user ids by fixture name.
func twinWorld(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	ctx := context.Background()
	tenant := func(slug, name string, deleted bool) string {
		var id string
		if err := pool.QueryRow(ctx, `INSERT INTO tenants (id, slug, name, plan, status, created_at, deleted_at)
			VALUES (gen_random_uuid(), $1, $2, 'scale', 'active', now(), CASE WHEN $3 THEN now() END) RETURNING id::text`, slug, name, deleted).Scan(&id); err != nil {
			t.Fatal(err)
		}
		exec(t, pool, `INSERT INTO workspaces (id, tenant_id, name, created_at) VALUES (gen_random_uuid(), $1::uuid, 'main', now())`, id)
		return id
	}
	brennan, old := tenant("brennan", "Brennan Consulting", false), tenant("brennan-old", "Brennan Consulting (old)", true)
	ids := map[string]string{}
	for name, email := range twinAddresses {
		var id string
		tn := brennan
		if name == "tab" {
			tn = old
		}
		if err := pool.QueryRow(ctx, `INSERT INTO users (id, tenant_id, email, auth_provider, created_at, last_login_at)
			VALUES (gen_random_uuid(), $1::uuid, $2, 'password', now(), now()) RETURNING id::text`, tn, email).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	for name, email := range map[string]string{"alice": "Alice@Brennan.ca", "evil": "mallory@brennan.ca.evil.example"} {
		var id string
		if err := pool.QueryRow(ctx, `INSERT INTO users (id, tenant_id, email, auth_provider, created_at)
			VALUES (gen_random_uuid(), $1::uuid, $2, 'password', now()) RETURNING id::text`, brennan, email).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	ids["tenant:brennan"], ids["tenant:brennan-old"] = brennan, old
	exec(t, pool, `ANALYZE users, tenants`)
	return ids
}

// byID indexes hits by id.
func byID(hits []accounts.Hit) map[string]accounts.Hit {
	m := map[string]accounts.Hit{}
	for _, h := range hits {
		m[h.ID] = h
	}
	return m
}

// TestEverySearchFindsTheTwins searches the customer's address in every
// form: each finds every twin, lookalikes marked as such.
func TestEverySearchFindsTheTwins(t *testing.T) {
	s, pool := newStore(t, 200)
	ids := twinWorld(t, pool)
	ctx := context.Background()
	queries := []string{"rish@brennan.ca", "  RISH@Brennan.CA\u00a0", "\trish@brennan.ca", "ｒｉｓｈ＠ｂｒｅｎｎａｎ．ｃａ", "rish@brenn\u0430n.ca",
		"rish@bren", "rish@", "Rish", "ris", "@brennan.ca", "brennan.ca", " @BRENNAN.CA", ids["real"]}
	for _, q := range queries {
		hits, err := s.Search(ctx, q, 50)
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		found := byID(hits)
		for name := range twinAddresses {
			h, ok := found[ids[name]]
			if !ok {
				t.Errorf("search %q does not find the %s twin %+q", q, name, twinAddresses[name])
			}
			if q == "rish@brennan.ca" && (h.Lookalike != lookalikes[name] || h.Exact == lookalikes[name]) {
				t.Errorf("search %q: the %s twin is lookalike=%v exact=%v", q, name, h.Lookalike, h.Exact)
			}
		}
	}
}

func TestDomainSearch(t *testing.T) {
	s, pool := newStore(t, 200)
	ids := twinWorld(t, pool)
	for _, q := range []string{"@brennan.ca", "brennan.ca", "@Brennan.CA "} {
		hits, err := s.Search(context.Background(), q, 50)
		if err != nil {
			t.Fatal(err)
		}
		found := byID(hits)
		if h, ok := found[ids["alice"]]; !ok || h.Match != accounts.MatchDomain {
			t.Errorf("search %q does not find alice@brennan.ca by domain: %+v", q, hits)
		}
		if h := found[ids["cyrillic"]]; !h.Lookalike {
			t.Errorf("search %q: the lookalike domain is not marked: %+v", q, h)
		}
		if _, ok := found[ids["evil"]]; ok {
			t.Errorf("search %q finds the user of brennan.ca.evil.example", q)
		}
	}
	// The address prefix still finds the other domain.
	if _, ok := byID(mustSearch(t, s, "mallory@brennan.ca"))[ids["evil"]]; !ok {
		t.Error("the prefix of mallory@brennan.ca.evil.example does not find it")
	}
}

func mustSearch(t *testing.T, s *accounts.Store, q string) []accounts.Hit {
	t.Helper()
	hits, err := s.Search(context.Background(), q, 50)
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestTenantSearchListsItsUsers: a tenant found by slug, name prefix or a
// part of its name comes with its users, and every hit shows its tenant's
// state.
func TestTenantSearchListsItsUsers(t *testing.T) {
	s, pool := newStore(t, 200)
	ids := twinWorld(t, pool)
	hits := mustSearch(t, s, "brennan")
	if len(hits) == 0 || hits[0].ID != ids["tenant:brennan"] || hits[0].Match != accounts.MatchExact || hits[0].Users != 8 || hits[0].Workspaces != 1 {
		t.Fatalf("tenant search: first hit %+v", hits)
	}
	found := byID(hits)
	if h, ok := found[ids["alice"]]; !ok || h.Match != accounts.MatchTenant || h.Tenant != "brennan" || h.TenantStatus != "active" {
		t.Errorf("the tenant's users are not listed: %+v", h)
	}
	if h, ok := found[ids["tenant:brennan-old"]]; !ok || h.Match != accounts.MatchPrefix || !h.TenantDeleted {
		t.Errorf("the soft-deleted tenant by prefix: %+v", h)
	}
	for _, q := range []string{"consult", "CONSULTING (old"} {
		if h, ok := byID(mustSearch(t, s, q))[ids["tenant:brennan-old"]]; !ok || h.Match != accounts.MatchContains {
			t.Errorf("search %q: the tenant by a part of its name: %+v", q, h)
		}
	}
	if _, ok := byID(mustSearch(t, s, "co"))[ids["tenant:brennan"]]; ok {
		t.Error("a two-letter query searched inside names")
	}
	// A user hit shows that its tenant is soft-deleted.
	h := byID(mustSearch(t, s, "rish@brennan.ca"))[ids["tab"]]
	if !h.TenantDeleted || h.Tenant != "brennan-old" || h.LastLogin == nil || h.Workspaces != 1 {
		t.Errorf("the tab twin's hit: %+v", h)
	}
	// A tenant id lists the tenant and its users.
	if found := byID(mustSearch(t, s, ids["tenant:brennan"])); len(found) != 9 || found[ids["alice"]].Match != accounts.MatchTenant {
		t.Errorf("tenant id search: %+v", found)
	}
}

// TestDuplicatesAreTwinsAndLookalikes: the account's twins are the users
// with the same normalised address and, marked, the lookalikes.
func TestDuplicatesAreTwinsAndLookalikes(t *testing.T) {
	s, pool := newStore(t, 200)
	ids := twinWorld(t, pool)
	a := mustAccount(t, s, ids["real"])
	if len(a.Duplicates) != len(twinAddresses)-1 {
		t.Fatalf("duplicates = %+v", a.Duplicates)
	}
	for i, d := range a.Duplicates {
		name := ""
		for n, id := range ids {
			if id == d.ID {
				name = n
			}
		}
		if d.Lookalike != lookalikes[name] || (d.Lookalike && i < len(a.Duplicates)-len(lookalikes)) {
			t.Errorf("duplicate %d %s: lookalike=%v (lookalikes come last)", i, name, d.Lookalike)
		}
		if name == "tab" && (!d.TenantDeleted || d.Tenant != "brennan-old") {
			t.Errorf("the tab twin's tenant state: %+v", d)
		}
	}
	if a := mustAccount(t, s, ids["alice"]); len(a.Duplicates) != 0 {
		t.Errorf("alice has twins: %+v", a.Duplicates)
	}
}

// TestSearchPlansUseIndexes checks that each search query reads an index,
// never every user, on a table large enough for the planner to care.
func TestSearchPlansUseIndexes(t *testing.T) {
	_, pool := newStore(t, 20000)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// Small tables may rightly be scanned; what matters is that each
	// query's expression matches an index.
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT id FROM users WHERE atum_norm_email(email) = 'user1@tenant-2.example'`,
		`SELECT id FROM users WHERE atum_norm_email(email) LIKE 'u%' ORDER BY atum_norm_email(email) USING ~<~ LIMIT 50`,
		`SELECT id FROM users WHERE atum_email_skeleton(email) LIKE 'u%' ORDER BY atum_email_skeleton(email) USING ~<~ LIMIT 50`,
		`SELECT id FROM users WHERE atum_email_domain_skeleton(email) = 'tenant-2.exarnple' AND atum_email_domain(email) = 'tenant-2.example' ORDER BY atum_norm_email(email) LIMIT 50`,
		`SELECT id FROM users WHERE atum_email_domain_skeleton(email) = 'tenant-2.exarnple' AND atum_email_domain(email) > 'tenant-2.example' ORDER BY atum_email_domain(email) LIMIT 10`,
		`SELECT id FROM tenants WHERE atum_norm_email(name) LIKE '%ant 1%' LIMIT 50`,
		`SELECT id FROM tenants WHERE slug LIKE '%ant-1%' LIMIT 50`,
		`SELECT id FROM tenants WHERE atum_norm_email(name) LIKE 'tenant 1%' ORDER BY atum_norm_email(name) USING ~<~ LIMIT 50`,
	} {
		rows, err := conn.Query(ctx, "EXPLAIN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			_ = rows.Scan(&line)
			plan = append(plan, line)
		}
		p := strings.Join(plan, "\n")
		if strings.Contains(p, "Seq Scan") || strings.Contains(p, "Sort") {
			t.Errorf("%s\nreads every row or sorts every match:\n%s", q, p)
		}
	}
}

// TestREADMEGivesThePlatformIndexes: the README's SQL for the platform
// team holds every statement of PlatformIndexes.
func TestREADMEGivesThePlatformIndexes(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(accounts.PlatformIndexes), "\n") {
		if !strings.Contains(string(readme), line) {
			t.Errorf("the README lacks %s", line)
		}
	}
	if !strings.Contains(string(readme), "internal/accounts/platform_functions.sql") {
		t.Error("the README does not point at the functions' SQL")
	}
}
