package rules_test

// Figures for the alert engine on a platform-sized database: the time of
// one evaluation round with 200 instances and 14 days of history
// (BenchmarkEvaluate), no false alert after a fleet-wide restart
// (TestFleetWideRestartRaisesNothing), and notifications that do not
// depend on how many console instances run
// (TestNotificationsIndependentOfInstances). `make bench` prints them.
//
// The tests seed 200 instances with only 2 hours of history: the rules
// read the last 65 minutes, so more history changes nothing they see and
// only slows `make test`. The benchmark seeds the full 14 days, since the
// size of the tables is what it measures.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/alerts/rules"
	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/notify"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/testenv"
)

// fleetSize is how many platform instances fleetCTE lists.
const fleetSize = 200

// fleetCTE lists the simulated platform: 200 instances in three process
// groups (api 120, worker 60, cron 20), each sending its normal rate of
// 95 to 105 Redis commands a minute.
const fleetCTE = `fleet AS (
    SELECT g.name || '-' || lpad(i::text, 3, '0') AS id, g.name AS grp, (95 + i % 11)::bigint AS rate
    FROM (VALUES ('api', 120), ('worker', 60), ('cron', 20)) g(name, n), generate_series(1, g.n) i)`

// historySQL writes one heartbeat a minute per instance from $1 to $2,
// of boot "a-<id>" started at $3, with counters cumulative since the
// boot, into the history and the rollup inbox as the heartbeat trigger
// does. The platform writes every 15 s; one a minute keeps 14 days at
// 4.0 M rows, and the rollups the console folds them into are the same.
const historySQL = `WITH ` + fleetCTE + `,
h AS (
    INSERT INTO ops.heartbeat_history (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
    SELECT f.id, at, 'a-' || f.id, $3::timestamptz,
           (f.rate * 8 * m)::bigint, (f.rate * m / 2)::bigint, (f.rate * m / 20)::bigint, (f.rate * m)::bigint
    FROM fleet f, generate_series($1::timestamptz, $2::timestamptz, interval '1 minute') at,
         LATERAL (SELECT extract(epoch FROM at - $3::timestamptz) / 60 AS m) x
    RETURNING *)
INSERT INTO ops.heartbeat_inbox (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
SELECT instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands FROM h ORDER BY at, instance_id`

// heartbeatSQL upserts every instance's heartbeat at $3 as the platform
// does (the trigger copies it to heartbeat_history): boot $1 || id started
// at $2, counters since then at the instance's normal rate, except that
// instance $4 sends $5 times its rate. Every instance reports the current
// SUSPEND_REDIS version as applied.
const heartbeatSQL = `WITH ` + fleetCTE + `
INSERT INTO ops.instance_heartbeats (instance_id, machine_id, process_group, boot_id, started_at, environment, database_identity,
    suspend_redis, suspend_redis_source, switch_version, switch_applied_at, cache_memory_hits, cache_redis_hits, cache_misses,
    redis_commands, top_miss_tenants, reported_at)
SELECT f.id, 'm-' || f.id, f.grp, $1 || f.id, $2::timestamptz, 'production', 'db', false, 'database',
       (SELECT version FROM ops.kill_switches WHERE name = 'SUSPEND_REDIS'), $2::timestamptz,
       (r * 8 * m)::bigint, (r * m / 2)::bigint, (r * m / 20)::bigint, (r * m)::bigint, '[]', $3::timestamptz
FROM fleet f,
     LATERAL (SELECT extract(epoch FROM $3::timestamptz - $2::timestamptz) / 60 AS m,
                     CASE WHEN f.id = $4::text THEN f.rate * $5::bigint ELSE f.rate END AS r) x
ON CONFLICT (instance_id) DO UPDATE SET boot_id = EXCLUDED.boot_id, started_at = EXCLUDED.started_at,
    switch_version = EXCLUDED.switch_version, switch_applied_at = EXCLUDED.switch_applied_at,
    cache_memory_hits = EXCLUDED.cache_memory_hits, cache_redis_hits = EXCLUDED.cache_redis_hits,
    cache_misses = EXCLUDED.cache_misses, redis_commands = EXCLUDED.redis_commands, reported_at = EXCLUDED.reported_at`

