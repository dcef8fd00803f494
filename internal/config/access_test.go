package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/auth"
)

func TestAccessConfig(t *testing.T) {
	base := map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := load(base)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Access
	if a.OIDC.Enabled() || !a.PasswordLogin || a.StepUpWindow != 10*time.Minute || !a.RequiresSecondFactor("admin") ||
		!a.RequiresSecondFactor("operator") || a.RequiresSecondFactor("support") ||
		len(a.ProxyCIDRs) != 1 || a.ProxyCIDRs[0] != netip.MustParsePrefix("172.16.0.0/12") {
		t.Fatalf("production defaults: %+v", a)
	}
	if c, _ := load(map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": "postgres://localhost/atum"}); c.Access.RequiresSecondFactor("admin") {
		t.Fatal("development requires a second factor by default")
	}
	secret := "oidc-client-secret-value"
	c, err = load(with("OIDC_ISSUER", "https://accounts.google.com/", "OIDC_CLIENT_ID", "console", "OIDC_CLIENT_SECRET", secret,
		"CONSOLE_URL", "https://ops.example.com", "OIDC_ALLOWED_DOMAINS", "ATUM.io, atum.dev", "OIDC_ROLE_CLAIM", "groups",
		"OIDC_ROLE_MAP", "ops-admins=admin,oncall=operator", "PASSWORD_LOGIN", "false", "MFA_REQUIRED_ROLES", "support,admin",
		"STEP_UP_WINDOW", "5m", "FLY_PROXY_CIDRS", "172.19.0.0/16, fdaa::/16"))
	if err != nil {
		t.Fatal(err)
	}
	a = c.Access
	if a.OIDC.Issuer != "https://accounts.google.com" || a.OIDC.RedirectURL != "https://ops.example.com/login/sso/callback" ||
		strings.Join(a.OIDC.AllowedDomains, ",") != "atum.io,atum.dev" || a.OIDC.RoleMap.RoleFor([]string{"oncall"}) != auth.Operator ||
		a.PasswordLogin || !a.RequiresSecondFactor("support") || a.RequiresSecondFactor("operator") || a.StepUpWindow != 5*time.Minute ||
		len(a.ProxyCIDRs) != 2 || a.OIDC.Name != "single sign-on" {
		t.Fatalf("configured: %+v", a)
	}
	if s := a.Secrets(); len(s) != 1 || s[0] != secret {
		t.Fatalf("secrets: %v", s)
	}
	for _, tc := range []struct {
		vars    map[string]string
		wantVar string
	}{
		{with("PASSWORD_LOGIN", "false"), "PASSWORD_LOGIN"},
		{with("OIDC_ISSUER", "http://idp.example.com", "OIDC_CLIENT_ID", "c", "OIDC_CLIENT_SECRET", "s", "CONSOLE_URL", "https://ops.example.com"), "OIDC_ISSUER"},
		{with("OIDC_ISSUER", "https://idp.example.com", "OIDC_CLIENT_SECRET", "s", "CONSOLE_URL", "https://ops.example.com"), "OIDC_CLIENT_ID"},
		{with("OIDC_ISSUER", "https://idp.example.com", "OIDC_CLIENT_ID", "c", "CONSOLE_URL", "https://ops.example.com"), "OIDC_CLIENT_SECRET"},
		{with("OIDC_ISSUER", "https://idp.example.com", "OIDC_CLIENT_ID", "c", "OIDC_CLIENT_SECRET", "s"), "OIDC_REDIRECT_URL"},
		{with("OIDC_ISSUER", "https://idp.example.com", "OIDC_CLIENT_ID", "c", "OIDC_CLIENT_SECRET", "s",
			"OIDC_REDIRECT_URL", "http://ops.example.com/cb"), "OIDC_REDIRECT_URL"},
		{with("OIDC_ISSUER", "https://idp.example.com", "OIDC_CLIENT_ID", "c", "OIDC_CLIENT_SECRET", "s", "CONSOLE_URL", "https://ops.example.com",
			"OIDC_ROLE_CLAIM", "groups", "OIDC_ROLE_MAP", "ops=root"), "OIDC_ROLE_MAP"},
		{with("OIDC_ISSUER", "https://idp.example.com", "OIDC_CLIENT_ID", "c", "OIDC_CLIENT_SECRET", "s", "CONSOLE_URL", "https://ops.example.com",
			"OIDC_ROLE_MAP", "ops=admin"), "OIDC_ROLE_MAP"},
		{with("OIDC_CLIENT_ID", "c"), "OIDC_CLIENT_ID"},
		{with("OIDC_ISSUER", "https://idp.example.com", "OIDC_CLIENT_ID", "c", "OIDC_CLIENT_SECRET", "s", "CONSOLE_URL", "https://ops.example.com",
			"OIDC_ALLOWED_DOMAINS", "@atum.io"), "OIDC_ALLOWED_DOMAINS"},
		{with("MFA_REQUIRED_ROLES", "operator,root"), "MFA_REQUIRED_ROLES"},
		{with("STEP_UP_WINDOW", "10s"), "STEP_UP_WINDOW"},
		{with("FLY_PROXY_CIDRS", "172.16.0.0"), "FLY_PROXY_CIDRS"},
	} {
		_, err := load(tc.vars)
		if err == nil || !strings.Contains(err.Error(), tc.wantVar) {
			t.Errorf("%v: error %v, want one naming %s", tc.vars, err, tc.wantVar)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("an error shows the client secret: %v", err)
		}
	}
}
