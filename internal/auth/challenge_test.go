package auth_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/testenv"
)

func TestChallengeAnswersOnce(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	move := fakeClock(t)
	a, secret, codes := enrolled(t, s, "two@atum.io")
	move(1)

	token, err := s.StartChallenge(ctx, a.ID, "/alerts?open=1", "10.0.0.1")
	if err != nil || len(token) < 43 {
		t.Fatalf("StartChallenge = %q, %v", token, err)
	}
	var raw int
	var ttl float64
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE token_hash = convert_to($1, 'UTF8')),
		max(extract(epoch FROM expires_at - created_at)) FROM ops.login_challenges`, token).Scan(&raw, &ttl); err != nil || raw != 0 || ttl != 300 {
		t.Fatalf("raw token stored: %d, ttl %v s, %v", raw, ttl, err)
	}
	got, next, err := s.Challenge(ctx, token)
	if err != nil || got.ID != a.ID || got.Email != "two@atum.io" || got.Role != auth.Operator || next != "/alerts?open=1" {
		t.Fatalf("Challenge = %+v, %q, %v", got, next, err)
	}
	got, next, method, err := s.AnswerChallenge(ctx, token, codeAt(t, secret, 1))
	if err != nil || got.ID != a.ID || next != "/alerts?open=1" || method != "totp" {
		t.Fatalf("AnswerChallenge = %+v, %q, %q, %v", got, next, method, err)
	}
	var lastMethod string
	var signedIn bool
	if err := pool.QueryRow(ctx, `SELECT last_login_method, last_login_at IS NOT NULL FROM ops.operators WHERE id = $1`, a.ID).
		Scan(&lastMethod, &signedIn); err != nil || lastMethod != "password + totp" || !signedIn {
		t.Errorf("last login: %q, %v, %v", lastMethod, signedIn, err)
	}
	// Answered: no second use, even with another valid code.
	if _, _, err := s.Challenge(ctx, token); !errors.Is(err, auth.ErrNoChallenge) {
		t.Errorf("Challenge after its answer: %v", err)
	}
	if _, _, _, err := s.AnswerChallenge(ctx, token, codeAt(t, secret, 2)); !errors.Is(err, auth.ErrNoChallenge) {
		t.Errorf("second answer: %v", err)
	}
	// A recovery code answers too.
	token2, _ := s.StartChallenge(ctx, a.ID, "/", "10.0.0.1")
	if _, _, method, err := s.AnswerChallenge(ctx, token2, codes[0]); err != nil || method != "recovery" {
		t.Fatalf("recovery code: %q, %v", method, err)
	}
	if err := pool.QueryRow(ctx, `SELECT last_login_method FROM ops.operators WHERE id = $1`, a.ID).Scan(&lastMethod); err != nil || lastMethod != "password + recovery" {
		t.Errorf("last login method %q, %v", lastMethod, err)
	}
	for _, tok := range []string{"", "unknown", string(make([]byte, 200))} {
		if _, _, err := s.Challenge(ctx, tok); !errors.Is(err, auth.ErrNoChallenge) {
			t.Errorf("token %.10q: %v", tok, err)
		}
	}
	if _, err := s.StartChallenge(ctx, 9999, "/", "10.0.0.1"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("challenge for an unknown operator: %v", err)
	}
}

func TestChallengeDiesAfterTooManyWrongCodes(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	move := fakeClock(t)
	a, secret, _ := enrolled(t, s, "guess@atum.io")
	move(1)
	wrong := wrongCode(t, secret, 1)

	// Four wrong codes, then the right one: still fine.
	token, _ := s.StartChallenge(ctx, a.ID, "/", "10.0.0.1")
	for range auth.MaxChallengeFailures - 1 {
		if _, _, _, err := s.AnswerChallenge(ctx, token, wrong); !errors.Is(err, auth.ErrBadCode) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	if _, _, _, err := s.AnswerChallenge(ctx, token, codeAt(t, secret, 1)); err != nil {
		t.Fatalf("right code after %d wrong ones: %v", auth.MaxChallengeFailures-1, err)
	}

	// Five wrong codes (a replayed one counts) kill the challenge.
	token, _ = s.StartChallenge(ctx, a.ID, "/", "10.0.0.1")
	if _, _, _, err := s.AnswerChallenge(ctx, token, codeAt(t, secret, 1)); !errors.Is(err, auth.ErrCodeReused) {
		t.Fatalf("replayed code: %v", err)
	}
	for i := 1; i < auth.MaxChallengeFailures; i++ {
		if _, _, _, err := s.AnswerChallenge(ctx, token, wrong); !errors.Is(err, auth.ErrBadCode) {
			t.Fatalf("wrong code %d: %v, want ErrBadCode", i+1, err)
		}
	}
	if _, _, _, err := s.AnswerChallenge(ctx, token, codeAt(t, secret, 2)); !errors.Is(err, auth.ErrNoChallenge) {
		t.Errorf("right code after %d wrong ones: %v, want ErrNoChallenge", auth.MaxChallengeFailures, err)
	}
	if _, _, err := s.Challenge(ctx, token); !errors.Is(err, auth.ErrNoChallenge) {
		t.Errorf("Challenge after %d wrong codes: %v", auth.MaxChallengeFailures, err)
	}
	var failures int
	if err := pool.QueryRow(ctx, `SELECT failures FROM ops.login_challenges WHERE token_hash = $1`, tokenHash(token)).Scan(&failures); err != nil || failures != auth.MaxChallengeFailures {
		t.Errorf("failures = %d, %v", failures, err)
	}
}

// Concurrent guesses cannot together try more codes than the limit.
func TestChallengeLimitHoldsUnderConcurrency(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	move := fakeClock(t)
	a, secret, _ := enrolled(t, s, "burst@atum.io")
	move(1)
	wrong := wrongCode(t, secret, 1)
	token, _ := s.StartChallenge(ctx, a.ID, "/", "10.0.0.1")
	const n = 30
	var mu sync.Mutex
	counts := map[error]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			_, _, _, err := s.AnswerChallenge(ctx, token, wrong)
			mu.Lock()
			counts[err]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if counts[auth.ErrBadCode] != auth.MaxChallengeFailures || counts[auth.ErrNoChallenge] != n-auth.MaxChallengeFailures {
		t.Errorf("outcomes %v: want %d wrong codes checked, the rest refused", counts, auth.MaxChallengeFailures)
	}
}

func TestChallengeExpiresAndPrunes(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	move := fakeClock(t)
	a, secret, _ := enrolled(t, s, "late@atum.io")
	move(1)
	old, _ := s.StartChallenge(ctx, a.ID, "/", "10.0.0.1")
	live, _ := s.StartChallenge(ctx, a.ID, "/", "10.0.0.1")
	if _, err := pool.Exec(ctx, `UPDATE ops.login_challenges SET expires_at = now() - interval '2 hours' WHERE token_hash = $1`, tokenHash(old)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Challenge(ctx, old); !errors.Is(err, auth.ErrNoChallenge) {
		t.Errorf("expired challenge: %v", err)
	}
	if _, _, _, err := s.AnswerChallenge(ctx, old, codeAt(t, secret, 1)); !errors.Is(err, auth.ErrNoChallenge) {
		t.Errorf("answer to an expired challenge: %v", err)
	}
	if err := s.Prune(ctx, 7*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops.login_challenges`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d challenges after pruning, %v; want the live one", n, err)
	}
	if _, _, err := s.Challenge(ctx, live); err != nil {
		t.Errorf("live challenge pruned: %v", err)
	}
}

func TestChallengeOfDisabledOperator(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	move := fakeClock(t)
	a, secret, _ := enrolled(t, s, "leaver@atum.io")
	move(1)
	token, _ := s.StartChallenge(ctx, a.ID, "/", "10.0.0.1")
	if err := s.SetDisabled(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Challenge(ctx, token); !errors.Is(err, auth.ErrNoChallenge) {
		t.Errorf("challenge of a disabled operator: %v", err)
	}
	if _, _, _, err := s.AnswerChallenge(ctx, token, codeAt(t, secret, 1)); !errors.Is(err, auth.ErrNoChallenge) {
		t.Errorf("answer for a disabled operator: %v", err)
	}
}

// tokenHash is how a challenge token is stored.
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
