package devidp_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/atum/ops-console/internal/devidp"
)

const redirectURL = "http://127.0.0.1:1/auth/callback"

var users = []devidp.User{
	{ID: "u-alice", Email: "alice@atum.io", EmailVerified: true, Groups: []string{"ops-admins", "staff"}, Name: "Alice"},
	{ID: "u-bob", Email: "bob@atum.io", EmailVerified: false, Name: "Bob"},
}

func start(t *testing.T, groupsClaim string) *devidp.Provider {
	t.Helper()
	p, err := devidp.Start(devidp.Options{
		Clients: []devidp.Client{
			{ID: "console", Secret: "console-secret", RedirectURIs: []string{redirectURL}},
			{ID: "other-app", Secret: "other-secret", RedirectURIs: []string{"http://127.0.0.1:2/cb"}},
		},
		Users:       users,
		GroupsClaim: groupsClaim,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// rp is a minimal relying party written with go-oidc, to check the
// provider from the outside.
type rp struct {
	t        *testing.T
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newRP(t *testing.T, p *devidp.Provider, secret string, style oauth2.AuthStyle) *rp {
	t.Helper()
	prov, err := oidc.NewProvider(context.Background(), p.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := prov.Endpoint()
	ep.AuthStyle = style
	return &rp{t: t,
		oauth: oauth2.Config{ClientID: "console", ClientSecret: secret, Endpoint: ep, RedirectURL: redirectURL,
			Scopes: []string{oidc.ScopeOpenID, "email", "profile"}},
		verifier: prov.Verifier(&oidc.Config{ClientID: "console"}),
	}
}

type claims struct {
	Email         string   `json:"email"`
	EmailVerified *bool    `json:"email_verified"`
	Name          string   `json:"name"`
	AuthTime      int64    `json:"auth_time"`
	Groups        []string `json:"groups"`
	Teams         []string `json:"teams"`
	Azp           string   `json:"azp"`
}

// flow runs one sign-in: it returns the verified claims, or the callback
// query when the provider answered with an error.
func (r *rp) flow(a *devidp.Agent, user string, extra ...oauth2.AuthCodeOption) (claims, *oidc.IDToken, bool) {
	r.t.Helper()
	verifier := oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce("n-123"), oauth2.S256ChallengeOption(verifier)}, extra...)
	q, prompted, err := a.SignIn(context.Background(), r.oauth.AuthCodeURL("st-1", opts...), user)
	if err != nil {
		r.t.Fatal(err)
	}
	if q.Get("state") != "st-1" || q.Get("code") == "" {
		r.t.Fatalf("callback query %v", q)
	}
	tok, err := r.oauth.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(context.Background(), raw)
	if err != nil {
		r.t.Fatalf("verify: %v", err)
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		r.t.Fatal(err)
	}
	return c, idt, prompted
}

func TestCodeFlowClaims(t *testing.T) {
	p := start(t, "")
	if !strings.HasPrefix(p.Issuer(), "http://127.0.0.1:") {
		t.Fatalf("issuer %q", p.Issuer())
	}
	r := newRP(t, p, "console-secret", oauth2.AuthStyleInHeader)
	before := time.Now().Add(-time.Second)
	c, idt, prompted := r.flow(devidp.NewAgent(redirectURL), "u-alice")
	if !prompted {
		t.Error("a new browser signed in without the login page")
	}
	if idt.Subject != "u-alice" || idt.Nonce != "n-123" || idt.Issuer != p.Issuer() {
		t.Errorf("sub %q nonce %q iss %q", idt.Subject, idt.Nonce, idt.Issuer)
	}
	if c.Email != "alice@atum.io" || c.EmailVerified == nil || !*c.EmailVerified || c.Name != "Alice" {
		t.Errorf("claims %+v", c)
	}
	if !slices.Equal(c.Groups, []string{"ops-admins", "staff"}) {
		t.Errorf("groups %v", c.Groups)
	}
	if at := time.Unix(c.AuthTime, 0); at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
		t.Errorf("auth_time %v, want about now", at)
	}
	// An unverified email has no email_verified claim at all (false is
	// omitted), which the console must read as unverified.
	c, _, _ = r.flow(devidp.NewAgent(redirectURL), "u-bob")
	if c.Email != "bob@atum.io" || (c.EmailVerified != nil && *c.EmailVerified) || c.Groups != nil {
		t.Errorf("bob's claims %+v", c)
	}
}

func TestGroupsClaimNameAndClientSecretPost(t *testing.T) {
	p := start(t, "teams")
	r := newRP(t, p, "console-secret", oauth2.AuthStyleInParams)
	c, _, _ := r.flow(devidp.NewAgent(redirectURL), "u-alice")
	if c.Groups != nil || !slices.Equal(c.Teams, []string{"ops-admins", "staff"}) {
		t.Errorf("groups %v teams %v, want the groups under \"teams\"", c.Groups, c.Teams)
	}
}

func TestSessionReuseAndFreshLogin(t *testing.T) {
	p := start(t, "")
	r := newRP(t, p, "console-secret", oauth2.AuthStyleInHeader)
	a := devidp.NewAgent(redirectURL)
	first, _, _ := r.flow(a, "u-alice")
	time.Sleep(1100 * time.Millisecond) // auth_time has a resolution of seconds
	again, _, prompted := r.flow(a, "")
	if prompted || again.AuthTime != first.AuthTime {
		t.Errorf("session reuse: prompted %v, auth_time %d then %d", prompted, first.AuthTime, again.AuthTime)
	}
	for _, opt := range []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("prompt", "login"),
		oauth2.SetAuthURLParam("max_age", "0"),
	} {
		fresh, _, prompted := r.flow(a, "u-alice", opt)
		if !prompted || fresh.AuthTime <= first.AuthTime {
			t.Errorf("fresh login: prompted %v, auth_time %d after %d", prompted, fresh.AuthTime, first.AuthTime)
		}
	}
	// A generous max_age keeps the session.
	if _, _, prompted := r.flow(a, "", oauth2.SetAuthURLParam("max_age", "3600")); prompted {
		t.Error("max_age=3600 asked for a login again")
	}
	// prompt=none without a session answers login_required.
	q, _, err := devidp.NewAgent(redirectURL).SignIn(context.Background(),
		r.oauth.AuthCodeURL("st-2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")), "")
	if err != nil || q.Get("error") != "login_required" || q.Get("state") != "st-2" {
		t.Errorf("prompt=none: %v, %v", q, err)
	}
	// A user removed ends their sessions.
	p.SetUsers(users[1:])
	if _, _, prompted := r.flow(a, "u-bob"); !prompted {
		t.Error("the session of a removed user was reused")
	}
}

