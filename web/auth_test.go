package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/web"
)

var publicRoutes = map[string]bool{
	"GET /healthz": true, "GET /readyz": true, "GET /login": true, "POST /login": true, "GET /static/*": true,
	"GET /login/2fa": true, "POST /login/2fa": true, "GET /password": true, "POST /password": true,
	"GET /login/sso": true, "GET /login/sso/callback": true,
	"POST /login/2fa/passkey/begin": true, "POST /login/2fa/passkey/finish": true,
}

// concrete turns a route pattern into a path that matches it.
func concrete(path string) string {
	path = strings.ReplaceAll(path, ":id", "1")
	path = strings.ReplaceAll(path, ":name", "SUSPEND_REDIS")
	path = strings.ReplaceAll(path, ":session", "00")
	return strings.ReplaceAll(path, "*", "css/console.css")
}

// TestEveryRouteNeedsSession walks Echo's registered routes: all but the
// public ones refuse a request without a session.
func TestEveryRouteNeedsSession(t *testing.T) {
	h := newHarness(t)
	table := map[string]web.Route{}
	for _, r := range h.server.Routes {
		table[r.Method+" "+r.Path] = r
	}
	seen := 0
	for _, r := range h.server.Echo.Routes() {
		if strings.HasPrefix(r.Name, "github.com/labstack/echo") || r.Method == "echo_route_not_found" {
			continue // Echo's own not-found/method-not-allowed entries
		}
		key := r.Method + " " + r.Path
		if r.Method == http.MethodHead {
			// HEAD is registered beside every GET, with its middleware.
			if _, ok := table[http.MethodGet+" "+r.Path]; !ok {
				t.Errorf("%s is registered without a GET route", key)
			}
			continue
		}
		tr, ok := table[key]
		if !ok {
			t.Errorf("%s is registered but not in the route table", key)
			continue
		}
		if tr.Public != publicRoutes[key] {
			t.Errorf("%s: Public = %v, want %v", key, tr.Public, publicRoutes[key])
		}
		if publicRoutes[key] {
			continue
		}
		if !tr.Role.Valid() {
			t.Errorf("%s has no valid role", key)
		}
		seen++
		c := h.client()
		var resp *http.Response
		if r.Method == http.MethodGet {
			resp = h.get(c, concrete(r.Path))
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
				t.Errorf("GET %s without session: %d %s", r.Path, resp.StatusCode, resp.Header.Get("Location"))
			}
		} else {
			resp = h.post(c, concrete(r.Path), url.Values{"role": {"admin"}})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s without session: %d", r.Method, r.Path, resp.StatusCode)
			}
		}
		resp.Body.Close()
		// A forged or expired cookie is no better than none.
		c2 := h.client()
		u, _ := url.Parse(h.ts.URL)
		c2.Jar.SetCookies(u, []*http.Cookie{{Name: "atum_session", Value: "forged-token-value-forged-token-value-0000"}})
		if r.Method == http.MethodGet {
			resp = h.get(c2, concrete(r.Path))
			if resp.StatusCode != http.StatusSeeOther {
				t.Errorf("GET %s with a forged cookie: %d", r.Path, resp.StatusCode)
			}
			resp.Body.Close()
		}
	}
	if seen < 10 {
		t.Fatalf("only %d protected routes walked", seen)
	}
	for _, r := range h.server.Routes {
		if publicRoutes[r.Method+" "+r.Path] && !r.Public {
			t.Errorf("%s %s should be public", r.Method, r.Path)
		}
	}
}

// TestRolesAreCheckedOnTheServer requests every protected route as every
// role: below the route's role it is 403 and audited, at or above it is
// served.
func TestRolesAreCheckedOnTheServer(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, role := range auth.Roles {
		_, err := h.store.CreateOperator(ctx, string(role)+"@atum.io", role, password, false)
		if err != nil {
			t.Fatal(err)
		}
	}
	target, _ := h.store.CreateOperator(ctx, "target@atum.io", auth.Viewer, password, false)
	u, _ := url.Parse(h.ts.URL)
	for _, r := range h.server.Routes {
		if r.Public || r.Path == "/logout" {
			continue
		}
		for _, role := range auth.Roles {
			acct, _ := h.store.Authenticate(ctx, string(role)+"@atum.io", password, "127.0.0.1")
			token, err := h.store.CreateSession(ctx, acct.ID, "127.0.0.1", "test", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			c := h.client()
			c.Jar.SetCookies(u, []*http.Cookie{{Name: "atum_session", Value: token}})
			path := strings.ReplaceAll(strings.ReplaceAll(r.Path, ":id", itoa(target.ID)), ":name", "SUSPEND_REDIS")
			var resp *http.Response
			if r.Method == http.MethodGet {
				resp = h.get(c, path)
			} else {
				resp = h.post(c, path, url.Values{"role": {"viewer"}, "email": {"new-" + string(role) + "@atum.io"}, "password": {password}})
			}
			resp.Body.Close()
			allowed := role.AtLeast(r.Role)
			if allowed && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode >= 500) {
				t.Errorf("%s %s as %s: %d, want it served", r.Method, r.Path, role, resp.StatusCode)
			}
			if !allowed && resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", r.Method, r.Path, role, resp.StatusCode)
			}
		}
	}
	denied := h.events("authz.denied")
	if len(denied) == 0 || denied[0].Result != audit.Denied || denied[0].Operator == "" {
		t.Fatalf("denials not audited: %+v", denied)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
