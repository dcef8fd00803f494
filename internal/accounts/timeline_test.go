package accounts_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/audit"
)

// The timeline tells the fixture's story in order: the platform's
// records, the protection's history, then the console's events about the
// account (not the operator's sign-in); the summary for the ticket masks
// the email and holds no operator and no reason.
func TestTimelineAndSummary(t *testing.T) {
	s, pool := newStore(t, 100)
	ctx := context.Background()
	tn, u := fixture(t, pool, "brennan", 2)
	day := func(d int) time.Time { return time.Date(2025, 1, d, 9, 0, 0, 0, time.UTC) }
	exec(t, pool, `UPDATE tenants SET created_at = $2 WHERE id = $1::uuid`, tn, day(1))
	exec(t, pool, `UPDATE users SET email = 'Rachel@Brennan.ca', created_at = $2, last_login_at = $3 WHERE id = $1::uuid`, u, day(2), day(20))
	exec(t, pool, `UPDATE workspaces SET created_at = $2 WHERE tenant_id = $1::uuid AND name = 'ws0'`, tn, day(3))
	exec(t, pool, `UPDATE workspaces SET created_at = $2, deleted_at = $3 WHERE tenant_id = $1::uuid AND name = 'ws1'`, tn, day(4), day(25))
	if err := s.Protect(ctx, "tenant", tn, "VIP: ask admin@atum.io first", "admin@atum.io"); err != nil {
		t.Fatal(err)
	}
	a := mustAccount(t, s, u)
	log := audit.New(pool)
	for _, e := range []audit.Entry{
		{Operator: "admin@atum.io", Action: "login", Target: "admin@atum.io brennan", Result: audit.Success},
		{Operator: "s@atum.io", Action: "account.view", Target: "user:" + u, Reason: "TICKET-7", Result: audit.Success, Account: a.Ref()},
		{Operator: "admin@atum.io", Action: "account.cache.invalidate", Target: "tenant:" + tn + " brennan", Result: audit.Intent, Account: a.TenantRef()},
		{Operator: "admin@atum.io", Action: "account.cache.invalidate", Target: "tenant:" + tn + " brennan", Result: audit.Success,
			Account: a.TenantRef(), Details: map[string]any{"existed": true, "override": true}},
	} {
		if err := log.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	a = mustAccount(t, s, u)
	tl := accounts.Timeline(a)
	var got []string
	for _, e := range tl {
		got = append(got, e.Source+": "+e.What)
	}
	want := []string{
		"platform: tenant brennan created",
		"platform: user created (signs in with password)",
		"platform: workspace ws0 created",
		"platform: workspace ws1 created",
		"platform: user's last sign-in (users.last_login_at)",
		"platform: workspace ws1 soft-deleted",
		"protection: tenant protected: VIP: ask admin@atum.io first",
		"console: account page opened",
		"console: tenant cache entry invalidated (protection overridden by an admin)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if tl[7].Who != "s@atum.io" || !tl[7].View || tl[8].Who != "admin@atum.io" {
		t.Errorf("who and views: %+v", tl[7:])
	}

	sum := accounts.Summary(a, tl, "The tenant's cache entry was stale for rachel@brennan.ca.", time.Now())
	for _, in := range []string{"User " + u, "Tenant " + tn + " (slug brennan)", "email: r***@brennan.ca", "protected: yes",
		"Likely cause: The tenant's cache entry was stale for r***@brennan.ca.", "2025-01-20 09:00Z  user's last sign-in",
		"tenant protected", "tenant cache entry invalidated", "console views and searches not listed: 1"} {
		if !strings.Contains(sum, in) {
			t.Errorf("summary lacks %q:\n%s", in, sum)
		}
	}
	for _, out := range []string{"Rachel@", "rachel@", "admin@atum.io", "s@atum.io", "VIP", "TICKET-7", "ws1"} {
		if strings.Contains(sum, out) {
			t.Errorf("summary holds %q:\n%s", out, sum)
		}
	}
	if strings.Index(sum, "tenant created") > strings.Index(sum, "tenant protected") {
		t.Errorf("summary out of order:\n%s", sum)
	}
}

// A burst of views never pushes the account's destructive actions out of
// what the diagnosis reads.
func TestAuditKeepsActionsBeyondViews(t *testing.T) {
	s, pool := newStore(t, 100)
	ctx := context.Background()
	_, u := fixture(t, pool, "busy", 1)
	a := mustAccount(t, s, u)
	log := audit.New(pool)
	if err := log.Record(ctx, audit.Entry{Action: "account.cache.invalidate", Result: audit.Success, Account: a.TenantRef()}); err != nil {
		t.Fatal(err)
	}
	for range accounts.AuditViews + 15 {
		if err := log.Record(ctx, audit.Entry{Action: "account.view", Result: audit.Success, Account: a.Ref()}); err != nil {
			t.Fatal(err)
		}
	}
	ev := mustAccount(t, s, u).Audit
	if len(ev) != accounts.AuditViews+1 || ev[len(ev)-1].Action != "account.cache.invalidate" || ev[0].Action != "account.view" {
		t.Fatalf("%d events, the oldest %+v", len(ev), ev[len(ev)-1])
	}
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"rachel@brennan.ca": "r***@brennan.ca",
		" R_X@Brennan.CA ":  "r***@brennan.ca",
		"@brennan.ca":       "***@brennan.ca",
		"not an email":      "***",
		"élodie@exemple.fr": "é***@exemple.fr",
	} {
		if got := accounts.MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
	if got := accounts.MaskEmails(`twins "Rachel@Brennan.ca" and rachel@brennan.ca.`); got != `twins "r***@brennan.ca" and r***@brennan.ca.` {
		t.Errorf("MaskEmails = %q", got)
	}
}
