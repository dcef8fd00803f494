package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/atum/ops-console/internal/sso"
)

// Access is how operators prove who they are.
type Access struct {
	// OIDC is single sign-on; its Issuer is empty when it is off.
	OIDC OIDC
	// PasswordLogin keeps sign-in by email and password (PASSWORD_LOGIN,
	// default true). Turning it off needs OIDC.
	PasswordLogin bool
	// SecondFactorRoles are the roles that must use a second factor to
	// sign in with a password (MFA_REQUIRED_ROLES; default operator and
	// admin in production, none elsewhere).
	SecondFactorRoles []string
	// StepUpWindow is how recent a sign-in must be for a destructive
	// action (STEP_UP_WINDOW, default 10 min).
	StepUpWindow time.Duration
	// ProxyCIDRs are the peers whose Fly-Client-IP and X-Forwarded-Proto
	// are believed when TrustFlyClientIP is on (FLY_PROXY_CIDRS, default
	// 172.16.0.0/12: Fly's proxy reaches a machine over its private IPv4
	// interface, while the private network and `fly proxy` arrive over
	// 6PN IPv6, fdaa::/16, and are never believed).
	ProxyCIDRs []netip.Prefix
}

// OIDC is the OpenID Connect provider the console signs people in with.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is where the provider returns (OIDC_REDIRECT_URL,
	// default CONSOLE_URL + /login/sso/callback).
	RedirectURL string
	// AllowedDomains, when set, are the only email domains admitted.
	AllowedDomains []string
	// RoleClaim names the claim holding groups (e.g. "groups"); RoleMap
	// maps groups to roles ("ops-admins=admin,oncall=operator").
	RoleClaim string
	RoleMap   sso.RoleMap
	// Name is the provider's name on the sign-in button.
	Name string
}

// Enabled reports whether single sign-on is configured.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// defaultProxyCIDRs is where Fly's proxy connects from.
const defaultProxyCIDRs = "172.16.0.0/12"

// loadAccess reads the sign-in settings.
func (c *Config) loadAccess(getenv func(string) string) []error {
	var errs []error
	add := func(v, format string, a ...any) { errs = append(errs, &Error{Var: v, Msg: fmt.Sprintf(format, a...)}) }
	strict := c.Environment == Production || c.Environment == Staging
	o := OIDC{
		Issuer:       strings.TrimSuffix(strings.TrimSpace(getenv("OIDC_ISSUER")), "/"),
		ClientID:     strings.TrimSpace(getenv("OIDC_CLIENT_ID")),
		ClientSecret: strings.TrimSpace(getenv("OIDC_CLIENT_SECRET")),
		RedirectURL:  strings.TrimSpace(getenv("OIDC_REDIRECT_URL")),
		RoleClaim:    strings.TrimSpace(getenv("OIDC_ROLE_CLAIM")),
		Name:         strings.TrimSpace(getenv("OIDC_PROVIDER_NAME")),
	}
	for _, d := range strings.Split(getenv("OIDC_ALLOWED_DOMAINS"), ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if strings.ContainsAny(d, "@/ ") || !strings.Contains(d, ".") {
			add("OIDC_ALLOWED_DOMAINS", "%q is not a domain (write e.g. atum.io)", d)
			continue
		}
		o.AllowedDomains = append(o.AllowedDomains, d)
	}
	if o.Issuer != "" {
		if err := checkURL(o.Issuer, "https", "http"); err != nil {
			add("OIDC_ISSUER", "%v", err)
		} else if strict && strings.HasPrefix(o.Issuer, "http:") {
			add("OIDC_ISSUER", "must use https in %s", c.Environment)
		}
		if o.ClientID == "" {
			add("OIDC_CLIENT_ID", "is required when OIDC_ISSUER is set")
		}
		if o.ClientSecret == "" {
			add("OIDC_CLIENT_SECRET", "is required when OIDC_ISSUER is set")
		}
		if o.RedirectURL == "" && c.Notify.ConsoleURL != "" {
			o.RedirectURL = c.Notify.ConsoleURL + "/login/sso/callback"
		}
		switch u, err := url.Parse(o.RedirectURL); {
		case o.RedirectURL == "":
			add("OIDC_REDIRECT_URL", "is required when OIDC_ISSUER is set (or set CONSOLE_URL)")
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			add("OIDC_REDIRECT_URL", "is not an http(s) URL")
		case strict && u.Scheme != "https":
			add("OIDC_REDIRECT_URL", "must use https in %s", c.Environment)
		}
		rm := strings.TrimSpace(getenv("OIDC_ROLE_MAP"))
		if (o.RoleClaim == "") != (rm == "") {
			add("OIDC_ROLE_MAP", "and OIDC_ROLE_CLAIM go together: set both or neither")
		}
		var err error
		if o.RoleMap, err = sso.ParseRoleMap(rm); err != nil {
			add("OIDC_ROLE_MAP", "%v", strings.TrimPrefix(err.Error(), "sso: role map: "))
		}
		if o.Name == "" {
			o.Name = "single sign-on"
		}
	} else {
		for _, v := range []string{"OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_ALLOWED_DOMAINS", "OIDC_ROLE_CLAIM", "OIDC_ROLE_MAP"} {
			if strings.TrimSpace(getenv(v)) != "" {
				add(v, "is set but OIDC_ISSUER is not")
			}
		}
	}
	c.Access.OIDC = o

	var err error
	if c.Access.PasswordLogin, err = boolVar(getenv, "PASSWORD_LOGIN", true); err != nil {
		errs = append(errs, err)
	} else if !c.Access.PasswordLogin && !o.Enabled() {
		add("PASSWORD_LOGIN", "is false but single sign-on is not configured (OIDC_ISSUER): nobody could sign in")
	}
	roles := getenv("MFA_REQUIRED_ROLES")
	if strings.TrimSpace(roles) == "" && c.Environment == Production {
		roles = "operator,admin"
	}
	for _, r := range strings.Split(roles, ",") {
		switch r = strings.ToLower(strings.TrimSpace(r)); r {
		case "":
		case "none":
			c.Access.SecondFactorRoles = nil
		case "viewer", "support", "operator", "admin":
			c.Access.SecondFactorRoles = append(c.Access.SecondFactorRoles, r)
		default:
			add("MFA_REQUIRED_ROLES", "names %q; want a comma-separated list of viewer, support, operator, admin (or none)", r)
		}
	}
	if c.Access.StepUpWindow, err = durationVar(getenv, "STEP_UP_WINDOW", 10*time.Minute, time.Minute, 12*time.Hour); err != nil {
		errs = append(errs, err)
	}
	cidrs := strings.TrimSpace(getenv("FLY_PROXY_CIDRS"))
	if cidrs == "" {
		cidrs = defaultProxyCIDRs
	}
	for _, s := range strings.Split(cidrs, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			add("FLY_PROXY_CIDRS", "has %q; want CIDR prefixes such as 172.16.0.0/12", strings.TrimSpace(s))
			continue
		}
		c.Access.ProxyCIDRs = append(c.Access.ProxyCIDRs, p.Masked())
	}
	return errs
}

// RequiresSecondFactor reports whether role must use a second factor to
// sign in with a password.
func (a Access) RequiresSecondFactor(role string) bool {
	for _, r := range a.SecondFactorRoles {
		if r == role {
			return true
		}
	}
	return false
}

// Secrets lists the access settings that are secrets, for redaction.
func (a Access) Secrets() []string { return []string{a.OIDC.ClientSecret} }
