package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/web"
)

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "atum_session") && c.Value != "" {
			return c
		}
	}
	return nil
}

func TestLoginSuccessAndFailureAreAudited(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.CreateOperator(context.Background(), "ops@atum.io", auth.Operator, password, false); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	if resp := h.get(c, "/login"); resp.StatusCode != 200 || !strings.Contains(body(resp), `name="password"`) {
		t.Fatal("login form missing")
	}
	resp := h.post(c, "/login", url.Values{"email": {"ops@atum.io"}, "password": {"wrong password"}})
	if b := body(resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(b, "Wrong email or password") {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if sessionCookie(resp) != nil {
		t.Fatal("a failed login set a session cookie")
	}
	resp = h.post(c, "/login", url.Values{"email": {"  OPS@atum.io"}, "password": {password}, "next": {"/audit?result=failure"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/audit?result=failure" {
		t.Fatalf("login: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	ck := sessionCookie(resp)
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure || ck.Domain != "" {
		t.Fatalf("session cookie = %+v", ck)
	}
	logins := h.events("login")
	if len(logins) != 2 || logins[0].Result != audit.Success || logins[1].Result != audit.Failure ||
		!strings.Contains(logins[1].DetailsJSON, "bad_credentials") || logins[0].Operator != "ops@atum.io" || logins[0].ClientIP != "127.0.0.1" {
		t.Fatalf("login events = %+v", logins)
	}
	if strings.Contains(logins[1].DetailsJSON, "wrong password") {
		t.Fatal("the attempted password reached the audit log")
	}
}

func TestLoginRotatesTheSessionID(t *testing.T) {
	h := newHarness(t)
	c := h.operator("rot@atum.io", auth.Viewer)
	u, _ := url.Parse(h.ts.URL)
	first := c.Jar.Cookies(u)[0].Value
	resp := h.post(c, "/login", url.Values{"email": {"rot@atum.io"}, "password": {password}})
	second := sessionCookie(resp)
	if second == nil || second.Value == first {
		t.Fatal("a new login kept the old session id")
	}
	if _, err := h.store.Session(context.Background(), first, 3600e9); err == nil {
		t.Fatal("the old session still works after a new login")
	}
}

func TestOpenRedirectIsRefused(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.CreateOperator(context.Background(), "r@atum.io", auth.Viewer, password, false); err != nil {
		t.Fatal(err)
	}
	for _, next := range []string{"//evil.example/x", "https://evil.example", `/\evil.example`, "javascript:alert(1)"} {
		resp := h.post(h.client(), "/login", url.Values{"email": {"r@atum.io"}, "password": {password}, "next": {next}})
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("next=%q redirected to %q", next, loc)
		}
	}
}

func TestLoginThrottleAnswers429(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.CreateOperator(context.Background(), "t@atum.io", auth.Admin, password, false); err != nil {
		t.Fatal(err)
	}
	for range auth.MaxAccountAddressFailures {
		h.post(h.client(), "/login", url.Values{"email": {"t@atum.io"}, "password": {"guess"}}).Body.Close()
	}
	resp := h.post(h.client(), "/login", url.Values{"email": {"t@atum.io"}, "password": {password}})
	if b := body(resp); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(b, "try again in 15 minutes") {
		t.Fatalf("after %d failures: %d", auth.MaxAccountAddressFailures, resp.StatusCode)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("a throttled sign-in says no Retry-After (%q)", ra)
	}
	if ev := h.events("login"); !strings.Contains(ev[0].DetailsJSON, "throttled_by_account_address") {
		t.Fatalf("throttled login not audited as such: %s", ev[0].DetailsJSON)
	}
}

func TestLogoutIsAPostThatEndsTheSession(t *testing.T) {
	h := newHarness(t)
	c := h.operator("out@atum.io", auth.Viewer)
	if resp := h.get(c, "/logout"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /logout: %d, want 405", resp.StatusCode)
	}
	resp := h.post(c, "/logout", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp := h.get(c, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout /: %d, want a redirect to login", resp.StatusCode)
	}
	if len(h.events("logout")) != 1 {
		t.Fatal("logout not audited")
	}
}

func TestCookieIsSecureOverHTTPS(t *testing.T) {
	h := newHarness(t, func(d *web.Deps) { d.AlwaysSecure = true })
	if _, err := h.store.CreateOperator(context.Background(), "s@atum.io", auth.Viewer, password, false); err != nil {
		t.Fatal(err)
	}
	resp := h.post(h.client(), "/login", url.Values{"email": {"s@atum.io"}, "password": {password}})
	ck := sessionCookie(resp)
	if ck == nil || !ck.Secure || ck.Name != "__Host-atum_session" {
		t.Fatalf("cookie = %+v", ck)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over HTTPS")
	}

	// Behind Fly's proxy: X-Forwarded-Proto is trusted only with TRUST_FLY_CLIENT_IP.
	h2 := newHarness(t, behindFly)
	if _, err := h2.store.CreateOperator(context.Background(), "s@atum.io", auth.Viewer, password, false); err != nil {
		t.Fatal(err)
	}
	resp = h2.post(h2.clientFrom(proxyAddr), "/login", url.Values{"email": {"s@atum.io"}, "password": {password}}, "X-Forwarded-Proto", "https")
	if ck := sessionCookie(resp); ck == nil || !ck.Secure {
		t.Fatalf("cookie behind a TLS proxy = %+v", ck)
	}
}

func TestCrossOriginWritesAreRefused(t *testing.T) {
	h := newHarness(t)
	admin := h.operator("admin@atum.io", auth.Admin)
	form := url.Values{"email": {"evil@atum.io"}, "role": {"admin"}, "password": {password}}
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "https://evil.example"},
	} {
		resp := h.post(admin, "/operators", form, hdr...)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST /operators with %v: %d, want 403", hdr, resp.StatusCode)
		}
		resp.Body.Close()
	}
	resp := h.post(h.client(), "/login", url.Values{"email": {"admin@atum.io"}, "password": {password}}, "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login: %d, want 403", resp.StatusCode)
	}
	if _, err := h.store.Authenticate(context.Background(), "evil@atum.io", password, "127.0.0.1"); err == nil {
		t.Fatal("a cross-origin POST created an operator")
	}
	// The same form from the console's own pages works.
	resp = h.post(admin, "/operators", form, "Sec-Fetch-Site", "same-origin", "Origin", h.ts.URL)
	if b := body(resp); resp.StatusCode != http.StatusOK || !strings.Contains(b, `data-testid="operator-created"`) {
		t.Fatalf("same-origin POST /operators: %d %s", resp.StatusCode, b)
	}
}

func TestClientIPIgnoresXForwardedFor(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.CreateOperator(context.Background(), "ip@atum.io", auth.Viewer, password, false); err != nil {
		t.Fatal(err)
	}
	h.post(h.client(), "/login", url.Values{"email": {"ip@atum.io"}, "password": {"x"}},
		"X-Forwarded-For", "203.0.113.9", "Fly-Client-IP", "203.0.113.10").Body.Close()
	if ev := h.events("login"); ev[0].ClientIP != "127.0.0.1" {
		t.Fatalf("client IP = %q, want the TCP peer", ev[0].ClientIP)
	}
	h2 := newHarness(t, behindFly)
	h2.post(h2.clientFrom(proxyAddr), "/login", url.Values{"email": {"ip@atum.io"}, "password": {"x"}},
		"X-Forwarded-For", "203.0.113.9", "Fly-Client-IP", "203.0.113.10").Body.Close()
	if ev := h2.events("login"); ev[0].ClientIP != "203.0.113.10" {
		t.Fatalf("client IP = %q, want Fly-Client-IP from Fly's proxy", ev[0].ClientIP)
	}
}

// Fly-Client-IP is believed from Fly's proxy only: a peer on the private
// network (or through `fly proxy`) that sets it is recorded and
// throttled under its own address.
func TestFlyClientIPFromOtherPeersIsIgnored(t *testing.T) {
	h := newHarness(t, behindFly)
	for _, from := range []string{"127.0.0.3", "127.0.0.1"} {
		h.post(h.clientFrom(from), "/login", url.Values{"email": {"ip@atum.io"}, "password": {"x"}},
			"Fly-Client-IP", "203.0.113.10", "X-Forwarded-Proto", "https").Body.Close()
	}
	ev := h.events("login")
	if len(ev) != 2 {
		t.Fatalf("%d sign-in events, want 2", len(ev))
	}
	for _, e := range ev {
		if e.ClientIP != "127.0.0.3" && e.ClientIP != "127.0.0.1" {
			t.Errorf("client IP = %q: a peer other than the proxy set it", e.ClientIP)
		}
	}
	// Nor is its X-Forwarded-Proto: the cookie a forged https would get
	// (__Host-, Secure) is not set for a plain-http peer.
	c := h.clientFrom("127.0.0.3")
	if _, err := h.store.CreateOperator(context.Background(), "peer@atum.io", auth.Viewer, password, false); err != nil {
		t.Fatal(err)
	}
	resp := h.post(c, "/login", url.Values{"email": {"peer@atum.io"}, "password": {password}}, "X-Forwarded-Proto", "https")
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Secure || strings.HasPrefix(ck.Name, "__Host-") {
			t.Errorf("cookie %s is Secure for a forged X-Forwarded-Proto", ck.Name)
		}
	}
	resp = h.post(h.clientFrom(proxyAddr), "/login", url.Values{"email": {"peer@atum.io"}, "password": {password}}, "X-Forwarded-Proto", "https")
	resp.Body.Close()
	if len(resp.Cookies()) == 0 || !resp.Cookies()[0].Secure {
		t.Errorf("through Fly's proxy with https the session cookie is not Secure: %v", resp.Cookies())
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/login", "/healthz", "/nope"} {
		resp := h.get(h.client(), path)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP = %q", path, csp)
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
	}
	resp := h.get(h.client(), "/static/css/console.css")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp.Body.Close()
	if resp := h.get(h.client(), "/static/css/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("directory listing: %d", resp.StatusCode)
	}
}
