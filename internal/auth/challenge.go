package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ChallengeTTL is how long a sign-in may wait between a correct password
// and its second factor.
const ChallengeTTL = 5 * time.Minute

// MaxChallengeFailures is how many wrong codes kill a challenge.
const MaxChallengeFailures = 5

// ErrNoChallenge says a sign-in challenge is unknown, answered, expired,
// out of attempts, or its operator cannot sign in.
var ErrNoChallenge = errors.New("this sign-in expired or had too many wrong codes; sign in again")

// StartChallenge records that operator id gave the right password from
// clientIP and now owes a second factor, and returns the challenge's token
// (256 random bits; only its SHA-256 is stored). next is where to go once
// signed in. The challenge lives ChallengeTTL.
func (s *Store) StartChallenge(ctx context.Context, id int64, next, clientIP string) (token string, err error) {
	token, err = randomToken()
	if err != nil {
		return "", err
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO ops.login_challenges (token_hash, operator_id, next, client_ip, expires_at)
		VALUES ($1, $2, $3, $4, now() + $5::interval)`,
		hashToken(token), id, next, clientIP, ChallengeTTL.String())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("auth: start challenge: %w", err)
	}
	return token, nil
}

// liveChallenge is the condition on challenge c and its operator o for
// the challenge to be answerable; $2 is MaxChallengeFailures and $3 whether
// demo operators may sign in.
const liveChallenge = `c.used_at IS NULL AND c.expires_at > now() AND c.failures < $2
	AND o.disabled_at IS NULL AND (NOT o.is_demo OR $3)`

// Challenge returns the operator and next of the live challenge for
// token, or ErrNoChallenge.
func (s *Store) Challenge(ctx context.Context, token string) (Account, string, error) {
	if token == "" || len(token) > 100 {
		return Account{}, "", ErrNoChallenge
	}
	var next string
	a, err := scanAccount(withExtra(s.pool.QueryRow(ctx, `
		SELECT `+accountColumns+`, c.next
		FROM ops.login_challenges c JOIN ops.operators o ON o.id = c.operator_id
		WHERE c.token_hash = $1 AND `+liveChallenge,
		hashToken(token), MaxChallengeFailures, s.AllowDemo), &next))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, "", ErrNoChallenge
	}
	if err != nil {
		return Account{}, "", fmt.Errorf("auth: load challenge: %w", err)
	}
	return a, next, nil
}

// AnswerChallenge checks code as the second factor owed by the challenge
// for token. On success it uses up the challenge (it answers once),
// records the sign-in on the operator (last_login_at, and
// last_login_method "password + totp" or "password + recovery") and returns
// the operator, next and the method that accepted the code. A wrong or
// reused code fails with ErrBadCode or ErrCodeReused and counts against
// the challenge; after MaxChallengeFailures of them, and for a dead
// challenge, it fails with ErrNoChallenge.
func (s *Store) AnswerChallenge(ctx context.Context, token, code string) (acct Account, next, method string, err error) {
	if token == "" || len(token) > 100 {
		return Account{}, "", "", ErrNoChallenge
	}
	h := hashToken(token)
	acct, next, err = s.reserveAnswer(ctx, h)
	if err != nil {
		return Account{}, "", "", err
	}
	method, err = s.VerifySecondFactor(ctx, acct.ID, code)
	if errors.Is(err, ErrBadCode) || errors.Is(err, ErrCodeReused) {
		return Account{}, "", "", err // the reserved attempt stays a failure
	}
	if err != nil {
		s.refundAnswer(ctx, h)
		return Account{}, "", "", err
	}
	if err := s.completeChallenge(ctx, h, acct.ID, method); err != nil {
		return Account{}, "", "", err
	}
	return acct, next, method, nil
}

// completeChallenge uses up the challenge with token hash h, answered by
// method, giving back the attempt reserved for the answer, and records
// the sign-in on operator id. It fails with ErrNoChallenge when a
// concurrent answer won.
func (s *Store) completeChallenge(ctx context.Context, h []byte, id int64, method string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE ops.login_challenges SET used_at = now(), failures = failures - 1
			WHERE token_hash = $1 AND used_at IS NULL`, h)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNoChallenge // a concurrent answer won
		}
		_, err = tx.Exec(ctx, `UPDATE ops.operators SET last_login_at = now(), last_login_method = $2 WHERE id = $1`,
			id, SignIn{Method: MethodPassword, SecondFactor: method}.String())
		return err
	})
	if err != nil && !errors.Is(err, ErrNoChallenge) {
		return fmt.Errorf("auth: answer challenge: %w", err)
	}
	return err
}

// reserveAnswer counts an attempt against the live challenge with token
// hash h before the code is checked, so that concurrent answers cannot
// together try more than MaxChallengeFailures codes. A successful or
// inconclusive attempt is given back later.
func (s *Store) reserveAnswer(ctx context.Context, h []byte) (Account, string, error) {
	var next string
	a, err := scanAccount(withExtra(s.pool.QueryRow(ctx, `
		UPDATE ops.login_challenges c SET failures = c.failures + 1
		FROM ops.operators o
		WHERE c.token_hash = $1 AND o.id = c.operator_id AND `+liveChallenge+`
		RETURNING `+accountColumns+`, c.next`,
		h, MaxChallengeFailures, s.AllowDemo), &next))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, "", ErrNoChallenge
	}
	if err != nil {
		return Account{}, "", fmt.Errorf("auth: reserve challenge answer: %w", err)
	}
	return a, next, nil
}

// refundAnswer gives back an attempt that failed for a reason other than
// a wrong code, even if ctx was cancelled. It is best effort: a lost
// refund only costs the operator one attempt.
func (s *Store) refundAnswer(ctx context.Context, h []byte) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = s.pool.Exec(ctx, `UPDATE ops.login_challenges SET failures = failures - 1 WHERE token_hash = $1 AND failures > 0`, h)
}

// extraRow scans a row's trailing columns into extra after the columns
// its caller asks for, so scanAccount can read a row that carries more.
type extraRow struct {
	row   pgx.Row
	extra []any
}

func withExtra(row pgx.Row, extra ...any) extraRow { return extraRow{row: row, extra: extra} }

// Scan scans into dest followed by the extra destinations.
func (r extraRow) Scan(dest ...any) error { return r.row.Scan(append(dest, r.extra...)...) }
