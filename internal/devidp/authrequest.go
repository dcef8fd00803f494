package devidp

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// authRequest is an authorization request in flight, implementing
// op.AuthRequest. The storage hands out copies, so that the op package
// never reads one while the login page changes it.
type authRequest struct {
	id      string
	created time.Time
	req     oidc.AuthRequest
	// Set once a user has signed in.
	userID   string
	authTime time.Time
	done     bool
}

// GetID implements op.AuthRequest.
func (a *authRequest) GetID() string { return a.id }

// GetACR implements op.AuthRequest.
func (a *authRequest) GetACR() string { return "" }

// GetAMR implements op.AuthRequest: the login page is no authentication
// method worth naming.
func (a *authRequest) GetAMR() []string { return nil }

// GetAudience implements op.AuthRequest.
func (a *authRequest) GetAudience() []string { return []string{a.req.ClientID} }

// GetAuthTime implements op.AuthRequest.
func (a *authRequest) GetAuthTime() time.Time { return a.authTime }

// GetClientID implements op.AuthRequest.
func (a *authRequest) GetClientID() string { return a.req.ClientID }

// GetCodeChallenge implements op.AuthRequest.
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}

// GetNonce implements op.AuthRequest.
func (a *authRequest) GetNonce() string { return a.req.Nonce }

// GetRedirectURI implements op.AuthRequest.
func (a *authRequest) GetRedirectURI() string { return a.req.RedirectURI }

// GetResponseType implements op.AuthRequest.
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }

// GetResponseMode implements op.AuthRequest.
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }

// GetScopes implements op.AuthRequest.
func (a *authRequest) GetScopes() []string { return a.req.Scopes }

// GetState implements op.AuthRequest.
func (a *authRequest) GetState() string { return a.req.State }

// GetSubject implements op.AuthRequest.
func (a *authRequest) GetSubject() string { return a.userID }

// Done implements op.AuthRequest.
func (a *authRequest) Done() bool { return a.done }

// mustLogIn reports whether the request demands a fresh login whatever
// session the browser has: prompt=login or select_account, or a max_age
// the session is older than (the op package turns prompt=login into
// max_age=0).
func (a *authRequest) mustLogIn(sessionAuthTime time.Time, now time.Time) bool {
	for _, p := range a.req.Prompt {
		if p == oidc.PromptLogin || p == oidc.PromptSelectAccount {
			return true
		}
	}
	if a.req.MaxAge != nil {
		return now.Sub(sessionAuthTime) >= time.Duration(*a.req.MaxAge)*time.Second
	}
	return false
}

// promptNone reports whether the request forbids any login page.
func (a *authRequest) promptNone() bool {
	for _, p := range a.req.Prompt {
		if p == oidc.PromptNone {
			return true
		}
	}
	return false
}
