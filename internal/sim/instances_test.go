package sim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/atum/ops-console/internal/sim"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
)

// trio is the instances of most instance tests.
var trio = []sim.InstanceSpec{
	{ID: "api-1", Machine: "m-api-1", Group: "api"},
	{ID: "api-2", Machine: "m-api-2", Group: "api"},
	{ID: "worker-1", Machine: "m-worker-1", Group: "worker"},
}

// consoleWithTenants returns a migrated database seeded with 50 tenants:
// console and platform in one.
func consoleWithTenants(t *testing.T, ctx context.Context) (*pgxpool.Pool, string) {
	t.Helper()
	pool, url := testenv.MigratedPool(t)
	if _, err := sim.Seed(ctx, pool, sim.SeedOptions{Tenants: 50, Users: 100}); err != nil {
		t.Fatal(err)
	}
	return pool, url
}

// platformOnly returns the URL of a separate database seeded with 50
// tenants and no schema ops.
func platformOnly(t *testing.T, ctx context.Context) string {
	t.Helper()
	url := testenv.NewDatabase(t)
	pool, err := store.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := sim.Seed(ctx, pool, sim.SeedOptions{Tenants: 50, Users: 100}); err != nil {
		t.Fatal(err)
	}
	return url
}

// redisAdmin returns a client of the stack's Redis holding one connection,
// after emptying Redis (the package's tests share it).
func redisAdmin(t *testing.T, ctx context.Context) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(testenv.Stack(t).RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	opt.PoolSize, opt.MaxRetries, opt.DisableIdentity = 1, -1, true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	rc := redis.NewClient(opt)
	t.Cleanup(func() { rc.Close() })
	if err := rc.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	return rc
}

// resetStats zeroes Redis's command statistics.
func resetStats(t *testing.T, ctx context.Context, rc *redis.Client) {
	t.Helper()
	if err := rc.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

// commandCalls returns the calls per command since the last resetStats,
// leaving out the test's own INFO and CONFIG.
func commandCalls(t *testing.T, ctx context.Context, rc *redis.Client) map[string]int64 {
	t.Helper()
	info, err := rc.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		name, stats, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "cmdstat_"), ":")
		if !ok || strings.HasPrefix(name, "info") || strings.HasPrefix(name, "config") {
			continue
		}
		for _, kv := range strings.Split(stats, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("commandstats line %q: %v", sc.Text(), err)
				}
				calls[name] = n
			}
		}
	}
	return calls
}

// tenantMisses is an entry of top_miss_tenants.
type tenantMisses struct {
	Tenant string `json:"tenant"`
	Misses int64  `json:"misses"`
}

// heartbeatRow is an instance's row of ops.instance_heartbeats.
type heartbeatRow struct {
	Machine, Group, BootID, Environment, DatabaseID, Source string
	StartedAt                                               time.Time
	Suspended                                               bool
	Version                                                 *int64
	AppliedAt                                               *time.Time
	MemoryHits, RedisHits, Misses, RedisCommands            int64
	Top                                                     string
	CheckedOut, Overflow                                    *int32
	Timeouts                                                *int64
	ReportedAt                                              time.Time
}

func readHeartbeat(t *testing.T, ctx context.Context, pool *pgxpool.Pool, id string) heartbeatRow {
	t.Helper()
	var r heartbeatRow
	err := pool.QueryRow(ctx, `SELECT machine_id, process_group, boot_id, environment, database_identity, suspend_redis_source,
		started_at, suspend_redis, switch_version, switch_applied_at, cache_memory_hits, cache_redis_hits, cache_misses,
		redis_commands, top_miss_tenants::text, pool_checked_out, pool_overflow, pool_timeouts, reported_at
		FROM ops.instance_heartbeats WHERE instance_id = $1`, id).
		Scan(&r.Machine, &r.Group, &r.BootID, &r.Environment, &r.DatabaseID, &r.Source, &r.StartedAt, &r.Suspended,
			&r.Version, &r.AppliedAt, &r.MemoryHits, &r.RedisHits, &r.Misses, &r.RedisCommands, &r.Top,
			&r.CheckedOut, &r.Overflow, &r.Timeouts, &r.ReportedAt)
	if err != nil {
		t.Fatalf("heartbeat of %s: %v", id, err)
	}
	return r
}

