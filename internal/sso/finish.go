package sso

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
)

// flowRecord is a flow as stored by Begin.
type flowRecord struct {
	Flow
	nonce     string
	verifier  string
	createdAt time.Time
}

// Finish completes a sign-in from the provider's callback query q and the
// state the browser kept in its cookie. It marks the flow used (once: a
// second Finish of the same state is refused), exchanges the code with the
// PKCE verifier, verifies the ID token and returns the person and the
// flow. The flow is also returned with a refusal once this call has used
// it up (it is Flow{} when the state was missing, mismatched, unknown,
// replayed or expired).
//
// A sign-in that does not prove who the person is fails with a *Refusal;
// any other error (provider unreachable, database down) is an ordinary
// error.
func (c *Client) Finish(ctx context.Context, q url.Values, cookieState string) (Identity, Flow, error) {
	state := q.Get("state")
	sameState := state != "" && cookieState != "" && subtle.ConstantTimeCompare([]byte(state), []byte(cookieState)) == 1
	if code := q.Get("error"); code != "" {
		// Use up the flow, so that it cannot be completed afterwards.
		var flow Flow
		if sameState {
			rec, err := c.consume(ctx, state)
			var r *Refusal
			if err != nil && !errors.As(err, &r) {
				return Identity{}, Flow{}, err
			}
			flow = rec.Flow
		}
		return Identity{}, flow, providerRefusal(code)
	}
	switch {
	case state == "" || cookieState == "":
		return Identity{}, Flow{}, refuse(CodeStateMissing, "This sign-in is incomplete, or your browser did not keep its cookie. Start the sign-in again.")
	case !sameState:
		return Identity{}, Flow{}, refuse(CodeStateMismatch, "This sign-in was started in another browser or tab. Start the sign-in again.")
	}
	d, err := c.provider(ctx)
	if err != nil {
		return Identity{}, Flow{}, err
	}
	rec, err := c.consume(ctx, state)
	if err != nil {
		return Identity{}, Flow{}, err
	}
	id, err := c.identify(ctx, d, q.Get("code"), rec)
	return id, rec.Flow, err
}

func providerRefusal(code string) *Refusal {
	r := &Refusal{Code: CodeProviderError, Detail: sanitizeCode(code),
		Message: "The identity provider could not sign you in. Try again, or ask an admin."}
	if code == "access_denied" {
		r.Message = "The sign-in was cancelled or refused at the identity provider."
	}
	return r
}

// consume marks the flow for state used and returns it. The update is
// conditional, so of two concurrent calls only one gets the flow.
func (c *Client) consume(ctx context.Context, state string) (flowRecord, error) {
	var rec flowRecord
	err := c.pool.QueryRow(ctx, `
		UPDATE ops.oidc_logins SET used_at = now()
		WHERE state_hash = $1 AND used_at IS NULL AND expires_at > now()
		RETURNING nonce, verifier, purpose, next, session_hash, created_at`, hashState(state)).
		Scan(&rec.nonce, &rec.verifier, &rec.Purpose, &rec.Next, &rec.SessionHash, &rec.createdAt)
	if err == nil {
		return rec, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return flowRecord{}, fmt.Errorf("sso: use flow: %w", err)
	}
	var used, expired bool
	err = c.pool.QueryRow(ctx, `SELECT used_at IS NOT NULL, expires_at <= now() FROM ops.oidc_logins WHERE state_hash = $1`,
		hashState(state)).Scan(&used, &expired)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return flowRecord{}, refuse(CodeStateUnknown, "This sign-in is not known, or too old. Start the sign-in again.")
	case err != nil:
		return flowRecord{}, fmt.Errorf("sso: use flow: %w", err)
	case used:
		return flowRecord{}, refuse(CodeStateReplayed, "This sign-in has already been completed. Start the sign-in again.")
	default:
		return flowRecord{}, refuse(CodeStateExpired, "This sign-in took too long. Start the sign-in again.")
	}
}

