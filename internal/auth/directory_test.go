package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/auth"
)

func TestPendingTOTPShowsTheSameKeyAgain(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, _ := s.CreateOperator(ctx, "p@atum.io", auth.Operator, "the right password", false)
	if _, err := s.PendingTOTP(ctx, a.ID, "Console"); !errors.Is(err, auth.ErrTOTPNotStarted) {
		t.Fatalf("no enrolment started: %v", err)
	}
	key, err := s.StartTOTP(ctx, a.ID, "Console: prod")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.PendingTOTP(ctx, a.ID, "Console: prod")
	if err != nil || again.Secret() != key.Secret() || again.URL() != key.URL() || again.AccountName() != "p@atum.io" {
		t.Fatalf("pending key %v (%v), started %v", again, err, key)
	}
}

func TestProfilesListSessionsAndEndOne(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, _ := s.CreateOperator(ctx, "a@atum.io", auth.Admin, "the right password", false)
	b, _ := s.InviteOperator(ctx, "b@atum.io", auth.Viewer, "a@atum.io")
	t1, _ := s.StartSession(ctx, a.ID, auth.SignIn{Method: auth.MethodPassword, SecondFactor: "totp"}, "10.0.0.1", "firefox", time.Hour)
	t2, _ := s.StartSession(ctx, a.ID, auth.SignIn{Method: auth.MethodSSO}, "10.0.0.2", "chrome", time.Hour)
	ps, err := s.Profiles(ctx)
	if err != nil || len(ps) != 2 {
		t.Fatalf("profiles %+v, %v", ps, err)
	}
	pa, pb := ps[0], ps[1]
	if !pa.HasPassword || pa.LastLoginMethod != "sso" || len(pa.Sessions) != 2 || pb.HasPassword || pb.InvitedBy != "a@atum.io" || len(pb.Sessions) != 0 {
		t.Fatalf("a %+v, b %+v", pa, pb)
	}
	if pa.Sessions[0].ID != auth.SessionID(t2) || pa.Sessions[0].SignIn.String() != "sso" || pa.Sessions[1].SignIn.String() != "password + totp" {
		t.Fatalf("sessions %+v", pa.Sessions)
	}
	// Another operator's id or a made-up one ends nothing.
	if err := s.EndSessionByID(ctx, b.ID, auth.SessionID(t1)); !errors.Is(err, auth.ErrNoSession) {
		t.Fatalf("ending a's session as b: %v", err)
	}
	if err := s.EndSessionByID(ctx, a.ID, "zz"); !errors.Is(err, auth.ErrNoSession) {
		t.Fatalf("a malformed id: %v", err)
	}
	if err := s.EndSessionByID(ctx, a.ID, auth.SessionID(t1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, t1, time.Hour); !errors.Is(err, auth.ErrNoSession) {
		t.Fatalf("ended session still loads: %v", err)
	}
	if _, err := s.Session(ctx, t2, time.Hour); err != nil {
		t.Fatalf("the other session ended too: %v", err)
	}
}

func TestPasswordLinks(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, _ := s.InviteOperator(ctx, "new@atum.io", auth.Support, "admin@atum.io")
	first, err := s.IssueReset(ctx, a.ID, "admin@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	second, _ := s.IssueReset(ctx, a.ID, "admin@atum.io")
	if _, err := s.ResetAccount(ctx, first); !errors.Is(err, auth.ErrNoReset) {
		t.Fatalf("a superseded link still works: %v", err)
	}
	if _, err := s.UseReset(ctx, second, "short"); err == nil {
		t.Fatal("a short password was accepted")
	}
	tok, _ := s.StartSession(ctx, a.ID, auth.SignIn{Method: auth.MethodSSO}, "10.0.0.1", "ua", time.Hour)
	if _, err := s.UseReset(ctx, second, "a long new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseReset(ctx, second, "another long password"); !errors.Is(err, auth.ErrNoReset) {
		t.Fatalf("a link used twice: %v", err)
	}
	if _, err := s.Session(ctx, tok, time.Hour); !errors.Is(err, auth.ErrNoSession) {
		t.Fatal("a session survived the password link")
	}
	if _, err := s.Authenticate(ctx, "new@atum.io", "a long new password", "10.0.0.1"); err != nil {
		t.Fatalf("the password set by the link: %v", err)
	}
	_ = s.SetDisabled(ctx, a.ID, true)
	if _, err := s.IssueReset(ctx, a.ID, "admin@atum.io"); !errors.Is(err, auth.ErrDisabled) {
		t.Fatalf("a link for a disabled operator: %v", err)
	}
}
