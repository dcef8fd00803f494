package devidp

import (
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// opClient is a Client as the op package sees it.
type opClient struct{ c Client }

var _ op.Client = opClient{}

// GetID implements op.Client.
func (o opClient) GetID() string { return o.c.ID }

// RedirectURIs implements op.Client.
func (o opClient) RedirectURIs() []string { return o.c.RedirectURIs }

// PostLogoutRedirectURIs implements op.Client.
func (o opClient) PostLogoutRedirectURIs() []string { return nil }

// ApplicationType implements op.Client: a confidential web client.
func (o opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }

// AuthMethod implements op.Client. client_secret_post is accepted as well
// (op.Config.AuthMethodPost).
func (o opClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }

// ResponseTypes implements op.Client.
func (o opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

// GrantTypes implements op.Client.
func (o opClient) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }

// LoginURL implements op.Client: the provider's own login page.
func (o opClient) LoginURL(id string) string {
	return loginPath + "?authRequestID=" + url.QueryEscape(id)
}

// AccessTokenType implements op.Client.
func (o opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }

// IDTokenLifetime implements op.Client.
func (o opClient) IDTokenLifetime() time.Duration { return 5 * time.Minute }

// DevMode implements op.Client: it allows http redirect URIs.
func (o opClient) DevMode() bool { return true }

// RestrictAdditionalIdTokenScopes implements op.Client.
func (o opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// RestrictAdditionalAccessTokenScopes implements op.Client.
func (o opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed implements op.Client: no scopes beyond the standard ones.
func (o opClient) IsScopeAllowed(string) bool { return false }

// IDTokenUserinfoClaimsAssertion implements op.Client: the ID token
// carries the email and profile claims, as the console reads them there.
func (o opClient) IDTokenUserinfoClaimsAssertion() bool { return true }

// ClockSkew implements op.Client.
func (o opClient) ClockSkew() time.Duration { return 0 }
