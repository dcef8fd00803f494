package cli

import (
	"github.com/atum/ops-console/internal/devidp"
)

// The demo console's registration at the demo OpenID provider.
const (
	demoOIDCClient = "atum-console-demo"
	demoOIDCSecret = "demo-oidc-secret"
)

// demoIdPExtras are demo SSO users beyond the demo operators, each
// showing one rule of single sign-on.
var demoIdPExtras = []struct {
	user devidp.User
	note string
}{
	{devidp.User{ID: "u-oncall", Email: "oncall@demo.local", EmailVerified: true, Groups: []string{"demo-oncall"}, Name: "On-call engineer"},
		"not invited, group demo-oncall: admitted as operator from the groups claim"},
	{devidp.User{ID: "u-newhire", Email: "new.hire@demo.local", EmailVerified: true, Name: "New hire"},
		"not invited, no mapped group: refused (invite them on /operators)"},
	{devidp.User{ID: "u-unverified", Email: "unverified@demo.local", Name: "Unverified"},
		"email not verified at the provider: refused"},
	{devidp.User{ID: "u-outsider", Email: "someone@other.example", EmailVerified: true, Groups: []string{"demo-oncall"}, Name: "Outsider"},
		"domain not allowed: refused"},
}

// startDemoIdP starts the demo's local OpenID provider with the demo
// operators and demoIdPExtras as users, for the console on port.
func startDemoIdP(port string) (*devidp.Provider, error) {
	users := make([]devidp.User, 0, len(demoOperators)+len(demoIdPExtras))
	for _, o := range demoOperators {
		users = append(users, devidp.User{ID: "u-" + string(o.role), Email: o.email, EmailVerified: true, Name: "Demo " + string(o.role)})
	}
	for _, x := range demoIdPExtras {
		users = append(users, x.user)
	}
	return devidp.Start(devidp.Options{Users: users, Clients: []devidp.Client{{ID: demoOIDCClient, Secret: demoOIDCSecret,
		RedirectURIs: []string{"http://localhost:" + port + "/login/sso/callback"}}}})
}
