package neon

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/sampling"
)

// samplerLock is the advisory lock that elects one sampling console
// instance per tick.
const samplerLock = 0x6f70735f636f6e6e // "ops_conn"

// Snapshot is one reading of the platform database's connections.
type Snapshot struct {
	At      time.Time
	Limits  Limits
	Usage   Usage
	Planned int
	// Bouncer is nil when PgBouncer is not configured.
	Bouncer *Bouncer
	// Err and BouncerErr say what could not be read.
	Err        string
	BouncerErr string
}

// Sample is one history point.
type Sample struct {
	At             time.Time
	Total          int
	IdleInTx       int
	LockWaiting    int
	Usable         int
	Planned        int
	PoolWaiting    int
	MaxConnections int
}

// Sampler reads the platform's connections on an interval while someone
// uses the console, keeps the latest snapshot and a history in schema ops.
// Several console instances elect one sampler per tick with an advisory
// lock, so the load on the platform database does not grow with the
// number of instances or viewers.
//
// The history has three resolutions: raw samples (ops.connection_samples),
// and the worst of each minute and of each hour (ops.connection_minutes,
// ops.connection_hours), which the transaction storing a sample keeps up
// to date. History reads the coarsest resolution that still has a step
// per point, raw samples only for ranges up to 2 hours and minutes only up
// to 2 days, so a chart reads at most a few thousand rows whatever the
// range (336 hours for 14 days, not 80,640 samples). Prune keeps raw samples RawKeep (default 2 hours),
// minutes MinuteKeep (default 2 days) and hours Keep (default 90 days;
// HISTORY_RETENTION sets it): Keep is how far back the history reaches,
// and no resolution is kept longer than Keep, nor (when Keep allows)
// shorter than the ranges History reads it for.
type Sampler struct {
	Console    *pgxpool.Pool
	Platform   *pgxpool.Pool
	BouncerURL string
	Interval   time.Duration
	// Keep is how long the history is kept: the hourly rollups, and at
	// most this long every finer resolution. Zero means DefaultKeep.
	Keep time.Duration
	// RawKeep is how long raw samples are kept: zero means DefaultRawKeep,
	// and never less than the 2 hours History reads them for.
	RawKeep time.Duration
	// MinuteKeep is how long the per-minute rollups are kept: zero means
	// DefaultMinuteKeep, and never less than the 2 days History reads them
	// for.
	MinuteKeep time.Duration
	// Active reports whether anyone used the console recently.
	Active func() bool
	// Planned returns the current plan's total.
	Planned func() int
	Redact  func(string) string
	Log     *slog.Logger
	// OnSample, when set, runs after this instance stored a sample.
	OnSample func()

	latest atomic.Pointer[Snapshot]
	reads  atomic.Int64
	kick   chan struct{}
	once   sync.Once
	smp    *sampling.Sampler[*Snapshot]
}

// NewSampler returns a Sampler; fill in its exported fields before Run.
func NewSampler() *Sampler { return &Sampler{kick: make(chan struct{}, 1)} }

// Kick asks a running sampler to sample now (activity resumed).
func (s *Sampler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Reads counts how many times this instance read the platform database.
func (s *Sampler) Reads() int64 { return s.reads.Load() }

// Run samples every Interval until ctx ends, and prunes old history hourly.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		if s.Active == nil || s.Active() {
			if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("connection sample failed", "error", s.redact(err.Error()))
			}
			if time.Since(lastPrune) > time.Hour {
				if err := s.Prune(ctx); err == nil {
					lastPrune = time.Now()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

func (s *Sampler) redact(msg string) string {
	if s.Redact == nil {
		return msg
	}
	return s.Redact(msg)
}

// Tick takes one sample unless another instance took one within the last
// interval; either way it refreshes this instance's latest snapshot. The
// election lock is a session lock held on one console connection outside
// any transaction, so the console never sits idle in a transaction while
// it reads the platform.
func (s *Sampler) Tick(ctx context.Context) error {
	if _, _, err := s.sampler().Tick(ctx, false); err != nil {
		return fmt.Errorf("neon: sample: %w", err)
	}
	return nil
}

// sampler elects the instance and skips a recent sample: one with a
// history point, so a failed reading does not delay the next.
func (s *Sampler) sampler() *sampling.Sampler[*Snapshot] {
	s.once.Do(func() {
		s.smp = &sampling.Sampler[*Snapshot]{Pool: s.Console, Lock: samplerLock, Interval: s.Interval,
			Last: func(ctx context.Context, conn *pgxpool.Conn) (*Snapshot, time.Time, error) {
				var at time.Time
				err := conn.QueryRow(ctx, `SELECT COALESCE(max(at), 'epoch') FROM ops.connection_samples`).Scan(&at)
				return nil, at, err
			},
			Take: func(ctx context.Context, conn *pgxpool.Conn, _ *Snapshot) (*Snapshot, error) {
				snap := s.read(ctx)
				if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return s.store(ctx, tx, snap) }); err != nil {
					return nil, err
				}
				s.latest.Store(snap)
				return snap, nil
			},
			OnSample: func() {
				if s.OnSample != nil {
					s.OnSample()
				}
			}}
	})
	return s.smp
}

