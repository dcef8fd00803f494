package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/testenv"
)

const issuer = "https://idp.atum.io"

type ssoRow struct {
	issuer, subject             *string
	method, invitedBy, password string
	fromClaim                   bool
}

func loadSSORow(t *testing.T, pool *pgxpool.Pool, email string) ssoRow {
	t.Helper()
	var r ssoRow
	err := pool.QueryRow(context.Background(), `
		SELECT sso_issuer, sso_subject, last_login_method, invited_by, password_hash, role_from_claim
		FROM ops.operators WHERE email = $1`, email).
		Scan(&r.issuer, &r.subject, &r.method, &r.invitedBy, &r.password, &r.fromClaim)
	if err != nil {
		t.Fatalf("operator %s: %v", email, err)
	}
	return r
}

func TestInviteOperator(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	a, err := s.InviteOperator(ctx, " Carol@ATUM.io ", auth.Operator, "admin@atum.io")
	if err != nil || a.Email != "carol@atum.io" || a.Role != auth.Operator || a.ID == 0 || a.CreatedAt.IsZero() {
		t.Fatalf("InviteOperator = %+v, %v", a, err)
	}
	r := loadSSORow(t, pool, "carol@atum.io")
	if r.password != "" || r.invitedBy != "admin@atum.io" || r.subject != nil || r.fromClaim {
		t.Errorf("invited row %+v", r)
	}
	if _, err := s.InviteOperator(ctx, "CAROL@atum.io", auth.Viewer, "admin@atum.io"); !errors.Is(err, auth.ErrEmailTaken) {
		t.Errorf("invite twice: %v", err)
	}
	if _, err := s.InviteOperator(ctx, "Carol <c@atum.io>", auth.Viewer, "admin@atum.io"); err == nil {
		t.Error("invited a malformed email")
	}
	if _, err := s.InviteOperator(ctx, "d@atum.io", auth.Role("root"), "admin@atum.io"); err == nil {
		t.Error("invited with an unknown role")
	}
	// No password: no password sign-in, whatever is typed.
	for _, pw := range []string{"", "anything at all"} {
		if _, err := s.Authenticate(ctx, "carol@atum.io", pw, "10.0.0.1"); err == nil {
			t.Errorf("password sign-in with %q admitted an operator without a password", pw)
		}
	}
}

