package rediscache_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/testenv"
)

func TestGain(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	beat := func(boot string, started time.Time, at time.Duration, m, r, d, c int64) rediscache.Beat {
		return rediscache.Beat{Instance: "i", Boot: boot, Started: started, At: t0.Add(at),
			Counters: rediscache.Counters{MemoryHits: m, RedisHits: r, Misses: d, RedisCommands: c}}
	}
	prev := beat("a", t0.Add(-time.Hour), 0, 100, 50, 10, 80)
	for _, tt := range []struct {
		name string
		prev *rediscache.Beat
		b    rediscache.Beat
		want rediscache.Counters
		fold bool
	}{
		{"first sight of a fresh boot counts from zero", nil, beat("a", t0.Add(-20*time.Second), 0, 7, 3, 1, 9),
			rediscache.Counters{MemoryHits: 7, RedisHits: 3, Misses: 1, RedisCommands: 9}, true},
		{"first sight of an old boot only sets the baseline", nil, beat("a", t0.Add(-time.Hour), 0, 7, 3, 1, 9), rediscache.Counters{}, true},
		{"same boot counts the difference", &prev, beat("a", prev.Started, 15*time.Second, 110, 55, 10, 90),
			rediscache.Counters{MemoryHits: 10, RedisHits: 5, Misses: 0, RedisCommands: 10}, true},
		{"a counter that went down was reset", &prev, beat("a", prev.Started, 15*time.Second, 110, 4, 12, 90),
			rediscache.Counters{MemoryHits: 10, RedisHits: 4, Misses: 2, RedisCommands: 10}, true},
		{"a new boot counts from zero", &prev, beat("b", t0.Add(5*time.Second), 15*time.Second, 6, 2, 3, 5),
			rediscache.Counters{MemoryHits: 6, RedisHits: 2, Misses: 3, RedisCommands: 5}, true},
		{"a late heartbeat is already counted", &prev, beat("a", prev.Started, -15*time.Second, 90, 45, 9, 70), rediscache.Counters{}, false},
		{"a repeated heartbeat is already counted", &prev, prev, rediscache.Counters{}, false},
	} {
		got, fold := rediscache.Gain(tt.prev, tt.b)
		if got != tt.want || fold != tt.fold {
			t.Errorf("%s: Gain = %+v, %v; want %+v, %v", tt.name, got, fold, tt.want, tt.fold)
		}
	}
}

// history writes one heartbeat of an instance into the history and the
// inbox, as the heartbeat trigger does.
func history(t *testing.T, pool *pgxpool.Pool, b rediscache.Beat) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		WITH h AS (INSERT INTO ops.heartbeat_history (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
		           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *)
		INSERT INTO ops.heartbeat_inbox (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
		SELECT instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands FROM h`,
		b.Instance, b.At, b.Boot, b.Started, b.MemoryHits, b.RedisHits, b.Misses, b.RedisCommands)
	if err != nil {
		t.Fatal(err)
	}
}

// rawSQL is the reference computation on the raw history, written apart
// from the Go fold: each heartbeat's gain over the one before it of its
// instance, summed per instance over [$1, $2).
const rawSQL = `
WITH x AS (
    SELECT *, lag(at) OVER w AS p_at, lag(boot_id) OVER w AS p_boot, lag(memory_hits) OVER w AS p_m, lag(redis_hits) OVER w AS p_r,
           lag(misses) OVER w AS p_d, lag(redis_commands) OVER w AS p_c
    FROM ops.heartbeat_history WINDOW w AS (PARTITION BY instance_id ORDER BY at)),
g AS (
    SELECT instance_id, at,
           CASE WHEN p_at IS NULL THEN CASE WHEN at - started_at <= interval '1 minute' THEN memory_hits ELSE 0 END
                WHEN boot_id <> p_boot OR memory_hits < p_m THEN memory_hits ELSE memory_hits - p_m END AS m,
           CASE WHEN p_at IS NULL THEN CASE WHEN at - started_at <= interval '1 minute' THEN redis_hits ELSE 0 END
                WHEN boot_id <> p_boot OR redis_hits < p_r THEN redis_hits ELSE redis_hits - p_r END AS r,
           CASE WHEN p_at IS NULL THEN CASE WHEN at - started_at <= interval '1 minute' THEN misses ELSE 0 END
                WHEN boot_id <> p_boot OR misses < p_d THEN misses ELSE misses - p_d END AS d,
           CASE WHEN p_at IS NULL THEN CASE WHEN at - started_at <= interval '1 minute' THEN redis_commands ELSE 0 END
                WHEN boot_id <> p_boot OR redis_commands < p_c THEN redis_commands ELSE redis_commands - p_c END AS c
    FROM x)
SELECT instance_id, sum(m)::bigint, sum(r)::bigint, sum(d)::bigint, sum(c)::bigint
FROM g WHERE at >= $1 AND at < $2 GROUP BY instance_id`

// rawSums is rawSQL's answer, with the fleet's under rediscache.Fleet.
func rawSums(t *testing.T, pool *pgxpool.Pool, from, to time.Time) map[string]rediscache.Counters {
	t.Helper()
	rows, err := pool.Query(context.Background(), rawSQL, from, to)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]rediscache.Counters{}
	var fleet rediscache.Counters
	for rows.Next() {
		var id string
		var c rediscache.Counters
		if err := rows.Scan(&id, &c.MemoryHits, &c.RedisHits, &c.Misses, &c.RedisCommands); err != nil {
			t.Fatal(err)
		}
		out[id] = c
		fleet.MemoryHits, fleet.RedisHits = fleet.MemoryHits+c.MemoryHits, fleet.RedisHits+c.RedisHits
		fleet.Misses, fleet.RedisCommands = fleet.Misses+c.Misses, fleet.RedisCommands+c.RedisCommands
	}
	out[rediscache.Fleet] = fleet
	return out
}

// rolledSums sums a rollup table per instance over [from, to).
func rolledSums(t *testing.T, pool *pgxpool.Pool, table string, from, to time.Time) map[string]rediscache.Counters {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT instance_id, sum(memory_hits)::bigint, sum(redis_hits)::bigint, sum(misses)::bigint,
		sum(redis_commands)::bigint FROM `+table+` WHERE bucket >= $1 AND bucket < $2 GROUP BY instance_id`, from, to)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]rediscache.Counters{}
	for rows.Next() {
		var id string
		var c rediscache.Counters
		if err := rows.Scan(&id, &c.MemoryHits, &c.RedisHits, &c.Misses, &c.RedisCommands); err != nil {
			t.Fatal(err)
		}
		out[id] = c
	}
	return out
}

