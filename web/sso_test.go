package web_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/devidp"
	"github.com/atum/ops-console/internal/sso"
	"github.com/atum/ops-console/web"
)

// reasons lists the reasons of the failed sign-ins audited, newest first.
func (h *harness) reasons() []string {
	out := []string{}
	for _, e := range h.events("login") {
		var d struct{ Reason string }
		if e.Result == audit.Failure && json.Unmarshal([]byte(e.DetailsJSON), &d) == nil {
			out = append(out, d.Reason)
		}
	}
	return append(out, "(none)")
}

// An invited person signs in through the provider and lands where they
// were going; everyone the console must not admit is refused with a
// clear message and the refusal is audited with its reason.
func TestSSOSignInAdmitsInvitedAndRefusesTheRest(t *testing.T) {
	s := newSSOHarness(t)
	ctx := context.Background()
	if _, err := s.store.InviteOperator(ctx, "alice@atum.io", auth.Support, "admin@atum.io"); err != nil {
		t.Fatal(err)
	}
	alice := s.client()
	agent := devidp.NewAgent(s.callback)
	q := s.startSSO(alice, agent, "/login/sso?next=%2Faccounts", "u-alice")
	resp := s.get(alice, "/login/sso/callback?"+q.Encode())
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts" {
		t.Fatalf("SSO callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := s.get(alice, "/accounts"); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in through SSO, /accounts answers %d", resp.StatusCode)
	}
	if ev := s.events("login"); len(ev) == 0 || ev[0].Result != audit.Success || !strings.Contains(ev[0].DetailsJSON, `"sso"`) {
		t.Fatalf("SSO sign-in audit: %+v", ev)
	}

	// The same callback again, with the state cookie an attacker would
	// replay: refused, and audited as a replay.
	req, _ := http.NewRequest(http.MethodGet, s.ts.URL+"/login/sso/callback?"+q.Encode(), nil)
	req.AddCookie(&http.Cookie{Name: "atum_sso", Value: q.Get("state")})
	replay, err := s.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	replay.Body.Close()
	if replay.StatusCode != http.StatusUnauthorized || s.reasons()[0] != "state_replayed" {
		t.Fatalf("replayed callback: %d, reasons %v", replay.StatusCode, s.reasons())
	}
	// A callback whose state is not this browser's (login CSRF) is refused.
	other := s.client()
	q2 := s.startSSO(s.client(), devidp.NewAgent(s.callback), "/login/sso", "u-alice")
	if resp := s.get(other, "/login/sso/callback?"+q2.Encode()); resp.StatusCode != http.StatusUnauthorized || s.reasons()[0] != "state_missing" {
		t.Fatalf("a callback without its browser's state: %d, reasons %v", resp.StatusCode, s.reasons())
	}

	for _, tt := range []struct {
		user, reason, says string
		status             int
	}{
		{"u-stranger", "not_invited", "not been given access", http.StatusForbidden},
		{"u-unverified", "email_unverified", "not verified", http.StatusUnauthorized},
		{"u-outsider", "domain_not_allowed", "domain", http.StatusUnauthorized},
	} {
		c := s.client()
		resp := s.signInSSO(c, devidp.NewAgent(s.callback), tt.user)
		if b := body(resp); resp.StatusCode != tt.status || !strings.Contains(b, tt.says) {
			t.Errorf("%s: %d, want %d saying %q", tt.user, resp.StatusCode, tt.status, tt.says)
		}
		if got := s.reasons()[0]; got != tt.reason {
			t.Errorf("%s: audited reason %q, want %q", tt.user, got, tt.reason)
		}
		if resp := s.get(c, "/"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s is signed in after a refusal: %d", tt.user, resp.StatusCode)
		}
	}
	if _, err := s.store.Profiles(ctx); err != nil {
		t.Fatal(err)
	}

	// An ID token for another audience is refused.
	s.idp.SetAudienceOverride("some-other-app")
	resp = s.signInSSO(s.client(), devidp.NewAgent(s.callback), "u-alice")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || s.reasons()[0] != "wrong_audience" {
		t.Fatalf("wrong audience: %d, reasons %v", resp.StatusCode, s.reasons())
	}
	s.idp.SetAudienceOverride("")

	// A member of a mapped group is admitted with the group's role.
	oncall := s.client()
	if resp := s.signInSSO(oncall, devidp.NewAgent(s.callback), "u-oncall"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("group member: %d %s", resp.StatusCode, body(resp))
	}
	if b := body(s.get(oncall, "/")); !strings.Contains(b, `data-testid="user-role">operator<`) {
		t.Fatal("the groups claim did not give the operator role")
	}
}

