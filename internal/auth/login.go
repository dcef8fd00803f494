package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Authenticate checks email and password for a sign-in from clientIP
// (or a step-up: the caller passes the session's email). It
// admits the attempt through the hashing gate (a *BusyError when it is
// full), decides and records the throttle atomically (a *ThrottledError
// when refused), then checks the password. It returns the account on
// success; otherwise ErrBadCredentials, ErrDisabled or ErrDemoInProd
// (callers show the user only a generic message for these three).
func (s *Store) Authenticate(ctx context.Context, email, password, clientIP string) (Account, error) {
	e := NormalizeEmail(email)
	if len(e) > 320 {
		e = e[:320]
	}
	release, err := s.gate.Enter(ctx, clientIP)
	if err != nil {
		return Account{}, err
	}
	a, result, err := s.check(ctx, e, password, clientIP)
	release()
	if err != nil {
		return Account{}, err
	}
	if result != nil {
		s.gate.Failed(clientIP)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO ops.login_attempts (email, client_ip, success) VALUES ($1, $2, $3)`,
		e, clientIP, result == nil); err != nil {
		return Account{}, fmt.Errorf("auth: record attempt: %w", err)
	}
	if result != nil {
		return Account{}, result
	}
	if err := s.succeeded(ctx, e, clientIP); err != nil {
		return Account{}, err
	}
	return a, nil
}

// check reserves the attempt under the throttle and checks the password
// (against a filler hash for unknown emails and for operators without a
// password, so all cost the same). The result is nil on success or the
// reason the sign-in fails.
func (s *Store) check(ctx context.Context, email, password, clientIP string) (a Account, result, err error) {
	if err := s.reserve(ctx, email, clientIP); err != nil {
		return Account{}, nil, err
	}
	var hash, role string
	err = s.pool.QueryRow(ctx, `
		SELECT id, email, role, is_demo, disabled_at IS NOT NULL, password_hash
		FROM ops.operators WHERE email = $1`, email).Scan(&a.ID, &a.Email, &role, &a.IsDemo, &a.Disabled, &hash)
	a.Role = Role(role)
	known := err == nil && hash != ""
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Account{}, nil, fmt.Errorf("auth: load operator: %w", err)
	}
	if !known {
		hash = dummyHash
	}
	ok, err := CheckPassword(hash, password)
	if err != nil {
		return Account{}, nil, err
	}
	switch {
	case !known || !ok:
		return a, ErrBadCredentials, nil
	case a.Disabled:
		return a, ErrDisabled, nil
	case a.IsDemo && !s.AllowDemo:
		return a, ErrDemoInProd, nil
	}
	return a, nil, nil
}
