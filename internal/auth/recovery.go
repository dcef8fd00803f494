package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/jackc/pgx/v5"
)

// errRecoveryCodeUsed is ErrCodeReused worded for a recovery code, for
// which waiting for the next one makes no sense.
type errRecoveryCodeUsed struct{}

func (errRecoveryCodeUsed) Error() string { return "that recovery code was already used" }
func (errRecoveryCodeUsed) Unwrap() error { return ErrCodeReused }

// randomIndex returns a uniformly random integer in [0, n).
func randomIndex(n int) (int, error) {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0, err
	}
	return int(v.Int64()), nil
}

// hashCode is the stored form of a normalised recovery code.
func hashCode(c string) []byte {
	sum := sha256.Sum256([]byte(c))
	return sum[:]
}

// RecoveryCodeCount is how many recovery codes an operator gets at a time.
const RecoveryCodeCount = 10

// recoveryAlphabet holds the digits and capital letters without the
// look-alikes 0, O, 1, I and L: 31 symbols, so a 10-symbol code carries
// 10·log2(31) ≈ 49.5 bits.
const recoveryAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// recoveryLength is the number of symbols in a recovery code.
const recoveryLength = 10

// RegenerateRecoveryCodes replaces operator id's recovery codes with
// RecoveryCodeCount fresh ones, to show once. It fails with
// ErrTOTPNotEnabled unless an authenticator app is enabled, and
// ErrNotFound for an unknown id.
func (s *Store) RegenerateRecoveryCodes(ctx context.Context, id int64) ([]string, error) {
	var codes []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var enabled bool
		err := tx.QueryRow(ctx, `SELECT totp_enabled_at IS NOT NULL FROM ops.operators WHERE id = $1 FOR UPDATE`, id).Scan(&enabled)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		case !enabled:
			return ErrTOTPNotEnabled
		}
		codes, err = replaceRecoveryCodes(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, wrapFactor("regenerate recovery codes", err)
	}
	return codes, nil
}

// replaceRecoveryCodes deletes operator id's recovery codes, stores the
// SHA-256 of fresh ones and returns them as shown: xxxxx-xxxxx in lower
// case.
func replaceRecoveryCodes(ctx context.Context, tx pgx.Tx, id int64) ([]string, error) {
	shown := make([]string, 0, RecoveryCodeCount)
	hashes := make([][]byte, 0, RecoveryCodeCount)
	seen := make(map[string]bool, RecoveryCodeCount)
	for len(shown) < RecoveryCodeCount {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, fmt.Errorf("recovery code: %w", err)
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		hashes = append(hashes, hashCode(c))
		shown = append(shown, strings.ToLower(c[:recoveryLength/2]+"-"+c[recoveryLength/2:]))
	}
	if _, err := tx.Exec(ctx, `DELETE FROM ops.recovery_codes WHERE operator_id = $1`, id); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ops.recovery_codes (operator_id, code_hash) SELECT $1, unnest($2::bytea[])`, id, hashes); err != nil {
		return nil, err
	}
	return shown, nil
}

// newRecoveryCode returns recoveryLength symbols of recoveryAlphabet drawn
// uniformly with crypto/rand, in normalised form.
func newRecoveryCode() (string, error) {
	b := make([]byte, recoveryLength)
	for i := range b {
		n, err := randomIndex(len(recoveryAlphabet))
		if err != nil {
			return "", err
		}
		b[i] = recoveryAlphabet[n]
	}
	return string(b), nil
}

// isRecoveryCode reports whether the normalised c could be a recovery code.
func isRecoveryCode(c string) bool {
	if len(c) != recoveryLength {
		return false
	}
	for i := range len(c) {
		if strings.IndexByte(recoveryAlphabet, c[i]) < 0 {
			return false
		}
	}
	return true
}

// useRecoveryCode uses up operator id's unused recovery code c (normalised).
// Only its hash is looked up, so timing tells nothing about stored codes.
func (s *Store) useRecoveryCode(ctx context.Context, id int64, c string) (string, error) {
	if !isRecoveryCode(c) {
		return "", ErrBadCode
	}
	h := hashCode(c)
	tag, err := s.pool.Exec(ctx, `
		UPDATE ops.recovery_codes SET used_at = now()
		WHERE operator_id = $1 AND code_hash = $2 AND used_at IS NULL`, id, h)
	if err != nil {
		return "", fmt.Errorf("auth: use recovery code: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return "recovery", nil
	}
	var used bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ops.recovery_codes WHERE operator_id = $1 AND code_hash = $2)`, id, h).Scan(&used); err != nil {
		return "", fmt.Errorf("auth: check recovery code: %w", err)
	}
	if used {
		return "", errRecoveryCodeUsed{}
	}
	return "", ErrBadCode
}
