package fly

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/store"
)

// Fleet joins the sampler's snapshot with the platform's heartbeats and
// the console's expectations. It reads only the console's database.
type Fleet struct {
	Sampler *Sampler
	// Console holds the heartbeats; HeartbeatWithin is how recent a live
	// one is.
	Console         *pgxpool.Pool
	HeartbeatWithin time.Duration
	// Options are the expectations (Now and Heartbeats are filled in).
	Options Options

	live atomic.Pointer[liveReport]
}

// Report returns the stored snapshot and what the rules find in it. The
// error is ErrNoSnapshot before the first listing, or a database error;
// a failed listing is in Snapshot.Err and the report shows the last good
// machines (an empty report when no listing ever succeeded).
func (f *Fleet) Report(ctx context.Context) (Snapshot, Report, error) {
	snap, err := f.Sampler.Latest(ctx)
	if err != nil || snap.ListedAt.IsZero() {
		// Never listed: no machines is not "no machines run".
		return snap, Report{}, err
	}
	o := f.Options
	o.Now = time.Now()
	// Without heartbeats (their query failed) the cross-check is skipped
	// rather than reporting every machine as silent.
	o.Heartbeats, _ = Heartbeats(ctx, f.Console, f.HeartbeatWithin)
	if o.Heartbeats != nil && len(o.Heartbeats) == 0 {
		// None live: a platform that never reported one has not adopted
		// the contract yet (one finding), unlike machines gone silent
		// (one each). Not knowing which skips the cross-check too.
		first, err := store.FirstHeartbeat(ctx, f.Console)
		if err != nil {
			o.Heartbeats = nil
		}
		o.NoHeartbeatsYet = err == nil && first.IsZero()
	}
	return snap, Analyze(snap.Machines, snap.Secrets, o), nil
}

// Live returns the report of the last listing this instance saw, as of
// that listing and without the heartbeat cross-check; ok is false when the
// fleet was never listed successfully. It does no I/O and analyses each
// listing once, however often the budget and the diagnosis ask.
func (f *Fleet) Live() (Report, bool) {
	snap, ok := f.Sampler.Cached()
	if !ok || snap.ListedAt.IsZero() {
		return Report{}, false
	}
	if l := f.live.Load(); l != nil && l.at.Equal(snap.At) {
		return l.r, true
	}
	o := f.Options
	o.Now, o.Heartbeats = snap.At, nil
	r := Analyze(snap.Machines, snap.Secrets, o)
	f.live.Store(&liveReport{at: snap.At, r: r})
	return r, true
}

// liveReport is a listing's report, kept until the next listing.
type liveReport struct {
	at time.Time
	r  Report
}

// Running returns the started machines of the last listing (flyctl's own
// release-command and console machines aside), or nil when the fleet was
// never listed.
func (f *Fleet) Running() []string {
	r, ok := f.Live()
	if !ok {
		return nil
	}
	if out := r.Running(); out != nil {
		return out
	}
	return []string{}
}

// IsNoSnapshot reports whether err means the fleet was never listed.
func IsNoSnapshot(err error) bool { return errors.Is(err, ErrNoSnapshot) }
