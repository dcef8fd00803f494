package testenv

import (
	"fmt"
	"testing"
	"time"
)

// Poll calls cond until it returns true or timeout has passed, and reports
// how long that took and whether cond held. It waits 5 ms between the
// first calls and backs off to 100 ms, so a condition that queries a
// server does not load a busy machine. cond is called once more after the
// deadline: a poller woken late still sees a condition that held by then.
func Poll(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	begin := time.Now()
	wait := 5 * time.Millisecond
	for {
		if cond() {
			return time.Since(begin), true
		}
		if time.Since(begin) > timeout {
			return time.Since(begin), false
		}
		time.Sleep(min(wait, max(timeout-time.Since(begin), time.Millisecond)))
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// Eventually waits until cond returns true and returns how long that
// took; when timeout passes first it fails the test with msg, formatted
// with args as by fmt.Sprintf. cond runs on the calling goroutine, so it
// may call t.Fatal. Use a timeout well beyond what the condition needs on
// an idle machine: it only bounds how long a failing test takes.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) time.Duration {
	t.Helper()
	took, ok := Poll(timeout, cond)
	if !ok {
		t.Fatalf("not within %s: %s", timeout, fmt.Sprintf(msg, args...))
	}
	return took
}
