package neon

import (
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
type Sampler struct {
	Console    *pgxpool.Pool
	Platform   *pgxpool.Pool
	BouncerURL string
	Interval   time.Duration
	Keep       time.Duration
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
	_, err = tx.Exec(ctx, `
		INSERT INTO ops.connection_samples (at, total, active, idle, idle_in_tx, lock_waiting, max_connections, usable, planned, pool_waiting, pool_maxwait_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (at) DO NOTHING`,
		snap.At, u.Total, u.ByState["active"], u.ByState["idle"], u.IdleInTx, u.Waiting,
		snap.Limits.MaxConnections, snap.Limits.Usable, snap.Planned, waiting, maxwait)
	return err
}

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

// History returns samples since from, at most points of them: when there
// are more, each point is the maximum over an equal time bucket.
func (s *Sampler) History(ctx context.Context, from time.Time, points int) ([]Sample, error) {
	bucket := time.Since(from) / time.Duration(max(points, 1))
	bucket = max(bucket, time.Second)
	rows, err := s.Console.Query(ctx, `
		SELECT date_bin($2 * interval '1 second', at, $1) AS b, max(total), max(idle_in_tx), max(lock_waiting),
		       min(usable), max(planned), COALESCE(max(pool_waiting), 0), max(max_connections)
		FROM ops.connection_samples WHERE at >= $1
		GROUP BY b ORDER BY b`, from, bucket.Seconds())
	if err != nil {
		return nil, fmt.Errorf("neon: history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sample, error) {
		var x Sample
		err := r.Scan(&x.At, &x.Total, &x.IdleInTx, &x.LockWaiting, &x.Usable, &x.Planned, &x.PoolWaiting, &x.MaxConnections)
		return x, err
	})
}

// Prune deletes history older than Keep.
func (s *Sampler) Prune(ctx context.Context) error {
	_, err := s.Console.Exec(ctx, `DELETE FROM ops.connection_samples WHERE at < now() - $1 * interval '1 second'`, s.Keep.Seconds())
	if err != nil {
		return fmt.Errorf("neon: prune samples: %w", err)
	}
	return nil
}
