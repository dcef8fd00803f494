package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// Errors of second-factor enrolment and verification; callers compare
// with errors.Is. ErrBadCode and ErrCodeReused are fit to show the user.
var (
	ErrTOTPEnabled    = errors.New("an authenticator app is already enabled; reset the second factor first")
	ErrTOTPNotStarted = errors.New("no authenticator app enrolment is in progress")
	ErrTOTPNotEnabled = errors.New("no authenticator app is enabled")
	ErrBadCode        = errors.New("that code is not right")
	ErrCodeReused     = errors.New("that code was already used; wait for the next one")
	ErrNoSecondFactor = errors.New("no second factor is set up")
)

// DefaultTOTPIssuer names the console in authenticator apps when
// StartTOTP is given no issuer.
const DefaultTOTPIssuer = "Ops console"

// The TOTP parameters every authenticator app supports (RFC 6238's
// defaults): HMAC-SHA1, six digits, 30-second steps, and one step of clock
// skew either way.
const (
	totpPeriod = 30
	totpSkew   = 1
	totpDigits = otp.DigitsSix
)

// qrSize is the width and height in pixels of the enrolment QR code.
const qrSize = 240

// clock is the time TOTP codes are checked against. Only tests replace it
// (see export_test.go); database timestamps use the server's now().
var clock = time.Now

