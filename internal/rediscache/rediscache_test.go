package rediscache_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true, Redis: true}) }

func client(t *testing.T) *redis.Client {
	c, err := rediscache.NewClient(testenv.Stack(t).RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// commandCalls reads INFO commandstats: calls per command.
func commandCalls(t *testing.T, admin *redis.Client) map[string]int {
	stats, err := admin.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(stats, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		var n int
		fmt.Sscanf(rest, "%d", &n)
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

func TestParseInfo(t *testing.T) {
	s, err := rediscache.ParseInfo("# Stats\r\ninstantaneous_ops_per_sec:12\r\nkeyspace_hits:900\r\nkeyspace_misses:100\r\n" +
		"total_commands_processed:123456\r\n# Clients\r\nconnected_clients:7\r\nused_memory:1048576\r\nuptime_in_seconds:60\r\n")
	if err != nil || s.OpsPerSec != 12 || s.KeyspaceHits != 900 || s.TotalCommands != 123456 || s.ConnectedClients != 7 || s.UsedMemory != 1<<20 {
		t.Fatalf("ParseInfo = %+v, %v", s, err)
	}
	if _, err := rediscache.ParseInfo("ERR unknown command"); err == nil {
		t.Fatal("accepted a reply without fields")
	}
	if _, err := rediscache.ParseInfo("keyspace_hits:lots"); err == nil {
		t.Fatal("accepted a malformed field")
	}
}

// TestOneINFOPerIntervalWhateverTheViewers: 50 concurrent callers on two
// console instances send one INFO per interval, and none while
// SUSPEND_REDIS is on unless forced.
func TestOneINFOPerIntervalWhateverTheViewers(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	admin := client(t)
	var suspended atomic.Bool
	newSampler := func() *rediscache.Sampler {
		return &rediscache.Sampler{Console: pool, Client: client(t), Interval: 500 * time.Millisecond,
			Suspended: func(context.Context) (bool, error) { return suspended.Load(), nil }}
	}
	a, b := newSampler(), newSampler()
	// measure has viewers tick for 2 s, and on a machine too busy for that
	// until the samplers sent atLeast INFOs (for at most 30 s).
	measure := func(viewers int, atLeast int64) int64 {
		a0, b0 := a.Sent(), b.Sent()
		deadline, giveUp := time.Now().Add(2*time.Second), time.Now().Add(30*time.Second)
		running := func() bool {
			return time.Now().Before(deadline) || a.Sent()-a0+b.Sent()-b0 < atLeast && time.Now().Before(giveUp)
		}
		var wg sync.WaitGroup
		for v := range viewers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := a
				if v%2 == 1 {
					s = b
				}
				for running() {
					_, _ = s.Tick(ctx, false)
					time.Sleep(50 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		return a.Sent() - a0 + b.Sent() - b0
	}
	one, fifty := measure(1, 3), measure(50, 3)
	// 2 s at a 500 ms interval: 4 or 5 INFOs, the same for 1 and 50 viewers.
	// An INFO is sent only when the last sample is 0.8 intervals old, so
	// the samples stand at least 400 ms apart, however slow the machine is
	// to end the 2 s.
	var rows int64
	var closest float64
	if err := pool.QueryRow(ctx, `SELECT count(*), COALESCE(extract(epoch FROM min(gap)), 3600)::float8 FROM
		(SELECT at - lag(at) OVER (ORDER BY at) AS gap FROM ops.redis_samples) g`).Scan(&rows, &closest); err != nil {
		t.Fatal(err)
	}
	if one < 3 || fifty < 3 || rows != a.Sent()+b.Sent() || closest < 0.3999 {
		t.Fatalf("INFO commands in 2 s: %d with 1 viewer, %d with 50; %d samples, the closest %.0f ms apart",
			one, fifty, rows, closest*1000)
	}
	t.Logf("INFO commands per 2 s at a 500 ms interval: %d with 1 viewer, %d with 50 viewers", one, fifty)

	suspended.Store(true)
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if sent := measure(10, 0); sent != 0 {
		t.Fatalf("%d INFO commands while SUSPEND_REDIS is on", sent)
	}
	if _, err := a.Tick(ctx, false); err != rediscache.ErrPaused {
		t.Fatalf("Tick while suspended: %v", err)
	}
	for cmd := range commandCalls(t, admin) {
		if cmd != "config|resetstat" && cmd != "info" { // the test's own
			t.Fatalf("Redis saw %s while SUSPEND_REDIS was on", cmd)
		}
	}
	srv, err := a.Tick(ctx, true) // an operator's "probe now"
	if err != nil || srv.TotalCommands == 0 {
		t.Fatalf("forced probe: %+v, %v", srv, err)
	}
	latest, err := b.Latest(ctx)
	if err != nil || latest.TotalCommands != srv.TotalCommands {
		t.Fatalf("other instance's latest = %+v, %v", latest, err)
	}
}

func TestCommandsPerDay(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	now := time.Now()
	// 1,000 commands a minute for 10 minutes, with a restart at minute 6
	// (the counter falls back to 1,000).
	total := int64(50000)
	for i := range 11 {
		switch {
		case i == 6:
			total = 1000
		case i > 0:
			total += 1000
		}
		if _, err := pool.Exec(ctx, `INSERT INTO ops.redis_samples VALUES ($1, 0, 0, 0, 1, 1, $2, 60)`,
			now.Add(time.Duration(i-10)*time.Minute), total); err != nil {
			t.Fatal(err)
		}
	}
	perDay, span, err := rediscache.CommandsPerDay(ctx, pool, now)
	if err != nil || span != 10*time.Minute || perDay != 1000*60*24 {
		t.Fatalf("CommandsPerDay = %d over %s, %v; want %d over 10m", perDay, span, err, 1000*60*24)
	}
}

// heartbeat writes one heartbeat as an instance would.
func heartbeat(t *testing.T, pool *pgxpool.Pool, id, boot string, started time.Time, m, r, d, c int64) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		INSERT INTO ops.instance_heartbeats (instance_id, machine_id, process_group, boot_id, started_at, environment, database_identity,
			suspend_redis, suspend_redis_source, cache_memory_hits, cache_redis_hits, cache_misses, redis_commands, top_miss_tenants, reported_at)
		VALUES ($1, 'm-'||$1, 'api', $2, $3, 'test', 'db', false, 'database', $4, $5, $6, $7, '[{"tenant":"acme","misses":3}]', clock_timestamp())
		ON CONFLICT (instance_id) DO UPDATE SET boot_id = EXCLUDED.boot_id, started_at = EXCLUDED.started_at,
			cache_memory_hits = EXCLUDED.cache_memory_hits, cache_redis_hits = EXCLUDED.cache_redis_hits,
			cache_misses = EXCLUDED.cache_misses, redis_commands = EXCLUDED.redis_commands, reported_at = clock_timestamp()`,
		id, boot, started, m, r, d, c)
	if err != nil {
		t.Fatal(err)
	}
}

func TestJump(t *testing.T) {
	for _, tt := range []struct {
		recent, before float64
		want           bool
	}{{600, 100, true}, {600, 250, false}, {30, 0, false}, {60, 0, true}, {0, 0, false}} {
		if got := rediscache.Jump(tt.recent, tt.before); got != tt.want {
			t.Errorf("Jump(%v, %v) = %v", tt.recent, tt.before, got)
		}
	}
}

// A new instance is judged against its peers, not against zero: a deploy
// that restarts the fleet at normal rates is no jump, a new boot far above
// its peers is.
func TestBaseline(t *testing.T) {
	groups := map[string]string{"api-1": "api", "api-2": "api", "api-3": "api", "wrk-1": "worker"}
	restarted := map[string]float64{"api-1": 110, "api-2": 115, "api-3": 108, "wrk-1": 40}
	for id, r := range restarted {
		base, from, ok := rediscache.Baseline(id, restarted, map[string]float64{}, groups)
		if !ok || rediscache.Jump(r, base) {
			t.Errorf("after a fleet-wide restart %s (%.0f/min) against %.0f (%s): a jump", id, r, base, from)
		}
	}
	looping := map[string]float64{"api-1": 110, "api-2": 115, "api-3": 2000, "wrk-1": 40}
	if base, from, ok := rediscache.Baseline("api-3", looping, map[string]float64{}, groups); !ok || from != "group" || !rediscache.Jump(2000, base) {
		t.Errorf("a crash-looping new boot against its group: %.0f (%s) %v", base, from, ok)
	}
	if base, from, ok := rediscache.Baseline("wrk-1", looping, map[string]float64{}, groups); !ok || from != "fleet" || base != 115 {
		t.Errorf("an instance alone in its group is judged against the fleet: %.0f (%s) %v", base, from, ok)
	}
	if base, from, ok := rediscache.Baseline("api-1", looping, map[string]float64{"api-1": 10}, groups); !ok || from != "own" || base != 10 {
		t.Errorf("an instance with history is judged against itself: %.0f (%s) %v", base, from, ok)
	}
	if _, _, ok := rediscache.Baseline("only", map[string]float64{"only": 500}, nil, nil); ok {
		t.Error("a lone new instance has a baseline")
	}
}