// redisSamplesSQL writes Redis server samples every 15 s from $1 to $2:
// the fleet's ~20,000 commands a minute, counted since $1 plus $3.
const redisSamplesSQL = `
INSERT INTO ops.redis_samples (at, ops_per_sec, keyspace_hits, keyspace_misses, connected_clients, used_memory,
    total_commands_processed, uptime_seconds)
SELECT at, 333, 0, 0, 400, 200000000, $3::bigint + (333 * extract(epoch FROM at - $1::timestamptz))::bigint,
       extract(epoch FROM at - $1::timestamptz)::bigint
FROM generate_series($1::timestamptz, $2::timestamptz, interval '15 seconds') at`

// connectionSamplesSQL writes connection samples every 15 s from $1 to $2
// (the neon sampler's history, kept 14 days), well within the budget.
const connectionSamplesSQL = `
INSERT INTO ops.connection_samples (at, total, active, idle, idle_in_tx, lock_waiting, max_connections, usable, planned,
    pool_waiting, pool_maxwait_ms)
SELECT at, 180 + (extract(epoch FROM at)::bigint / 15) % 40, 20, 160, 0, 0, 450, 447, 400, NULL, NULL
FROM generate_series($1::timestamptz, $2::timestamptz, interval '15 seconds') at`

// seeded is what seedFleet wrote.
type seeded struct {
	// Now is the instant of the instances' latest heartbeats: evaluate
	// there.
	Now  time.Time
	Took time.Duration
	// History is the number of heartbeat_history rows.
	History int64
}

