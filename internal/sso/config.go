// Package sso signs operators in to the console with OpenID Connect
// (authorization code flow with PKCE). The provider is discovered lazily,
// so the console starts while the identity provider is down; every flow
// in flight is kept in ops.oidc_logins and used at most once.
package sso

import (
	"net/http"
	"time"
)

// Config says which identity provider to trust and how the console is
// registered there.
type Config struct {
	// Issuer is the provider's issuer URL, as its discovery document says.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is the console's callback, registered at the provider.
	RedirectURL string
	// AllowedDomains, when not empty, are the only email domains admitted
	// (exact, case-insensitive matches; subdomains are not included).
	AllowedDomains []string
	// RoleClaim names the ID token claim holding the person's groups; ""
	// when roles do not come from the provider.
	RoleClaim string
	// RoleMap maps groups in RoleClaim to roles.
	RoleMap RoleMap
	// HTTPClient talks to the provider; nil means a client with a
	// 10-second timeout.
	HTTPClient *http.Client
}

// Purposes of a flow.
const (
	PurposeLogin  = "login"
	PurposeStepUp = "step_up"
)

// Flow is what a sign-in in flight is for, kept server-side between Begin
// and Finish.
type Flow struct {
	// Purpose is PurposeLogin or PurposeStepUp.
	Purpose string
	// Next is the local path to go to afterwards.
	Next string
	// SessionHash names the session a step-up refreshes.
	SessionHash []byte
}

// Identity is the person the provider vouched for.
type Identity struct {
	Issuer  string
	Subject string
	// Email is verified by the provider and lower-cased.
	Email string
	// Groups are the values of Config.RoleClaim, if any.
	Groups []string
	// AuthTime is when the person last authenticated at the provider; zero
	// when the provider did not say.
	AuthTime time.Time
}

// flowTTL is how long a flow may take from Begin to Finish.
const flowTTL = 10 * time.Minute

// authTimeSkew is the clock skew allowed between the provider and the
// database when checking that a step-up authentication is fresh.
const authTimeSkew = 30 * time.Second
