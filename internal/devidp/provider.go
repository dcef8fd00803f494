// Package devidp is a local OpenID provider for tests and `make demo`,
// built on zitadel's certified op package. It signs in without passwords:
// its login page lists the users and anyone who reaches it may pick one,
// so it must never face a real network.
package devidp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// Client is a relying party registered at the provider (a confidential
// web client using the authorization code flow with PKCE, authenticating
// with client_secret_basic or client_secret_post).
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string
}

// User is a person who can sign in.
type User struct {
	// ID is the subject (sub) of the user's tokens.
	ID            string
	Email         string
	EmailVerified bool
	// Groups go into the ID token, in the claim Options.GroupsClaim.
	Groups []string
	Name   string
}

// Options configure Start.
type Options struct {
	// Addr to listen on; "" means 127.0.0.1 on a free port.
	Addr    string
	Clients []Client
	Users   []User
	// GroupsClaim names the ID token claim listing a user's groups;
	// "" means "groups".
	GroupsClaim string
}

// Provider is a running provider.
type Provider struct {
	issuer string
	server *http.Server
	op     *op.Provider
	store  *storage

	mu          sync.Mutex
	audOverride string
}

// Start starts a provider over plain HTTP and returns once it listens.
func Start(opts Options) (*Provider, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.GroupsClaim == "" {
		opts.GroupsClaim = "groups"
	}
	store, err := newStorage(opts.Clients, opts.Users, opts.GroupsClaim)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("devidp: listen: %w", err)
	}
	p := &Provider{issuer: "http://" + ln.Addr().String(), store: store}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		ln.Close()
		return nil, fmt.Errorf("devidp: random: %w", err)
	}
	p.op, err = op.NewProvider(&op.Config{
		CryptoKey:      key,
		CodeMethodS256: true,
		AuthMethodPost: true,
	}, store, op.StaticIssuer(p.issuer), op.WithAllowInsecure())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("devidp: provider: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+loginPath, p.loginPage)
	mux.HandleFunc("POST "+loginPath, p.loginSubmit)
	mux.Handle("/", p.rewriteAudience(p.op))
	p.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("devidp: serve", "err", err)
		}
	}()
	return p, nil
}

// Issuer returns the provider's issuer URL (http://host:port).
func (p *Provider) Issuer() string { return p.issuer }

// SetUsers replaces the users who can sign in. Sessions of users no longer
// listed end.
func (p *Provider) SetUsers(users []User) { p.store.setUsers(users) }

// SetAudienceOverride makes the provider misbehave: while aud is not "",
// every ID token from the token endpoint is issued to aud (aud and azp),
// validly signed, as if meant for another client. "" restores it.
func (p *Provider) SetAudienceOverride(aud string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.audOverride = aud
}

func (p *Provider) audienceOverride() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.audOverride
}

// Close stops the provider at once, dropping open connections.
func (p *Provider) Close() {
	_ = p.server.Close()
}

// Shutdown stops the provider gracefully, within ctx.
func (p *Provider) Shutdown(ctx context.Context) error {
	return p.server.Shutdown(ctx)
}
