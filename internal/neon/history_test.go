package neon_test

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
)

// rollupsVersion is the migration that adds and backfills the rollups.
const rollupsVersion = 12

// seededPool returns a console database holding samples every 15 s from
// start to end, stored before the rollups migration ran, so that its
// backfill made the rollups.
func seededPool(t testing.TB, start, end time.Time) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, testenv.NewDatabase(t), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS ops;
		CREATE TABLE IF NOT EXISTS ops.schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version >= rollupsVersion {
			break
		}
		if _, err := pool.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("migration %s: %v", m.Name, err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO ops.schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	seedSamples(t, pool, start, end)
	if _, err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE ops.connection_samples, ops.connection_minutes, ops.connection_hours`); err != nil {
		t.Fatal(err)
	}
	return pool
}

// seedSamples stores varied samples every 15 s from start to end; PgBouncer
// is unknown for the first 90 minutes.
func seedSamples(t testing.TB, pool *pgxpool.Pool, start, end time.Time) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `
		INSERT INTO ops.connection_samples (at, total, active, idle, idle_in_tx, lock_waiting, max_connections, usable, planned, pool_waiting, pool_maxwait_ms)
		SELECT at, 40 + h % 61, 10, 20, h % 7, h % 5, 200 + (h % 997 = 0)::int * 100, 150 - h % 17, 90 + h % 11,
		       CASE WHEN at < $1::timestamptz + interval '90 minutes' THEN NULL ELSE h % 9 END, NULL
		FROM (SELECT at, abs(hashtext(extract(epoch FROM at)::text)) AS h
		      FROM generate_series($1::timestamptz, $2::timestamptz, interval '15 seconds') at) g`, start, end); err != nil {
		t.Fatal(err)
	}
}

// rawBins is History computed directly from the raw samples: the worst of
// each bucket of the given width from origin.
func rawBins(t testing.TB, pool *pgxpool.Pool, origin time.Time, bucket time.Duration) []neon.Sample {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT date_bin($2 * interval '1 second', at, $1) AS b, max(total), max(idle_in_tx), max(lock_waiting),
		       min(usable), max(planned), COALESCE(max(pool_waiting), 0), max(max_connections)
		FROM ops.connection_samples WHERE at >= $1
		GROUP BY b ORDER BY b`, origin, bucket.Seconds())
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (neon.Sample, error) {
		var x neon.Sample
		err := r.Scan(&x.At, &x.Total, &x.IdleInTx, &x.LockWaiting, &x.Usable, &x.Planned, &x.PoolWaiting, &x.MaxConnections)
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func historySampler(pool *pgxpool.Pool) *neon.Sampler {
	s := neon.NewSampler()
	s.Console, s.Platform, s.Interval = pool, pool, time.Second
	s.Planned, s.Log = func() int { return 95 }, slog.New(slog.NewTextHandler(io.Discard, nil))
	return s
}

// TestHistoryFromRollupsEqualsRaw: whichever resolution History reads, it
// returns what the raw samples give over the same buckets.
func TestHistoryFromRollupsEqualsRaw(t *testing.T) {
	ctx := context.Background()
	end := time.Date(2026, 11, 30, 12, 34, 56, 789_000_000, time.UTC)
	pool := seededPool(t, end.Add(-72*time.Hour), end)
	s := historySampler(pool)
	now := end.Add(7 * time.Second)
	for _, tt := range []struct {
		name   string
		span   time.Duration
		points int
		step   time.Duration // 0: raw samples
		bucket time.Duration
	}{
		{"90 minutes from raw samples", 90 * time.Minute, 300, 0, 18 * time.Second},
		{"2 hours in 100 points from minutes", 2 * time.Hour, 100, time.Minute, 2 * time.Minute},
		{"6 hours from minutes", 6 * time.Hour, 300, time.Minute, 2 * time.Minute},
		{"24 hours from minutes", 24 * time.Hour, 300, time.Minute, 5 * time.Minute},
		{"40 hours from minutes", 40 * time.Hour, 300, time.Minute, 8 * time.Minute},
		{"50 hours in 20 points from hours", 50 * time.Hour, 20, time.Hour, 3 * time.Hour},
		{"71 hours from hours", 71 * time.Hour, 300, time.Hour, time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			from := now.Add(-tt.span)
			origin := from
			if tt.step > 0 {
				origin = from.Truncate(tt.step).Add(tt.step)
			}
			got, err := s.HistoryAt(ctx, now, from, tt.points)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 || len(got) > tt.points {
				t.Fatalf("%d points, want 1 to %d", len(got), tt.points)
			}
			want := rawBins(t, pool, origin, tt.bucket)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("history differs from the raw samples:\n got %d points %+v…\nwant %d points %+v…", len(got), got[0], len(want), want[0])
			}
		})
	}
}