// fmtPtrs formats the values of optional numbers.
func fmtPtrs(checkedOut, overflow *int32, timeouts *int64) string {
	f := func(p any) string {
		switch v := p.(type) {
		case *int32:
			if v != nil {
				return strconv.Itoa(int(*v))
			}
		case *int64:
			if v != nil {
				return strconv.FormatInt(*v, 10)
			}
		}
		return "NULL"
	}
	return "checked out " + f(checkedOut) + ", overflow " + f(overflow) + ", timeouts " + f(timeouts)
}

// historyCount returns how many history points instance id has.
func historyCount(t *testing.T, ctx context.Context, pool *pgxpool.Pool, id string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops.heartbeat_history WHERE instance_id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// flip sets SUSPEND_REDIS as the console does, announcing the change with
// NOTIFY when notify is set, and returns the new version.
func flip(t *testing.T, ctx context.Context, pool *pgxpool.Pool, enabled, notify bool) int64 {
	t.Helper()
	var version int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE ops.kill_switches SET enabled = $1, version = version + 1
			WHERE name = 'SUSPEND_REDIS' RETURNING version`, enabled).Scan(&version)
		if err != nil || !notify {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify('ops_kill_switches', $1)`, "SUSPEND_REDIS:"+strconv.FormatInt(version, 10))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return version
}

// allInstances reports whether cond holds for the counters of every id.
func allInstances(s *sim.Instances, ids []string, cond func(sim.Counters) bool) func() (bool, error) {
	return func() (bool, error) {
		for _, id := range ids {
			if !cond(s.Counters(id)) {
				return false, nil
			}
		}
		return true, nil
	}
}

// ids returns the specs' ids.
func ids(specs []sim.InstanceSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.ID
	}
	return out
}

// stopPromptly stops s, checks that it took under 3 s and that the
// goroutines it started are gone, and returns how long it took.
func stopPromptly(t *testing.T, s *sim.Instances, goroutines int) time.Duration {
	t.Helper()
	begin := time.Now()
	s.Stop()
	took := time.Since(begin)
	if took > 3*time.Second {
		t.Errorf("Stop took %v", took)
	}
	s.Stop() // idempotent
	waitGoroutines(t, goroutines+2, 3*time.Second)
	return took
}

