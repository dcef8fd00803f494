package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/testenv"
)

// TestPlatformRoleWithContractGrantsWritesHeartbeats: a role holding only
// the grants of contract 5 upserts its heartbeat (the history trigger
// runs with its owner's rights) and reads the switch.
func TestPlatformRoleWithContractGrantsWritesHeartbeats(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	ctx := context.Background()
	role := fmt.Sprintf("atum_platform_t%d", time.Now().UnixNano())
	for _, sql := range []string{
		`CREATE ROLE ` + role,
		`GRANT USAGE ON SCHEMA ops TO ` + role,
		`GRANT SELECT, INSERT, UPDATE ON ops.instance_heartbeats TO ` + role,
		`GRANT SELECT ON ops.kill_switch_state TO ` + role,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP OWNED BY `+role)
		_, _ = pool.Exec(context.Background(), `DROP ROLE `+role)
	})
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL ROLE `+role); err != nil {
			return err
		}
		var enabled bool
		if err := tx.QueryRow(ctx, `SELECT enabled FROM ops.kill_switch_state WHERE name = 'SUSPEND_REDIS'`).Scan(&enabled); err != nil {
			return fmt.Errorf("read the switch: %w", err)
		}
		for range 2 { // insert, then the upsert's update
			if _, err := tx.Exec(ctx, `INSERT INTO ops.instance_heartbeats (instance_id, machine_id, process_group, boot_id, started_at,
				environment, database_identity, suspend_redis, suspend_redis_source, cache_memory_hits, cache_redis_hits, cache_misses,
				redis_commands, top_miss_tenants, reported_at)
				VALUES ('i1', 'm1', 'api', 'b1', now(), 'production', 'db', false, 'database', 1, 1, 1, 1, '[]', now())
				ON CONFLICT (instance_id) DO UPDATE SET cache_memory_hits = EXCLUDED.cache_memory_hits + 1, reported_at = now()`); err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops.heartbeat_history WHERE instance_id = 'i1'`).Scan(&n); err != nil || n < 1 {
		t.Fatalf("history rows %d, %v", n, err)
	}
}