// read takes one reading of the platform; failures are recorded in the
// snapshot, not returned, so a failed reading still shows on the page.
func (s *Sampler) read(ctx context.Context) *Snapshot {
	s.reads.Add(1)
	snap := &Snapshot{At: time.Now()}
	if s.Planned != nil {
		snap.Planned = s.Planned()
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	if snap.Limits, err = ReadLimits(rctx, s.Platform); err == nil {
		snap.Usage, err = ReadUsage(rctx, s.Platform)
	}
	if err != nil {
		snap.Err = s.redact(err.Error())
	}
	if s.BouncerURL != "" {
		b, err := ReadPgBouncer(rctx, s.BouncerURL)
		if err != nil {
			snap.BouncerErr = s.redact(err.Error())
		} else {
			snap.Bouncer = &b
		}
	}
	return snap
}

func (s *Sampler) store(ctx context.Context, tx pgx.Tx, snap *Snapshot) error {
	doc, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO ops.connection_snapshot (id, at, snapshot) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at, snapshot = EXCLUDED.snapshot`, snap.At, doc); err != nil {
		return err
	}
	if snap.Err != "" {
		return nil // no history point for a failed reading
	}
	u := snap.Usage
	var waiting, maxwait *int
	if b := snap.Bouncer; b != nil {
		w, mw := int(b.Waiting), int(b.MaxWait.Milliseconds())
		waiting, maxwait = &w, &mw
	}
	_, err = tx.Exec(ctx, storeSample,
		snap.At, u.Total, u.ByState["active"], u.ByState["idle"], u.IdleInTx, u.Waiting,
		snap.Limits.MaxConnections, snap.Limits.Usable, snap.Planned, waiting, maxwait)
	return err
}

// rollupOrigin is where minute and hour buckets start: whole minutes and
// hours of UTC, whatever the session's time zone.
const rollupOrigin = `timestamptz '2000-01-01 00:00:00+00'`

// rollupUpsert folds the rows of CTE s into the rollup table of one
// resolution: the worst of the bucket, as the migration's backfill.
func rollupUpsert(table, step string) string {
	return `INSERT INTO ops.` + table + ` AS r (bucket, samples, total, idle_in_tx, lock_waiting, usable, planned, pool_waiting, max_connections)
		SELECT date_bin(interval '` + step + `', at, ` + rollupOrigin + `), 1, total, idle_in_tx, lock_waiting, usable, planned, pool_waiting, max_connections FROM s
		ON CONFLICT (bucket) DO UPDATE SET samples = r.samples + 1,
			total = GREATEST(r.total, EXCLUDED.total), idle_in_tx = GREATEST(r.idle_in_tx, EXCLUDED.idle_in_tx),
			lock_waiting = GREATEST(r.lock_waiting, EXCLUDED.lock_waiting), usable = LEAST(r.usable, EXCLUDED.usable),
			planned = GREATEST(r.planned, EXCLUDED.planned), pool_waiting = GREATEST(r.pool_waiting, EXCLUDED.pool_waiting),
			max_connections = GREATEST(r.max_connections, EXCLUDED.max_connections)`
}

// storeSample inserts a sample and, only when it is new, folds it into
// its minute and its hour: one statement, in the caller's transaction.
var storeSample = `
	WITH s AS (
		INSERT INTO ops.connection_samples (at, total, active, idle, idle_in_tx, lock_waiting, max_connections, usable, planned, pool_waiting, pool_maxwait_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (at) DO NOTHING
		RETURNING at, total, idle_in_tx, lock_waiting, usable, planned, pool_waiting, max_connections),
	m AS (` + rollupUpsert("connection_minutes", "1 minute") + `)
	` + rollupUpsert("connection_hours", "1 hour")

// ErrNoSnapshot says no sample was taken yet.
var ErrNoSnapshot = errors.New("no connection sample yet")

// Latest returns the newest snapshot: this instance's own if it sampled
// within two intervals, else the one another instance stored.
func (s *Sampler) Latest(ctx context.Context) (Snapshot, error) {
	if snap := s.latest.Load(); snap != nil && time.Since(snap.At) < 2*s.Interval {
		return *snap, nil
	}
	var doc []byte
	err := s.Console.QueryRow(ctx, `SELECT snapshot FROM ops.connection_snapshot WHERE id = 1`).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		if snap := s.latest.Load(); snap != nil {
			return *snap, nil
		}
		return Snapshot{}, ErrNoSnapshot
	}
	if err != nil {
		if snap := s.latest.Load(); snap != nil {
			return *snap, nil
		}
		return Snapshot{}, fmt.Errorf("neon: latest snapshot: %w", err)
	}
	var snap Snapshot
	if err := json.Unmarshal(doc, &snap); err != nil {
		return Snapshot{}, fmt.Errorf("neon: latest snapshot: %w", err)
	}
	return snap, nil
}

// Retention defaults; see Sampler.
const (
	// DefaultKeep is how long hourly rollups are kept when Keep is zero.
	DefaultKeep = 90 * 24 * time.Hour
	// DefaultRawKeep is how long raw samples are kept when RawKeep is zero.
	DefaultRawKeep = 2 * time.Hour
	// DefaultMinuteKeep is how long minute rollups are kept when
	// MinuteKeep is zero.
	DefaultMinuteKeep = 48 * time.Hour
)

// History reads raw samples for ranges up to rawSpan and minutes for
// ranges up to minuteSpan: at most 480 raw rows at a 15 s interval, 2,880
// minutes, and one hour per hour kept (2,160 at 90 days).
const (
	rawSpan    = 2 * time.Hour
	minuteSpan = 48 * time.Hour
)

// resolution is one table of the history.
type resolution struct {
	table string // in schema ops
	at    string // its time column
	step  time.Duration
	span  time.Duration // the longest range History reads it for
}

var (
	rawRes    = resolution{"connection_samples", "at", 0, rawSpan}
	minuteRes = resolution{"connection_minutes", "bucket", time.Minute, minuteSpan}
	hourRes   = resolution{"connection_hours", "bucket", time.Hour, 1<<63 - 1}
)

// pick chooses the coarsest resolution that covers span and still has at
// least points steps in it, or failing that the finest that covers span.
func pick(span time.Duration, points int) resolution {
	var covering []resolution // coarsest first
	for _, r := range []resolution{hourRes, minuteRes, rawRes} {
		if span <= r.span {
			covering = append(covering, r)
		}
	}
	for _, r := range covering {
		if r.step == 0 || span/r.step >= time.Duration(points) {
			return r
		}
	}
	return covering[len(covering)-1]
}

// History returns samples since from, at most points of them: when there
// are more, each point is the worst over an equal time bucket (the most
// connections, the fewest usable). Long ranges are read from the minute
// or hour rollups: their buckets are then whole minutes or hours, and
// start at the first whole minute or hour from from.
func (s *Sampler) History(ctx context.Context, from time.Time, points int) ([]Sample, error) {
	return s.history(ctx, time.Now(), from, points)
}

func (s *Sampler) history(ctx context.Context, now, from time.Time, points int) ([]Sample, error) {
	points = max(points, 1)
	span := max(now.Sub(from), 0)
	r := pick(span, points)
	bucket := max(span/time.Duration(points), time.Second)
	origin := from
	if r.step > 0 {
		// Whole steps, so that each rollup row falls in one bucket, and at
		// least span/points long, so that there are at most points.
		bucket = (bucket + r.step - 1) / r.step * r.step
		if origin = from.Truncate(r.step); origin.Before(from) {
			origin = origin.Add(r.step)
		}
	}
	rows, err := s.Console.Query(ctx, `
		SELECT date_bin($2 * interval '1 second', `+r.at+`, $1) AS b, max(total), max(idle_in_tx), max(lock_waiting),
		       min(usable), max(planned), COALESCE(max(pool_waiting), 0), max(max_connections)
		FROM ops.`+r.table+` WHERE `+r.at+` >= $1
		GROUP BY b ORDER BY b`, origin, bucket.Seconds())
	if err != nil {
		return nil, fmt.Errorf("neon: history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sample, error) {
		var x Sample
		err := r.Scan(&x.At, &x.Total, &x.IdleInTx, &x.LockWaiting, &x.Usable, &x.Planned, &x.PoolWaiting, &x.MaxConnections)
		return x, err
	})
}

// Pruning deletes at most pruneBatch rows per statement, and pauses
// prunePause between statements, so that it never holds locks long.
const (
	pruneBatch = 5000
	prunePause = 50 * time.Millisecond
)

// retention returns how long raw samples, minutes and hours are kept.
func (s *Sampler) retention() (raw, minutes, hours time.Duration) {
	hours = cmp.Or(s.Keep, DefaultKeep)
	raw = min(max(cmp.Or(s.RawKeep, DefaultRawKeep), rawSpan), hours)
	minutes = min(max(cmp.Or(s.MinuteKeep, DefaultMinuteKeep), minuteSpan), hours)
	return raw, minutes, hours
}

// Prune deletes raw samples, minutes and hours older than their
// retention (see Sampler), in small batches.
func (s *Sampler) Prune(ctx context.Context) error {
	raw, minutes, hours := s.retention()
	for _, p := range []struct {
		r    resolution
		keep time.Duration
	}{{rawRes, raw}, {minuteRes, minutes}, {hourRes, hours}} {
		if err := s.prune(ctx, p.r, p.keep); err != nil {
			return fmt.Errorf("neon: prune %s: %w", p.r.table, err)
		}
	}
	return nil
}

func (s *Sampler) prune(ctx context.Context, r resolution, keep time.Duration) error {
	q := `DELETE FROM ops.` + r.table + ` WHERE ` + r.at + ` IN (
		SELECT ` + r.at + ` FROM ops.` + r.table + ` WHERE ` + r.at + ` < now() - $1 * interval '1 second'
		ORDER BY ` + r.at + ` LIMIT $2)`
	for {
		tag, err := s.Console.Exec(ctx, q, keep.Seconds(), pruneBatch)
		if err != nil {
			return err
		}
		if tag.RowsAffected() < pruneBatch {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(prunePause):
		}
	}
}
