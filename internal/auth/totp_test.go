package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/testenv"
)

// t0 is the start of a 30-second step, so that t0 + k·30 s is step N+k.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// fakeClock sets the TOTP clock to t0 and returns a function that moves
// it to t0 plus steps time steps and a few seconds into that step.
func fakeClock(t *testing.T) func(steps int) {
	var mu sync.Mutex
	now := t0.Add(7 * time.Second)
	auth.SetClock(t, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	return func(steps int) {
		mu.Lock()
		defer mu.Unlock()
		now = t0.Add(time.Duration(steps)*30*time.Second + 7*time.Second)
	}
}

// codeAt is the authenticator app's code for secret at t0 plus steps.
func codeAt(t *testing.T, secret string, steps int) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, t0.Add(time.Duration(steps)*30*time.Second), totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a six-digit code that matches none of the steps around
// step (nor the step itself).
func wrongCode(t *testing.T, secret string, step int) string {
	t.Helper()
	near := map[string]bool{}
	for d := -1; d <= 1; d++ {
		near[codeAt(t, secret, step+d)] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !near[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// enrolled creates an operator with TOTP enabled at step 0 and returns it
// with its secret and recovery codes.
func enrolled(t *testing.T, s *auth.Store, email string) (auth.Account, string, []string) {
	t.Helper()
	ctx := context.Background()
	a, err := s.CreateOperator(ctx, email, auth.Operator, "the right password", false)
	if err != nil {
		t.Fatal(err)
	}
	key, err := s.StartTOTP(ctx, a.ID, "Atum ops")
	if err != nil {
		t.Fatal(err)
	}
	codes, err := s.ConfirmTOTP(ctx, a.ID, codeAt(t, key.Secret(), 0))
	if err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return a, key.Secret(), codes
}

var recoveryFormat = regexp.MustCompile(`^[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}$`)

func TestTOTPEnrolment(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	fakeClock(t)
	a, err := s.CreateOperator(ctx, "enrol@atum.io", auth.Operator, "the right password", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmTOTP(ctx, a.ID, "123456"); !errors.Is(err, auth.ErrTOTPNotStarted) {
		t.Errorf("confirm before start: %v", err)
	}
	key, err := s.StartTOTP(ctx, a.ID, "Atum: ops")
	if err != nil {
		t.Fatal(err)
	}
	if key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 ||
		key.AccountName() != "enrol@atum.io" || key.Issuer() != "Atum ops" || len(key.Secret()) < 32 {
		t.Errorf("key %s: period %d, digits %d, algorithm %s, account %q, issuer %q",
			key.URL(), key.Period(), key.Digits(), key.Algorithm(), key.AccountName(), key.Issuer())
	}
	if f, err := s.SecondFactor(ctx, a.ID); err != nil || !f.Pending || f.TOTP || f.Enrolled() {
		t.Errorf("after start: %+v, %v", f, err)
	}
	if _, err := s.ConfirmTOTP(ctx, a.ID, wrongCode(t, key.Secret(), 0)); !errors.Is(err, auth.ErrBadCode) {
		t.Errorf("wrong code: %v", err)
	}
	if _, err := s.ConfirmTOTP(ctx, a.ID, codeAt(t, key.Secret(), 3)); !errors.Is(err, auth.ErrBadCode) {
		t.Errorf("code three steps ahead: %v", err)
	}
	confirm := codeAt(t, key.Secret(), 1) // the app's clock runs a little ahead
	codes, err := s.ConfirmTOTP(ctx, a.ID, confirm[:3]+" "+confirm[3:])
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryFormat.MatchString(c) || seen[c] {
			t.Errorf("recovery code %q: bad format or repeated", c)
		}
		seen[c] = true
	}
	// Only SHA-256 hashes of the normalised codes are stored.
	rows, err := pool.Query(ctx, `SELECT code_hash FROM ops.recovery_codes WHERE operator_id = $1`, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		if len(h) != sha256.Size {
			t.Errorf("stored code_hash %q is not a SHA-256", h)
		}
		stored[string(h)] = true
	}
	if rows.Err() != nil || len(stored) != 10 {
		t.Fatalf("%d stored codes, %v", len(stored), rows.Err())
	}
	for _, c := range codes {
		sum := sha256.Sum256([]byte(strings.ToUpper(strings.ReplaceAll(c, "-", ""))))
		if !stored[string(sum[:])] {
			t.Errorf("no hash stored for %q", c)
		}
	}
	f, err := s.SecondFactor(ctx, a.ID)
	if err != nil || !f.TOTP || f.TOTPSince == nil || f.Pending || f.RecoveryLeft != 10 || !f.Enrolled() {
		t.Errorf("after confirm: %+v, %v", f, err)
	}
	// The confirmation code's step is used up: it cannot sign in too.
	if _, err := s.VerifySecondFactor(ctx, a.ID, confirm); !errors.Is(err, auth.ErrCodeReused) {
		t.Errorf("confirmation code reused to sign in: %v", err)
	}
	if _, err := s.StartTOTP(ctx, a.ID, "Atum ops"); !errors.Is(err, auth.ErrTOTPEnabled) {
		t.Errorf("StartTOTP while enabled: %v", err)
	}
	if _, err := s.ConfirmTOTP(ctx, a.ID, codeAt(t, key.Secret(), 1)); !errors.Is(err, auth.ErrTOTPEnabled) {
		t.Errorf("ConfirmTOTP while enabled: %v", err)
	}
	if _, err := s.StartTOTP(ctx, 9999, ""); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("StartTOTP for an unknown id: %v", err)
	}
	if _, err := s.SecondFactor(ctx, 9999); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("SecondFactor for an unknown id: %v", err)
	}
}

func TestTOTPCodeWorksOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	move := fakeClock(t)
	a, secret, _ := enrolled(t, s, "once@atum.io")
	move(2) // step 2: codes of steps 1, 2 and 3 match

	if _, err := s.VerifySecondFactor(ctx, a.ID, wrongCode(t, secret, 2)); !errors.Is(err, auth.ErrBadCode) {
		t.Errorf("wrong code: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, a.ID, codeAt(t, secret, 5)); !errors.Is(err, auth.ErrBadCode) {
		t.Errorf("code outside the skew window: %v", err)
	}
	c2 := codeAt(t, secret, 2)
	if m, err := s.VerifySecondFactor(ctx, a.ID, c2); err != nil || m != "totp" {
		t.Fatalf("valid code: %q, %v", m, err)
	}
	if _, err := s.VerifySecondFactor(ctx, a.ID, c2); !errors.Is(err, auth.ErrCodeReused) {
		t.Errorf("same code again within its step: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, a.ID, codeAt(t, secret, 1)); !errors.Is(err, auth.ErrCodeReused) {
		t.Errorf("code of an earlier step after a later one: %v", err)
	}
	// The next step's code (app clock ahead) is accepted once; after it,
	// the current step's code is refused although still in its window.
	move(4)
	c5 := codeAt(t, secret, 5)
	if _, err := s.VerifySecondFactor(ctx, a.ID, "- "+c5[:3]+"-"+c5[3:]+" "); err != nil {
		t.Fatalf("code of step N+1 with spaces and dashes: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, a.ID, codeAt(t, secret, 4)); !errors.Is(err, auth.ErrCodeReused) {
		t.Errorf("code of step N after step N+1 was used: %v", err)
	}
	move(6)
	if _, err := s.VerifySecondFactor(ctx, a.ID, codeAt(t, secret, 6)); err != nil {
		t.Errorf("a later step's code: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, 9999, "123456"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("unknown operator: %v", err)
	}
}

func TestTOTPConcurrentUseLetsOneThrough(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	move := fakeClock(t)
	a, secret, _ := enrolled(t, s, "race@atum.io")
	// Several rounds, each with a new step's code sent by n requests at
	// once, so that some of them read the last step before any writes it.
	const rounds, n = 10, 8
	for round := 2; round < 2+rounds; round++ {
		move(round)
		code := codeAt(t, secret, round)
		errs := make(chan error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				<-start
				_, err := s.VerifySecondFactor(ctx, a.ID, code)
				errs <- err
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		ok, reused := 0, 0
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, auth.ErrCodeReused):
				reused++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 || reused != n-1 {
			t.Errorf("step %d: %d accepted, %d refused as reused; want 1 and %d", round, ok, reused, n-1)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	fakeClock(t)
	a, _, codes := enrolled(t, s, "rescue@atum.io")

	if m, err := s.VerifySecondFactor(ctx, a.ID, codes[0]); err != nil || m != "recovery" {
		t.Fatalf("recovery code: %q, %v", m, err)
	}
	if _, err := s.VerifySecondFactor(ctx, a.ID, codes[0]); !errors.Is(err, auth.ErrCodeReused) {
		t.Errorf("recovery code reused: %v", err)
	}
	// Case, spaces and dashes do not matter.
	bare := strings.ReplaceAll(codes[3], "-", "")
	for i, variant := range []string{
		"  " + strings.ToUpper(codes[1]) + "\t",
		strings.ReplaceAll(codes[2], "-", " "),
		bare[:2] + "-" + bare[2:4] + " " + strings.ToUpper(bare[4:]),
	} {
		if m, err := s.VerifySecondFactor(ctx, a.ID, variant); err != nil || m != "recovery" {
			t.Errorf("variant %d %q: %q, %v", i, variant, m, err)
		}
	}
	for _, bad := range []string{"", "abcde-fghij", "22222-22222", codes[4] + "x", "ooooo-iiiii", strings.Repeat("2", 1000)} {
		if _, err := s.VerifySecondFactor(ctx, a.ID, bad); !errors.Is(err, auth.ErrBadCode) {
			t.Errorf("%.20q: %v, want ErrBadCode", bad, err)
		}
	}
	if f, _ := s.SecondFactor(ctx, a.ID); f.RecoveryLeft != 6 {
		t.Errorf("%d recovery codes left, want 6", f.RecoveryLeft)
	}
	fresh, err := s.RegenerateRecoveryCodes(ctx, a.ID)
	if err != nil || len(fresh) != 10 {
		t.Fatalf("RegenerateRecoveryCodes = %d codes, %v", len(fresh), err)
	}
	if _, err := s.VerifySecondFactor(ctx, a.ID, codes[5]); !errors.Is(err, auth.ErrBadCode) {
		t.Errorf("an old code after regeneration: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, a.ID, fresh[9]); err != nil {
		t.Errorf("a new code: %v", err)
	}
	if f, _ := s.SecondFactor(ctx, a.ID); f.RecoveryLeft != 9 {
		t.Errorf("%d recovery codes left, want 9", f.RecoveryLeft)
	}
}

func TestResetSecondFactor(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	move := fakeClock(t)
	a, secret, codes := enrolled(t, s, "reset@atum.io")
	move(1)
	if _, err := s.VerifySecondFactor(ctx, a.ID, codeAt(t, secret, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO ops.passkeys (id, operator_id, name, credential) VALUES ('\x01', $1, 'key', '{}')`, a.ID); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.SecondFactor(ctx, a.ID); f.Passkeys != 1 || !f.TOTP {
		t.Fatalf("before reset: %+v", f)
	}
	if err := s.ResetSecondFactor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	f, err := s.SecondFactor(ctx, a.ID)
	if err != nil || f != (auth.SecondFactor{}) || f.Enrolled() {
		t.Errorf("after reset: %+v, %v", f, err)
	}
	var secretLeft string
	var codesLeft, passkeys int
	var lastStep int64
	if err := pool.QueryRow(ctx, `SELECT totp_secret, totp_last_step,
		(SELECT count(*) FROM ops.recovery_codes WHERE operator_id = $1),
		(SELECT count(*) FROM ops.passkeys WHERE operator_id = $1)
		FROM ops.operators WHERE id = $1`, a.ID).Scan(&secretLeft, &lastStep, &codesLeft, &passkeys); err != nil {
		t.Fatal(err)
	}
	if secretLeft != "" || codesLeft != 0 || passkeys != 0 {
		t.Errorf("left after reset: secret %v, %d codes, %d passkeys", secretLeft != "", codesLeft, passkeys)
	}
	if want := t0.Unix()/30 + 1; lastStep != want {
		t.Errorf("totp_last_step = %d after reset, want it kept at %d", lastStep, want)
	}
	for _, c := range []string{codeAt(t, secret, 2), codes[1]} {
		if _, err := s.VerifySecondFactor(ctx, a.ID, c); !errors.Is(err, auth.ErrNoSecondFactor) {
			t.Errorf("code after reset: %v, want ErrNoSecondFactor", err)
		}
	}
	if _, err := s.RegenerateRecoveryCodes(ctx, a.ID); !errors.Is(err, auth.ErrTOTPNotEnabled) {
		t.Errorf("RegenerateRecoveryCodes without TOTP: %v", err)
	}
	if _, err := s.StartTOTP(ctx, a.ID, ""); err != nil {
		t.Errorf("StartTOTP after reset: %v", err)
	}
	if err := s.ResetSecondFactor(ctx, 9999); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("reset of an unknown id: %v", err)
	}
	// A passkey alone counts as enrolled.
	if _, err := pool.Exec(ctx, `INSERT INTO ops.passkeys (id, operator_id, credential) VALUES ('\x02', $1, '{}')`, a.ID); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.SecondFactor(ctx, a.ID); !f.Enrolled() || f.TOTP || !f.Pending {
		t.Errorf("passkey only, TOTP pending: %+v", f)
	}
}

func TestQRCode(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, err := s.CreateOperator(ctx, "a-rather-long.address@operations.atum.io", auth.Admin, "the right password", false)
	if err != nil {
		t.Fatal(err)
	}
	key, err := s.StartTOTP(ctx, a.ID, "Atum ops console")
	if err != nil {
		t.Fatal(err)
	}
	uri, err := auth.QRCode(key)
	if err != nil {
		t.Fatal(err)
	}
	b64, ok := strings.CutPrefix(uri, "data:image/png;base64,")
	if !ok {
		t.Fatalf("not a PNG data URI: %.40s", uri)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 240 || b.Dy() != 240 {
		t.Errorf("QR code is %v, want 240×240", b)
	}
	if _, err := auth.QRCode(nil); err == nil {
		t.Error("QRCode(nil) gave no error")
	}
}

// Wrong codes are counted per operator across challenges and step-ups:
// beyond MaxFactorFailures in the window even the right code is refused
// unchecked, so a person with the password cannot guess without end.
func TestWrongCodesLockTheSecondFactor(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	move := fakeClock(t)
	a, secret, _ := enrolled(t, s, "guess@atum.io")
	move(3)
	for i := range auth.MaxFactorFailures {
		if _, err := s.VerifySecondFactor(ctx, a.ID, fmt.Sprintf("%06d", i)); !errors.Is(err, auth.ErrBadCode) {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	var te *auth.ThrottledError
	if _, err := s.VerifySecondFactor(ctx, a.ID, codeAt(t, secret, 3)); !errors.As(err, &te) || te.Scope != auth.ScopeSecondFactor || te.RetryAfter <= 0 {
		t.Fatalf("the right code after %d wrong ones: %v", auth.MaxFactorFailures, err)
	}
	// The window passes: the right code works and clears the count.
	if _, err := pool.Exec(ctx, `UPDATE ops.operators SET factor_failures_since = now() - interval '16 minutes' WHERE id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifySecondFactor(ctx, a.ID, codeAt(t, secret, 3)); err != nil {
		t.Fatalf("the right code after the window: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT factor_failures FROM ops.operators WHERE id = $1`, a.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("count after a right code: %d (%v)", n, err)
	}
}
