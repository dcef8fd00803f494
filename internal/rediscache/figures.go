package rediscache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Window is the fleet's tenant-cache counters over one hit-rate window.
type Window struct {
	Label string
	Span  time.Duration
	Counters
}

// windows are the hit-rate windows: minutes up to a day, hours beyond.
var windows = []struct {
	label string
	span  time.Duration
	hours bool
}{{"5 minutes", 5 * time.Minute, false}, {"1 hour", time.Hour, false}, {"1 day", 24 * time.Hour, false}, {"14 days", 14 * 24 * time.Hour, true}}

// Figures are what the Cache screen, the cache alert rules and the
// metrics read: computed from the rollups by the elected console
// instance after each fold and stored as one snapshot, so a page view
// costs one short query whatever the history length and the number of
// instances.
type Figures struct {
	// At is when they were computed.
	At time.Time
	// Windows are the fleet's counters over each hit-rate window.
	Windows []Window
	// PerDay is Redis's commands per day projected from the samples of
	// the last Span.
	PerDay int64
	Span   time.Duration
	// Instances are the platform instances seen in the last hour.
	Instances []Instance
	// Hour is each instance's counters over the last hour.
	Hour map[string]Counters
	// Recent and Before are each instance's Redis commands per minute over
	// the last 5 whole minutes and over the hour before them; an instance
	// is in Before when it reported then.
	Recent, Before map[string]float64
	// Series is the fleet's counters per minute over the last hour.
	Series []Point
}

// ReadFigures computes the Figures at now from the rollups, in six short
// queries.
func ReadFigures(ctx context.Context, db Querier, now time.Time) (Figures, error) {
	f := Figures{At: now}
	var err error
	if f.Windows, err = readWindows(ctx, db, now); err != nil {
		return f, err
	}
	if f.PerDay, f.Span, err = CommandsPerDay(ctx, db, now); err != nil {
		return f, err
	}
	if f.Instances, err = Instances(ctx, db, now.Add(-time.Hour)); err != nil {
		return f, err
	}
	if err := readPerInstance(ctx, db, now, &f); err != nil {
		return f, err
	}
	f.Series, err = readSeries(ctx, db, now.Add(-time.Hour))
	return f, err
}

// Querier is a pool or one of its connections.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// sums is the SQL of the four counters summed, filtered by a condition.
func sums(cond string) string {
	return fmt.Sprintf(`COALESCE(sum(memory_hits) FILTER (WHERE %[1]s), 0)::bigint, COALESCE(sum(redis_hits) FILTER (WHERE %[1]s), 0)::bigint,
		COALESCE(sum(misses) FILTER (WHERE %[1]s), 0)::bigint, COALESCE(sum(redis_commands) FILTER (WHERE %[1]s), 0)::bigint`, cond)
}

func readWindows(ctx context.Context, db Querier, now time.Time) ([]Window, error) {
	var out []Window
	for _, w := range windows {
		table, unit := "ops.cache_minutes", time.Minute
		if w.hours {
			table, unit = "ops.cache_hours", time.Hour
		}
		win := Window{Label: w.label, Span: w.span}
		err := db.QueryRow(ctx, `SELECT `+sums("true")+` FROM `+table+` WHERE instance_id = '' AND bucket >= $1`,
			now.Add(-w.span).UTC().Truncate(unit)).Scan(&win.MemoryHits, &win.RedisHits, &win.Misses, &win.RedisCommands)
		if err != nil {
			return nil, fmt.Errorf("rediscache: hit rates: %w", err)
		}
		out = append(out, win)
	}
	return out, nil
}

