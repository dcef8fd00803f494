package audit_test

import (
	"context"
	"slices"
	"testing"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/testenv"
)

// The account columns select an account's events by exact identifiers:
// a substring of a slug or an email (with LIKE's "_" in it) selects
// nothing, an operator's sign-in never belongs to an account, a user's
// page shows its tenant's own events but not the other users', and a
// tenant's page shows its users' events too.
func TestForAccountMatchesExactIdentifiers(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	ctx := context.Background()
	log := audit.New(pool)
	const (
		rachel  = "11111111-1111-4111-8111-111111111111"
		other   = "22222222-2222-4222-8222-222222222222"
		brennan = "33333333-3333-4333-8333-333333333333"
		elsewho = "44444444-4444-4444-8444-444444444444"
	)
	rec := func(action, target, result string, a audit.Account) {
		t.Helper()
		if err := log.Record(ctx, audit.Entry{Operator: "s@atum.io", Action: action, Target: target, Result: result, Account: a}); err != nil {
			t.Fatal(err)
		}
	}
	userRef := audit.Account{UserID: rachel, Email: "r_x@brennan.ca", TenantID: brennan, Slug: "brennan"}
	// 1: the user
	rec("account.view", "user:"+rachel, audit.Success, userRef)
	// 2: its tenant
	rec("account.cache.invalidate", "tenant:"+brennan+" brennan", audit.Success, audit.Account{TenantID: brennan, Slug: "brennan"})
	// 3: its tenant, by slug
	rec("qstash.tenant.view", "tenant:brennan", audit.Success, audit.Account{Slug: "brennan"})
	// 4: another user of the tenant
	rec("account.view", "user:"+other, audit.Success, audit.Account{UserID: other, Email: "o@brennan.ca", TenantID: brennan, Slug: "brennan"})
	// 5: another tenant, slug containing "brennan"
	rec("account.view", "tenant:"+elsewho+" brennan-old", audit.Success, audit.Account{TenantID: elsewho, Slug: "brennan-old"})
	// 6: an email "r_x" would match with LIKE
	rec("account.view", "user:rax@brennan.ca", audit.Success, audit.Account{Email: "rax@brennan.ca"})
	// 7: an operator's sign-in
	rec("login", "r_x@brennan.ca brennan", audit.Success, audit.Account{})
	// 8: a switch change
	rec("switch.toggle", "switch:brennan", audit.Success, audit.Account{})
	// 9: recorded before the columns existed
	rec("account.protect", "tenant:"+brennan, audit.Success, audit.Account{})
	// 10: a malformed id is not stored
	rec("account.view", "user:not-a-uuid", audit.Intent, audit.Account{UserID: "not-a-uuid"})

	ids := func(q audit.AccountQuery) []int64 {
		t.Helper()
		ev, err := log.ForAccount(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, e := range ev {
			out = append(out, e.ID)
		}
		return out
	}
	var first int64
	if err := pool.QueryRow(ctx, `SELECT min(id) FROM ops.audit_events`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	want := func(n ...int64) []int64 {
		out := make([]int64, len(n))
		for i, v := range n {
			out[i] = first + v - 1
		}
		return out
	}
	if got := ids(audit.AccountQuery{Account: audit.Account{UserID: rachel, Email: "r_x@brennan.ca", TenantID: brennan, Slug: "brennan"}}); !slices.Equal(got, want(9, 3, 2, 1)) {
		t.Errorf("the user's events = %v, want %v", got, want(9, 3, 2, 1))
	}
	if got := ids(audit.AccountQuery{Account: audit.Account{TenantID: brennan, Slug: "brennan"}}); !slices.Equal(got, want(9, 4, 3, 2, 1)) {
		t.Errorf("the tenant's events = %v, want %v", got, want(9, 4, 3, 2, 1))
	}
	if got := ids(audit.AccountQuery{Account: audit.Account{TenantID: brennan, Slug: "brennan"}, Actions: []string{"account.view"}}); !slices.Equal(got, want(4, 1)) {
		t.Errorf("the tenant's views = %v, want %v", got, want(4, 1))
	}
	if got := ids(audit.AccountQuery{Account: audit.Account{TenantID: brennan, Slug: "brennan"}, Except: []string{"account.view"}, Limit: 2}); !slices.Equal(got, want(9, 3)) {
		t.Errorf("the tenant's two newest other events = %v, want %v", got, want(9, 3))
	}
	ev, err := log.List(ctx, audit.Filter{Action: "account.view", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var stored audit.Account
	for _, e := range ev {
		if e.ID == first {
			stored = e.Account
		}
		if e.ID == first+9 && !e.Account.IsZero() {
			t.Errorf("a malformed id was stored: %+v", e.Account)
		}
	}
	if stored != (audit.Account{UserID: rachel, Email: "r_x@brennan.ca", TenantID: brennan, Slug: "brennan"}) {
		t.Errorf("stored account = %+v, want the email normalised", stored)
	}
}