// rollupsMatchRaw counts the minute and hour rows that differ from the raw
// samples' worst per minute and per hour (either way).
func rollupsMatchRaw(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for _, r := range []struct{ table, step string }{{"connection_minutes", "1 minute"}, {"connection_hours", "1 hour"}} {
		var rows, diff int
		err := pool.QueryRow(context.Background(), `
			WITH raw AS (
				SELECT date_bin(interval '`+r.step+`', at, timestamptz '2000-01-01 00:00:00+00') AS bucket, count(*)::int AS samples,
				       max(total) AS total, max(idle_in_tx) AS idle_in_tx, max(lock_waiting) AS lock_waiting, min(usable) AS usable,
				       max(planned) AS planned, max(pool_waiting) AS pool_waiting, max(max_connections) AS max_connections
				FROM ops.connection_samples GROUP BY 1),
			r AS (SELECT bucket, samples, total, idle_in_tx, lock_waiting, usable, planned, pool_waiting, max_connections FROM ops.`+r.table+`)
			SELECT (SELECT count(*) FROM r),
			       (SELECT count(*) FROM ((SELECT * FROM raw EXCEPT SELECT * FROM r) UNION ALL (SELECT * FROM r EXCEPT SELECT * FROM raw)) d)`).Scan(&rows, &diff)
		if err != nil {
			t.Fatal(err)
		}
		if rows == 0 || diff != 0 {
			t.Errorf("%s: %d rows, %d differ from the raw samples", r.table, rows, diff)
		}
	}
}