func TestPKCEAndCodeChecks(t *testing.T) {
	p := start(t, "")
	r := newRP(t, p, "console-secret", oauth2.AuthStyleInHeader)
	ctx := context.Background()

	q, _, err := devidp.NewAgent(redirectURL).SignIn(ctx, r.oauth.AuthCodeURL("s"), "u-alice")
	if err != nil || q.Get("error") != "invalid_request" {
		t.Errorf("without PKCE: %v, %v; want error=invalid_request", q, err)
	}

	verifier := oauth2.GenerateVerifier()
	q, _, err = devidp.NewAgent(redirectURL).SignIn(ctx, r.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "u-alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isGrantError(err, "invalid_grant") {
		t.Errorf("wrong verifier: %v", err)
	}
	if _, err := r.oauth.Exchange(ctx, q.Get("code")); err == nil {
		t.Error("no verifier accepted")
	}
	wrong := r.oauth
	wrong.ClientSecret = "guess"
	if _, err := wrong.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err == nil {
		t.Error("wrong client secret accepted")
	}
	if _, err := r.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("right verifier: %v", err)
	}
	if _, err := r.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); !isGrantError(err, "invalid_grant") {
		t.Errorf("code used twice: %v", err)
	}
}

func isGrantError(err error, code string) bool {
	re, ok := err.(*oauth2.RetrieveError)
	return ok && re.ErrorCode == code
}

func TestAudienceOverride(t *testing.T) {
	p := start(t, "")
	r := newRP(t, p, "console-secret", oauth2.AuthStyleInHeader)
	p.SetAudienceOverride("other-app")
	verifier := oauth2.GenerateVerifier()
	ctx := context.Background()
	q, _, err := devidp.NewAgent(redirectURL).SignIn(ctx, r.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "u-alice")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := r.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if _, err := r.verifier.Verify(ctx, raw); err == nil || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("a token for another client passed the console's audience check: %v", err)
	}
	// It is still validly signed by the provider: only the audience is off.
	prov, _ := oidc.NewProvider(ctx, p.Issuer())
	idt, err := prov.Verifier(&oidc.Config{SkipClientIDCheck: true}).Verify(ctx, raw)
	if err != nil || !slices.Equal(idt.Audience, []string{"other-app"}) {
		t.Fatalf("overridden token: %v, %v", idt, err)
	}
	var c claims
	_ = idt.Claims(&c)
	if c.Azp != "other-app" || c.Email != "alice@atum.io" {
		t.Errorf("claims %+v", c)
	}
	p.SetAudienceOverride("")
	if c, _, _ := r.flow(devidp.NewAgent(redirectURL), "u-alice"); c.Azp != "console" {
		t.Errorf("after the override is cleared, azp %q", c.Azp)
	}
}

func TestCancelAndLoginPage(t *testing.T) {
	p := start(t, "")
	p.SetUsers([]devidp.User{{ID: `x"><script>`, Email: "<script>alert(1)</script>@evil.io", EmailVerified: true}})
	r := newRP(t, p, "console-secret", oauth2.AuthStyleInHeader)
	authURL := r.oauth.AuthCodeURL("st-9", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	resp, err := http.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "<script>") {
		t.Fatalf("login page (%s) shows unescaped markup:\n%s", resp.Status, page)
	}
	for _, want := range []string{`id="devidp-warning"`, `name="user" value="x&#34;&gt;&lt;script&gt;"`, "Sign in as &lt;script&gt;", `id="devidp-cancel"`, "no passwords"} {
		if !strings.Contains(page, want) {
			t.Errorf("login page lacks %q", want)
		}
	}

	q, err := devidp.NewAgent(redirectURL).Cancel(context.Background(), authURL)
	if err != nil || q.Get("error") != "access_denied" || q.Get("state") != "st-9" || q.Get("code") != "" {
		t.Errorf("cancel: %v, %v", q, err)
	}
}

func TestUnknownRedirectIsNotFollowed(t *testing.T) {
	p := start(t, "")
	u, _ := url.Parse(p.Issuer() + "/authorize")
	u.RawQuery = url.Values{"client_id": {"console"}, "redirect_uri": {"http://evil.example/cb"}, "response_type": {"code"},
		"scope": {"openid"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}.Encode()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "evil.example") || resp.StatusCode < 400 {
		t.Errorf("unregistered redirect URI: %s, Location %q", resp.Status, loc)
	}
}
