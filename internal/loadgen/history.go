package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/flydouble"
	"github.com/atum/ops-console/internal/store"
)

// Goals of the history benchmark.
const (
	historyP99Goal    = 25 * time.Millisecond
	historyShareGoal  = 25.0 // % of the static asset's throughput
	historyCacheRatio = 0.20 // /cache p50 with 14 days within 20 % of 1 hour
	catchUpLimit      = 10 * time.Minute
)

// historyScreens are the screens the history benchmark loads.
var historyScreens = []string{"/", "/connections", "/connections?range=14d", "/cache", "/fleet", "/queues", "/switches",
	"/alerts", "/timeline", "/audit"}

// historyFleet serves the 200 instances' machines from the Fly API double
// (with its documented rate limits and 20 ms a call), one of them
// crash-looping, for /fleet.
func historyFleet() (*flydouble.Server, string, error) {
	fd := flydouble.New(flydouble.Options{Token: "fo1_history", App: "atum", Latency: 20 * time.Millisecond})
	url, err := fd.Start("127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	env := map[string]string{"ENVIRONMENT": "production", "DB_POOL_SIZE": "15", "DATABASE_MAX_OVERFLOW": "5"}
	for _, g := range []struct {
		name string
		n    int
	}{{"api", 120}, {"worker", 60}, {"cron", 20}} {
		for i := 1; i <= g.n; i++ {
			id := fmt.Sprintf("%s-%03d", g.name, i)
			fd.Put(flydouble.Machine{ID: "m-" + id, Name: id, State: "started", Region: "fra", Group: g.name, Release: "7",
				Digest: "sha256:0123456789abcdef", Env: env})
		}
	}
	fd.CrashLoop("m-worker-001", 5, time.Minute, 1, false)
	return fd, url, nil
}

// historyPhase seeds 14 days of heartbeats and connection samples for 200
// instances (and keeps their heartbeats coming every 15 s, as the
// platform sends them), starts the console on them and on their machines
// in the Fly API double, waits until it has
// folded the history into its rollups, reads its idle memory, then loads
// every screen and the stylesheet with clients concurrent clients (after
// an untimed warm-up) and reports latency, throughput, compressed size,
// the console-database queries per view and PASS/FAIL against the goals.
// It then compares /cache and the idle memory with a console over 1 hour
// of history.
func historyPhase(bin string, clients, requests int) error {
	fmt.Printf("history: 200 instances (api 120, worker 60, cron 20), heartbeats one a minute per instance, connection samples every 15 s, " +
		"their 200 machines on the Fly API double\n")
	long, err := startHistory(bin, 14*24*time.Hour, clients, requests)
	if err != nil {
		return err
	}
	defer long.stop()
	long.m.warmUp(historyScreens)
	if _, err := long.m.screens(historyScreens); err != nil {
		return err
	}
	short, err := startHistory(bin, time.Hour, clients, requests)
	if err != nil {
		return err
	}
	defer short.stop()
	short.m.warmUp([]string{"/cache"})
	// Side by side, in turns: a shared machine's speed drifts by more than
	// the difference measured between two runs minutes apart.
	var longP50, shortP50 []time.Duration
	for range 5 {
		for _, c := range []struct {
			m    meter
			p50s *[]time.Duration
		}{{long.m, &longP50}, {short.m, &shortP50}} {
			r, err := c.m.load("/cache", true)
			if err != nil {
				return err
			}
			*c.p50s = append(*c.p50s, r.p50)
		}
	}
	slices.Sort(longP50)
	slices.Sort(shortP50)
	fmt.Printf("/cache p50 over 5 loads of each console in turns: %s with 14 days, %s with 1 hour of history\n", longP50, shortP50)
	ratio := float64(longP50[2]) / float64(shortP50[2])
	fmt.Printf("/cache p50 (median): %s with 14 days, %s with 1 hour of history: ratio %.2f%s\n", short2(longP50[2]), short2(shortP50[2]),
		ratio, verdict(ratio >= 1-historyCacheRatio && ratio <= 1+historyCacheRatio, "within 20 %"))
	fmt.Printf("idle memory (VmRSS 10 s after catching up, before any sign-in): %s with 14 days, %s with 1 hour of history (%+.1f MiB)\n",
		mib(long.idleKiB), mib(short.idleKiB), float64(long.idleKiB-short.idleKiB)/1024)
	return nil
}

// short2 formats a latency to 0.1 ms.
func short2(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// historyConsole is a console serving a seeded history, signed in.
type historyConsole struct {
	m       meter
	idleKiB int
	// stop stops the console and everything started for it.
	stop func()
}

// startHistory seeds span of history into a fresh database, serves it,
// waits for the catch-up, reads the idle memory and signs in.
func startHistory(bin string, span time.Duration, clients, requests int) (hc *historyConsole, err error) {
	res := &historyConsole{}
	var stops []func()
	res.stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			res.stop()
		}
	}()
	ctx := context.Background()
	st, err := devstack.Start(ctx, devstack.Options{Postgres: true})
	if err != nil {
		return nil, err
	}
	stops = append(stops, func() { _ = st.Stop() })
	stops = append(stops, onInterrupt(func() { _ = st.Stop() }))
	pool, err := store.Open(ctx, st.PostgresURL(), 4)
	if err != nil {
		return nil, err
	}
	stops = append(stops, pool.Close)
	boot, err := seedHistory(ctx, pool, span)
	if err != nil {
		return nil, err
	}
	stops = append(stops, keepBeating(ctx, pool, boot))
	// Nobody signs in before the idle memory is read: a sign-in's password
	// hash takes tens of MiB the runtime returns only minutes later.
	fd, flyURL, err := historyFleet()
	if err != nil {
		return nil, err
	}
	stops = append(stops, fd.Close)
	metricsAddr, addr := freeAddr(), freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	cmd, err := startServe(bin, map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": st.PostgresURL(),
		"WATCH": "always", "METRICS_ADDR": metricsAddr, "HOST": "127.0.0.1", "PORT": port, "LOG_LEVEL": "error",
		"FLY_API_URL": flyURL, "FLY_API_TOKEN": "fo1_history", "ATUM_FLY_APP": "atum"})
	if err != nil {
		return nil, err
	}
	stops = append(stops, func() { stopServe(cmd) })
	base := "http://" + addr
	if _, err := waitHealthy(base, 10*time.Second); err != nil {
		return nil, err
	}
	took, err := waitCaughtUp(ctx, pool, catchUpLimit)
	if err != nil {
		return nil, err
	}
	var raw int64
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM ops.heartbeat_history`).Scan(&raw)
	fmt.Printf("  console caught up (heartbeat inbox folded) %s after it started; raw heartbeat history left: %d rows\n", short(took), raw)
	// Pruning millions of folded heartbeats leaves Postgres autovacuum work
	// that would otherwise run during the measurement (once, after an
	// upgrade: not the steady state measured here).
	quiet, err := waitVacuumed(ctx, pool, catchUpLimit)
	if err != nil {
		return nil, err
	}
	// A checkpoint now, rather than one writing the pruned pages out during
	// the measurement.
	if err := execSQL(ctx, pool, `CHECKPOINT`); err != nil {
		return nil, err
	}
	fmt.Printf("  autovacuum of the pruned history done %s later, then a checkpoint\n", short(quiet))
	time.Sleep(10 * time.Second)
	if res.idleKiB, err = residentKiB(cmd.Process.Pid); err != nil {
		return nil, err
	}
	fmt.Printf("  idle memory after catching up (10 s idle, nobody signed in yet): %s\n", mib(res.idleKiB))
	cookie, err := signIn(base)
	if err != nil {
		return nil, err
	}
	res.m = meter{base: base, cookie: cookie, metrics: "http://" + metricsAddr + "/metrics", clients: clients, requests: requests}
	return res, nil
}

// seedHistory migrates pool's database with the history of span in it:
// the schema up to the connection rollups, then the heartbeats (into the
// history and, when it exists, the rollup inbox, as the heartbeat trigger
// does) and the connection samples, then the remaining migrations (whose
// backfill reads the samples, as on a deployed console), the latest
// heartbeat of every instance at the wall clock and the operator. It
// returns when the instances booted.
func seedHistory(ctx context.Context, pool *pgxpool.Pool, span time.Duration) (time.Time, error) {
	t0 := time.Now()
	if _, err := migrateBefore(ctx, pool, "ops.connection_minutes"); err != nil {
		return time.Time{}, err
	}
	end := time.Now().Truncate(time.Second)
	from, boot := end.Add(-span), end.Add(-14*24*time.Hour)
	steps := []struct {
		name string
		run  func() error
	}{
		{"heartbeat history", func() error { return execSQL(ctx, pool, historySQL, from, end, boot) }},
		{"heartbeat inbox", func() error { return copyToInbox(ctx, pool) }},
		{"connection samples", func() error { return execSQL(ctx, pool, connectionSamplesSQL, from, end) }},
		{"remaining migrations", func() error { _, err := store.Migrate(ctx, pool); return err }},
		{"latest heartbeats", func() error { return execSQL(ctx, pool, heartbeatSQL, "a-", boot, time.Now(), "", int64(1)) }},
		{"operator", func() error {
			_, err := auth.NewStore(pool).CreateOperator(ctx, loadEmail, auth.Operator, loadPassword, false)
			return err
		}},
		{"analyze", func() error { return execSQL(ctx, pool, `ANALYZE`) }},
	}
	var parts []string
	for _, s := range steps {
		t := time.Now()
		if err := s.run(); err != nil {
			return time.Time{}, fmt.Errorf("seeding %s: %w", s.name, err)
		}
		parts = append(parts, fmt.Sprintf("%s %s", s.name, short(time.Since(t))))
	}
	var beats, samples int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM ops.heartbeat_history), (SELECT count(*) FROM ops.connection_samples)`).
		Scan(&beats, &samples); err != nil {
		return time.Time{}, err
	}
	fmt.Printf("%s of history: seeded %d heartbeat rows and %d connection samples in %s (%s)\n",
		span, beats, samples, short(time.Since(t0)), strings.Join(parts, ", "))
	return boot, nil
}