// Disabling an operator ends their SSO session at once, and they cannot
// come back through the provider.
func TestDisabledOperatorsSSOSessionEnds(t *testing.T) {
	s := newSSOHarness(t)
	ctx := context.Background()
	a, err := s.store.InviteOperator(ctx, "alice@atum.io", auth.Viewer, "admin@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	admin := s.operator("admin@atum.io", auth.Admin)
	alice := s.client()
	agent := devidp.NewAgent(s.callback)
	s.signInSSO(alice, agent, "u-alice").Body.Close()
	if resp := s.get(alice, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice is not signed in: %d", resp.StatusCode)
	}
	if resp := s.post(admin, "/operators/"+itoa(a.ID)+"/disable", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", resp.StatusCode, body(resp))
	}
	if resp := s.get(alice, "/"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("a disabled operator's SSO session still opens pages: %d", resp.StatusCode)
	}
	// The provider still vouches for her; the console does not admit her.
	resp := s.signInSSO(alice, agent, "")
	if b := body(resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(b, "disabled") || s.reasons()[0] != "disabled" {
		t.Fatalf("a disabled operator through SSO: %d, reasons %v", resp.StatusCode, s.reasons())
	}
}

// An SSO operator's step-up goes through the provider with a fresh
// login (prompt=login, max_age=0) and comes back to the kept form.
func TestSSOStepUpAuthenticatesAgainAtTheProvider(t *testing.T) {
	s := newSSOHarness(t)
	ctx := context.Background()
	if _, err := s.store.InviteOperator(ctx, "alice@atum.io", auth.Operator, "admin@atum.io"); err != nil {
		t.Fatal(err)
	}
	alice := s.client()
	agent := devidp.NewAgent(s.callback)
	s.signInSSO(alice, agent, "u-alice").Body.Close()
	s.staleSessions(t)
	sw, _ := s.switches.Get(ctx, "SUSPEND_REDIS")
	resp := s.post(alice, "/switches/SUSPEND_REDIS", toggleForm("true", sw.Version, "crash loop", "SUSPEND_REDIS"), "Referer", s.ts.URL+"/switches")
	resp.Body.Close()
	reauth := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(reauth, "/reauth?draft=") {
		t.Fatalf("a stale session flipping a switch: %d to %q", resp.StatusCode, reauth)
	}
	if b := body(s.get(alice, reauth)); !strings.Contains(b, `data-testid="step-up-sso"`) {
		t.Fatal("the step-up page of an SSO session offers no sign-in at the provider")
	}
	draft, _ := url.ParseQuery(strings.TrimPrefix(reauth, "/reauth?"))
	resp = s.get(alice, "/reauth/sso?draft="+url.QueryEscape(draft.Get("draft")))
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("prompt") != "login" || loc.Query().Get("max_age") != "0" {
		t.Fatalf("step-up at the provider without prompt=login&max_age=0: %v", loc)
	}
	q, prompted, err := agent.SignIn(ctx, loc.String(), "u-alice")
	if err != nil || !prompted {
		t.Fatalf("the provider did not ask again (prompted %v, %v)", prompted, err)
	}
	resp = s.get(alice, "/login/sso/callback?"+q.Encode())
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, "/switches?resume=") {
		t.Fatalf("after the step-up: %d to %q", resp.StatusCode, back)
	}
	if b := body(s.get(alice, back)); !strings.Contains(b, `data-testid="kept-form"`) || !strings.Contains(b, "crash loop") {
		t.Fatal("the switch form is not offered again with its reason")
	}
	// The kept form goes through now.
	resp = s.post(alice, "/switches/SUSPEND_REDIS", toggleForm("true", sw.Version, "crash loop", "SUSPEND_REDIS"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/switches") {
		t.Fatalf("the kept form after the step-up: %d %s", resp.StatusCode, body(resp))
	}
	if on, _ := s.switches.Get(ctx, "SUSPEND_REDIS"); !on.Enabled {
		t.Fatal("the switch did not flip after the step-up")
	}
}

// staleSessions makes every session's last authentication an hour old.
func (h *harness) staleSessions(t *testing.T) {
	t.Helper()
	if _, err := h.pool.Exec(context.Background(), `UPDATE ops.sessions SET authenticated_at = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
}

// An identity provider that accepts connections and never answers
// degrades single sign-on only: the button answers 503 naming it within
// the page's budget, and password sign-in works meanwhile.
func TestSSOProviderHangingStaysWithinBudget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // accepted, never answered
		}
	}()
	late := &lateSSO{}
	h := newHarness(t, func(d *web.Deps) { d.Access.SSO, d.Access.SSOName = late, "Hung IdP" })
	late.c = sso.New(sso.Config{Issuer: "http://" + ln.Addr().String(), ClientID: "c", ClientSecret: "s",
		RedirectURL: h.ts.URL + "/login/sso/callback"}, h.pool)
	start := time.Now()
	resp := h.get(h.client(), "/login/sso")
	took := time.Since(start)
	if b := body(resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "identity provider") || took > 1500*time.Millisecond {
		t.Fatalf("SSO with a hung provider: %d after %s", resp.StatusCode, took)
	}
	if op := h.operator("op@atum.io", auth.Operator); h.get(op, "/").StatusCode != http.StatusOK {
		t.Fatal("password sign-in failed while the provider hangs")
	}
}

// Starting single sign-on writes a row, so one address may start only so
// many a minute.
func TestSSOStartsAreLimitedPerAddress(t *testing.T) {
	s := newSSOHarness(t)
	c := s.client()
	for i := range handlers.MaxSSOStartsPerMinute {
		if resp := s.get(c, "/login/sso"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("start %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := s.get(c, "/login/sso")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("start %d from one address: %d, want 429 with Retry-After", handlers.MaxSSOStartsPerMinute+1, resp.StatusCode)
	}
	if resp := s.get(s.clientFrom("127.0.0.7"), "/login/sso"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("another address is limited too: %d", resp.StatusCode)
	}
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM ops.oidc_logins`).Scan(&n); err != nil || n != handlers.MaxSSOStartsPerMinute+1 {
		t.Fatalf("%d flows stored (%v)", n, err)
	}
}