// seedFleet seeds pool with the fleet's last history of heartbeats (one
// boot per instance, started 14 days ago, at normal rates), its latest
// heartbeats, as much Redis and connection sample history, a healthy
// connection snapshot, then analyzes the tables. It writes set-based, in
// a few statements.
func seedFleet(tb testing.TB, pool *pgxpool.Pool, history time.Duration) seeded {
	tb.Helper()
	ctx := context.Background()
	began := time.Now()
	end := began.Truncate(time.Second)
	from, boot := end.Add(-history), end.Add(-14*24*time.Hour)
	exec := func(sql string, args ...any) {
		tb.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			tb.Fatalf("seed: %v\n%s", err, sql)
		}
	}
	exec(historySQL, from, end, boot)
	exec(redisSamplesSQL, from, end, int64(0))
	exec(connectionSamplesSQL, from, end)
	snap, err := json.Marshal(neon.Snapshot{At: end, Planned: 400,
		Limits: neon.Limits{MaxConnections: 450, SuperuserReserved: 3, Usable: 447, ServerVersion: "15"},
		Usage:  neon.Usage{At: end, Total: 200, ByState: map[string]int{"active": 20, "idle": 180}, CanSeeAll: true, Role: "atum_console"}})
	if err != nil {
		tb.Fatal(err)
	}
	exec(`INSERT INTO ops.connection_snapshot (id, at, snapshot) VALUES (1, $1, $2)`, end, snap)
	// The latest heartbeats are written last, at the wall clock, so that
	// the instances are live (switches.LiveWithin) when the rules run.
	now := time.Now()
	exec(heartbeatSQL, "a-", boot, now, "", int64(1))
	exec(`ANALYZE ops.heartbeat_history, ops.instance_heartbeats, ops.redis_samples, ops.connection_samples`)
	s := seeded{Now: now, Took: time.Since(began)}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops.heartbeat_history`).Scan(&s.History); err != nil {
		tb.Fatal(err)
	}
	return s
}

// watcher is what the elected console instance runs on what pool
// stores: the roller (fold the heartbeats, store the cache figures), then
// the rules on the figures, the switches and live instances, and the
// connection snapshot the neon sampler stored. Fleet and system checks
// need Fly and live probes, so they are left out.
type watcher struct {
	set    *rules.Set
	roller *rediscache.Roller
	now    time.Time
}

func newWatcher(pool *pgxpool.Pool) *watcher {
	sampler := neon.NewSampler()
	sampler.Console, sampler.Interval = pool, 15*time.Second
	w := &watcher{}
	snaps := &rediscache.Snapshots{Pool: pool}
	w.roller = &rediscache.Roller{Pool: pool, Interval: 15 * time.Second, Snapshots: snaps, Now: func() time.Time { return w.now }}
	w.set = &rules.Set{
		Connections: sampler,
		Budget:      func() neon.Budget { return neon.Budget{} },
		Switches:    switches.NewStore(pool),
		Cache:       snaps,
		RedisBudget: 100_000_000,
		WatchMode:   "on",
		Environment: "production",
	}
	return w
}

// evaluate runs one round at now, as the console does after each sample:
// the roller's, then the rules' on engine.
func evaluate(ctx context.Context, engine *alerts.Engine, w *watcher, now time.Time) ([]alerts.Transition, bool, error) {
	w.now = now
	if err := w.roller.Tick(ctx, true); err != nil {
		return nil, false, err
	}
	return engine.EvaluateFunc(ctx, func(ctx context.Context) (alerts.Round, error) {
		return w.set.Round(ctx, now), nil
	}, now)
}

// queryCounter counts the statements sent on a pool.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// benchFleet is the 14-day fleet, seeded once per test binary: the
// benchmark function runs more than once.
var benchFleet struct {
	once sync.Once
	url  string
	seed seeded
	// report says how long seeding and each read of a round took.
	report string
	logged atomic.Bool
}

// countingPool opens a pool on url that counts its statements, with the
// server parameters params.
func countingPool(tb testing.TB, url string, params map[string]string) (*pgxpool.Pool, *queryCounter) {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	counter := &queryCounter{}
	cfg.ConnConfig.Tracer, cfg.MaxConns = counter, 8
	for k, v := range params {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool, counter
}

// BenchmarkEvaluate measures one round of the elected instance on 200
// instances with 14 days of history: the roller (fold what came since,
// prune, compute and store the cache figures), then every rule on the
// stored figures and the engine's transaction; through a pool set as the
// console's (JIT off).
func BenchmarkEvaluate(b *testing.B) {
	benchFleet.once.Do(func() {
		// Not testenv.MigratedPool: its pool closes when the first run of
		// this function ends, and seeding 14 days twice costs too much.
		url := testenv.NewDatabase(b)
		pool, _ := countingPool(b, url, map[string]string{"jit": "off"})
		if _, err := store.Migrate(context.Background(), pool); err != nil {
			b.Fatal(err)
		}
		s := seedFleet(b, pool, 14*24*time.Hour)
		benchFleet.report = fmt.Sprintf("seeded %d instances, %d heartbeats (14 days, one a minute) in %s; then %s",
			fleetSize, s.History, s.Took.Round(time.Millisecond), catchUp(b, pool, s.Now))
		benchFleet.url, benchFleet.seed = url, s
	})
	if benchFleet.url == "" {
		b.Fatal("the fleet could not be seeded")
	}
	benchRounds(b, map[string]string{"jit": "off"})
}

// benchRounds times evaluation rounds on the seeded fleet through a pool
// with the server parameters params.
func benchRounds(b *testing.B, params map[string]string) {
	ctx := context.Background()
	pool, queries := countingPool(b, benchFleet.url, params)
	now := benchFleet.seed.Now
	w := newWatcher(pool)
	engine := &alerts.Engine{Pool: pool, For: rules.For, DefaultFor: rules.DefaultFor}
	if _, _, err := evaluate(ctx, engine, w, now); err != nil {
		b.Fatal(err)
	}
	if r := w.set.Round(ctx, now); len(r.Findings) != 0 || len(r.Unknown) != 0 {
		b.Fatalf("the healthy fleet raises findings: %+v", r)
	}
	if _, ran, err := evaluate(ctx, engine, w, now); err != nil || !ran {
		b.Fatalf("warm-up round: ran %v, %v", ran, err)
	}
	if !benchFleet.logged.Swap(true) {
		b.Log(benchFleet.report)
	}
	q0 := queries.n.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ran, err := evaluate(ctx, engine, w, now); err != nil || !ran {
			b.Fatalf("round %d: ran %v, %v", i, ran, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(queries.n.Load()-q0)/float64(b.N), "queries/op")
}

// catchUp folds the seeded backlog and prunes each resolution past its
// retention, as the console does over its first rounds after an upgrade,
// and says how long each took and how long computing the figures takes.
func catchUp(b *testing.B, pool *pgxpool.Pool, now time.Time) string {
	ctx := context.Background()
	var parts []string
	timed := func(name string, f func() error) {
		began := time.Now()
		if err := f(); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		parts = append(parts, fmt.Sprintf("%s %s", name, time.Since(began).Round(time.Millisecond)))
	}
	timed("folding the backlog", func() error {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		for {
			n, err := rediscache.Fold(ctx, conn, 5000)
			if err != nil || n < 5000 {
				return err
			}
		}
	})
	timed("pruning past retention", func() error {
		for {
			n, err := rediscache.PruneRollups(ctx, pool, now, time.Minute)
			if err != nil || n == 0 {
				return err
			}
		}
	})
	timed("computing the figures", func() error { _, err := rediscache.ReadFigures(ctx, pool, now); return err })
	return strings.Join(parts, ", ")
}

// restartFleet seeds a fresh database with 200 instances (2 hours of
// history: the rules read 65 minutes), restarts every instance at the
// same moment (new boots from 0, instance hot at factor times its rate,
// the rest at their normal rate) and evaluates the rules every 15 s of
// simulated time for 15 minutes, writing the heartbeats and a Redis
// sample at each step. It returns the engine and the most alerts open
// after any step.
func restartFleet(t *testing.T, hot string, factor int64) (*alerts.Engine, int) {
	t.Helper()
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	s := seedFleet(t, pool, 2*time.Hour)
	t.Logf("seeded %d instances, %d heartbeat_history rows (2 hours) in %s", fleetSize, s.History, s.Took.Round(time.Millisecond))
	w := newWatcher(pool)
	engine := &alerts.Engine{Pool: pool, For: rules.For, DefaultFor: rules.DefaultFor}
	if _, ran, err := evaluate(ctx, engine, w, s.Now); err != nil || !ran {
		t.Fatalf("before the restart: ran %v, %v", ran, err)
	}
	restart := s.Now.Add(15 * time.Second)
	most := 0
	for at := restart; !at.After(restart.Add(15 * time.Minute)); at = at.Add(15 * time.Second) {
		if _, err := pool.Exec(ctx, heartbeatSQL, "b-", restart, at, hot, factor); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `
			INSERT INTO ops.redis_samples (at, ops_per_sec, keyspace_hits, keyspace_misses, connected_clients, used_memory,
			    total_commands_processed, uptime_seconds)
			SELECT $1, ops_per_sec, 0, 0, connected_clients, used_memory, total_commands_processed + 333 * 15, uptime_seconds + 15
			FROM ops.redis_samples ORDER BY at DESC LIMIT 1`, at); err != nil {
			t.Fatal(err)
		}
		if _, ran, err := evaluate(ctx, engine, w, at); err != nil || !ran {
			t.Fatalf("at %s: ran %v, %v", at.Sub(restart), ran, err)
		}
		open, err := engine.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		most = max(most, len(open))
	}
	return engine, most
}

// A deploy that restarts all 200 instances at once at normal rates raises
// no alert at any evaluation in the 15 minutes after; one new boot at 20
// times its rate raises exactly one Redis jump alert, listing it.
func TestFleetWideRestartRaisesNothing(t *testing.T) {
	ctx := context.Background()
	t.Run("every instance at its normal rate", func(t *testing.T) {
		t.Parallel()
		engine, most := restartFleet(t, "", 1)
		var ever int
		if err := engine.Pool.QueryRow(ctx, `SELECT count(*) FROM ops.alerts`).Scan(&ever); err != nil {
			t.Fatal(err)
		}
		t.Logf("false alerts after a restart of %d instances: %d open at most, %d raised in all (goal 0)", fleetSize, most, ever)
		if most != 0 || ever != 0 {
			open, _ := engine.Open(ctx)
			t.Fatalf("a fleet-wide restart at normal rates raised %d alerts (at most %d open at once); open now: %+v", ever, most, open)
		}
	})
	t.Run("control: one new boot at 20 times its rate", func(t *testing.T) {
		t.Parallel()
		engine, _ := restartFleet(t, "api-007", 20)
		open, err := engine.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("alerts open with one hot instance: %d", len(open))
		if len(open) != 1 {
			t.Fatalf("open alerts = %+v, want exactly one cache.redis_jump", open)
		}
		if a := open[0]; a.Rule != "cache.redis_jump" || a.State != alerts.Firing || !slices.Equal(a.Members, []string{"api-007"}) {
			t.Fatalf("alert = %s %s %v (%s), want cache.redis_jump firing for [api-007]", a.Rule, a.State, a.Members, a.Summary)
		}
	})
}

// counter is a webhook receiver that keeps, for each notification it
// gets, its kind and rule, and counts deliveries of one outbox row more
// than once.
type counter struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []string
	seen map[int64]int
	dups int
}

// newCounter starts a counter, stopped when the test ends.
func newCounter(t *testing.T) *counter {
	c := &counter{seen: map[int64]int{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			ID    int64  `json:"id"`
			Kind  string `json:"kind"`
			Alert struct {
				Rule string `json:"rule"`
			} `json:"alert"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got = append(c.got, m.Kind+" "+m.Alert.Rule)
		if c.seen[m.ID]++; c.seen[m.ID] > 1 {
			c.dups++
		}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// received returns what c got, sorted, and how many were duplicates.