func TestAdmitSSOBindsInvitedEmail(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	if _, err := s.AdmitSSO(ctx, auth.SSOIdentity{Issuer: issuer, Subject: "sub-x", Email: "nobody@atum.io"}); !errors.Is(err, auth.ErrNotInvited) {
		t.Errorf("uninvited: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops.operators`).Scan(&n); err != nil || n != 0 {
		t.Errorf("an uninvited sign-in left %d operators (%v)", n, err)
	}

	inv, _ := s.InviteOperator(ctx, "carol@atum.io", auth.Operator, "admin@atum.io")
	a, err := s.AdmitSSO(ctx, auth.SSOIdentity{Issuer: issuer, Subject: "sub-carol", Email: "Carol@atum.io"})
	if err != nil || a.ID != inv.ID || a.Role != auth.Operator || a.Email != "carol@atum.io" || a.LastLoginAt == nil {
		t.Fatalf("first sign-in = %+v, %v", a, err)
	}
	r := loadSSORow(t, pool, "carol@atum.io")
	if r.issuer == nil || *r.issuer != issuer || r.subject == nil || *r.subject != "sub-carol" || r.method != "sso" {
		t.Errorf("after the first sign-in: %+v", r)
	}
	// Bound: found by subject even when the provider's email changed.
	if a, err := s.AdmitSSO(ctx, auth.SSOIdentity{Issuer: issuer, Subject: "sub-carol", Email: "carol.renamed@atum.io"}); err != nil || a.ID != inv.ID {
		t.Errorf("bound operator with a new email: %+v, %v", a, err)
	}
	// Someone else with that email, at this or another provider.
	for _, in := range []auth.SSOIdentity{
		{Issuer: issuer, Subject: "sub-impostor", Email: "carol@atum.io"},
		{Issuer: "https://other-idp.example", Subject: "sub-carol", Email: "carol@atum.io"},
	} {
		if _, err := s.AdmitSSO(ctx, in); !errors.Is(err, auth.ErrSSOMismatch) {
			t.Errorf("%+v: %v, want ErrSSOMismatch", in, err)
		}
	}
	// An invited operator's role is the admin's, not the claim's.
	for _, role := range []auth.Role{auth.Admin, ""} {
		a, err := s.AdmitSSO(ctx, auth.SSOIdentity{Issuer: issuer, Subject: "sub-carol", Email: "carol@atum.io", ClaimRole: role, ClaimConfigured: true})
		if err != nil || a.Role != auth.Operator {
			t.Errorf("invited operator with claim role %q: %+v, %v", role, a, err)
		}
	}
}

func TestAdmitSSOClaimRole(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	dan := auth.SSOIdentity{Issuer: issuer, Subject: "sub-dan", Email: "dan@atum.io", ClaimRole: auth.Support, ClaimConfigured: true}
	a, err := s.AdmitSSO(ctx, dan)
	if err != nil || a.Role != auth.Support || a.Email != "dan@atum.io" {
		t.Fatalf("created from the claim: %+v, %v", a, err)
	}
	r := loadSSORow(t, pool, "dan@atum.io")
	if !r.fromClaim || r.invitedBy != "groups claim" || r.password != "" || r.subject == nil || *r.subject != "sub-dan" || r.method != "sso" {
		t.Errorf("created row %+v", r)
	}
	dan.ClaimRole = auth.Admin
	if a, err := s.AdmitSSO(ctx, dan); err != nil || a.Role != auth.Admin {
		t.Errorf("claim role raised: %+v, %v", a, err)
	}
	if got, _ := s.Operator(ctx, a.ID); got.Role != auth.Admin {
		t.Errorf("stored role %q", got.Role)
	}
	dan.ClaimRole = auth.Viewer
	if a, err := s.AdmitSSO(ctx, dan); err != nil || a.Role != auth.Viewer {
		t.Errorf("claim role lowered: %+v, %v", a, err)
	}
	// Removed from every mapped group: refused, and nothing changes.
	dan.ClaimRole = ""
	if _, err := s.AdmitSSO(ctx, dan); !errors.Is(err, auth.ErrNotInvited) {
		t.Errorf("claim removed: %v", err)
	}
	if got, _ := s.Operator(ctx, a.ID); got.Role != auth.Viewer {
		t.Errorf("a refused sign-in changed the role to %q", got.Role)
	}
	// With no claim configured any more, the last role stands.
	dan.ClaimConfigured = false
	if a, err := s.AdmitSSO(ctx, dan); err != nil || a.Role != auth.Viewer {
		t.Errorf("claim no longer configured: %+v, %v", a, err)
	}
	if _, err := s.AdmitSSO(ctx, auth.SSOIdentity{Issuer: issuer, Subject: "sub-x", Email: "x@atum.io", ClaimRole: "root", ClaimConfigured: true}); err == nil || errors.Is(err, auth.ErrNotInvited) {
		t.Errorf("unknown claim role: %v", err)
	}
}

func TestAdmitSSODisabledAndDemo(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	inv, _ := s.InviteOperator(ctx, "erin@atum.io", auth.Viewer, "admin@atum.io")
	if err := s.SetDisabled(ctx, inv.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdmitSSO(ctx, auth.SSOIdentity{Issuer: issuer, Subject: "sub-erin", Email: "erin@atum.io"}); !errors.Is(err, auth.ErrDisabled) {
		t.Errorf("disabled: %v", err)
	}
	if r := loadSSORow(t, pool, "erin@atum.io"); r.subject != nil || r.method != "" {
		t.Errorf("a refused sign-in bound or touched the operator: %+v", r)
	}

	if _, err := s.CreateOperator(ctx, "viewer@demo.local", auth.Viewer, "demo", true); err != nil {
		t.Fatal(err)
	}
	demo := auth.SSOIdentity{Issuer: issuer, Subject: "sub-demo", Email: "viewer@demo.local"}
	if _, err := s.AdmitSSO(ctx, demo); !errors.Is(err, auth.ErrDemoInProd) {
		t.Errorf("demo outside demo mode: %v", err)
	}
	s.AllowDemo = true
	if a, err := s.AdmitSSO(ctx, demo); err != nil || !a.IsDemo {
		t.Errorf("demo in demo mode: %+v, %v", a, err)
	}
}
