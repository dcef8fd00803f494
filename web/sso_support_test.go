package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/atum/ops-console/internal/devidp"
	"github.com/atum/ops-console/internal/sso"
	"github.com/atum/ops-console/web"
)

// lateSSO is the console's OpenID client, made once the test server's
// address (its redirect URL) is known.
type lateSSO struct{ c *sso.Client }

func (l *lateSSO) Begin(ctx context.Context, flow sso.Flow, fresh bool) (string, string, error) {
	return l.c.Begin(ctx, flow, fresh)
}

func (l *lateSSO) Finish(ctx context.Context, q url.Values, state string) (sso.Identity, sso.Flow, error) {
	return l.c.Finish(ctx, q, state)
}

// ssoUsers are the provider's people: invited or not, verified or not,
// in the allowed domain or not, in a mapped group or not.
var ssoUsers = []devidp.User{
	{ID: "u-alice", Email: "alice@atum.io", EmailVerified: true, Name: "Alice"},
	{ID: "u-oncall", Email: "oncall@atum.io", EmailVerified: true, Groups: []string{"oncall"}, Name: "On call"},
	{ID: "u-stranger", Email: "stranger@atum.io", EmailVerified: true, Name: "Stranger"},
	{ID: "u-unverified", Email: "unverified@atum.io", Name: "Unverified"},
	{ID: "u-outsider", Email: "alice@evil.example", EmailVerified: true, Groups: []string{"oncall"}, Name: "Outsider"},
}

// ssoHarness is a harness whose console signs people in through a real
// local OpenID provider (zitadel's op package), allowing atum.io only and
// mapping the group oncall to operator.
type ssoHarness struct {
	*harness
	idp      *devidp.Provider
	callback string
}

func newSSOHarness(t *testing.T, opts ...option) *ssoHarness {
	t.Helper()
	late := &lateSSO{}
	rm, err := sso.ParseRoleMap("oncall=operator")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, append([]option{func(d *web.Deps) {
		d.Access.SSO, d.Access.SSOName, d.Access.RoleClaim, d.Access.RoleMap = late, "Test IdP", "groups", rm
	}}, opts...)...)
	s := &ssoHarness{harness: h, callback: h.ts.URL + "/login/sso/callback"}
	s.idp, err = devidp.Start(devidp.Options{Users: ssoUsers,
		Clients: []devidp.Client{{ID: "console", Secret: "console-secret", RedirectURIs: []string{s.callback}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.idp.Close)
	late.c = sso.New(sso.Config{Issuer: s.idp.Issuer(), ClientID: "console", ClientSecret: "console-secret", RedirectURL: s.callback,
		AllowedDomains: []string{"atum.io"}, RoleClaim: "groups", RoleMap: rm}, h.pool)
	return s
}

// signInSSO runs the whole code flow for user with the console client c
// and a scripted browser at the provider; it returns the console's answer
// to the callback.
func (s *ssoHarness) signInSSO(c *http.Client, agent *devidp.Agent, user string) *http.Response {
	s.t.Helper()
	q := s.startSSO(c, agent, "/login/sso?next=%2Fqueues", user)
	return s.get(c, "/login/sso/callback?"+q.Encode())
}

// startSSO opens path on the console (which redirects to the provider)
// and signs user in there; it returns the query the provider sent back.
func (s *ssoHarness) startSSO(c *http.Client, agent *devidp.Agent, path, user string) url.Values {
	s.t.Helper()
	resp := s.get(c, path)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("%s: %d, want a redirect to the provider", path, resp.StatusCode)
	}
	q, _, err := agent.SignIn(context.Background(), resp.Header.Get("Location"), user)
	if err != nil {
		s.t.Fatalf("sign in at the provider as %s: %v", user, err)
	}
	return q
}
