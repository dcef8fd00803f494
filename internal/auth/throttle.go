package auth

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sign-in throttling policy. Failures are counted per client address, per
// (account, address) and per account over a fixed window, in Postgres so
// every console instance sees the same numbers. The decision and the
// recording of the attempt happen in one transaction holding the rows'
// locks, so concurrent attempts cannot all pass a check.
//
//   - An address with MaxAddressFailures failures is refused for the rest
//     of the window, whatever account it tries.
//   - An account with MaxAccountAddressFailures failures from one address
//     is refused from that address only: an attacker elsewhere cannot lock
//     the real person out.
//   - An account with AccountBackoffAfter failures from anywhere slows
//     down: each further attempt from an address that never signed in to
//     it waits 1 s, 2 s, 4 s … up to MaxAccountBackoff after the last
//     failure. Addresses that signed in to the account before skip it.
//
// Unknown emails are counted, hashed and refused exactly like known ones.
const (
	ThrottleWindow            = 15 * time.Minute
	MaxAddressFailures        = 20
	MaxAccountAddressFailures = 5
	AccountBackoffAfter       = 10
	MaxAccountBackoff         = time.Minute
)

// Throttle scopes.
const (
	ScopeAddress        = "address"
	ScopeAccountAddress = "account_address"
	ScopeAccount        = "account"
	// ScopeSecondFactor counts wrong second-factor codes per operator
	// (MaxFactorFailures per ThrottleWindow).
	ScopeSecondFactor = "second_factor"
)

// ThrottledError says a sign-in was refused without checking the password.
type ThrottledError struct {
	// Scope is ScopeAddress, ScopeAccountAddress or ScopeAccount.
	Scope string
	// RetryAfter is how long until an attempt may pass again.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	wait := "in " + waitText(e.RetryAfter)
	switch e.Scope {
	case ScopeAddress:
		return "too many failed sign-ins from your address: try again " + wait
	case ScopeAccountAddress:
		return "too many failed sign-ins for this account from your address: try again " + wait
	case ScopeSecondFactor:
		return "too many wrong codes for this account: try again " + wait
	default:
		return "this account had many failed sign-ins from elsewhere, so attempts are slowed down: try again " + wait
	}
}

func waitText(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", max(1, int(math.Ceil(d.Seconds()))))
	}
	return fmt.Sprintf("%d minutes", int(math.Ceil(d.Minutes())))
}

// throttleRow is one counter as read under its lock.
type throttleRow struct {
	scope    string
	failures int
	// remaining is how long the row's window still runs.
	remaining   time.Duration
	sinceFailed time.Duration
}