// keepBeating upserts every instance's heartbeat every 15 s, as the
// platform does, until stop is called, so that the instances stay live
// (a screen with stale instances renders less) and the console keeps
// folding new heartbeats while it is measured.
func keepBeating(ctx context.Context, pool *pgxpool.Pool, boot time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = execSQL(ctx, pool, heartbeatSQL, "a-", boot, time.Now(), "", int64(1))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// execSQL runs one statement.
func execSQL(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) error {
	_, err := pool.Exec(ctx, sql, args...)
	return err
}

// copyToInbox copies the seeded heartbeat history, oldest first, into the
// rollup inbox when the schema has one.
func copyToInbox(ctx context.Context, pool *pgxpool.Pool) error {
	if !tableExists(ctx, pool, "ops.heartbeat_inbox") {
		return nil
	}
	return execSQL(ctx, pool, `
INSERT INTO ops.heartbeat_inbox (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
SELECT instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands
FROM ops.heartbeat_history ORDER BY at, instance_id`)
}

// tableExists reports whether the table name exists.
func tableExists(ctx context.Context, pool *pgxpool.Pool, name string) bool {
	var ok bool
	_ = pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok)
	return ok
}

// migrateBefore applies, as store.Migrate does, the embedded migrations
// before the first one that mentions marker (all of them when none does)
// and returns the version reached.
func migrateBefore(ctx context.Context, pool *pgxpool.Pool, marker string) (int, error) {
	ms, err := store.Migrations()
	if err != nil {
		return 0, err
	}
	if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS ops;
		CREATE TABLE IF NOT EXISTS ops.schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, err
	}
	reached := 0
	for _, m := range ms {
		if strings.Contains(m.SQL, marker) {
			break
		}
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO ops.schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return reached, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		reached = m.Version
	}
	return reached, nil
}

