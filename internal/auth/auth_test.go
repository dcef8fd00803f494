package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

func TestRoleOrder(t *testing.T) {
	tests := []struct {
		r, min auth.Role
		want   bool
	}{
		{auth.Admin, auth.Viewer, true},
		{auth.Operator, auth.Operator, true},
		{auth.Support, auth.Operator, false},
		{auth.Viewer, auth.Support, false},
		{auth.Role("root"), auth.Viewer, false},
		{auth.Admin, auth.Role(""), false},
	}
	for _, tt := range tests {
		if got := tt.r.AtLeast(tt.min); got != tt.want {
			t.Errorf("%q.AtLeast(%q) = %v", tt.r, tt.min, got)
		}
	}
	if _, err := auth.ParseRole("superuser"); err == nil {
		t.Error("ParseRole accepted an unknown role")
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not argon2id with the expected parameters", h)
	}
	h2, _ := auth.HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: salt missing")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		if ok, err := auth.CheckPassword(h, pw); err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v", pw, ok, err)
		}
	}
	if _, err := auth.CheckPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Error("CheckPassword accepted a malformed hash")
	}
}

func newStore(t *testing.T) *auth.Store {
	pool, _ := testenv.MigratedPool(t)
	return auth.NewStore(pool)
}

func TestCreateOperatorValidates(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, err := s.CreateOperator(ctx, "  Alice@ATUM.io ", auth.Admin, "long enough password", false)
	if err != nil || a.Email != "alice@atum.io" {
		t.Fatalf("CreateOperator = %+v, %v", a, err)
	}
	if _, err := s.CreateOperator(ctx, "ALICE@atum.io", auth.Viewer, "long enough password", false); !errors.Is(err, auth.ErrEmailTaken) {
		t.Errorf("duplicate email: err = %v", err)
	}
	for _, email := range []string{"", "alice", "Alice <a@b.io>", "a@b.io, c@d.io"} {
		if _, err := s.CreateOperator(ctx, email, auth.Viewer, "long enough password", false); err == nil {
			t.Errorf("accepted email %q", email)
		}
	}
	if _, err := s.CreateOperator(ctx, "bob@atum.io", auth.Viewer, "short", false); err == nil {
		t.Error("accepted a short password outside demo mode")
	}
	if _, err := s.CreateOperator(ctx, "bob@atum.io", auth.Role("root"), "long enough password", false); err == nil {
		t.Error("accepted an unknown role")
	}
}