func (c *counter) received() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(slices.Values(c.got)), c.dups
}

// scenario is what the rules find at elapsed time into the scripted
// incident: a crash loop on three machines, on eight from minute 2, until
// minute 65; a Redis budget warning from the start until minute 30; and a
// single-sample Redis jump at minute 10, which must never notify.
func scenario(elapsed time.Duration) []alerts.Finding {
	var out []alerts.Finding
	if elapsed < 65*time.Minute {
		machines := 3
		if elapsed >= 2*time.Minute {
			machines = 8
		}
		for i := 1; i <= machines; i++ {
			out = append(out, rules.FleetFinding(fly.Alert{Level: alerts.Critical, Kind: "crash-loop",
				Machine: fmt.Sprintf("machine-%d", i), Text: fmt.Sprintf("machine-%d exited 3 times in 5 minutes", i)}, false))
		}
	}
	if elapsed < 30*time.Minute {
		out = append(out, rules.Cache(rediscache.Figures{PerDay: 85_000_000, Span: time.Hour}, 100_000_000)...)
	}
	if elapsed == 10*time.Minute {
		out = append(out, rules.Cache(rediscache.Figures{Recent: map[string]float64{"api-007": 900},
			Before: map[string]float64{"api-007": 100}}, 0)...)
	}
	return out
}

