package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Throttling policy: failed logins are counted per account and per client
// IP over a sliding window; past the limit, sign-in is refused (even with
// the right password) until the window has passed.
const (
	ThrottleWindow      = 15 * time.Minute
	MaxAccountFailures  = 5
	MaxClientIPFailures = 20
)

// ThrottledError says a login was refused without checking the password.
type ThrottledError struct {
	// By is "account" or "client IP".
	By string
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins for this %s: try again in %d minutes", e.By, int(ThrottleWindow.Minutes()))
}

// Authenticate checks email and password for a sign-in from clientIP,
// applying the throttle and recording the attempt. It returns the account
// on success; otherwise a *ThrottledError, ErrBadCredentials, ErrDisabled
// or ErrDemoInProd (callers show the user only a generic message for the
// last three).
func (s *Store) Authenticate(ctx context.Context, email, password, clientIP string) (Account, error) {
	e := NormalizeEmail(email)
	if len(e) > 320 {
		e = e[:320]
	}
	var byAccount, byIP int
	err := s.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE email = $1), count(*) FILTER (WHERE client_ip = $2)
		FROM ops.login_attempts
		WHERE NOT success AND at > now() - $3::interval AND (email = $1 OR client_ip = $2)`,
		e, clientIP, ThrottleWindow.String()).Scan(&byAccount, &byIP)
	if err != nil {
		return Account{}, fmt.Errorf("auth: throttle: %w", err)
	}
	if byIP >= MaxClientIPFailures {
		return Account{}, &ThrottledError{By: "client IP"}
	}
	if byAccount >= MaxAccountFailures {
		return Account{}, &ThrottledError{By: "account"}
	}

	var a Account
	var hash, role string
	err = s.pool.QueryRow(ctx, `
		SELECT id, email, role, is_demo, disabled_at IS NOT NULL, password_hash
		FROM ops.operators WHERE email = $1`, e).Scan(&a.ID, &a.Email, &role, &a.IsDemo, &a.Disabled, &hash)
	a.Role = Role(role)
	known := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Account{}, fmt.Errorf("auth: load operator: %w", err)
	}
	if !known {
		hash = dummyHash
	}
	ok, err := CheckPassword(hash, password)
	if err != nil {
		return Account{}, err
	}
	var result error
	switch {
	case !known || !ok:
		result = ErrBadCredentials
	case a.Disabled:
		result = ErrDisabled
	case a.IsDemo && !s.AllowDemo:
		result = ErrDemoInProd
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO ops.login_attempts (email, client_ip, success) VALUES ($1, $2, $3)`,
		e, clientIP, result == nil); err != nil {
		return Account{}, fmt.Errorf("auth: record attempt: %w", err)
	}
	if result != nil {
		return Account{}, result
	}
	if _, err := s.pool.Exec(ctx, `UPDATE ops.operators SET last_login_at = now() WHERE id = $1`, a.ID); err != nil {
		return Account{}, fmt.Errorf("auth: last login: %w", err)
	}
	return a, nil
}
