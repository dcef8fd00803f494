package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/testenv"
)

// Many concurrent attempts from many addresses against one account: the
// throttle is decided and recorded atomically, so no more attempts are
// hashed than the policy allows.
func TestThrottleHoldsUnderConcurrency(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	s := auth.NewStore(pool)
	ctx := context.Background()
	if _, err := s.CreateOperator(ctx, "target@atum.io", auth.Operator, "the right password", false); err != nil {
		t.Fatal(err)
	}
	// 40 concurrent attempts from one address, each in its own store (as
	// if from 40 console instances, so no in-memory gate helps).
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := auth.NewStore(pool).Authenticate(ctx, "target@atum.io", "wrong", "10.1.1.1")
			var te *auth.ThrottledError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, auth.ErrBadCredentials):
				counts["hashed"]++
			case errors.As(err, &te):
				counts[te.Scope]++
			default:
				counts[fmt.Sprint(err)]++
			}
		}()
	}
	wg.Wait()
	if counts["hashed"] != auth.MaxAccountAddressFailures || counts[auth.ScopeAccountAddress] != 40-auth.MaxAccountAddressFailures {
		t.Fatalf("40 concurrent attempts: %v; want exactly %d checked", counts, auth.MaxAccountAddressFailures)
	}
}

func TestAccountBackoffSparesKnownAddresses(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateOperator(ctx, "ann@atum.io", auth.Admin, "the right password", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "ann@atum.io", "the right password", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	// An attacker spreads failures over many addresses.
	for i := range auth.AccountBackoffAfter {
		if _, err := s.Authenticate(ctx, "ann@atum.io", "guess", fmt.Sprintf("10.2.0.%d", i)); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	var te *auth.ThrottledError
	if _, err := s.Authenticate(ctx, "ann@atum.io", "guess", "10.2.1.1"); !errors.As(err, &te) || te.Scope != auth.ScopeAccount {
		t.Fatalf("a new address after %d failures: %v, want the account backoff", auth.AccountBackoffAfter, err)
	}
	if te.RetryAfter <= 0 || te.RetryAfter > auth.MaxAccountBackoff {
		t.Errorf("retry after %s", te.RetryAfter)
	}
	// Ann, from where she signed in before, is not slowed down.
	if _, err := s.Authenticate(ctx, "ann@atum.io", "the right password", "10.0.0.1"); err != nil {
		t.Fatalf("the real person from her usual address: %v", err)
	}
	// Her success started the account's counter over.
	if _, err := s.Authenticate(ctx, "ann@atum.io", "guess", "10.2.1.2"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("after a real sign-in the backoff still holds: %v", err)
	}
}

func TestAdminsSeeAndClearThrottles(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for i := range auth.MaxAddressFailures {
		_, _ = s.Authenticate(ctx, fmt.Sprintf("u%d@atum.io", i), "x", "10.3.3.3")
	}
	ts, err := s.Throttles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, th := range ts {
		if th.Scope == auth.ScopeAddress && th.Address == "10.3.3.3" {
			found = th.Blocking && th.Failures == auth.MaxAddressFailures
		}
	}
	if !found {
		t.Fatalf("the blocked address is not listed as blocking: %+v", ts)
	}
	var te *auth.ThrottledError
	if _, err := s.Authenticate(ctx, "v@atum.io", "x", "10.3.3.3"); !errors.As(err, &te) {
		t.Fatalf("blocked address: %v", err)
	}
	if ok, err := s.ClearThrottle(ctx, auth.ScopeAddress, "", "10.3.3.3"); err != nil || !ok {
		t.Fatalf("clear: %v %v", ok, err)
	}
	if _, err := s.Authenticate(ctx, "v@atum.io", "x", "10.3.3.3"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("after clearing: %v", err)
	}
	if _, err := s.ClearThrottle(ctx, "bogus", "", ""); err == nil {
		t.Error("an unknown scope was accepted")
	}
}

// Unknown emails are throttled and answered like known ones.
func TestUnknownEmailsCountLikeKnownOnes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for range auth.MaxAccountAddressFailures {
		if _, err := s.Authenticate(ctx, "ghost@atum.io", "x", "10.4.4.4"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	var te *auth.ThrottledError
	if _, err := s.Authenticate(ctx, "ghost@atum.io", "x", "10.4.4.4"); !errors.As(err, &te) || te.Scope != auth.ScopeAccountAddress {
		t.Fatalf("unknown email after %d failures: %v", auth.MaxAccountAddressFailures, err)
	}
}
