package rediscache

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Retention of each resolution of the tenant-cache counters.
const (
	// KeepRaw is how long raw heartbeat history is kept (the 5-minute and
	// 1-hour figures read minutes; raw is for diagnosis).
	KeepRaw = 2 * time.Hour
	// KeepMinutes is how long per-minute rollups are kept.
	KeepMinutes = 48 * time.Hour
	// KeepHours is how long per-hour rollups are kept.
	KeepHours = 90 * 24 * time.Hour
)

// firstSight is how soon after its boot an instance's first heartbeat the
// console ever sees may come for its counters to count from zero; an
// instance first seen later had traffic before the console watched, so
// its first heartbeat only sets the baseline.
const firstSight = time.Minute

// Fleet is the instance id of the rollup rows that sum every instance.
const Fleet = ""

// Beat is one heartbeat's cumulative counters, as the history keeps them.
type Beat struct {
	Instance string
	At       time.Time
	Boot     string
	Started  time.Time
	Counters
}

// Gain is what heartbeat b adds to its instance's counters after prev,
// the instance's previous heartbeat (nil if the console never saw one):
// the difference in each counter within one boot, the whole counter for a
// new boot or a counter that went down (a reset), and for a first
// heartbeat the whole counter only when the boot started just before it.
// fold is false for a heartbeat no newer than prev: it arrived late, and
// prev's counters already include it.
func Gain(prev *Beat, b Beat) (gain Counters, fold bool) {
	switch {
	case prev == nil:
		if b.At.Sub(b.Started) <= firstSight {
			return b.Counters, true
		}
		return Counters{}, true
	case !b.At.After(prev.At):
		return Counters{}, false
	case b.Boot != prev.Boot:
		return b.Counters, true
	}
	step := func(was, now int64) int64 {
		if now >= was {
			return now - was
		}
		return now
	}
	return Counters{MemoryHits: step(prev.MemoryHits, b.MemoryHits), RedisHits: step(prev.RedisHits, b.RedisHits),
		Misses: step(prev.Misses, b.Misses), RedisCommands: step(prev.RedisCommands, b.RedisCommands)}, true
}

// bucketKey is one rollup row: a minute or an hour, and an instance.
type bucketKey struct {
	at       time.Time
	instance string
}

// rollup sums gains per bucket.
type rollup map[bucketKey]Counters

func (r rollup) add(at time.Time, instance string, g Counters) {
	c := r[bucketKey{at, instance}]
	c.add(g)
	r[bucketKey{at, instance}] = c
}

// Fold moves up to batch heartbeats from the inbox into the rollups, in
// one transaction on conn, and returns how many it took. Each heartbeat's
// gain over the last one folded for its instance is added to its minute
// and its hour, for the instance and for the Fleet.
func Fold(ctx context.Context, conn *pgxpool.Conn, batch int) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			DELETE FROM ops.heartbeat_inbox WHERE id IN (SELECT id FROM ops.heartbeat_inbox ORDER BY id LIMIT $1)
			RETURNING instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands`, batch)
		if err != nil {
			return err
		}
		beats, err := pgx.CollectRows(rows, scanBeat)
		if err != nil || len(beats) == 0 {
			return err
		}
		n = len(beats)
		slices.SortStableFunc(beats, func(a, b Beat) int {
			return cmp.Or(cmp.Compare(a.Instance, b.Instance), a.At.Compare(b.At))
		})
		last, err := folded(ctx, tx, beats)
		if err != nil {
			return err
		}
		minutes, hours := rollup{}, rollup{}
		for _, b := range beats {
			g, ok := Gain(last[b.Instance], b)
			if !ok {
				continue
			}
			m, h := b.At.UTC().Truncate(time.Minute), b.At.UTC().Truncate(time.Hour)
			minutes.add(m, b.Instance, g)
			minutes.add(m, Fleet, g)
			hours.add(h, b.Instance, g)
			hours.add(h, Fleet, g)
			last[b.Instance] = &b
		}
		if err := upsert(ctx, tx, "ops.cache_minutes", minutes); err != nil {
			return err
		}
		if err := upsert(ctx, tx, "ops.cache_hours", hours); err != nil {
			return err
		}
		return saveFolded(ctx, tx, last)
	})
	if err != nil {
		return 0, fmt.Errorf("rediscache: fold heartbeats: %w", err)
	}
	return n, nil
}

func scanBeat(r pgx.CollectableRow) (Beat, error) {
	var b Beat
	err := r.Scan(&b.Instance, &b.At, &b.Boot, &b.Started, &b.MemoryHits, &b.RedisHits, &b.Misses, &b.RedisCommands)
	return b, err
}

// folded returns the last heartbeat folded for each instance of beats.
func folded(ctx context.Context, tx pgx.Tx, beats []Beat) (map[string]*Beat, error) {
	var ids []string
	for _, b := range beats {
		if len(ids) == 0 || ids[len(ids)-1] != b.Instance {
			ids = append(ids, b.Instance)
		}
	}
	rows, err := tx.Query(ctx, `
		SELECT instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands
		FROM ops.heartbeat_folded WHERE instance_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	prev, err := pgx.CollectRows(rows, scanBeat)
	if err != nil {
		return nil, err
	}
	out := map[string]*Beat{}
	for i := range prev {
		out[prev[i].Instance] = &prev[i]
	}
	return out, nil
}

