package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ResetLinkTTL is how long a one-time password link stays valid.
const ResetLinkTTL = 24 * time.Hour

// ErrNoReset says a password link is unknown, used, superseded or expired.
var ErrNoReset = errors.New("this password link is not valid: it was used, replaced by a newer one, or it expired; ask an admin for a new one")

// CheckNewPassword says what is wrong with a password an operator chose,
// or nil.
func CheckNewPassword(password string) error {
	switch n := len([]rune(password)); {
	case n < MinPasswordLength:
		return fmt.Errorf("the password must be at least %d characters", MinPasswordLength)
	case len(password) > 1024:
		return errors.New("the password must be at most 1024 bytes")
	}
	return nil
}

// ChangePassword sets operator id's password to password (the caller
// checked the current one) and ends every other session of the operator
// than the one for keepToken. It returns how many sessions it ended.
func (s *Store) ChangePassword(ctx context.Context, id int64, password, keepToken string) (int64, error) {
	if err := CheckNewPassword(password); err != nil {
		return 0, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return 0, err
	}
	var ended int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE ops.operators SET password_hash = $2, password_changed_at = now(), updated_at = now() WHERE id = $1`, id, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		tag, err = tx.Exec(ctx, `UPDATE ops.sessions SET ended_at = now()
			WHERE operator_id = $1 AND ended_at IS NULL AND expires_at > now() AND token_hash <> $2`, id, hashToken(keepToken))
		ended = tag.RowsAffected()
		return err
	})
	return ended, wrap("change password", err)
}

// IssueReset creates a one-time link token with which operator id sets a
// new password within ResetLinkTTL; earlier unused links of the operator
// stop working. by names the admin who asked. Only the token's SHA-256
// is stored: the admin passes the link on and never learns a password.
func (s *Store) IssueReset(ctx context.Context, id int64, by string) (string, error) {
	token, err := randomToken()
	if err != nil {
		return "", err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var disabled bool
		err := tx.QueryRow(ctx, `SELECT disabled_at IS NOT NULL FROM ops.operators WHERE id = $1 FOR UPDATE`, id).Scan(&disabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if disabled {
			return ErrDisabled
		}
		if _, err := tx.Exec(ctx, `UPDATE ops.password_resets SET used_at = now() WHERE operator_id = $1 AND used_at IS NULL`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO ops.password_resets (token_hash, operator_id, created_by, expires_at)
			VALUES ($1, $2, $3, now() + $4::interval)`, hashToken(token), id, by, ResetLinkTTL.String())
		return err
	})
	if err != nil {
		if errors.Is(err, ErrDisabled) {
			return "", err
		}
		return "", wrap("issue password link", err)
	}
	return token, nil
}

// ResetAccount returns the operator a valid password link is for.
func (s *Store) ResetAccount(ctx context.Context, token string) (Account, error) {
	if token == "" || len(token) > 100 {
		return Account{}, ErrNoReset
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+`
		FROM ops.password_resets r JOIN ops.operators o ON o.id = r.operator_id
		WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now() AND o.disabled_at IS NULL`, hashToken(token)))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, ErrNoReset
	}
	if err != nil {
		return Account{}, fmt.Errorf("auth: password link: %w", err)
	}
	return a, nil
}

// UseReset sets the password of a valid link's operator, spends the link
// and ends every session of the operator. A link works once, even for two
// requests at the same moment.
func (s *Store) UseReset(ctx context.Context, token, password string) (Account, error) {
	if err := CheckNewPassword(password); err != nil {
		return Account{}, err
	}
	a, err := s.ResetAccount(ctx, token)
	if err != nil {
		return Account{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return Account{}, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE ops.password_resets SET used_at = now()
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()`, hashToken(token))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNoReset
		}
		if _, err := tx.Exec(ctx, `UPDATE ops.operators SET password_hash = $2, password_changed_at = now(), updated_at = now() WHERE id = $1`, a.ID, hash); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE ops.sessions SET ended_at = now() WHERE operator_id = $1 AND ended_at IS NULL`, a.ID)
		return err
	})
	if errors.Is(err, ErrNoReset) {
		return Account{}, err
	}
	return a, wrap("use password link", err)
}
