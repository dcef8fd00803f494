package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/auth"
)

// searchTwins are the customer's address and its twins, as stored.
var searchTwins = map[string]string{
	"real":      "rish@brennan.ca",
	"nbsp":      "rish@brennan.ca\u00a0",
	"tab":       "\trish@brennan.ca",
	"zerowidth": "rish@brennan.ca\u200b",
	"fullwidth": "ｒｉｓｈ＠ｂｒｅｎｎａｎ．ｃａ",
	"cyrillic":  "rish@brenn\u0430n.ca",
}

// seedTwins adds the tenant brennan with the twins (the tab one in the
// soft-deleted tenant brennan-old), alice@brennan.ca and a user of
// brennan.ca.evil.example; it returns the ids by name.
func (h *harness) seedTwins() map[string]string {
	h.t.Helper()
	ctx := context.Background()
	ids := map[string]string{}
	for slug, deleted := range map[string]bool{"brennan": false, "brennan-old": true} {
		var id string
		if err := h.pool.QueryRow(ctx, `INSERT INTO tenants (id, slug, name, plan, status, created_at, deleted_at)
			VALUES (gen_random_uuid(), $1, 'Brennan Consulting', 'scale', 'active', now(), CASE WHEN $2 THEN now() END) RETURNING id::text`,
			slug, deleted).Scan(&id); err != nil {
			h.t.Fatal(err)
		}
		ids["tenant:"+slug] = id
	}
	users := map[string]string{"alice": "alice@brennan.ca", "evil": "mallory@brennan.ca.evil.example"}
	for name, email := range searchTwins {
		users[name] = email
	}
	for name, email := range users {
		tenant := ids["tenant:brennan"]
		if name == "tab" {
			tenant = ids["tenant:brennan-old"]
		}
		var id string
		if err := h.pool.QueryRow(ctx, `INSERT INTO users (id, tenant_id, email, auth_provider, created_at, last_login_at)
			VALUES (gen_random_uuid(), $1::uuid, $2, 'password', now(), now()) RETURNING id::text`, tenant, email).Scan(&id); err != nil {
			h.t.Fatal(err)
		}
		ids[name] = id
	}
	return ids
}

// hitRow returns the search results' row that links to href ("" if none).
func hitRow(page, href string) string {
	i := strings.Index(page, `href="`+href)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(page[:i], "<tr")
	end := strings.Index(page[i:], "</tr>")
	return page[start : i+end]
}

func TestAccountSearchShowsTwinsAndTheirState(t *testing.T) {
	h := newHarness(t)
	h.seedPlatform()
	ids := h.seedTwins()
	sup := h.operator("support@atum.io", auth.Support)
	search := func(q string) string {
		t.Helper()
		resp := h.get(sup, "/accounts?q="+url.QueryEscape(q))
		if resp.StatusCode != 200 {
			t.Fatalf("search %q: %d", q, resp.StatusCode)
		}
		return body(resp)
	}
	user := func(name string) string { return "/accounts/users/" + ids[name] }

	// Every form of search finds every twin.
	for _, q := range []string{"rish@brennan.ca", "RISH@BRENNAN.CA\u00a0", "rish@bren", "rish", "@brennan.ca", "brennan.ca", ids["real"]} {
		page := search(q)
		for name := range searchTwins {
			if name != "real" || q != ids["real"] {
				if hitRow(page, user(name)) == "" {
					t.Errorf("search %q does not list the %s twin", q, name)
				}
			}
		}
	}

	page := search("rish@brennan.ca")
	if row := hitRow(page, user("cyrillic")); !strings.Contains(row, `data-testid="lookalike"`) ||
		!strings.Contains(row, "U+0430 CYRILLIC SMALL LETTER A") || !strings.Contains(row, "mixes Latin and Cyrillic letters") {
		t.Errorf("the Cyrillic lookalike's row: %s", row)
	}
	if row := hitRow(page, user("nbsp")); !strings.Contains(row, `\u00a0`) || !strings.Contains(row, "U+00A0 NO-BREAK SPACE") ||
		strings.Contains(row, `data-testid="lookalike"`) {
		t.Errorf("the NBSP twin's row does not show the invisible space: %s", row)
	}
	if row := hitRow(page, user("tab")); !strings.Contains(row, `data-testid="tenant-flag">soft-deleted`) || !strings.Contains(row, "brennan-old") {
		t.Errorf("the tab twin's row does not show its soft-deleted tenant: %s", row)
	}
	if row := hitRow(page, user("real")); strings.Contains(row, "tenant-flag") || strings.Contains(row, "email-warning") || !strings.Contains(row, "exact") {
		t.Errorf("the real account's row: %s", row)
	}

	// A domain, both forms: its users, not those of a longer domain.
	for _, q := range []string{"@brennan.ca", "brennan.ca"} {
		page := search(q)
		if !strings.Contains(hitRow(page, user("alice")), "domain") || hitRow(page, user("evil")) != "" {
			t.Errorf("domain search %q: alice found %v, the evil domain's user found %v", q, hitRow(page, user("alice")) != "", hitRow(page, user("evil")) != "")
		}
	}

	// A tenant: itself, its users, with their counts.
	page = search("brennan")
	if row := hitRow(page, "/accounts/tenants/"+ids["tenant:brennan"]); !strings.Contains(row, "7 live users") {
		t.Errorf("the tenant's row: %s", row)
	}
	if !strings.Contains(hitRow(page, user("alice")), ">tenant<") {
		t.Error("the tenant's users are not listed")
	}
}