// identify exchanges code for tokens and checks the ID token against rec.
func (c *Client) identify(ctx context.Context, d *discovered, code string, rec flowRecord) (Identity, error) {
	if code == "" {
		return Identity{}, refuse(CodeExchangeFailed, "The identity provider did not confirm the sign-in. Start the sign-in again.")
	}
	tok, err := d.oauth.Exchange(c.withHTTP(ctx), code, oauth2.VerifierOption(rec.verifier))
	if err != nil {
		return Identity{}, exchangeError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, refuse(CodeIDTokenMissing, "The identity provider's answer could not be verified.")
	}
	pctx, probe := withKeyProbe(ctx)
	idt, err := d.verifier.Verify(pctx, raw)
	if err != nil {
		if probe.fetchErr != nil {
			return Identity{}, fmt.Errorf("sso: fetch the provider's signing keys: %w", probe.fetchErr)
		}
		return Identity{}, refuse(CodeIDTokenInvalid, "The identity provider's answer could not be verified.")
	}
	var cl tokenClaims
	if err := idt.Claims(&cl); err != nil {
		return Identity{}, refuse(CodeIDTokenInvalid, "The identity provider's answer could not be verified.")
	}
	if !c.forUs(idt.Audience, cl.AuthorizedParty) {
		return Identity{}, refuse(CodeWrongAudience, "The identity provider's answer was meant for another application.")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(rec.nonce)) != 1 {
		return Identity{}, refuse(CodeNonceMismatch, "The identity provider's answer does not belong to this sign-in. Start the sign-in again.")
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject, Email: strings.ToLower(strings.TrimSpace(cl.Email))}
	switch {
	case id.Email == "":
		return Identity{}, refuse(CodeEmailMissing, "The identity provider did not share your email address.")
	case !cl.emailVerified():
		return Identity{}, refuse(CodeEmailUnverified, "Your email address is not verified at the identity provider.")
	case !c.emailDomainAllowed(id.Email):
		return Identity{}, refuse(CodeDomainNotAllowed, "Accounts with this email domain cannot sign in to the console.")
	}
	if c.cfg.RoleClaim != "" {
		if id.Groups, err = cl.groups(c.cfg.RoleClaim); err != nil {
			return Identity{}, refuse(CodeIDTokenInvalid, "The identity provider's answer could not be verified.")
		}
	}
	if id.AuthTime, err = cl.authTime(); err != nil {
		return Identity{}, refuse(CodeIDTokenInvalid, "The identity provider's answer could not be verified.")
	}
	if rec.Purpose == PurposeStepUp && (id.AuthTime.IsZero() || id.AuthTime.Before(rec.createdAt.Add(-authTimeSkew))) {
		return Identity{}, refuse(CodeStaleAuthentication, "Please sign in again at the identity provider to confirm it is you.")
	}
	return id, nil
}

// forUs reports whether an ID token with audience aud and authorized party
// azp is meant for this client: the client is in the audience and, when
// there are other audiences or an authorized party, it is that party.
func (c *Client) forUs(aud []string, azp string) bool {
	if !slices.Contains(aud, c.cfg.ClientID) {
		return false
	}
	if azp != "" || len(aud) > 1 {
		return azp == c.cfg.ClientID
	}
	return true
}

// exchangeError tells a provider refusing the code (a Refusal) from a
// provider that cannot be reached or fails. No response body is kept: it
// is the provider's, and not for logs.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("sso: token exchange: %w", err)
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	if re.ErrorCode != "" || (status >= 400 && status < 500) {
		return &Refusal{Code: CodeExchangeFailed, Detail: sanitizeCode(re.ErrorCode),
			Message: "The identity provider did not confirm the sign-in. Start the sign-in again."}
	}
	return fmt.Errorf("sso: token exchange: the identity provider answered HTTP %d", status)
}