// StartTOTP begins enrolling an authenticator app for operator id: it
// generates a new secret, labelled with the operator's email under issuer,
// and stores it as pending until ConfirmTOTP. Starting again replaces a
// pending secret. It fails with ErrTOTPEnabled when TOTP is already
// enabled (reset the second factor first) and ErrNotFound for an unknown id.
func (s *Store) StartTOTP(ctx context.Context, id int64, issuer string) (*otp.Key, error) {
	var key *otp.Key
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var email string
		var enabled bool
		err := tx.QueryRow(ctx, `SELECT email, totp_enabled_at IS NOT NULL FROM ops.operators WHERE id = $1 FOR UPDATE`, id).
			Scan(&email, &enabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if enabled {
			return ErrTOTPEnabled
		}
		if key, err = totpKey(issuer, email, nil); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE ops.operators SET totp_secret = $2, totp_enabled_at = NULL, updated_at = now() WHERE id = $1`,
			id, key.Secret())
		return err
	})
	if err != nil {
		return nil, wrapFactor("start totp", err)
	}
	return key, nil
}

// totpKey is the authenticator key for email under issuer, with secret
// (a new random one when nil).
func totpKey(issuer, email string, secret []byte) (*otp.Key, error) {
	// A colon separates issuer and account in the key's label.
	issuer = strings.Join(strings.Fields(strings.ReplaceAll(issuer, ":", " ")), " ")
	if issuer == "" {
		issuer = DefaultTOTPIssuer
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: email, Secret: secret,
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	return key, nil
}

// ConfirmTOTP enables the pending secret of operator id once code proves
// the authenticator has it, and returns RecoveryCodeCount fresh recovery
// codes (replacing any old ones) to show once. The code's time step is
// recorded, so it cannot then be used to sign in. It fails with
// ErrBadCode, ErrTOTPEnabled, ErrTOTPNotStarted or ErrNotFound.
func (s *Store) ConfirmTOTP(ctx context.Context, id int64, code string) ([]string, error) {
	c := normalizeCode(code)
	var codes []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var secret string
		var enabled bool
		err := tx.QueryRow(ctx, `SELECT totp_secret, totp_enabled_at IS NOT NULL FROM ops.operators WHERE id = $1 FOR UPDATE`, id).
			Scan(&secret, &enabled)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		case enabled:
			return ErrTOTPEnabled
		case secret == "":
			return ErrTOTPNotStarted
		}
		step, ok, err := matchTOTP(secret, c, clock())
		if err != nil {
			return err
		}
		if !ok {
			return ErrBadCode
		}
		if _, err := tx.Exec(ctx, `
			UPDATE ops.operators SET totp_enabled_at = now(), totp_last_step = GREATEST(totp_last_step, $2), updated_at = now()
			WHERE id = $1`, id, step); err != nil {
			return err
		}
		codes, err = replaceRecoveryCodes(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, wrapFactor("confirm totp", err)
	}
	return codes, nil
}

// VerifySecondFactor checks code as operator id's second factor and
// returns the method that accepted it: "totp" or "recovery". Spaces and
// dashes are ignored, and recovery codes are case-insensitive. Six digits
// are a TOTP code: it is accepted only if its time step is later than the
// last one accepted, and the step is recorded atomically, so a code works
// once even under concurrent requests. Anything else is tried as an unused
// recovery code, which it then uses up. It fails with ErrBadCode,
// ErrCodeReused, ErrNoSecondFactor (no TOTP enabled and no recovery codes
// left) or ErrNotFound. Every wrong code counts against the operator's
// MaxFactorFailures per ThrottleWindow, and a right one clears the count;
// beyond them it fails with a *ThrottledError (ScopeSecondFactor) without
// checking the code. Whether the operator may sign in at all is the caller's business.
func (s *Store) VerifySecondFactor(ctx context.Context, id int64, code string) (method string, err error) {
	if err := s.reserveFactorAttempt(ctx, id); err != nil {
		return "", err
	}
	method, err = s.verifyFactor(ctx, id, code)
	if !errors.Is(err, ErrBadCode) {
		// A right code clears the count; a reused one was right once (a
		// slip or a replay, not a guess) and, like any other failure, is
		// given back.
		s.settleFactorAttempt(ctx, id, err == nil)
	}
	return method, err
}

// MaxFactorFailures is how many wrong second-factor codes an operator may
// give per ThrottleWindow, across sign-ins and step-ups.
const MaxFactorFailures = 10

// reserveFactorAttempt counts an attempt as a failure before the code is
// checked, in one statement, so that concurrent guesses cannot all pass
// the limit; it refuses the attempt once the window holds
// MaxFactorFailures.
func (s *Store) reserveFactorAttempt(ctx context.Context, id int64) error {
	var n int
	var since time.Time
	err := s.pool.QueryRow(ctx, `
		UPDATE ops.operators SET
			factor_failures = CASE WHEN factor_failures_since IS NULL OR factor_failures_since < now() - $2::interval
				THEN 1 ELSE factor_failures + 1 END,
			factor_failures_since = CASE WHEN factor_failures_since IS NULL OR factor_failures_since < now() - $2::interval
				THEN now() ELSE factor_failures_since END
		WHERE id = $1 RETURNING factor_failures, factor_failures_since`, id, ThrottleWindow.String()).Scan(&n, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("auth: count second factor attempt: %w", err)
	}
	if n > MaxFactorFailures {
		return &ThrottledError{Scope: ScopeSecondFactor, RetryAfter: time.Until(since.Add(ThrottleWindow))}
	}
	return nil
}

// settleFactorAttempt clears the operator's count after a right code, or
// gives back the attempt reserved for one that failed for another reason
// than the code.
func (s *Store) settleFactorAttempt(ctx context.Context, id int64, right bool) {
	q := `UPDATE ops.operators SET factor_failures = greatest(factor_failures - 1, 0) WHERE id = $1`
	if right {
		q = `UPDATE ops.operators SET factor_failures = 0, factor_failures_since = NULL WHERE id = $1`
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, _ = s.pool.Exec(ctx, q, id)
}

// verifyFactor checks code as VerifySecondFactor says, without the count.
func (s *Store) verifyFactor(ctx context.Context, id int64, code string) (method string, err error) {
	var secret string
	var enabled bool
	var last int64
	var codesLeft int
	err = s.pool.QueryRow(ctx, `
		SELECT o.totp_secret, o.totp_enabled_at IS NOT NULL, o.totp_last_step,
			(SELECT count(*) FROM ops.recovery_codes r WHERE r.operator_id = o.id AND r.used_at IS NULL)
		FROM ops.operators o WHERE o.id = $1`, id).Scan(&secret, &enabled, &last, &codesLeft)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("auth: load second factor: %w", err)
	}
	if !enabled && codesLeft == 0 {
		return "", ErrNoSecondFactor
	}
	c := normalizeCode(code)
	if isTOTPCode(c) {
		if !enabled {
			return "", ErrBadCode
		}
		return s.useTOTP(ctx, id, secret, last, c)
	}
	return s.useRecoveryCode(ctx, id, c)
}

// useTOTP accepts c if it matches a step later than last and no
// concurrent request has recorded that step (or a later one) first.
func (s *Store) useTOTP(ctx context.Context, id int64, secret string, last int64, c string) (string, error) {
	step, ok, err := matchTOTP(secret, c, clock())
	if err != nil {
		return "", wrapFactor("verify totp", err)
	}
	if !ok {
		return "", ErrBadCode
	}
	if step <= last {
		return "", ErrCodeReused
	}
	// The secret is compared too, so that a reset in between voids the code.
	tag, err := s.pool.Exec(ctx, `
		UPDATE ops.operators SET totp_last_step = $2
		WHERE id = $1 AND totp_last_step < $2 AND totp_enabled_at IS NOT NULL AND totp_secret = $3`, id, step, secret)
	if err != nil {
		return "", fmt.Errorf("auth: record totp step: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return "", ErrCodeReused
	}
	return "totp", nil
}

// matchTOTP compares c with the codes of the steps around t, all of them
// in constant time, and returns the latest step whose code matches.
func matchTOTP(secret, c string, t time.Time) (step int64, ok bool, err error) {
	if !isTOTPCode(c) {
		return 0, false, nil
	}
	now := t.Unix() / totpPeriod
	for st := now - totpSkew; st <= now+totpSkew; st++ {
		want, err := hotp.GenerateCodeCustom(secret, uint64(st), hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false, fmt.Errorf("stored totp secret is unusable: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(c)) == 1 {
			step, ok = st, true
		}
	}
	return step, ok, nil
}

// SecondFactor is what an operator has set up as a second factor.
type SecondFactor struct {
	// TOTP is true once an authenticator app is enabled, since TOTPSince.
	TOTP      bool
	TOTPSince *time.Time
	// Pending is true while an enrolment awaits its first code.
	Pending bool
	// RecoveryLeft counts unused recovery codes.
	RecoveryLeft int
	// Passkeys counts registered passkeys.
	Passkeys int
}

// Enrolled reports whether the operator has a second factor to sign in
// with: an enabled authenticator app or a passkey.
func (f SecondFactor) Enrolled() bool { return f.TOTP || f.Passkeys > 0 }

// Codes reports whether the operator can answer with a code: an
// authenticator app, or recovery codes left.
func (f SecondFactor) Codes() bool { return f.TOTP || f.RecoveryLeft > 0 }

// SecondFactor returns operator id's second-factor state, or ErrNotFound.
func (s *Store) SecondFactor(ctx context.Context, id int64) (SecondFactor, error) {
	var f SecondFactor
	err := s.pool.QueryRow(ctx, `
		SELECT o.totp_enabled_at, o.totp_secret <> '' AND o.totp_enabled_at IS NULL,
			(SELECT count(*) FROM ops.recovery_codes r WHERE r.operator_id = o.id AND r.used_at IS NULL),
			(SELECT count(*) FROM ops.passkeys p WHERE p.operator_id = o.id)
		FROM ops.operators o WHERE o.id = $1`, id).Scan(&f.TOTPSince, &f.Pending, &f.RecoveryLeft, &f.Passkeys)
	if errors.Is(err, pgx.ErrNoRows) {
		return SecondFactor{}, ErrNotFound
	}
	if err != nil {
		return SecondFactor{}, fmt.Errorf("auth: second factor of %d: %w", id, err)
	}
	f.TOTP = f.TOTPSince != nil
	return f, nil
}

// ResetSecondFactor removes every second factor of operator id: the TOTP
// secret (enabled or pending), recovery codes and passkeys (and passkey
// ceremonies in flight). The last
// accepted TOTP step is kept, so time steps only move forward. It fails
// with ErrNotFound for an unknown id.
func (s *Store) ResetSecondFactor(ctx context.Context, id int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE ops.operators SET totp_secret = '', totp_enabled_at = NULL, updated_at = now() WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM ops.recovery_codes WHERE operator_id = $1`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM ops.passkeys WHERE operator_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM ops.webauthn_ceremonies WHERE operator_id = $1`, id)
		return err
	})
	return wrapFactor("reset second factor", err)
}

// QRCode renders key's otpauth URL as a QR code, locally, and returns it
// as a data:image/png;base64 URI for an <img> on the enrolment page.
func QRCode(key *otp.Key) (string, error) {
	if key == nil {
		return "", errors.New("auth: qr code: no key")
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return "", fmt.Errorf("auth: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("auth: qr code: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// normalizeCode drops spaces and dashes and upper-cases what is left.
func normalizeCode(s string) string {
	if len(s) > 64 {
		return "" // no code is that long; do not hash megabytes
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsSpace(r) || r == '-' {
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// isTOTPCode reports whether c is six ASCII digits.
func isTOTPCode(c string) bool {
	if len(c) != totpDigits.Length() {
		return false
	}
	for i := range len(c) {
		if c[i] < '0' || c[i] > '9' {
			return false
		}
	}
	return true
}

// wrapFactor adds context to unexpected errors and leaves the sentinel
// errors as they are, fit to show.
func wrapFactor(op string, err error) error {
	for _, e := range []error{ErrNotFound, ErrTOTPEnabled, ErrTOTPNotStarted, ErrTOTPNotEnabled, ErrBadCode, ErrCodeReused, ErrNoSecondFactor} {
		if errors.Is(err, e) {
			return err
		}
	}
	if err == nil {
		return nil
	}
	return fmt.Errorf("auth: %s: %w", op, err)
}
