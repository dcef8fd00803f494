package qstash

import (
	"context"
	"time"
)

// Patiently runs call and, when QStash answers it with a 429 whose wait
// plus reserve ends before ctx's deadline, waits that long and runs call
// once more; it returns the last error. A ctx without a deadline has no
// budget to wait in: its 429 is returned at once. reserve is what the
// caller needs after the wait: the second call and the rest of its work.
func Patiently(ctx context.Context, reserve time.Duration, call func(context.Context) error) error {
	err := call(ctx)
	wait, limited := IsRateLimited(err)
	if !limited || !Fits(ctx, wait+reserve) {
		return err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return err
	}
	return call(ctx)
}

// Fits reports whether d ends before ctx's deadline (false without one).
func Fits(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) > d
}