// TestStoredSampleUpdatesMinuteAndHour: each stored sample is folded into
// its minute and hour, exactly once, and they stay the worst of the raw
// samples.
func TestStoredSampleUpdatesMinuteAndHour(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	s := historySampler(pool)
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	var total, usable, minutes, hours int
	if err := pool.QueryRow(ctx, `SELECT total, usable FROM ops.connection_samples`).Scan(&total, &usable); err != nil {
		t.Fatal(err)
	}
	for table, n := range map[string]*int{"connection_minutes": &minutes, "connection_hours": &hours} {
		var samples, rt, ru int
		if err := pool.QueryRow(ctx, `SELECT count(*) OVER (), samples, total, usable FROM ops.`+table).Scan(n, &samples, &rt, &ru); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if *n != 1 || samples != 1 || rt != total || ru != usable {
			t.Fatalf("%s: %d rows, samples %d, total %d, usable %d; the sample has total %d, usable %d", table, *n, samples, rt, ru, total, usable)
		}
	}

	// 300 more samples over 75 minutes (crossing an hour), some without
	// PgBouncer, and one again at a time already stored.
	start := time.Now().Add(-80 * time.Minute)
	for i := range 300 {
		snap := &neon.Snapshot{At: start.Add(time.Duration(i) * 15 * time.Second), Planned: 50 + i%6,
			Limits: neon.Limits{MaxConnections: 100 + i%2*100, Usable: 90 - i%5},
			Usage:  neon.Usage{Total: 30 + i*7%23, ByState: map[string]int{"active": 1, "idle": 2}, IdleInTx: i % 4, Waiting: i % 3}}
		if i >= 100 {
			snap.Bouncer = &neon.Bouncer{Waiting: int64(i * 5 % 7)}
		}
		if err := s.StoreSnapshot(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}
	again := &neon.Snapshot{At: start, Limits: neon.Limits{MaxConnections: 999, Usable: 1}, Usage: neon.Usage{Total: 999}}
	if err := s.StoreSnapshot(ctx, again); err != nil {
		t.Fatal(err)
	}
	rollupsMatchRaw(t, pool)
}

// TestPruneKeepsEachResolution: raw samples are kept 2 hours, minutes 2
// days and hours Keep, in batches, and younger rows stay.
func TestPruneKeepsEachResolution(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	// 12,000 raw samples 3 days old (three batches), and one an hour old
	// and one 3 hours old; minutes a day and 3 days old; hours 10, 20 and
	// 100 days old.
	exec(`INSERT INTO ops.connection_samples (at, total, active, idle, idle_in_tx, lock_waiting, max_connections, usable, planned)
		SELECT now() - interval '3 days' - i * interval '1 second', 1, 1, 0, 0, 0, 100, 97, 10 FROM generate_series(1, 12000) i
		UNION ALL SELECT now() - interval '1 hour', 1, 1, 0, 0, 0, 100, 97, 10
		UNION ALL SELECT now() - interval '3 hours', 1, 1, 0, 0, 0, 100, 97, 10`)
	for table, ages := range map[string]string{"connection_minutes": `'1 day', '3 days'`, "connection_hours": `'10 days', '20 days', '100 days'`} {
		exec(`INSERT INTO ops.` + table + ` (bucket, samples, total, idle_in_tx, lock_waiting, usable, planned, pool_waiting, max_connections)
			SELECT now() - age::interval, 1, 1, 0, 0, 97, 10, NULL, 100 FROM unnest(ARRAY[` + ages + `]) age`)
	}
	count := func(table string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops.`+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	s := historySampler(pool)
	// Too short a raw retention is the 2 hours History reads raw samples for.
	s.RawKeep = 30 * time.Minute
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if raw, minutes, hours := count("connection_samples"), count("connection_minutes"), count("connection_hours"); raw != 1 || minutes != 1 || hours != 2 {
		t.Fatalf("defaults kept %d raw samples (want 1), %d minutes (want 1), %d hours (want 2)", raw, minutes, hours)
	}
	s.Keep = 14 * 24 * time.Hour // HISTORY_RETENTION at its least
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if raw, minutes, hours := count("connection_samples"), count("connection_minutes"), count("connection_hours"); raw != 1 || minutes != 1 || hours != 1 {
		t.Fatalf("Keep 14 days kept %d raw samples (want 1), %d minutes (want 1), %d hours (want 1)", raw, minutes, hours)
	}
	s.Keep = 30 * time.Minute // no resolution outlives Keep
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if raw, minutes, hours := count("connection_samples"), count("connection_minutes"), count("connection_hours"); raw != 0 || minutes != 0 || hours != 0 {
		t.Fatalf("Keep 30 minutes kept %d raw samples, %d minutes, %d hours", raw, minutes, hours)
	}
}

// fourteenDays is the 14-day chart's range: 80,640 samples at 15 s.
const fourteenDays = 14 * 24 * time.Hour

// TestHistory14DaysIsBounded: the 14-day chart comes from the hours, at
// most the points asked for: 300 points over 14 days are buckets of 67
// minutes, rounded up to 2 whole hours, so 168 points.
func TestHistory14DaysIsBounded(t *testing.T) {
	now := time.Now()
	pool := seededPool(t, now.Add(-fourteenDays), now)
	hist, err := historySampler(pool).History(context.Background(), now.Add(-fourteenDays), 300)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) < 167 || len(hist) > 168 {
		t.Fatalf("%d points, want 167 or 168", len(hist))
	}
	for i := 1; i < len(hist); i++ {
		if d := hist[i].At.Sub(hist[i-1].At); d != 2*time.Hour {
			t.Fatalf("points %s apart, want 2 hours", d)
		}
	}
}

// BenchmarkHistory14Days is one page view of the 14-day chart with 14 days
// of samples at 15 s (80,640 rows): "rollups" is History, "raw" the
// previous query over every raw sample.
func BenchmarkHistory14Days(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	pool := seededPool(b, now.Add(-fourteenDays), now)
	s := historySampler(pool)
	b.Run("rollups", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.History(ctx, now.Add(-fourteenDays), 300); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			from := now.Add(-fourteenDays)
			rawBins(b, pool, from, max(time.Since(from)/300, time.Second))
		}
	})
}
