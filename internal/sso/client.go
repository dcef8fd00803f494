package sso

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"
)

// Client signs operators in with one OpenID provider.
type Client struct {
	cfg  Config
	pool *pgxpool.Pool
	http *http.Client
	// sem guards found (a channel, so that waiting for it respects the
	// caller's context).
	sem   chan struct{}
	found *discovered
}

// discovered is what discovery gave: endpoints and an ID token verifier.
type discovered struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// New returns a Client for cfg over the console's database. It makes no
// network call: the provider is discovered on first use.
func New(cfg Config, pool *pgxpool.Pool) *Client {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{cfg: cfg, pool: pool, http: hc, sem: make(chan struct{}, 1)}
}

// withHTTP gives ctx the client's HTTP client, for go-oidc and oauth2.
func (c *Client) withHTTP(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, c.http)
}

// provider returns the discovered provider, discovering it under ctx when
// no discovery has succeeded yet. A failure is not kept: the next call
// tries again.
func (c *Client) provider(ctx context.Context) (*discovered, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("sso: discovery: %w", ctx.Err())
	}
	defer func() { <-c.sem }()
	if c.found != nil {
		return c.found, nil
	}
	d, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	c.found = d
	return d, nil
}

// discover fetches the provider's discovery document and builds the
// endpoints and the verifier from it.
func (c *Client) discover(ctx context.Context) (*discovered, error) {
	if c.cfg.Issuer == "" || c.cfg.ClientID == "" || c.cfg.RedirectURL == "" {
		return nil, errors.New("sso: not configured: issuer, client id and redirect URL are required")
	}
	p, err := oidc.NewProvider(c.withHTTP(ctx), c.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("sso: discovery at %s: %w", c.cfg.Issuer, err)
	}
	var meta struct {
		JWKSURL string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("sso: discovery at %s: %w", c.cfg.Issuer, err)
	}
	if meta.JWKSURL == "" {
		return nil, fmt.Errorf("sso: discovery at %s: no jwks_uri", c.cfg.Issuer)
	}
	keys := &probingKeySet{inner: oidc.NewRemoteKeySet(c.withHTTP(context.Background()), meta.JWKSURL)}
	return &discovered{
		oauth: oauth2.Config{
			ClientID:     c.cfg.ClientID,
			ClientSecret: c.cfg.ClientSecret,
			Endpoint:     p.Endpoint(),
			RedirectURL:  c.cfg.RedirectURL,
			Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
		},
		verifier: oidc.NewVerifier(c.cfg.Issuer, keys, &oidc.Config{
			// The audience is checked in Finish, to tell it apart.
			SkipClientIDCheck:    true,
			SupportedSigningAlgs: asymmetric(meta.Algs),
		}),
	}, nil
}

// asymmetric keeps the public-key signature algorithms among algs (an ID
// token signed with the client secret is not accepted). Empty means
// go-oidc's default, RS256.
func asymmetric(algs []string) []string {
	var out []string
	for _, a := range algs {
		switch a {
		case oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
			oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA:
			out = append(out, a)
		}
	}
	return out
}

// Ready checks that the provider can be discovered now. It fetches the
// discovery document afresh every time (and keeps it when none was kept).
func (c *Client) Ready(ctx context.Context) error {
	d, err := c.discover(ctx)
	if err != nil {
		return err
	}
	select {
	case c.sem <- struct{}{}:
		if c.found == nil {
			c.found = d
		}
		<-c.sem
	default:
	}
	return nil
}

// emailDomainAllowed reports whether email's domain is one of the allowed
// domains, or any domain when none is configured.
func (c *Client) emailDomainAllowed(email string) bool {
	if len(c.cfg.AllowedDomains) == 0 {
		return true
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := email[at+1:]
	for _, d := range c.cfg.AllowedDomains {
		if strings.EqualFold(strings.TrimSpace(d), domain) {
			return true
		}
	}
	return false
}