// fold folds the whole inbox in batches of size, each on a connection of
// its own, as console instances taking turns (or a restarted one) would.
func fold(t *testing.T, pool *pgxpool.Pool, size int) {
	t.Helper()
	ctx := context.Background()
	for {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, err := rediscache.Fold(ctx, conn, size)
		conn.Release()
		if err != nil {
			t.Fatal(err)
		}
		if n < size {
			return
		}
	}
}

// The rollups hold exactly what the raw history gives, per instance and
// for the fleet, per minute and per hour: across a restart (a new boot
// counting from zero), a counter reset within a boot, an instance first
// seen long after its boot, heartbeats arriving out of order within a
// batch, and folding in small batches across connections.
func TestRollupsEqualRawHistory(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	t0 := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	rng := rand.New(rand.NewPCG(1, 2))
	var beats []rediscache.Beat
	for i, id := range []string{"api-1", "api-2", "worker-1"} {
		boot, started := "a", t0.Add(-10*time.Second)
		if id == "worker-1" {
			started = t0.Add(-48 * time.Hour) // running long before the console saw it
		}
		var c rediscache.Counters
		for k := 0; k < 3*60*4; k++ {
			at := t0.Add(time.Duration(k)*15*time.Second + time.Duration(i)*time.Second)
			switch {
			case id == "api-1" && k == 300: // restart: a new boot from zero
				boot, started, c = "b", at.Add(-5*time.Second), rediscache.Counters{}
			case id == "api-2" && k == 400: // the platform reset one counter
				c.RedisCommands = 0
			}
			c.MemoryHits += rng.Int64N(50)
			c.RedisHits += rng.Int64N(20)
			c.Misses += rng.Int64N(5)
			c.RedisCommands += rng.Int64N(40)
			beats = append(beats, rediscache.Beat{Instance: id, At: at, Boot: boot, Started: started, Counters: c})
		}
	}
	// Out of order within batches: the inbox is folded in insertion order.
	for i := 0; i+1 < len(beats); i += 7 {
		beats[i], beats[i+1] = beats[i+1], beats[i]
	}
	for _, b := range beats[:len(beats)/2] {
		history(t, pool, b)
	}
	fold(t, pool, 97) // a first console folds half …
	for _, b := range beats[len(beats)/2:] {
		history(t, pool, b)
	}
	fold(t, pool, 250) // … a restarted one the rest

	end := t0.Add(3 * time.Hour)
	for _, w := range []struct {
		table    string
		from, to time.Time
	}{
		{"ops.cache_minutes", t0, end}, {"ops.cache_minutes", t0.Add(75 * time.Minute), t0.Add(80 * time.Minute)},
		{"ops.cache_minutes", t0.Add(74*time.Minute + 0), t0.Add(76 * time.Minute)}, // across api-1's restart
		{"ops.cache_minutes", t0.Add(99 * time.Minute), t0.Add(101 * time.Minute)},  // across api-2's reset
		{"ops.cache_hours", t0, end}, {"ops.cache_hours", t0.Add(time.Hour), t0.Add(2 * time.Hour)},
	} {
		got, want := rolledSums(t, pool, w.table, w.from, w.to), rawSums(t, pool, w.from, w.to)
		if len(got) != len(want) {
			t.Errorf("%s %s–%s: %d rows, want %d", w.table, w.from.Format("15:04"), w.to.Format("15:04"), len(got), len(want))
		}
		for id, c := range want {
			if got[id] != c {
				t.Errorf("%s %s–%s, instance %q: rolled %+v, raw %+v", w.table, w.from.Format("15:04"), w.to.Format("15:04"), id, got[id], c)
			}
		}
	}
	// The restart neither went negative nor counted api-1's traffic twice.
	if all := rolledSums(t, pool, "ops.cache_hours", t0, end)["api-1"]; all.RedisCommands <= 0 ||
		all.RedisCommands != beats299(beats, "api-1").RedisCommands+lastOf(beats, "api-1").RedisCommands {
		t.Errorf("api-1 over the restart: %+v", all)
	}
}