// historyInstances is the number of instances the history phase seeds.
const historyInstances = 200

// waitCaughtUp waits until the console has folded the heartbeat inbox
// down to at most one round of heartbeats (at once when the schema has
// none) and returns how long that took.
func waitCaughtUp(ctx context.Context, pool *pgxpool.Pool, limit time.Duration) (time.Duration, error) {
	t0 := time.Now()
	if !tableExists(ctx, pool, "ops.heartbeat_inbox") {
		return 0, nil
	}
	for {
		var waiting int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops.heartbeat_inbox`).Scan(&waiting); err != nil {
			return 0, err
		}
		if waiting <= historyInstances {
			return time.Since(t0), nil
		}
		if time.Since(t0) > limit {
			return 0, fmt.Errorf("the console did not catch up within %s: %d heartbeats still in the inbox", limit, waiting)
		}
		time.Sleep(time.Second)
	}
}

// waitVacuumed waits until no autovacuum worker runs on pool's database
// for 5 s in a row, or returns an error after limit.
func waitVacuumed(ctx context.Context, pool *pgxpool.Pool, limit time.Duration) (time.Duration, error) {
	t0, idleSince := time.Now(), time.Now()
	for time.Since(idleSince) < 5*time.Second {
		var workers int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'autovacuum worker' AND datname = current_database()`).Scan(&workers); err != nil {
			return 0, err
		}
		if workers > 0 {
			idleSince = time.Now()
		}
		if time.Since(t0) > limit {
			return 0, fmt.Errorf("autovacuum still running after %s", limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return time.Since(t0), nil
}

// meter loads screens of a signed-in console and reads its query counts.
type meter struct {
	base, cookie, metrics string
	clients, requests     int
}

// screens measures the stylesheet, then each of paths, then the
// stylesheet again, and prints one line per screen against the goals,
// its throughput as a share of the stylesheet's mean of the two. It
// returns /cache's p50.
func (m meter) screens(paths []string) (time.Duration, error) {
	css, err := m.stylesheet()
	if err != nil {
		return 0, err
	}
	before, err := m.load(css, false)
	if err != nil {
		return 0, err
	}
	results := make([]loadResult, len(paths))
	var cacheP50 time.Duration
	for i, p := range paths {
		if results[i], err = m.load(p, true); err != nil {
			return 0, err
		}
		if p == "/cache" {
			cacheP50 = results[i].p50
		}
	}
	after, err := m.load(css, false)
	if err != nil {
		return 0, err
	}
	static := before
	static.rps = (before.rps + after.rps) / 2
	fails := 0
	for i, p := range paths {
		m.print(p, results[i], static, &fails)
	}
	fmt.Printf("  %-24s %8.0f req/s  p50 %-8s p99 %-8s %6d B (gzip)  (mean of %.0f req/s before the screens and %.0f after)\n",
		"static "+css, static.rps, short2(before.p50), short2(before.p99), before.bytes, before.rps, after.rps)
	if fails > 0 {
		fmt.Printf("  %d of %d screens miss a goal (p99 ≤ %s, ≥ %.0f %% of the stylesheet's throughput)\n", fails, len(paths), historyP99Goal, historyShareGoal)
	}
	return cacheP50, nil
}

// warmUp loads each of paths a tenth of m.requests times, untimed, so
// that no screen is measured on a console that has just started.
func (m meter) warmUp(paths []string) {
	for _, p := range paths {
		hammerGzip(m.base+p, m.cookie, m.clients, m.requests/10)
	}
}

// print reports one screen's figures against the stylesheet's.
func (m meter) print(path string, r loadResult, static loadResult, fails *int) {
	share := 100 * r.rps / static.rps
	ok := r.p99 <= historyP99Goal && share >= historyShareGoal
	mark := "PASS"
	if !ok {
		mark, *fails = "FAIL", *fails+1
	}
	fmt.Printf("  %-24s %8.0f req/s  p50 %-8s p99 %-8s %6d B (gzip)  %5.1f %% of static  %5.2f queries/view  %s\n",
		path, r.rps, short2(r.p50), short2(r.p99), r.bytes, share, r.queries, mark)
}

// loadResult is one measured load.
type loadResult struct {
	rps      float64
	p50, p99 time.Duration
	bytes    int64   // compressed bytes of one response (the mean)
	queries  float64 // console-database statements per request
}

// load sends m.requests GETs of path from m.clients clients, with the
// session cookie when signed, and reads the query count delta of the
// route from the metrics.
func (m meter) load(path string, signed bool) (loadResult, error) {
	route, _, _ := strings.Cut(path, "?")
	q0, n0, err := m.queries(route)
	if err != nil {
		return loadResult{}, err
	}
	cookie := ""
	if signed {
		cookie = m.cookie
	}
	t0 := time.Now()
	lat, size, errs := hammerGzip(m.base+path, cookie, m.clients, m.requests)
	wall := time.Since(t0)
	if errs > 0 {
		return loadResult{}, fmt.Errorf("%s: %d failed requests", path, errs)
	}
	q1, n1, err := m.queries(route)
	if err != nil {
		return loadResult{}, err
	}
	r := loadResult{rps: float64(len(lat)) / wall.Seconds(), p50: pct(lat, 50), p99: pct(lat, 99), bytes: size / int64(len(lat))}
	if n1 > n0 {
		r.queries = (q1 - q0) / (n1 - n0)
	}
	return r, nil
}

// queries reads the sum and count of the queries-per-request histogram
// of route from the console's metrics (zero when it has no series yet).
func (m meter) queries(route string) (sum, count float64, err error) {
	resp, err := http.Get(m.metrics)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := readAll(resp)
	if err != nil {
		return 0, 0, err
	}
	label := `{route="` + route + `"} `
	for _, line := range strings.Split(b, "\n") {
		if v, ok := strings.CutPrefix(line, "atum_http_request_db_queries_sum"+label); ok {
			sum, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
		if v, ok := strings.CutPrefix(line, "atum_http_request_db_queries_count"+label); ok {
			count, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return sum, count, nil
}

// stylesheet finds the stylesheet's URL in the Overview's HTML.
func (m meter) stylesheet() (string, error) {
	req, _ := http.NewRequest(http.MethodGet, m.base+"/", nil)
	req.Header.Set("Cookie", m.cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	html, err := readAll(resp)
	if err != nil {
		return "", err
	}
	if href := stylesheetHref(html); href != "" {
		return href, nil
	}
	return "", fmt.Errorf("no <link rel=\"stylesheet\" href=…> in the Overview (status %d)", resp.StatusCode)
}

// stylesheetHref returns the href of the first <link rel="stylesheet">
// of html, or "".
func stylesheetHref(html string) string {
	for rest := html; ; {
		i := strings.Index(rest, "<link")
		if i < 0 {
			return ""
		}
		tag, after, _ := strings.Cut(rest[i:], ">")
		rest = after
		if !strings.Contains(tag, `rel="stylesheet"`) {
			continue
		}
		if _, v, ok := strings.Cut(tag, `href="`); ok {
			href, _, _ := strings.Cut(v, `"`)
			return strings.ReplaceAll(href, "&amp;", "&")
		}
	}
}

// hammerGzip is hammer as a browser asks: with Accept-Encoding: gzip. It
// also returns the bytes received, compressed as sent.
func hammerGzip(target, cookie string, clients, n int) ([]time.Duration, int64, int) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var mu sync.Mutex
	var lat []time.Duration
	var size int64
	errs := 0
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				req, _ := http.NewRequest(http.MethodGet, target, nil)
				req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves the body compressed
				if cookie != "" {
					req.Header.Set("Cookie", cookie)
				}
				t0 := time.Now()
				resp, err := c.Do(req)
				ok := err == nil && resp.StatusCode == 200
				var got int64
				if err == nil {
					got, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(t0)
				mu.Lock()
				if ok {
					lat, size = append(lat, d), size+got
				} else {
					errs++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, size, errs
}

// readAll reads a response body of at most 16 MiB.
func readAll(resp *http.Response) (string, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return string(b), err
}

// fleetCTE lists the simulated platform: 200 instances in three process
// groups (api 120, worker 60, cron 20), each sending its normal rate of
// 95 to 105 Redis commands a minute (as the alert rules' benchmark).
const fleetCTE = `fleet AS (
    SELECT g.name || '-' || lpad(i::text, 3, '0') AS id, g.name AS grp, (95 + i % 11)::bigint AS rate
    FROM (VALUES ('api', 120), ('worker', 60), ('cron', 20)) g(name, n), generate_series(1, g.n) i)`

// historySQL writes one heartbeat a minute per instance from $1 to $2,
// of boot "a-<id>" started at $3, with counters cumulative since the
// boot. The platform writes every 15 s; one a minute keeps 14 days at
// 4.0 M rows.
const historySQL = `WITH ` + fleetCTE + `
INSERT INTO ops.heartbeat_history (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
SELECT f.id, at, 'a-' || f.id, $3::timestamptz,
       (f.rate * 8 * m)::bigint, (f.rate * m / 2)::bigint, (f.rate * m / 20)::bigint, (f.rate * m)::bigint
FROM fleet f, generate_series($1::timestamptz, $2::timestamptz, interval '1 minute') at,
     LATERAL (SELECT extract(epoch FROM at - $3::timestamptz) / 60 AS m) x`

// heartbeatSQL upserts every instance's heartbeat at $3 as the platform
// does (the trigger copies it to the history): boot $1 || id started at
// $2, counters since then at the instance's normal rate, except that
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

// connectionSamplesSQL writes connection samples every 15 s from $1 to $2
// (the neon sampler's history, kept 14 days), well within the budget.
const connectionSamplesSQL = `
INSERT INTO ops.connection_samples (at, total, active, idle, idle_in_tx, lock_waiting, max_connections, usable, planned,
    pool_waiting, pool_maxwait_ms)
SELECT at, 180 + (extract(epoch FROM at)::bigint / 15) % 40, 20, 160, 0, 0, 450, 447, 400, NULL, NULL
FROM generate_series($1::timestamptz, $2::timestamptz, interval '15 seconds') at`