func TestInstancesCountLookupsAndReportThem(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, url := consoleWithTenants(t, ctx)
	rc := redisAdmin(t, ctx)
	goroutines := runtime.NumGoroutine()
	resetStats(t, ctx, rc)

	var log syncBuffer
	begin := time.Now()
	s, err := sim.StartInstances(ctx, sim.InstancesOptions{
		ConsoleURL: url, PlatformURL: url, RedisURL: testenv.Stack(t).RedisURL(),
		Instances: trio, Environment: "test", DatabaseIdentity: "test-db",
		HeartbeatEvery: time.Hour, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	started := time.Since(begin)
	if calls := commandCalls(t, ctx, rc); len(calls) != 0 {
		t.Fatalf("Redis commands at start: %v", calls)
	}

	for i, step := range []struct {
		id, slug string
		notFound bool
	}{
		{id: "api-1", slug: "tenant-1"},                       // miss: GET, SET
		{id: "api-1", slug: "tenant-1"},                       // memory
		{id: "api-2", slug: "tenant-1"},                       // Redis: GET
		{id: "api-2", slug: "tenant-1"},                       // memory
		{id: "worker-1", slug: "tenant-2"},                    // miss: GET, SET
		{id: "api-1", slug: "tenant-2"},                       // Redis: GET
		{id: "worker-1", slug: "tenant-3"},                    // miss: GET, SET
		{id: "worker-1", slug: "tenant-3"},                    // memory
		{id: "worker-1", slug: "tenant-2"},                    // memory
		{id: "worker-1", slug: "tenant-3"},                    // memory
		{id: "api-1", slug: "no-such-tenant", notFound: true}, // miss: GET, no SET
	} {
		err := s.Lookup(ctx, step.id, step.slug)
		if step.notFound != errors.Is(err, sim.ErrTenantNotFound) || (!step.notFound && err != nil) {
			t.Fatalf("step %d: Lookup(%s, %s) = %v", i, step.id, step.slug, err)
		}
	}
	// Each instance opened one Redis connection: one HELLO.
	want := map[string]sim.Counters{
		"api-1":    {MemoryHits: 1, RedisHits: 1, Misses: 2, RedisCommands: 1 + 4},
		"api-2":    {MemoryHits: 1, RedisHits: 1, Misses: 0, RedisCommands: 1 + 1},
		"worker-1": {MemoryHits: 3, RedisHits: 0, Misses: 2, RedisCommands: 1 + 4},
	}
	wantTop := map[string][]tenantMisses{
		"api-1":    {{"no-such-tenant", 1}, {"tenant-1", 1}},
		"api-2":    {},
		"worker-1": {{"tenant-2", 1}, {"tenant-3", 1}},
	}
	var sent int64
	boots := map[string]string{}
	for id, w := range want {
		got := s.Counters(id)
		boots[id] = got.BootID
		if got.BootID == "" || got.Suspended || got.Source != "database" {
			t.Errorf("%s: %+v", id, got)
		}
		got.BootID, got.Source = "", ""
		w.Source = ""
		if got != w {
			t.Errorf("%s: counters %+v, want %+v", id, got, w)
		}
		sent += got.RedisCommands
	}
	calls := commandCalls(t, ctx, rc)
	if wantCalls := map[string]int64{"hello": 3, "get": 6, "set": 3}; !maps.Equal(calls, wantCalls) {
		t.Errorf("Redis commandstats %v, want %v", calls, wantCalls)
	}
	var total int64
	for _, n := range calls {
		total += n
	}
	if total != sent {
		t.Errorf("Redis counted %d commands, the instances %d", total, sent)
	}

	// The heartbeat and its history point carry the same numbers.
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	for _, spec := range trio {
		r := readHeartbeat(t, ctx, pool, spec.ID)
		w := want[spec.ID]
		if r.Machine != spec.Machine || r.Group != spec.Group || r.BootID != boots[spec.ID] || r.Environment != "test" ||
			r.DatabaseID != "test-db" || r.Suspended || r.Source != "database" || r.Version == nil || *r.Version != 1 ||
			r.AppliedAt == nil || r.AppliedAt.Before(begin.Add(-time.Second)) || r.StartedAt.Before(begin.Add(-time.Second)) {
			t.Errorf("%s: heartbeat %+v", spec.ID, r)
		}
		if r.MemoryHits != w.MemoryHits || r.RedisHits != w.RedisHits || r.Misses != w.Misses || r.RedisCommands != w.RedisCommands {
			t.Errorf("%s: heartbeat counters %d/%d/%d/%d, want %+v", spec.ID, r.MemoryHits, r.RedisHits, r.Misses, r.RedisCommands, w)
		}
		var top []tenantMisses
		if err := json.Unmarshal([]byte(r.Top), &top); err != nil || !slices.Equal(top, wantTop[spec.ID]) {
			t.Errorf("%s: top_miss_tenants %s (%v), want %v", spec.ID, r.Top, err, wantTop[spec.ID])
		}
		if r.CheckedOut == nil || *r.CheckedOut != 0 || r.Overflow == nil || *r.Overflow != 0 || r.Timeouts == nil || *r.Timeouts != 0 {
			t.Errorf("%s: pool figures %s", spec.ID, fmtPtrs(r.CheckedOut, r.Overflow, r.Timeouts))
		}
		var h struct {
			at                                      time.Time
			boot                                    string
			memory, redis, misses, commands, points int64
		}
		err := pool.QueryRow(ctx, `SELECT at, boot_id, memory_hits, redis_hits, misses, redis_commands,
			(SELECT count(*) FROM ops.heartbeat_history WHERE instance_id = $1)
			FROM ops.heartbeat_history WHERE instance_id = $1 ORDER BY at DESC LIMIT 1`, spec.ID).
			Scan(&h.at, &h.boot, &h.memory, &h.redis, &h.misses, &h.commands, &h.points)
		if err != nil {
			t.Fatal(err)
		}
		if !h.at.Equal(r.ReportedAt) || h.boot != r.BootID || h.memory != w.MemoryHits || h.redis != w.RedisHits ||
			h.misses != w.Misses || h.commands != w.RedisCommands || h.points != 2 {
			t.Errorf("%s: history %+v, heartbeat %+v", spec.ID, h, r)
		}
	}
	var sessions int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name LIKE 'atum:api:m-api-1:%'`).Scan(&sessions); err != nil || sessions < 2 {
		t.Errorf("api-1 sessions (pool and listener) = %d, %v", sessions, err)
	}

	// A restart starts from zero with a new boot id; Redis still holds
	// the tenant.
	before := readHeartbeat(t, ctx, pool, "api-1")
	restartBegin := time.Now()
	if err := s.Restart("api-1"); err != nil {
		t.Fatal(err)
	}
	restarted := time.Since(restartBegin)
	c := s.Counters("api-1")
	if c.BootID == "" || c.BootID == boots["api-1"] || c != (sim.Counters{Source: "database", BootID: c.BootID}) {
		t.Fatalf("after Restart: %+v (boot before %s)", c, boots["api-1"])
	}
	if err := s.Lookup(ctx, "api-1", "tenant-1"); err != nil {
		t.Fatal(err)
	}
	if c := s.Counters("api-1"); c.RedisHits != 1 || c.MemoryHits != 0 || c.Misses != 0 || c.RedisCommands != 2 {
		t.Errorf("after Restart and a lookup: %+v", c)
	}
	after := readHeartbeat(t, ctx, pool, "api-1") // the boot's first heartbeat
	if after.BootID != c.BootID || !after.StartedAt.After(before.StartedAt) || after.MemoryHits+after.RedisHits+after.Misses != 0 {
		t.Errorf("heartbeat after Restart %+v, before %+v", after, before)
	}
	if err := s.Restart("nobody"); err == nil {
		t.Error("Restart of an unknown instance succeeded")
	}

	// Stop sends final heartbeats and closes every session.
	points := map[string]int{}
	for _, spec := range trio {
		points[spec.ID] = historyCount(t, ctx, pool, spec.ID)
	}
	took := stopPromptly(t, s, goroutines)
	for _, spec := range trio {
		if n := historyCount(t, ctx, pool, spec.ID); n != points[spec.ID]+1 {
			t.Errorf("%s: %d history points after Stop, want %d", spec.ID, n, points[spec.ID]+1)
		}
	}
	if r := readHeartbeat(t, ctx, pool, "api-1"); r.RedisHits != 1 || r.RedisCommands != 2 {
		t.Errorf("final heartbeat of api-1: %+v", r)
	}
	if _, ok, err := waitFor(5*time.Second, func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'atum:%'`).Scan(&n)
		return n == 0, err
	}); err != nil || !ok {
		t.Errorf("instance sessions left after Stop (%v)", err)
	}
	if err := s.Lookup(ctx, "api-1", "tenant-1"); err == nil {
		t.Error("Lookup after Stop succeeded")
	}
	t.Logf("started in %v, restarted in %v, stopped in %v", started.Round(time.Millisecond),
		restarted.Round(time.Millisecond), took.Round(time.Millisecond))
	if l := log.String(); l != "" {
		t.Logf("log:\n%s", l)
	}
}

