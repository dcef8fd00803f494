package fly

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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
	return snap, Analyze(snap.Machines, snap.Secrets, o), nil
}

// Live returns the report of the last listing this instance saw, without
// I/O and without the heartbeat cross-check; ok is false when the fleet
// was never listed successfully.
func (f *Fleet) Live() (Report, bool) {
	snap, ok := f.Sampler.Cached()
	if !ok || snap.ListedAt.IsZero() {
		return Report{}, false
	}
	o := f.Options
	o.Now, o.Heartbeats = time.Now(), nil
	return Analyze(snap.Machines, snap.Secrets, o), true
}

// Running returns the started machines of the last listing (flyctl's own
// release-command and console machines aside), or nil when the fleet was
// never listed.
func (f *Fleet) Running() []string {
	snap, ok := f.Sampler.Cached()
	if !ok || snap.ListedAt.IsZero() {
		return nil
	}
	out := []string{}
	for _, m := range snap.Machines {
		if m.State == "started" && !flyGroups[m.Group()] {
			out = append(out, m.ID)
		}
	}
	return out
}

// IsNoSnapshot reports whether err means the fleet was never listed.
func IsNoSnapshot(err error) bool { return errors.Is(err, ErrNoSnapshot) }
