package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Begin starts a sign-in for flow. It returns the provider's authorization
// URL to send the browser to, and the state, which the caller keeps in a
// short-lived cookie so that Finish only completes the flow in the browser
// that began it. Only the state's SHA-256 is stored, with the nonce and
// PKCE verifier, for 10 minutes. fresh asks the provider to authenticate
// the person again whatever session it has (prompt=login, max_age=0), as
// a step-up needs.
//
// flow.Next must be a local path ("/..."); "" means "/". A step-up must
// name its session.
func (c *Client) Begin(ctx context.Context, flow Flow, fresh bool) (authURL, state string, err error) {
	if err := checkFlow(&flow); err != nil {
		return "", "", err
	}
	d, err := c.provider(ctx)
	if err != nil {
		return "", "", err
	}
	state, err = randomToken()
	if err != nil {
		return "", "", err
	}
	nonce, err := randomToken()
	if err != nil {
		return "", "", err
	}
	verifier := oauth2.GenerateVerifier()
	var session []byte
	if len(flow.SessionHash) > 0 {
		session = flow.SessionHash
	}
	_, err = c.pool.Exec(ctx, `
		INSERT INTO ops.oidc_logins (state_hash, nonce, verifier, purpose, next, session_hash, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval)`,
		hashState(state), nonce, verifier, flow.Purpose, flow.Next, session, flowTTL.String())
	if err != nil {
		return "", "", fmt.Errorf("sso: store flow: %w", err)
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if fresh {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	return d.oauth.AuthCodeURL(state, opts...), state, nil
}

// checkFlow validates flow and fills in its default next.
func checkFlow(flow *Flow) error {
	switch flow.Purpose {
	case PurposeLogin:
	case PurposeStepUp:
		if len(flow.SessionHash) == 0 {
			return errors.New("sso: a step-up must name its session")
		}
	default:
		return fmt.Errorf("sso: unknown flow purpose %q", flow.Purpose)
	}
	if flow.Next == "" {
		flow.Next = "/"
	}
	if !localPath(flow.Next) {
		return errors.New("sso: next must be a local path")
	}
	return nil
}

// localPath reports whether p is a path on this site: it starts with one
// slash, and has no backslash or control character (browsers read \ as /
// and drop tabs and newlines, which could make it another site's URL).
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
		return false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// randomToken returns 256 random bits, base64url-encoded.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("sso: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashState(state string) []byte {
	sum := sha256.Sum256([]byte(state))
	return sum[:]
}