// beats299 is api-1's counters at its last heartbeat before the restart.
func beats299(beats []rediscache.Beat, id string) rediscache.Counters {
	var last rediscache.Beat
	for _, b := range beats {
		if b.Instance == id && b.Boot == "a" && b.At.After(last.At) {
			last = b
		}
	}
	return last.Counters
}

// lastOf is the instance's last counters.
func lastOf(beats []rediscache.Beat, id string) rediscache.Counters {
	var last rediscache.Beat
	for _, b := range beats {
		if b.Instance == id && b.At.After(last.At) {
			last = b
		}
	}
	return last.Counters
}

// Pruning keeps each resolution for its retention and deletes what is
// older, in batches; heartbeats still in the inbox are not lost.
func TestPruneRollups(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	now := time.Now().UTC().Truncate(time.Minute)
	if _, err := pool.Exec(ctx, `
		INSERT INTO ops.heartbeat_history (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
		SELECT 'i' || (n % 20), $1::timestamptz - n * interval '1 second', 'b', $1::timestamptz - interval '1 day', 0, 0, 0, 0
		FROM generate_series(1, 3 * 3600) n`, now); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []struct {
		table string
		step  time.Duration
		n     int
	}{{"ops.cache_minutes", time.Minute, 3 * 24 * 60}, {"ops.cache_hours", time.Hour, 100 * 24}} {
		if _, err := pool.Exec(ctx, `INSERT INTO `+tb.table+` (bucket, instance_id, memory_hits, redis_hits, misses, redis_commands)
			SELECT $1::timestamptz - n * $2 * interval '1 second', '', 1, 1, 1, 1 FROM generate_series(0, $3 - 1) n`,
			now, tb.step.Seconds(), tb.n); err != nil {
			t.Fatal(err)
		}
	}
	history(t, pool, rediscache.Beat{Instance: "late", At: now.Add(-5 * time.Hour), Boot: "b", Started: now.Add(-6 * time.Hour)})
	n, err := rediscache.PruneRollups(ctx, pool, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var raw, minutes, hours, inbox int64
	var oldestRaw, oldestMinute, oldestHour time.Time
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM ops.heartbeat_history), (SELECT min(at) FROM ops.heartbeat_history),
		(SELECT count(*) FROM ops.cache_minutes), (SELECT min(bucket) FROM ops.cache_minutes),
		(SELECT count(*) FROM ops.cache_hours), (SELECT min(bucket) FROM ops.cache_hours), (SELECT count(*) FROM ops.heartbeat_inbox)`).
		Scan(&raw, &oldestRaw, &minutes, &oldestMinute, &hours, &oldestHour, &inbox); err != nil {
		t.Fatal(err)
	}
	if oldestRaw.Before(now.Add(-rediscache.KeepRaw)) || raw != int64(rediscache.KeepRaw/time.Second) {
		t.Errorf("raw: %d rows from %s", raw, oldestRaw)
	}
	if oldestMinute.Before(now.Add(-rediscache.KeepMinutes)) || minutes != int64(rediscache.KeepMinutes/time.Minute)+1 {
		t.Errorf("minutes: %d rows from %s", minutes, oldestMinute)
	}
	if oldestHour.Before(now.Add(-rediscache.KeepHours)) || hours != int64(rediscache.KeepHours/time.Hour)+1 {
		t.Errorf("hours: %d rows from %s", hours, oldestHour)
	}
	if inbox != 1 {
		t.Errorf("the inbox lost a heartbeat not yet folded: %d left", inbox)
	}
	// Raw: 3 h at 1 s minus the 2 h kept, plus the late one; minutes: a
	// day less one; hours: 10 days less one.
	if want := int64(3600+1) + int64(24*60-1) + int64(10*24-1); n != want {
		t.Errorf("pruned %d rows; want %d", n, want)
	}
}

// The roller folds what waits, stores the figures, and every instance
// reads the same figures back; the figures are the rollups' sums.
func TestRollerStoresFigures(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	now := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	started := now.Add(-2 * time.Hour)
	for k := 0; k <= 90*4; k++ { // 90 minutes at 15 s: api-1 at 40 commands a minute, api-2 at 400 in the last 5
		at := started.Add(30*time.Minute + time.Duration(k)*15*time.Second)
		if at.After(now) {
			break
		}
		m := int64(at.Sub(started) / (15 * time.Second))
		history(t, pool, rediscache.Beat{Instance: "api-1", At: at, Boot: "a", Started: started,
			Counters: rediscache.Counters{MemoryHits: 8 * m, RedisHits: m, Misses: m, RedisCommands: 10 * m}})
		c := 10 * m
		if at.After(now.Add(-6 * time.Minute)) {
			c += 100 * int64(at.Sub(now.Add(-6*time.Minute))/(15*time.Second))
		}
		history(t, pool, rediscache.Beat{Instance: "api-2", At: at, Boot: "a", Started: started,
			Counters: rediscache.Counters{MemoryHits: 8 * m, RedisHits: m, Misses: m, RedisCommands: c}})
	}
	snaps := &rediscache.Snapshots{Pool: pool}
	samples := 0
	r := &rediscache.Roller{Pool: pool, Interval: time.Minute, Snapshots: snaps, Now: func() time.Time { return now },
		OnSample: func() { samples++ }}
	if err := r.Tick(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := r.Tick(ctx, false); err != nil || samples != 1 {
		t.Fatalf("a second round within the interval ran (%d rounds, %v)", samples, err)
	}
	other := &rediscache.Snapshots{Pool: pool}
	f, err := other.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !f.At.Equal(now) || len(f.Windows) != 4 || f.Windows[0].Label != "5 minutes" {
		t.Fatalf("figures at %s, windows %+v", f.At, f.Windows)
	}
	hour := rawSums(t, pool, now.Add(-time.Hour).Truncate(time.Minute), now.Add(time.Minute))
	if f.Hour["api-1"] != hour["api-1"] || f.Hour["api-2"] != hour["api-2"] || f.Windows[1].Counters != hour[rediscache.Fleet] {
		t.Errorf("last hour: api-1 %+v api-2 %+v fleet %+v; raw %+v", f.Hour["api-1"], f.Hour["api-2"], f.Windows[1].Counters, hour)
	}
	if f.Recent["api-1"] != 40 || f.Before["api-1"] != 40 || f.Recent["api-2"] <= 5*f.Before["api-2"] {
		t.Errorf("rates: recent %v, before %v", f.Recent, f.Before)
	}
	if _, _, jumped := f.JumpOf("api-2", f.Groups()); !jumped {
		t.Error("api-2's tenfold Redis commands are no jump")
	}
	if len(f.Series) < 59 || len(f.Series) > 61 {
		t.Errorf("%d points in the last hour's series", len(f.Series))
	}
	var inbox int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops.heartbeat_inbox`).Scan(&inbox); err != nil || inbox != 0 {
		t.Errorf("%d heartbeats left in the inbox (%v)", inbox, err)
	}
	again, err := other.Latest(ctx)
	if err != nil || !again.At.Equal(f.At) || again.Hour["api-1"] != f.Hour["api-1"] {
		t.Errorf("read again: %+v, %v", again.At, err)
	}
}

// A running roller folds at once when kicked (someone opened the console
// after a quiet while), not at its next interval.
func TestRollerKick(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	rounds := make(chan struct{}, 4)
	r := &rediscache.Roller{Pool: pool, Interval: time.Hour, Snapshots: &rediscache.Snapshots{Pool: pool},
		OnSample: func() { rounds <- struct{}{} }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	select {
	case <-rounds: // the first round, at start
	case <-time.After(10 * time.Second):
		t.Fatal("no round at start")
	}
	if _, err := pool.Exec(ctx, `DELETE FROM ops.cache_snapshot`); err != nil { // due again
		t.Fatal(err)
	}
	r.Kick()
	select {
	case <-rounds:
	case <-time.After(10 * time.Second):
		t.Fatal("a kick did not run a round")
	}
}
