package neon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
)

// connectAs opens a connection with an application_name.
func connectAs(t *testing.T, dbURL, app string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestReadLimits(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	l, err := neon.ReadLimits(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	// devstack runs max_connections=200 with PostgreSQL's 3 superuser slots.
	if l.MaxConnections != 200 || l.SuperuserReserved != 3 || l.Usable != 200-3-l.Reserved || !strings.HasPrefix(l.ServerVersion, "15") {
		t.Fatalf("limits = %+v", l)
	}
}

// TestReadUsageSeesSourcesIdleTransactionsAndLockWaits opens platform-like
// sessions and reads them back.
func TestReadUsageSeesSourcesIdleTransactionsAndLockWaits(t *testing.T) {
	ctx := context.Background()
	pool, dbURL := testenv.MigratedPool(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE locks (id int PRIMARY KEY); INSERT INTO locks VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	for m := 1; m <= 2; m++ {
		for p := 1; p <= 3; p++ {
			connectAs(t, dbURL, fmt.Sprintf("atum:api:m%d:%d", m, 100+p))
		}
	}
	connectAs(t, dbURL, "psql")
	idle := connectAs(t, dbURL, "atum:worker:w1:7")
	if _, err := idle.Exec(ctx, `BEGIN; SELECT 1`); err != nil {
		t.Fatal(err)
	}
	blocker := connectAs(t, dbURL, "atum:worker:w1:8")
	if _, err := blocker.Exec(ctx, `BEGIN; SELECT * FROM locks WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	waiter := connectAs(t, dbURL, "atum:api:m1:999")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = waiter.Exec(ctx, `UPDATE locks SET id = 1 WHERE id = 1`)
	}()
	defer func() { _, _ = blocker.Exec(ctx, `ROLLBACK`); wg.Wait() }()

	var u neon.Usage
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if u, err = neon.ReadUsage(ctx, pool); err != nil {
			t.Fatal(err)
		}
		// pg_locks may show the wait a moment before pg_stat_activity's
		// wait_event does: wait for both.
		waiting := 0
		for _, s := range u.Sources {
			if s.Name == "atum:api" {
				waiting = s.Waiting
			}
		}
		if (len(u.LockWaits) > 0 && waiting > 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !u.CanSeeAll || u.Role != "postgres" {
		t.Errorf("role = %s, can see all = %v", u.Role, u.CanSeeAll)
	}
	src := map[string]neon.Source{}
	for _, s := range u.Sources {
		src[s.Name] = s
	}
	api := src["atum:api"]
	if api.Total != 7 || api.Machines != 2 || api.Processes != 7 || api.Group != "api" || api.Waiting != 1 {
		t.Errorf("atum:api source = %+v", api)
	}
	if w := src["atum:worker"]; w.Total != 2 || w.IdleInTx != 2 || w.Machines != 1 {
		t.Errorf("atum:worker source = %+v", w)
	}
	if _, ok := src["psql"]; !ok {
		t.Errorf("other application_names are not kept as they are: %+v", u.Sources)
	}
	if u.IdleInTx != 2 || len(u.IdleInTxList) != 2 || u.Total < 10 {
		t.Errorf("idle in transaction = %d, total = %d", u.IdleInTx, u.Total)
	}
	if len(u.LockWaits) != 1 {
		t.Fatalf("lock waits = %+v", u.LockWaits)
	}
	lw := u.LockWaits[0]
	if lw.Waiting.Application != "atum:api:m1:999" || lw.Blocking.Application != "atum:worker:w1:8" ||
		!strings.Contains(lw.Waiting.Query, "UPDATE locks") || !strings.HasPrefix(lw.BlockerState, "idle in transaction") {
		t.Errorf("lock wait = %+v", lw)
	}
	if len(u.LongestXacts) == 0 || u.LongestXacts[0].XactAge < u.LongestXacts[len(u.LongestXacts)-1].XactAge {
		t.Errorf("longest transactions not sorted: %+v", u.LongestXacts)
	}
}

// TestReadUsageWithoutPgMonitor connects as a plain role: the page must
// say it cannot see other sessions' details.
func TestReadUsageWithoutPgMonitor(t *testing.T) {
	ctx := context.Background()
	admin, dbURL := testenv.MigratedPool(t)
	if _, err := admin.Exec(ctx, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'plain_console') THEN CREATE ROLE plain_console LOGIN; END IF; END $$`); err != nil {
		t.Fatal(err)
	}
	connectAs(t, dbURL, "atum:api:m1:1")
	u, _ := url.Parse(dbURL)
	u.User = url.User("plain_console")
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	usage, err := neon.ReadUsage(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if usage.CanSeeAll || usage.Role != "plain_console" {
		t.Fatalf("plain role: can see all = %v", usage.CanSeeAll)
	}
	f := neon.Assess(neon.Budget{}, neon.Snapshot{Limits: neon.Limits{Usable: 197}, Usage: usage})
	if len(f) != 1 || !strings.Contains(f[0].Text, "lacks pg_monitor") {
		t.Fatalf("findings = %+v", f)
	}
}

func TestReadPgBouncerSeesWaitingClients(t *testing.T) {
	st := testenv.Stack(t)
	ctx := context.Background()
	// devstack's PgBouncer pools 20 server connections per database:
	// 30 sleeping clients leave 10 waiting.
	cfg, err := pgxpool.ParseConfig(st.PgBouncerURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 30
	busy, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = busy.Exec(ctx, `SELECT pg_sleep(3)`) }()
	}
	defer wg.Wait()
	// While the first 20 sleep, the other clients wait and the oldest
	// one's wait shows as maxwait.
	var b neon.Bouncer
	var waited, maxwait bool
	testenv.Poll(5*time.Second, func() bool {
		if b, err = neon.ReadPgBouncer(ctx, st.PgBouncerAdminURL()); err != nil {
			t.Fatal(err)
		}
		waited = waited || b.Waiting >= 5 && len(b.Pools) > 0 && len(b.Stats) > 0
		maxwait = maxwait || b.MaxWait > 0
		return waited && maxwait
	})
	if !waited {
		t.Fatalf("bouncer = %+v", b)
	}
	if !maxwait {
		t.Errorf("maxwait not read: %+v", b.Pools)
	}
}

func newSampler(t *testing.T, console, platform *pgxpool.Pool, active func() bool) *neon.Sampler {
	s := neon.NewSampler()
	s.Console, s.Platform, s.Interval, s.Keep = console, platform, 200*time.Millisecond, time.Hour
	s.Active, s.Planned, s.Log = active, func() int { return 95 }, slog.New(slog.NewTextHandler(io.Discard, nil))
	return s
}

// TestSamplerSamplesOnlyWhileActiveAndOncePerInterval runs two samplers
// (two console instances) on one database: one reading per tick between
// them, none while nobody uses the console.
func TestSamplerSamplesOnlyWhileActiveAndOncePerInterval(t *testing.T) {
	ctx := context.Background()
	console, _ := testenv.MigratedPool(t)
	var mu sync.Mutex
	active := false
	isActive := func() bool { mu.Lock(); defer mu.Unlock(); return active }
	a, b := newSampler(t, console, console, isActive), newSampler(t, console, console, isActive)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, s := range []*neon.Sampler{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(rctx) }()
	}
	// A quiet period: nothing may be read while nobody uses the console.
	time.Sleep(700 * time.Millisecond)
	if a.Reads()+b.Reads() != 0 {
		t.Fatalf("sampled while nobody used the console: %d", a.Reads()+b.Reads())
	}
	mu.Lock()
	active = true
	mu.Unlock()
	// Sample for at least 2.1 s, and until the instances read 5 times.
	activeAt := time.Now()
	if _, ok := testenv.Poll(30*time.Second, func() bool {
		return time.Since(activeAt) >= 2100*time.Millisecond && a.Reads()+b.Reads() >= 5
	}); !ok {
		t.Fatalf("two instances read the platform %d times in %s at a 200 ms interval", a.Reads()+b.Reads(), time.Since(activeAt).Round(time.Millisecond))
	}
	cancel()
	wg.Wait()
	reads := a.Reads() + b.Reads()
	var rows int
	// The last reading may be cut short by the cancellation and store nothing.
	if err := console.QueryRow(ctx, `SELECT count(*) FROM ops.connection_samples`).Scan(&rows); err != nil || int64(rows) > reads || int64(rows) < reads-1 {
		t.Fatalf("history rows = %d, reads = %d (%v)", rows, reads, err)
	}
	// About one reading per 200 ms tick: two instances must not double it.
	// A reading waits until the last one is 0.8 intervals old, so stored
	// readings are at least 160 ms apart however slow the machine is (give
	// or take the microseconds the times are stored in).
	var closest float64
	if err := console.QueryRow(ctx, `SELECT COALESCE(extract(epoch FROM min(gap)), 3600)::float8 FROM
		(SELECT at - lag(at) OVER (ORDER BY at) AS gap FROM ops.connection_samples) g`).Scan(&closest); err != nil {
		t.Fatal(err)
	}
	if closest < 0.1599 {
		t.Fatalf("two of %d readings %.0f ms apart at a 200 ms interval", rows, closest*1000)
	}
	snap, err := b.Latest(ctx)
	if err != nil || snap.Limits.MaxConnections != 200 || snap.Planned != 95 {
		t.Fatalf("latest = %+v, %v", snap, err)
	}
	hist, err := a.History(ctx, time.Now().Add(-time.Minute), 300)
	if err != nil || len(hist) == 0 || hist[0].Usable == 0 {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	// Pruning keeps only Keep.
	if _, err := console.Exec(ctx, `UPDATE ops.connection_samples SET at = at - interval '2 hours' WHERE at = (SELECT min(at) FROM ops.connection_samples)`); err != nil {
		t.Fatal(err)
	}
	if err := a.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	var after int
	_ = console.QueryRow(ctx, `SELECT count(*) FROM ops.connection_samples`).Scan(&after)
	if after != rows-1 {
		t.Fatalf("prune left %d of %d rows", after, rows)
	}
}

// TestSamplerRecordsAFailedReading: an unreachable platform database is a
// snapshot with an error, not a crash, and leaves no history point.
func TestSamplerRecordsAFailedReading(t *testing.T) {
	ctx := context.Background()
	console, _ := testenv.MigratedPool(t)
	dead, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/atum?connect_timeout=1", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	s := newSampler(t, console, dead, nil)
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Latest(ctx)
	if err != nil || snap.Err == "" {
		t.Fatalf("latest = %+v, %v", snap, err)
	}
	var rows int
	_ = console.QueryRow(ctx, `SELECT count(*) FROM ops.connection_samples`).Scan(&rows)
	if rows != 0 {
		t.Fatalf("a failed reading made %d history rows", rows)
	}
}
