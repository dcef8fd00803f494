package rules_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/alerts/rules"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

// beats writes an instance's heartbeats, one a minute from from to to, of
// a boot that started at started and sends perMin Redis commands a minute.
func beats(t *testing.T, pool *pgxpool.Pool, id, group, boot string, started, from, to time.Time, perMin int64) {
	t.Helper()
	ctx := context.Background()
	var c int64
	for at := from; !at.After(to); at = at.Add(time.Minute) {
		c = perMin * int64(at.Sub(started)/time.Minute)
		if _, err := pool.Exec(ctx, `
			WITH h AS (INSERT INTO ops.heartbeat_history (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
			           VALUES ($1, $2, $3, $4, 0, 0, 0, $5) RETURNING *)
			INSERT INTO ops.heartbeat_inbox (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
			SELECT instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands FROM h`, id, at, boot, started, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO ops.instance_heartbeats (instance_id, machine_id, process_group, boot_id, started_at, environment, database_identity,
			suspend_redis, suspend_redis_source, cache_memory_hits, cache_redis_hits, cache_misses, redis_commands, top_miss_tenants, reported_at)
		VALUES ($1, 'm-'||$1, $2, $3, $4, 'production', 'db', false, 'database', 0, 0, 0, $5, '[]', $6)
		ON CONFLICT (instance_id) DO UPDATE SET boot_id = EXCLUDED.boot_id, started_at = EXCLUDED.started_at,
			redis_commands = EXCLUDED.redis_commands, reported_at = EXCLUDED.reported_at`, id, group, boot, started, c, to); err != nil {
		t.Fatal(err)
	}
}

// figures folds every heartbeat waiting and computes the cache figures at
// now, as the elected console instance does.
func figures(t testing.TB, pool *pgxpool.Pool, now time.Time) rediscache.Figures {
	t.Helper()
	snaps := &rediscache.Snapshots{Pool: pool}
	r := &rediscache.Roller{Pool: pool, Interval: time.Minute, Snapshots: snaps, Now: func() time.Time { return now }}
	if err := r.Tick(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	f, err := snaps.Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// jumps lists the instances the Redis jump rule raises at now.
func jumps(t *testing.T, pool *pgxpool.Pool, now time.Time) []string {
	t.Helper()
	var out []string
	for _, a := range rules.Cache(figures(t, pool, now), 1_000_000) {
		if a.Rule == "cache.redis_jump" {
			out = append(out, a.Subject)
		}
	}
	return out
}

// A deploy that restarts every instance at normal rates raises no Redis
// jump alert, and neither does the first sight of a new fleet; a new boot
// far above its peers does, once.
func TestNoJumpAlertAfterAFleetWideRestart(t *testing.T) {
	now := time.Now().Truncate(time.Minute)
	fleet := map[string]string{"api-1": "api", "api-2": "api", "api-3": "api", "api-4": "api", "api-5": "api", "api-6": "api",
		"worker-1": "worker", "worker-2": "worker"}

	t.Run("deploy restarts every instance", func(t *testing.T) {
		pool, _ := testenv.MigratedPool(t)
		for id, g := range fleet {
			old := now.Add(-2 * time.Hour)
			beats(t, pool, id, g, "a-"+id, old, now.Add(-65*time.Minute), now.Add(-4*time.Minute), 100)
			beats(t, pool, id, g, "b-"+id, now.Add(-3*time.Minute), now.Add(-3*time.Minute), now, 110)
		}
		if j := jumps(t, pool, now); len(j) != 0 {
			t.Fatalf("a fleet-wide restart at normal rates raised jumps for %v", j)
		}
	})

	t.Run("a new fleet, one instance crash-looping", func(t *testing.T) {
		pool, _ := testenv.MigratedPool(t)
		for id, g := range fleet {
			beats(t, pool, "new-"+id, g, "b", now.Add(-3*time.Minute), now.Add(-3*time.Minute), now, 110)
		}
		beats(t, pool, "new-api-7", "api", "b", now.Add(-3*time.Minute), now.Add(-3*time.Minute), now, 3000)
		if j := jumps(t, pool, now); fmt.Sprint(j) != "[new-api-7]" {
			t.Fatalf("jumps = %v, want only the crash-looping instance", j)
		}
	})
}
