package auth

import (
	"testing"
	"time"
)

// SetClock makes TOTP checks see the time f returns until t ends. Tests
// that use it must not run in parallel with other TOTP tests.
func SetClock(t testing.TB, f func() time.Time) {
	old := clock
	clock = f
	t.Cleanup(func() { clock = old })
}
