package sampling_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/sampling"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

const lock = 0x73616d706c6500 // "sample"

// counts is what the samplers of one test did.
type counts struct{ takes, onSample atomic.Int64 }

// newPool returns a pool on a fresh database with a table of samples.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, testenv.NewDatabase(t), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE samples (at timestamptz PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return pool
}

// newSampler returns a sampler that stores the time it sampled at; take,
// when set, replaces that.
func newSampler(pool *pgxpool.Pool, interval time.Duration, c *counts, take func() error) *sampling.Sampler[time.Time] {
	return &sampling.Sampler[time.Time]{Pool: pool, Lock: lock, Interval: interval,
		Last: func(ctx context.Context, conn *pgxpool.Conn) (time.Time, time.Time, error) {
			var at time.Time
			err := conn.QueryRow(ctx, `SELECT COALESCE(max(at), 'epoch') FROM samples`).Scan(&at)
			return at, at, err
		},
		Take: func(ctx context.Context, conn *pgxpool.Conn, _ time.Time) (time.Time, error) {
			c.takes.Add(1)
			if take != nil {
				return time.Time{}, take()
			}
			at := time.Now()
			_, err := conn.Exec(ctx, `INSERT INTO samples (at) VALUES ($1)`, at)
			return at, err
		},
		OnSample: func() { c.onSample.Add(1) },
	}
}

func rows(t *testing.T, pool *pgxpool.Pool) (n int64, closest float64) {
	t.Helper()
	if err := pool.QueryRow(context.Background(), `SELECT count(*), COALESCE(extract(epoch FROM min(gap)), 3600)::float8 FROM
		(SELECT at - lag(at) OVER (ORDER BY at) AS gap FROM samples) g`).Scan(&n, &closest); err != nil {
		t.Fatal(err)
	}
	return n, closest
}

// TestTwoInstancesTakeOneSamplePerInterval ticks two samplers (two console
// instances) on one database from 20 goroutines for 1.5 s at a 300 ms
// interval: the samples stand at least 0.8 intervals apart, and each ran
// OnSample once.
func TestTwoInstancesTakeOneSamplePerInterval(t *testing.T) {
	pool := newPool(t)
	var c counts
	const interval = 300 * time.Millisecond
	a, b := newSampler(pool, interval, &c, nil), newSampler(pool, interval, &c, nil)
	start := time.Now()
	deadline := start.Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	var took atomic.Int64
	for g := range 20 {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for time.Now().Before(deadline) {
				_, ok, err := s.Tick(context.Background(), false)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					took.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	n, closest := rows(t, pool)
	most := int64(time.Since(start)/(interval*8/10)) + 1
	if n < 2 || n > most || closest < 0.2399 {
		t.Fatalf("%d samples in %s (at most %d), the closest %.0f ms apart", n, time.Since(start).Round(time.Millisecond), most, closest*1000)
	}
	if c.takes.Load() != n || took.Load() != n || c.onSample.Load() != n {
		t.Fatalf("%d samples stored, %d takes, Tick said %d, OnSample ran %d times", n, c.takes.Load(), took.Load(), c.onSample.Load())
	}
}

// TestRecentAndForce: a second Tick within the interval takes nothing,
// unless forced.
func TestRecentAndForce(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	var c counts
	s := newSampler(pool, time.Minute, &c, nil)
	first, ok, err := s.Tick(ctx, false)
	if err != nil || !ok || first.IsZero() {
		t.Fatalf("first Tick = %v, %v, %v", first, ok, err)
	}
	if _, ok, err := s.Tick(ctx, false); err != nil || ok {
		t.Fatalf("Tick within the interval: took %v, %v", ok, err)
	}
	if forced, ok, err := s.Tick(ctx, true); err != nil || !ok || !forced.After(first) {
		t.Fatalf("forced Tick = %v, %v, %v", forced, ok, err)
	}
	if n, _ := rows(t, pool); n != 2 || c.takes.Load() != 2 || c.onSample.Load() != 2 {
		t.Fatalf("%d samples, %d takes, OnSample ran %d times; want 2", n, c.takes.Load(), c.onSample.Load())
	}
}

// TestHold: a held sampler takes nothing, even forced, until the time
// passes; a shorter Hold does not shorten it.
func TestHold(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	var c counts
	s := newSampler(pool, time.Millisecond, &c, nil)
	until := time.Now().Add(400 * time.Millisecond)
	s.Hold(until)
	s.Hold(time.Now())
	if got := s.HeldUntil(); !got.Equal(until) {
		t.Fatalf("HeldUntil = %v, want %v", got, until)
	}
	for _, force := range []bool{false, true} {
		if _, ok, err := s.Tick(ctx, force); err != nil || ok {
			t.Fatalf("Tick (force %v) while held: took %v, %v", force, ok, err)
		}
	}
	if c.takes.Load() != 0 {
		t.Fatalf("took %d samples while held", c.takes.Load())
	}
	time.Sleep(time.Until(until))
	if _, ok, err := s.Tick(ctx, false); err != nil || !ok || c.takes.Load() != 1 || c.onSample.Load() != 1 {
		t.Fatalf("Tick after the hold: took %v, %v; %d takes, %d OnSample", ok, err, c.takes.Load(), c.onSample.Load())
	}
}

// TestErrors: Take's error comes back as it is, without OnSample; Last's
// is the console database's.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	var c counts
	boom := errors.New("boom")
	s := newSampler(pool, time.Millisecond, &c, func() error { return boom })
	_, ok, err := s.Tick(ctx, false)
	var ce *store.ConsoleError
	if !ok || !errors.Is(err, boom) || errors.As(err, &ce) {
		t.Fatalf("Tick with a failing Take: took %v, %v", ok, err)
	}
	if c.takes.Load() != 1 || c.onSample.Load() != 0 {
		t.Fatalf("%d takes, OnSample ran %d times; want 1 and 0", c.takes.Load(), c.onSample.Load())
	}

	s = newSampler(pool, time.Millisecond, &c, nil)
	s.Last = func(context.Context, *pgxpool.Conn) (time.Time, time.Time, error) {
		return time.Time{}, time.Time{}, boom
	}
	_, ok, err = s.Tick(ctx, false)
	if ok || !errors.Is(err, boom) || !errors.As(err, &ce) || c.takes.Load() != 1 {
		t.Fatalf("Tick with a failing Last: took %v, %v; %d takes", ok, err, c.takes.Load())
	}
}