// reserve decides whether an attempt for email from address may be
// checked and, when it may, records it as a failure until finish says
// otherwise. It returns a *ThrottledError when the attempt is refused.
func (s *Store) reserve(ctx context.Context, email, address string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("auth: throttle: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Rows are created and locked in one order (by scope) so concurrent
	// attempts never deadlock.
	_, err = tx.Exec(ctx, `
		INSERT INTO ops.login_throttles (scope, email, address)
		VALUES ('account', $1, ''), ('account_address', $1, $2), ('address', '', $2)
		ON CONFLICT DO NOTHING`, email, address)
	if err != nil {
		return fmt.Errorf("auth: throttle: %w", err)
	}
	rows, err := tx.Query(ctx, `
		SELECT scope,
		       CASE WHEN window_start > now() - $3::interval THEN failures ELSE 0 END,
		       greatest(window_start + $3::interval - now(), '0'::interval),
		       COALESCE(now() - last_failure_at, $3::interval)
		FROM ops.login_throttles
		WHERE (scope, email, address) IN (('account', $1, ''), ('account_address', $1, $2), ('address', '', $2))
		ORDER BY scope
		FOR UPDATE`, email, address, ThrottleWindow.String())
	if err != nil {
		return fmt.Errorf("auth: throttle: %w", err)
	}
	counts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (throttleRow, error) {
		var t throttleRow
		return t, r.Scan(&t.scope, &t.failures, &t.remaining, &t.sinceFailed)
	})
	if err != nil {
		return fmt.Errorf("auth: throttle: %w", err)
	}
	if terr := s.decide(ctx, tx, email, address, counts); terr != nil {
		return terr
	}
	_, err = tx.Exec(ctx, `
		UPDATE ops.login_throttles SET
		    failures = CASE WHEN window_start > now() - $3::interval THEN failures + 1 ELSE 1 END,
		    window_start = CASE WHEN window_start > now() - $3::interval THEN window_start ELSE now() END,
		    last_failure_at = now()
		WHERE (scope, email, address) IN (('account', $1, ''), ('account_address', $1, $2), ('address', '', $2))`,
		email, address, ThrottleWindow.String())
	if err != nil {
		return fmt.Errorf("auth: throttle: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("auth: throttle: %w", err)
	}
	return nil
}

// decide applies the policy to the locked counters; it returns a
// *ThrottledError, a database error, or nil when the attempt may go on.
func (s *Store) decide(ctx context.Context, tx pgx.Tx, email, address string, counts []throttleRow) error {
	for _, t := range counts {
		switch {
		case t.scope == ScopeAddress && t.failures >= MaxAddressFailures,
			t.scope == ScopeAccountAddress && t.failures >= MaxAccountAddressFailures:
			return &ThrottledError{Scope: t.scope, RetryAfter: t.remaining}
		}
	}
	for _, t := range counts {
		if t.scope != ScopeAccount || t.failures < AccountBackoffAfter {
			continue
		}
		wait := AccountBackoff(t.failures)
		if t.sinceFailed >= wait {
			return nil
		}
		var known bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ops.login_attempts
			WHERE email = $1 AND client_ip = $2 AND success)`, email, address).Scan(&known)
		if err != nil {
			return fmt.Errorf("auth: throttle: %w", err)
		}
		if !known {
			return &ThrottledError{Scope: ScopeAccount, RetryAfter: wait - t.sinceFailed}
		}
	}
	return nil
}

// AccountBackoff is the wait after the last failure an account with
// failures failures imposes on addresses that never signed in to it.
func AccountBackoff(failures int) time.Duration {
	if failures < AccountBackoffAfter {
		return 0
	}
	n := failures - AccountBackoffAfter
	if n >= 6 {
		return MaxAccountBackoff
	}
	return min(time.Duration(1<<n)*time.Second, MaxAccountBackoff)
}

// succeeded takes back the failure reserve recorded for a sign-in that
// turned out right: the account's counters start over, the address's
// loses the one attempt.
func (s *Store) succeeded(ctx context.Context, email, address string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE ops.login_throttles SET failures = CASE WHEN scope = 'address' THEN greatest(failures - 1, 0) ELSE 0 END
		WHERE (scope, email, address) IN (('account', $1, ''), ('account_address', $1, $2), ('address', '', $2))`,
		email, address)
	if err != nil {
		return fmt.Errorf("auth: throttle: %w", err)
	}
	return nil
}

// Throttle is a live throttle counter as admins see it.
type Throttle struct {
	Scope   string
	Email   string
	Address string
	// Failures in the current window.
	Failures int
	// Blocking says whether attempts are being refused now, and until
	// when (Until).
	Blocking    bool
	Until       time.Time
	LastFailure time.Time
}

// Throttles lists every counter with failures in the current window, the
// blocking ones first.
func (s *Store) Throttles(ctx context.Context) ([]Throttle, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT scope, email, address, failures, window_start + $1::interval, last_failure_at
		FROM ops.login_throttles
		WHERE failures > 0 AND window_start > now() - $1::interval
		ORDER BY failures DESC, scope, email, address
		LIMIT 200`, ThrottleWindow.String())
	if err != nil {
		return nil, fmt.Errorf("auth: throttles: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Throttle, error) {
		var t Throttle
		var last *time.Time
		err := r.Scan(&t.Scope, &t.Email, &t.Address, &t.Failures, &t.Until, &last)
		if last != nil {
			t.LastFailure = *last
		}
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: throttles: %w", err)
	}
	now := time.Now()
	for i := range out {
		t := &out[i]
		switch t.Scope {
		case ScopeAddress:
			t.Blocking = t.Failures >= MaxAddressFailures
		case ScopeAccountAddress:
			t.Blocking = t.Failures >= MaxAccountAddressFailures
		case ScopeAccount:
			if t.Failures >= AccountBackoffAfter {
				t.Until = t.LastFailure.Add(AccountBackoff(t.Failures))
				t.Blocking = t.Until.After(now)
			}
		}
	}
	return out, nil
}

// ClearThrottle resets one counter (and, for an account, its counters
// from every address) and reports whether there was one.
func (s *Store) ClearThrottle(ctx context.Context, scope, email, address string) (bool, error) {
	var sql string
	switch scope {
	case ScopeAddress:
		sql = `DELETE FROM ops.login_throttles WHERE scope = 'address' AND address = $2 AND $1 = ''`
	case ScopeAccountAddress:
		sql = `DELETE FROM ops.login_throttles WHERE scope = 'account_address' AND email = $1 AND address = $2`
	case ScopeAccount:
		sql = `DELETE FROM ops.login_throttles WHERE scope IN ('account', 'account_address') AND email = $1 AND $2 = ''`
	default:
		return false, fmt.Errorf("unknown throttle scope %q", scope)
	}
	tag, err := s.pool.Exec(ctx, sql, email, address)
	if err != nil {
		return false, fmt.Errorf("auth: clear throttle: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}
