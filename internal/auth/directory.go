package auth

import (
	"context"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
)

// SessionInfo is one live session as the console lists it. ID is the hex
// of the stored token hash: it names the session without opening it.
type SessionInfo struct {
	ID         string
	OperatorID int64
	SignIn     SignIn
	CreatedAt  time.Time
	LastSeenAt time.Time
	ClientIP   string
	UserAgent  string
}

// Profile is an operator with what /operators and the security page show
// about how they sign in.
type Profile struct {
	Account
	HasPassword     bool
	SSOBound        bool
	InvitedBy       string
	RoleFromClaim   bool
	LastLoginMethod string
	Factor          SecondFactor
	Sessions        []SessionInfo
}

// Profiles lists every operator, by email, with their live sessions.
func (s *Store) Profiles(ctx context.Context) ([]Profile, error) {
	return s.profiles(ctx, 0)
}

// Profile returns one operator's profile, or ErrNotFound.
func (s *Store) Profile(ctx context.Context, id int64) (Profile, error) {
	ps, err := s.profiles(ctx, id)
	if err != nil {
		return Profile{}, err
	}
	if len(ps) == 0 {
		return Profile{}, ErrNotFound
	}
	return ps[0], nil
}

// profiles lists operator id, or every operator when id is 0.
func (s *Store) profiles(ctx context.Context, id int64) ([]Profile, error) {
	var out []Profile
	byID := map[int64]int{}
	rows, err := s.pool.Query(ctx, `SELECT `+accountColumns+`, o.password_hash <> '', o.sso_subject IS NOT NULL, o.invited_by,
			o.role_from_claim, o.last_login_method, o.totp_enabled_at, o.totp_secret <> '' AND o.totp_enabled_at IS NULL,
			(SELECT count(*) FROM ops.recovery_codes r WHERE r.operator_id = o.id AND r.used_at IS NULL),
			(SELECT count(*) FROM ops.passkeys p WHERE p.operator_id = o.id)
		FROM ops.operators o WHERE $1 = 0 OR o.id = $1 ORDER BY o.email`, id)
	if err != nil {
		return nil, fmt.Errorf("auth: list operators: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Profile
		var role string
		err := rows.Scan(&p.ID, &p.Email, &role, &p.IsDemo, &p.Disabled, &p.CreatedAt, &p.LastLoginAt, &p.ActiveSessions,
			&p.HasPassword, &p.SSOBound, &p.InvitedBy, &p.RoleFromClaim, &p.LastLoginMethod,
			&p.Factor.TOTPSince, &p.Factor.Pending, &p.Factor.RecoveryLeft, &p.Factor.Passkeys)
		if err != nil {
			return nil, fmt.Errorf("auth: list operators: %w", err)
		}
		p.Role = Role(role)
		p.Factor.TOTP = p.Factor.TOTPSince != nil
		byID[p.ID] = len(out)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: list operators: %w", err)
	}
	sessions, err := s.liveSessions(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, si := range sessions {
		if i, ok := byID[si.OperatorID]; ok {
			out[i].Sessions = append(out[i].Sessions, si)
		}
	}
	return out, nil
}

// liveSessions lists the live sessions of operator id (every operator
// when id is 0), newest first.
func (s *Store) liveSessions(ctx context.Context, id int64) ([]SessionInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT token_hash, operator_id, method, second_factor, created_at, last_seen_at, client_ip, user_agent
		FROM ops.sessions WHERE ended_at IS NULL AND expires_at > now() AND ($1 = 0 OR operator_id = $1)
		ORDER BY created_at DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("auth: list sessions: %w", err)
	}
	defer rows.Close()
	var out []SessionInfo
	for rows.Next() {
		var si SessionInfo
		var h []byte
		if err := rows.Scan(&h, &si.OperatorID, &si.SignIn.Method, &si.SignIn.SecondFactor, &si.CreatedAt, &si.LastSeenAt,
			&si.ClientIP, &si.UserAgent); err != nil {
			return nil, fmt.Errorf("auth: list sessions: %w", err)
		}
		si.ID = hex.EncodeToString(h)
		out = append(out, si)
	}
	return out, rows.Err()
}

// SessionID is the listed id of the session for token.
func SessionID(token string) string { return hex.EncodeToString(hashToken(token)) }

// EndSessionByID ends one live session of operator id, named by its
// listed id. It fails with ErrNoSession when there is no such session.
func (s *Store) EndSessionByID(ctx context.Context, id int64, sessionID string) error {
	h, err := hex.DecodeString(sessionID)
	if err != nil || len(h) != 32 {
		return ErrNoSession
	}
	tag, err := s.pool.Exec(ctx, `UPDATE ops.sessions SET ended_at = now() WHERE token_hash = $1 AND operator_id = $2 AND ended_at IS NULL`, h, id)
	if err != nil {
		return fmt.Errorf("auth: end session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNoSession
	}
	return nil
}

// SetSessionFactor records that the session for token now has a second
// factor (one just set up), without counting as a fresh sign-in.
func (s *Store) SetSessionFactor(ctx context.Context, token, factor string) error {
	_, err := s.pool.Exec(ctx, `UPDATE ops.sessions SET second_factor = $2 WHERE token_hash = $1`, hashToken(token), factor)
	if err != nil {
		return fmt.Errorf("auth: session factor: %w", err)
	}
	return nil
}

// PendingTOTP returns the authenticator key being set up for operator id
// (started, not yet confirmed), for showing its QR code again.
func (s *Store) PendingTOTP(ctx context.Context, id int64, issuer string) (*otp.Key, error) {
	var email, secret string
	err := s.pool.QueryRow(ctx, `SELECT email, totp_secret FROM ops.operators WHERE id = $1 AND totp_enabled_at IS NULL`, id).Scan(&email, &secret)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && secret == "") {
		return nil, ErrTOTPNotStarted
	}
	if err != nil {
		return nil, fmt.Errorf("auth: pending totp: %w", err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("auth: pending totp: %w", err)
	}
	return totpKey(issuer, email, raw)
}