func TestAuthenticateAndThrottle(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateOperator(ctx, "op@atum.io", auth.Operator, "the right password", false); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Authenticate(ctx, " OP@atum.io", "the right password", "10.0.0.1"); err != nil || a.Role != auth.Operator {
		t.Fatalf("Authenticate = %+v, %v", a, err)
	}
	if _, err := s.Authenticate(ctx, "nobody@atum.io", "whatever", "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("unknown account: %v", err)
	}
	for i := range auth.MaxAccountAddressFailures {
		if _, err := s.Authenticate(ctx, "op@atum.io", "wrong", "10.0.0.2"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	var te *auth.ThrottledError
	if _, err := s.Authenticate(ctx, "op@atum.io", "the right password", "10.0.0.2"); !errors.As(err, &te) || te.Scope != auth.ScopeAccountAddress {
		t.Fatalf("after %d failures from one address the right password gave %v, want the account-and-address throttle", auth.MaxAccountAddressFailures, err)
	}
	// The attacker's failures do not lock the real person out elsewhere.
	if _, err := s.Authenticate(ctx, "op@atum.io", "the right password", "10.0.0.3"); err != nil {
		t.Fatalf("from another address: %v", err)
	}
	// Per client address: many accounts tried from one address.
	for i := range auth.MaxAddressFailures {
		_, _ = s.Authenticate(ctx, "spray"+string(rune('a'+i))+"@atum.io", "x", "10.9.9.9")
	}
	if _, err := s.Authenticate(ctx, "someone@atum.io", "x", "10.9.9.9"); !errors.As(err, &te) || te.Scope != auth.ScopeAddress {
		t.Fatalf("password spraying from one address: %v, want the address throttle", err)
	}
}

func TestDisabledAndDemoOperatorsCannotSignIn(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, _ := s.CreateOperator(ctx, "gone@atum.io", auth.Support, "the right password", false)
	admin, _ := s.CreateOperator(ctx, "admin@atum.io", auth.Admin, "the right password", false)
	_ = admin
	token, err := s.CreateSession(ctx, a.ID, "10.0.0.1", "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "gone@atum.io", "the right password", "10.0.0.1"); !errors.Is(err, auth.ErrDisabled) {
		t.Errorf("disabled operator: %v", err)
	}
	if _, err := s.Session(ctx, token, time.Hour); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("session of a disabled operator still valid: %v", err)
	}

	if _, err := s.CreateOperator(ctx, "viewer@demo.local", auth.Viewer, "demo", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "viewer@demo.local", "demo", "10.0.0.1"); !errors.Is(err, auth.ErrDemoInProd) {
		t.Errorf("demo operator outside demo mode: %v", err)
	}
	s.AllowDemo = true
	if _, err := s.Authenticate(ctx, "viewer@demo.local", "demo", "10.0.0.1"); err != nil {
		t.Errorf("demo operator in demo mode: %v", err)
	}
}

func TestSessionTimeouts(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	a, _ := s.CreateOperator(ctx, "v@atum.io", auth.Viewer, "the right password", false)

	token, err := s.CreateSession(ctx, a.ID, "10.0.0.1", "test", time.Hour)
	if err != nil || len(token) < 43 {
		t.Fatalf("token %q, %v", token, err)
	}
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops.sessions WHERE token_hash = convert_to($1, 'UTF8')`, token).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the raw token is stored (%d, %v)", stored, err)
	}
	sess, err := s.Session(ctx, token, 30*time.Minute)
	if err != nil || sess.Account.Email != "v@atum.io" {
		t.Fatalf("Session = %+v, %v", sess, err)
	}
	// Idle timeout: last seen 31 minutes ago.
	if _, err := pool.Exec(ctx, `UPDATE ops.sessions SET last_seen_at = now() - interval '31 minutes'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, token, 30*time.Minute); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("idle session still valid: %v", err)
	}
	// Absolute timeout, however active.
	token2, _ := s.CreateSession(ctx, a.ID, "10.0.0.1", "test", time.Hour)
	if _, err := pool.Exec(ctx, `UPDATE ops.sessions SET expires_at = now() - interval '1 second', last_seen_at = now()`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, token2, 30*time.Minute); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("expired session still valid: %v", err)
	}
	// Logout ends exactly that session.
	token3, _ := s.CreateSession(ctx, a.ID, "10.0.0.1", "test", time.Hour)
	token4, _ := s.CreateSession(ctx, a.ID, "10.0.0.1", "test", time.Hour)
	if err := s.EndSession(ctx, token3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, token3, time.Hour); !errors.Is(err, auth.ErrNoSession) {
		t.Error("ended session still valid")
	}
	if _, err := s.Session(ctx, token4, time.Hour); err != nil {
		t.Errorf("other session ended too: %v", err)
	}
	if n, err := s.EndSessions(ctx, a.ID); err != nil || n != 1 {
		t.Errorf("EndSessions = %d, %v", n, err)
	}
	if _, err := s.Session(ctx, "", time.Hour); !errors.Is(err, auth.ErrNoSession) {
		t.Error("empty token accepted")
	}
}

func TestLastAdminIsKept(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, _ := s.CreateOperator(ctx, "a@atum.io", auth.Admin, "the right password", false)
	b, _ := s.CreateOperator(ctx, "b@atum.io", auth.Admin, "the right password", false)
	if _, err := s.SetRole(ctx, a.ID, auth.Viewer); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRole(ctx, b.ID, auth.Operator); !errors.Is(err, auth.ErrLastAdmin) {
		t.Errorf("demoting the last admin: %v", err)
	}
	if err := s.SetDisabled(ctx, b.ID, true); !errors.Is(err, auth.ErrLastAdmin) {
		t.Errorf("disabling the last admin: %v", err)
	}
	before, err := s.SetRole(ctx, a.ID, auth.Admin)
	if err != nil || before != auth.Viewer {
		t.Errorf("SetRole returned before=%q, %v", before, err)
	}
	if _, err := s.SetRole(ctx, 9999, auth.Admin); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
}