// runScenario plays scenario against consoles console instances on one
// fresh database, each with its own pool, Engine, Outbox and Sender, all
// evaluating and sending concurrently every 15 s of simulated time for 70
// minutes, and returns what a webhook receiver got.
func runScenario(t *testing.T, consoles int) []string {
	t.Helper()
	ctx := context.Background()
	pool, url := testenv.MigratedPool(t)
	rcv := newCounter(t)
	targets := []notify.Target{notify.Webhook(rcv.srv.URL, "bench-secret", alerts.Warning)}
	start := time.Now().Truncate(time.Second)
	clock := start
	type console struct {
		engine *alerts.Engine
		sender *notify.Sender
	}
	var cs []console
	for i := 0; i < consoles; i++ {
		p := pool
		if i > 0 {
			var err error
			if p, err = store.Open(ctx, url, 4); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
		}
		outbox := &notify.Outbox{Targets: targets, ConsoleURL: "https://console.example", Repeat: time.Hour}
		cs = append(cs, console{
			engine: &alerts.Engine{Pool: p, For: rules.For, DefaultFor: rules.DefaultFor, OnApply: outbox.Enqueue},
			sender: &notify.Sender{Pool: p, Targets: targets, Now: func() time.Time { return clock }, Timeout: 2 * time.Second},
		})
	}
	round := func(found []alerts.Finding, evaluate bool) {
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if evaluate {
					if _, _, err := c.engine.Evaluate(ctx, found, clock); err != nil {
						t.Errorf("evaluate at %s: %v", clock.Sub(start), err)
					}
				}
				if _, err := c.sender.Round(ctx); err != nil {
					t.Errorf("send at %s: %v", clock.Sub(start), err)
				}
			}()
		}
		wg.Wait()
	}
	for elapsed := time.Duration(0); elapsed <= 70*time.Minute; elapsed += 15 * time.Second {
		clock = start.Add(elapsed)
		round(scenario(elapsed), true)
	}
	round(nil, false) // deliver what an evaluation wrote after a sender's round
	got, dups := rcv.received()
	if dups > 0 {
		t.Errorf("%d consoles: %d notifications delivered more than once", consoles, dups)
	}
	return got
}

// One console instance and three running side by side send the same
// notifications for a scripted incident: each firing, repeat and
// resolution once.
func TestNotificationsIndependentOfInstances(t *testing.T) {
	one := runScenario(t, 1)
	three := runScenario(t, 3)
	t.Logf("notifications sent: %d with one console instance, %d with three", len(one), len(three))
	want := []string{"firing cache.redis_budget", "firing fleet.crash-loop", "repeat fleet.crash-loop",
		"resolved cache.redis_budget", "resolved fleet.crash-loop"}
	if len(one) == 0 || len(one) != len(three) {
		t.Fatalf("notifications: %d with one instance, %d with three; want equal and more than 0", len(one), len(three))
	}
	if !slices.Equal(one, want) || !slices.Equal(three, want) {
		t.Fatalf("notifications\n one:   %s\n three: %s\n want:  %s", strings.Join(one, ", "), strings.Join(three, ", "), strings.Join(want, ", "))
	}
}
