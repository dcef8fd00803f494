package rediscache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/sampling"
)

// rollupLock elects the console instance that folds heartbeats.
const rollupLock = 0x6f70735f726f6c6c // "ops_roll"

// Work bounds of one fold round.
const (
	foldBatch = 5000
	// foldBudget bounds the folding of one round; a backlog (an upgrade
	// folding its kept history, a console that watched nothing for a
	// while) is folded over the next rounds.
	foldBudget = 10 * time.Second
	// pruneBudget bounds the pruning of one round.
	pruneBudget = 2 * time.Second
)

// Roller folds the heartbeat inbox into the per-minute and per-hour
// rollups every Interval on the elected console instance, prunes each
// resolution past its retention, and stores the Figures every screen,
// rule and metric reads.
type Roller struct {
	Pool      *pgxpool.Pool
	Interval  time.Duration
	Snapshots *Snapshots
	// Active reports whether the console watches now (nil: always).
	Active func() bool
	// OnSample, when set, runs after new figures were stored.
	OnSample func()
	Log      *slog.Logger
	// Now is the clock the figures are computed at (nil: time.Now).
	Now func() time.Time

	once sync.Once
	smp  *sampling.Sampler[Figures]
	kick chan struct{}
}

// Kick asks a running roller for a round now (activity resumed).
func (r *Roller) Kick() {
	select {
	case r.kicks() <- struct{}{}:
	default:
	}
}

func (r *Roller) kicks() chan struct{} {
	r.sampler()
	return r.kick
}

// Run folds every Interval until ctx ends.
func (r *Roller) Run(ctx context.Context) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		if r.Active == nil || r.Active() {
			if err := r.Tick(ctx, false); err != nil && ctx.Err() == nil && r.Log != nil {
				r.Log.Warn("cache rollup failed", "error", err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kicks():
		}
	}
}

// Tick folds, prunes and stores the figures unless another instance did
// within the interval (force: now, whatever).
func (r *Roller) Tick(ctx context.Context, force bool) error {
	_, _, err := r.sampler().Tick(ctx, force)
	return err
}

func (r *Roller) sampler() *sampling.Sampler[Figures] {
	r.once.Do(func() {
		r.kick = make(chan struct{}, 1)
		r.smp = &sampling.Sampler[Figures]{Pool: r.Pool, Lock: rollupLock, Interval: r.Interval,
			Last: func(ctx context.Context, conn *pgxpool.Conn) (Figures, time.Time, error) {
				var at time.Time
				err := conn.QueryRow(ctx, `SELECT at FROM ops.cache_snapshot WHERE id = 1`).Scan(&at)
				if errors.Is(err, pgx.ErrNoRows) {
					err = nil
				}
				return Figures{}, at, err
			},
			Take: func(ctx context.Context, conn *pgxpool.Conn, _ Figures) (Figures, error) { return r.round(ctx, conn) },
			OnSample: func() {
				if r.OnSample != nil {
					r.OnSample()
				}
			}}
	})
	return r.smp
}

// round folds what waits (within foldBudget), prunes, and computes and
// stores the figures.
func (r *Roller) round(ctx context.Context, conn *pgxpool.Conn) (Figures, error) {
	until := time.Now().Add(foldBudget)
	for time.Now().Before(until) {
		n, err := Fold(ctx, conn, foldBatch)
		if err != nil {
			return Figures{}, err
		}
		if n < foldBatch {
			break
		}
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	if _, err := PruneRollups(ctx, conn, now, pruneBudget); err != nil {
		return Figures{}, err
	}
	f, err := ReadFigures(ctx, conn, now)
	if err != nil {
		return Figures{}, err
	}
	if err := r.Snapshots.Store(ctx, conn, f); err != nil {
		return Figures{}, fmt.Errorf("rediscache: %w", err)
	}
	return f, nil
}