// upsert adds each bucket's gains to table (a constant name).
func upsert(ctx context.Context, tx pgx.Tx, table string, r rollup) error {
	var at []time.Time
	var ids []string
	var m, rh, d, c []int64
	for k, g := range r {
		at, ids = append(at, k.at), append(ids, k.instance)
		m, rh, d, c = append(m, g.MemoryHits), append(rh, g.RedisHits), append(d, g.Misses), append(c, g.RedisCommands)
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO `+table+` AS t (bucket, instance_id, memory_hits, redis_hits, misses, redis_commands)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
		ON CONFLICT (bucket, instance_id) DO UPDATE SET memory_hits = t.memory_hits + EXCLUDED.memory_hits,
			redis_hits = t.redis_hits + EXCLUDED.redis_hits, misses = t.misses + EXCLUDED.misses,
			redis_commands = t.redis_commands + EXCLUDED.redis_commands`, at, ids, m, rh, d, c)
	return err
}

// saveFolded keeps the last heartbeat folded per instance.
func saveFolded(ctx context.Context, tx pgx.Tx, last map[string]*Beat) error {
	b := &pgx.Batch{}
	for _, l := range last {
		b.Queue(`
			INSERT INTO ops.heartbeat_folded (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (instance_id) DO UPDATE SET at = EXCLUDED.at, boot_id = EXCLUDED.boot_id, started_at = EXCLUDED.started_at,
				memory_hits = EXCLUDED.memory_hits, redis_hits = EXCLUDED.redis_hits, misses = EXCLUDED.misses,
				redis_commands = EXCLUDED.redis_commands`,
			l.Instance, l.At, l.Boot, l.Started, l.MemoryHits, l.RedisHits, l.Misses, l.RedisCommands)
	}
	return tx.SendBatch(ctx, b).Close()
}

// Execer is a pool or one of its connections.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// pruneBatch bounds the rows one prune statement deletes, so that pruning
// never holds long locks.
const pruneBatch = 5000

// PruneRollups deletes, a batch at a time, raw heartbeat history past
// KeepRaw, minutes past KeepMinutes and hours past KeepHours at now, for
// at most budget; it returns how many rows it deleted. Heartbeats not yet
// folded wait in the inbox, so pruning never loses a gain.
func PruneRollups(ctx context.Context, db Execer, now time.Time, budget time.Duration) (int64, error) {
	until := time.Now().Add(budget)
	var total int64
	for _, p := range []struct {
		table, column string
		keep          time.Duration
	}{{"ops.heartbeat_history", "at", KeepRaw}, {"ops.cache_minutes", "bucket", KeepMinutes}, {"ops.cache_hours", "bucket", KeepHours}} {
		for time.Now().Before(until) {
			tag, err := db.Exec(ctx, `DELETE FROM `+p.table+` WHERE ctid = ANY (ARRAY(
				SELECT ctid FROM `+p.table+` WHERE `+p.column+` < $1 LIMIT $2))`, now.Add(-p.keep), pruneBatch)
			if err != nil {
				return total, fmt.Errorf("rediscache: prune %s: %w", p.table, err)
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < pruneBatch {
				break
			}
		}
	}
	return total, nil
}