// readPerInstance reads each instance's last hour and its Redis command
// rates from the minutes of the last 65.
func readPerInstance(ctx context.Context, db Querier, now time.Time, f *Figures) error {
	m0 := now.UTC().Truncate(time.Minute)
	rows, err := db.Query(ctx, `
		SELECT instance_id, `+sums("bucket >= $2")+`,
		       COALESCE(sum(redis_commands) FILTER (WHERE bucket >= $3 AND bucket < $4), 0)::bigint,
		       COALESCE(sum(redis_commands) FILTER (WHERE bucket < $3), 0)::bigint,
		       count(*) FILTER (WHERE bucket < $3)
		FROM ops.cache_minutes WHERE instance_id <> '' AND bucket >= $1 GROUP BY instance_id`,
		m0.Add(-65*time.Minute), now.Add(-time.Hour).UTC().Truncate(time.Minute), m0.Add(-5*time.Minute), m0)
	if err != nil {
		return fmt.Errorf("rediscache: per instance: %w", err)
	}
	f.Hour, f.Recent, f.Before = map[string]Counters{}, map[string]float64{}, map[string]float64{}
	for rows.Next() {
		var id string
		var c Counters
		var recent, before, beforeRows int64
		if err := rows.Scan(&id, &c.MemoryHits, &c.RedisHits, &c.Misses, &c.RedisCommands, &recent, &before, &beforeRows); err != nil {
			rows.Close()
			return fmt.Errorf("rediscache: per instance: %w", err)
		}
		f.Hour[id], f.Recent[id] = c, float64(recent)/5
		if beforeRows > 0 {
			f.Before[id] = float64(before) / 60
		}
	}
	return rows.Err()
}

func readSeries(ctx context.Context, db Querier, from time.Time) ([]Point, error) {
	rows, err := db.Query(ctx, `SELECT bucket, memory_hits, redis_hits, misses, redis_commands FROM ops.cache_minutes
		WHERE instance_id = '' AND bucket >= $1 ORDER BY bucket`, from.UTC().Truncate(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("rediscache: series: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Point, error) {
		var p Point
		err := r.Scan(&p.At, &p.MemoryHits, &p.RedisHits, &p.Misses, &p.RedisCommands)
		return p, err
	})
}

// Groups maps each instance to its process group.
func (f Figures) Groups() map[string]string {
	groups := map[string]string{}
	for _, i := range f.Instances {
		groups[i.ID] = i.Group
	}
	return groups
}

// JumpOf reports whether the instance's Redis commands jumped against its
// baseline, and the baseline (per minute) with what it was measured
// against, in words.
func (f Figures) JumpOf(id string, groups map[string]string) (base float64, against string, jumped bool) {
	base, from, ok := Baseline(id, f.Recent, f.Before, groups)
	if !ok || !Jump(f.Recent[id], base) {
		return 0, "", false
	}
	return base, baselineText(from), true
}

// baselineText says what a jump was measured against.
func baselineText(from string) string {
	switch from {
	case "own":
		return "its own rate in the hour before"
	case "group":
		return "the median of its process group, it has no history yet"
	}
	return "the fleet's median, it has no history yet"
}

// ErrNoFigures says the figures were never computed.
var ErrNoFigures = errors.New("the cache figures were not computed yet")

// Snapshots keeps the latest Figures: stored by the elected instance,
// decoded by every instance once per change.
type Snapshots struct {
	Pool *pgxpool.Pool
	held atomic.Pointer[Figures]
}

// Store saves f as the latest figures.
func (s *Snapshots) Store(ctx context.Context, db Execer, f Figures) error {
	doc, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if _, err := db.Exec(ctx, `INSERT INTO ops.cache_snapshot (id, at, figures) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at, figures = EXCLUDED.figures`, f.At, doc); err != nil {
		return fmt.Errorf("rediscache: store figures: %w", err)
	}
	// Postgres keeps microseconds: the held copy's At must match.
	f.At = f.At.Truncate(time.Microsecond)
	s.held.Store(&f)
	return nil
}

// Latest returns the latest figures: one short query, and the stored
// document only when it changed since this instance last read it.
func (s *Snapshots) Latest(ctx context.Context) (Figures, error) {
	held := s.held.Load()
	var at *time.Time
	if held != nil {
		at = &held.At
	}
	var stored time.Time
	var doc []byte
	err := s.Pool.QueryRow(ctx, `SELECT at, CASE WHEN at = $1 THEN NULL ELSE figures END FROM ops.cache_snapshot WHERE id = 1`, at).
		Scan(&stored, &doc)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Figures{}, ErrNoFigures
	case err != nil:
		return Figures{}, fmt.Errorf("rediscache: latest figures: %w", err)
	case doc == nil && held != nil:
		return *held, nil
	}
	var f Figures
	if err := json.Unmarshal(doc, &f); err != nil {
		return Figures{}, fmt.Errorf("rediscache: stored figures: %w", err)
	}
	f.At = stored
	s.held.Store(&f)
	return f, nil
}
