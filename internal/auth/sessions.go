package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// touchEvery limits how often a session's last_seen_at is written.
const touchEvery = time.Minute

// Session is a signed-in operator's server-side session.
type Session struct {
	Account   Account
	CreatedAt time.Time
	ExpiresAt time.Time
	// SignIn is how the session began.
	SignIn SignIn
	// AuthenticatedAt is when its operator last proved who they are:
	// the sign-in, or a later step-up.
	AuthenticatedAt time.Time
}

// Sign-in methods.
const (
	MethodPassword = "password"
	MethodSSO      = "sso"
)

// SignIn is how a session began: the method ("password" or "sso") and
// the second factor used with a password ("totp", "recovery", "passkey",
// or "" for none).
type SignIn struct {
	Method       string
	SecondFactor string
}

// String names the sign-in for people ("password + totp", "sso").
func (s SignIn) String() string {
	if s.SecondFactor == "" {
		return s.Method
	}
	return s.Method + " + " + s.SecondFactor
}

// FreshWithin reports whether the operator proved who they are within
// window of now.
func (s Session) FreshWithin(window time.Duration, now time.Time) bool {
	return now.Sub(s.AuthenticatedAt) < window
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// CreateSession starts a new password session for operator id and
// returns its token (256 random bits). Only the token's SHA-256 is stored.
func (s *Store) CreateSession(ctx context.Context, id int64, clientIP, userAgent string, maxAge time.Duration) (string, error) {
	return s.StartSession(ctx, id, SignIn{Method: MethodPassword}, clientIP, userAgent, maxAge)
}

// StartSession starts a new session for operator id, signed in by via,
// records the sign-in on the operator and returns the session's token
// (256 random bits). Only the token's SHA-256 is stored.
func (s *Store) StartSession(ctx context.Context, id int64, via SignIn, clientIP, userAgent string, maxAge time.Duration) (string, error) {
	token, err := randomToken()
	if err != nil {
		return "", err
	}
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	_, err = s.pool.Exec(ctx, `
		WITH signed_in AS (
			UPDATE ops.operators SET last_login_at = now(), last_login_method = $7 WHERE id = $2
		)
		INSERT INTO ops.sessions (token_hash, operator_id, expires_at, client_ip, user_agent, method, second_factor)
		VALUES ($1, $2, now() + $3::interval, $4, $5, $6, $8)`,
		hashToken(token), id, maxAge.String(), clientIP, userAgent, via.Method, via.String(), via.SecondFactor)
	if err != nil {
		return "", fmt.Errorf("auth: create session: %w", err)
	}
	return token, nil
}

// Session returns the live session for token. It fails with ErrNoSession
// when the token is unknown, ended, past its absolute expiry, idle for
// longer than idle, or its operator is disabled.
func (s *Store) Session(ctx context.Context, token string, idle time.Duration) (Session, error) {
	if token == "" || len(token) > 100 {
		return Session{}, ErrNoSession
	}
	var sess Session
	var role string
	var lastSeen time.Time
	var demo bool
	err := s.pool.QueryRow(ctx, `
		SELECT o.id, o.email, o.role, o.is_demo, s.created_at, s.expires_at, s.last_seen_at,
		       s.method, s.second_factor, s.authenticated_at
		FROM ops.sessions s JOIN ops.operators o ON o.id = s.operator_id
		WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now()
		  AND s.last_seen_at > now() - $2::interval AND o.disabled_at IS NULL`,
		hashToken(token), idle.String()).
		Scan(&sess.Account.ID, &sess.Account.Email, &role, &demo, &sess.CreatedAt, &sess.ExpiresAt, &lastSeen,
			&sess.SignIn.Method, &sess.SignIn.SecondFactor, &sess.AuthenticatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("auth: load session: %w", err)
	}
	if demo && !s.AllowDemo {
		return Session{}, ErrNoSession
	}
	sess.Account.Role = Role(role)
	sess.Account.IsDemo = demo
	if time.Since(lastSeen) > touchEvery {
		if _, err := s.pool.Exec(ctx, `UPDATE ops.sessions SET last_seen_at = now() WHERE token_hash = $1`, hashToken(token)); err != nil {
			return Session{}, fmt.Errorf("auth: touch session: %w", err)
		}
	}
	return sess, nil
}

// Reauthenticated records that the operator of the session for token
// proved who they are just now (a step-up), with secondFactor when one
// was used.
func (s *Store) Reauthenticated(ctx context.Context, token, secondFactor string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE ops.sessions SET authenticated_at = now(),
		       second_factor = CASE WHEN $2 = '' THEN second_factor ELSE $2 END
		WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > now()`, hashToken(token), secondFactor)
	if err != nil {
		return fmt.Errorf("auth: step-up: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNoSession
	}
	return nil
}

// randomToken returns 256 random bits, base64url-encoded: a session, a
// link or a draft is named by one and stored by its SHA-256.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SessionHash is the stored form of a session token: drafts and SSO
// step-ups name their session by it, never by the token.
func SessionHash(token string) []byte { return hashToken(token) }

// EndSession ends the session for token (logout).
func (s *Store) EndSession(ctx context.Context, token string) error {
	_, err := s.pool.Exec(ctx, `UPDATE ops.sessions SET ended_at = now() WHERE token_hash = $1 AND ended_at IS NULL`, hashToken(token))
	if err != nil {
		return fmt.Errorf("auth: end session: %w", err)
	}
	return nil
}

// EndSessions ends every live session of operator id and returns how many.
func (s *Store) EndSessions(ctx context.Context, id int64) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE ops.sessions SET ended_at = now() WHERE operator_id = $1 AND ended_at IS NULL AND expires_at > now()`, id)
	if err != nil {
		return 0, fmt.Errorf("auth: end sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Prune deletes sessions, login attempts, kept forms, password links,
// SSO sign-ins in flight, sign-in challenges and passkey ceremonies that
// ended or expired more than keep ago.
func (s *Store) Prune(ctx context.Context, keep time.Duration) error {
	_, err := s.pool.Exec(ctx, `
		DELETE FROM ops.sessions WHERE COALESCE(ended_at, expires_at) < now() - $1::interval;
		`, keep.String())
	if err != nil {
		return fmt.Errorf("auth: prune sessions: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM ops.login_attempts WHERE at < now() - $1::interval`, keep.String()); err != nil {
		return fmt.Errorf("auth: prune login attempts: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM ops.login_throttles WHERE window_start < now() - $1::interval
		AND COALESCE(last_failure_at, window_start) < now() - $1::interval`, ThrottleWindow.String()); err != nil {
		return fmt.Errorf("auth: prune login throttles: %w", err)
	}
	return s.pruneAccess(ctx)
}