func TestInstancesFollowTheKillSwitch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, url := consoleWithTenants(t, ctx)
	rc := redisAdmin(t, ctx)
	goroutines := runtime.NumGoroutine()

	var log syncBuffer
	s, err := sim.StartInstances(ctx, sim.InstancesOptions{
		ConsoleURL: url, PlatformURL: url, RedisURL: testenv.Stack(t).RedisURL(),
		Instances: trio, SwitchPollEvery: 15 * time.Second, LookupsPerSecond: 50, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	all := ids(trio)
	if _, ok, _ := waitFor(5*time.Second, allInstances(s, all, func(c sim.Counters) bool {
		return c.RedisCommands > 0 && c.MemoryHits > 0 && c.RedisHits > 0 && c.Misses > 0
	})); !ok {
		t.Fatalf("no cache traffic after 5 s: %+v; log:\n%s", s.Counters("api-1"), log.String())
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	appliedBefore := *readHeartbeat(t, ctx, pool, "api-1").AppliedAt

	// ON: every instance applies it within 2 s, then sends Redis nothing.
	version := flip(t, ctx, pool, true, true)
	applied, ok, _ := waitFor(2*time.Second, allInstances(s, all, func(c sim.Counters) bool {
		return c.Suspended && c.Source == "database"
	}))
	if !ok {
		t.Fatalf("SUSPEND_REDIS not applied within 2 s: %+v", s.Counters("api-1"))
	}
	resetStats(t, ctx, rc)
	before := map[string]sim.Counters{}
	for _, id := range all {
		before[id] = s.Counters(id)
	}
	// Watch Redis for at least 2 s, and until every instance has looked
	// tenants up from memory and Postgres meanwhile.
	quiet := time.Now()
	waitFor(30*time.Second, func() (bool, error) {
		if time.Since(quiet) < 2*time.Second {
			return false, nil
		}
		for _, id := range all {
			if a := s.Counters(id); a.Misses <= before[id].Misses || a.MemoryHits <= before[id].MemoryHits {
				return false, nil
			}
		}
		return true, nil
	})
	if calls := commandCalls(t, ctx, rc); len(calls) != 0 {
		t.Errorf("Redis commands while suspended: %v", calls)
	}
	for _, id := range all {
		b, a := before[id], s.Counters(id)
		if a.RedisCommands != b.RedisCommands || a.RedisHits != b.RedisHits || a.Misses <= b.Misses || a.MemoryHits <= b.MemoryHits {
			t.Errorf("%s while suspended: before %+v, after %+v", id, b, a)
		}
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range all {
		r := readHeartbeat(t, ctx, pool, id)
		if !r.Suspended || r.Source != "database" || r.Version == nil || *r.Version != version || version != 2 ||
			r.AppliedAt == nil || !r.AppliedAt.After(appliedBefore) {
			t.Errorf("%s: heartbeat while suspended %+v (version %d)", id, r, version)
		}
	}

	// OFF again: Redis traffic resumes.
	version = flip(t, ctx, pool, false, true)
	resumed, ok, _ := waitFor(2*time.Second, allInstances(s, all, func(c sim.Counters) bool { return !c.Suspended }))
	if !ok {
		t.Fatalf("SUSPEND_REDIS off not applied within 2 s: %+v", s.Counters("api-1"))
	}
	resetStats(t, ctx, rc)
	var calls map[string]int64
	if _, ok, _ := waitFor(30*time.Second, func() (bool, error) {
		calls = commandCalls(t, ctx, rc)
		return calls["get"] > 0, nil
	}); !ok {
		t.Errorf("no GET after the switch went off: %v", calls)
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if r := readHeartbeat(t, ctx, pool, "worker-1"); r.Suspended || r.Source != "database" || r.Version == nil || *r.Version != version {
		t.Errorf("heartbeat after the switch went off: %+v", r)
	}
	c := s.Counters("api-1")
	took := stopPromptly(t, s, goroutines)
	t.Logf("applied ON in %v, OFF in %v; api-1 %+v; stopped in %v with 50 lookups/s per instance",
		applied.Round(time.Millisecond), resumed.Round(time.Millisecond), c, took.Round(time.Millisecond))
	if l := log.String(); l != "" {
		t.Logf("log:\n%s", l)
	}
}

func TestInstancesWithSuspendRedisInTheirEnvironment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, console := testenv.MigratedPool(t)
	platform := platformOnly(t, ctx)
	rc := redisAdmin(t, ctx)
	resetStats(t, ctx, rc)

	s, err := sim.StartInstances(ctx, sim.InstancesOptions{
		ConsoleURL: console, PlatformURL: platform, RedisURL: testenv.Stack(t).RedisURL(),
		Instances:        []sim.InstanceSpec{{ID: "api-env", Machine: "m-api-9", Group: "api", EnvSuspend: true}},
		LookupsPerSecond: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	// Run for at least 1.5 s, and until the instance has looked tenants up
	// from memory and Postgres.
	began := time.Now()
	waitFor(30*time.Second, func() (bool, error) {
		c := s.Counters("api-env")
		return time.Since(began) >= 1500*time.Millisecond && c.Misses > 0 && c.MemoryHits > 0, nil
	})
	c := s.Counters("api-env")
	if c.RedisCommands != 0 || c.RedisHits != 0 || !c.Suspended || c.Source != "env" || c.Misses == 0 || c.MemoryHits == 0 {
		t.Errorf("counters %+v", c)
	}
	if calls := commandCalls(t, ctx, rc); len(calls) != 0 {
		t.Errorf("Redis commands: %v", calls)
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	r := readHeartbeat(t, ctx, pool, "api-env")
	if !r.Suspended || r.Source != "env" || r.Version == nil || *r.Version != 1 || r.Environment != "demo" {
		t.Errorf("heartbeat %+v", r)
	}
	t.Logf("counters after %s: %+v", time.Since(began).Round(time.Millisecond), c)
}

func TestInstancesPollTheSwitchAndKeepItWithoutPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, console := testenv.MigratedPool(t)
	platform := platformOnly(t, ctx)
	redisAdmin(t, ctx)
	var log syncBuffer
	s, err := sim.StartInstances(ctx, sim.InstancesOptions{
		ConsoleURL: console, PlatformURL: platform, RedisURL: testenv.Stack(t).RedisURL(),
		Instances: trio[:2], SwitchPollEvery: 300 * time.Millisecond, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	all := ids(trio[:2])

	// Without NOTIFY the poll picks the change up.
	flip(t, ctx, pool, true, false)
	polled, ok, _ := waitFor(2*time.Second, allInstances(s, all, func(c sim.Counters) bool {
		return c.Suspended && c.Source == "database"
	}))
	if !ok {
		t.Fatalf("polled change not applied within 2 s: %+v", s.Counters("api-1"))
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	applied := readHeartbeat(t, ctx, pool, "api-1").AppliedAt

	// The console's database goes away: the instances keep the switch.
	var db string
	if err := pool.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	// A database cannot refuse connections to itself: alter it from
	// database postgres.
	admin, err := pgx.Connect(ctx, testenv.Stack(t).PostgresAdminURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	allow := func(ctx context.Context, on bool) error {
		_, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` ALLOW_CONNECTIONS `+strconv.FormatBool(on))
		return err
	}
	if err := allow(ctx, false); err != nil {
		t.Fatal(err)
	}
	defer allow(context.Background(), true) //nolint:errcheck // on again already unless the test failed
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name LIKE 'atum:%'`); err != nil {
		t.Fatal(err)
	}
	cached, ok, _ := waitFor(3*time.Second, allInstances(s, all, func(c sim.Counters) bool {
		return c.Suspended && c.Source == "cached"
	}))
	if !ok {
		t.Fatalf("not cached within 3 s: %+v", s.Counters("api-1"))
	}
	if err := s.Lookup(ctx, "api-1", "tenant-7"); err != nil {
		t.Fatal(err)
	}
	if c := s.Counters("api-1"); c.Misses != 1 || c.RedisCommands != 0 {
		t.Errorf("lookup while cached: %+v", c)
	}

	// It comes back: source database, same version and applied_at.
	if err := allow(ctx, true); err != nil {
		t.Fatal(err)
	}
	back, ok, _ := waitFor(5*time.Second, allInstances(s, all, func(c sim.Counters) bool { return c.Source == "database" }))
	if !ok {
		t.Fatalf("not back to database within 5 s: %+v; log:\n%s", s.Counters("api-1"), log.String())
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	r := readHeartbeat(t, ctx, pool, "api-1")
	if !r.Suspended || r.Version == nil || *r.Version != 2 || r.AppliedAt == nil || !r.AppliedAt.Equal(*applied) {
		t.Errorf("heartbeat after the outage %+v, applied before %v", r, applied)
	}
	s.Stop()
	t.Logf("polled change applied in %v, cached after %v, database again after %v; log:\n%s",
		polled.Round(time.Millisecond), cached.Round(time.Millisecond), back.Round(time.Millisecond), log.String())
}

func TestStartInstancesRejectsBadOptions(t *testing.T) {
	ctx := context.Background()
	st := testenv.Stack(t)
	url, rurl := st.PostgresURL(), st.RedisURL()
	one := trio[:1]
	for _, o := range []sim.InstancesOptions{
		{PlatformURL: url, RedisURL: rurl, Instances: one},
		{ConsoleURL: url, RedisURL: rurl, Instances: one},
		{ConsoleURL: url, PlatformURL: url, Instances: one},
		{ConsoleURL: url, PlatformURL: url, RedisURL: rurl},
		{ConsoleURL: url, PlatformURL: url, RedisURL: rurl, Instances: []sim.InstanceSpec{trio[0], trio[0]}},
		{ConsoleURL: url, PlatformURL: url, RedisURL: rurl, Instances: []sim.InstanceSpec{{ID: "x", Machine: "m:1", Group: "api"}}},
		{ConsoleURL: url, PlatformURL: url, RedisURL: rurl, Instances: one, LookupsPerSecond: -1},
		// No schema ops in database atum: the first switch read fails.
		{ConsoleURL: url, PlatformURL: url, RedisURL: rurl, Instances: one},
	} {
		if s, err := sim.StartInstances(ctx, o); err == nil {
			s.Stop()
			t.Errorf("StartInstances(%+v) succeeded", o)
		}
	}
}
