package sim_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/sim"
	"github.com/atum/ops-console/internal/testenv"
)

// smallFleet is the fleet of the connection tests.
var smallFleet = []sim.SimGroup{
	{Name: "api", Machines: 3, Processes: 2, Pool: 3, Overflow: 2},
	{Name: "worker", Machines: 2, Processes: 1, Pool: 2, Overflow: 1},
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// activity is what the checks read from pg_stat_activity.
type activity struct {
	api, worker, idleInTx, blocked, atum int
}

func readActivity(ctx context.Context, conn *pgx.Conn) (activity, error) {
	var a activity
	err := conn.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE application_name LIKE 'atum:api:m-api-1:%'),
		count(*) FILTER (WHERE application_name LIKE 'atum:worker:%'),
		count(*) FILTER (WHERE state = 'idle in transaction'),
		count(*) FILTER (WHERE cardinality(pg_blocking_pids(pid)) > 0),
		count(*) FILTER (WHERE application_name LIKE 'atum:%')
		FROM pg_stat_activity WHERE pid <> pg_backend_pid()`).
		Scan(&a.api, &a.worker, &a.idleInTx, &a.blocked, &a.atum)
	return a, err
}

// clWaiting sums SHOW POOLS' cl_waiting for database atum.
func clWaiting(ctx context.Context, admin *pgx.Conn) (int, error) {
	rows, err := admin.Query(ctx, "SHOW POOLS")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	col := map[string]int{}
	for i, fd := range rows.FieldDescriptions() {
		col[fd.Name] = i
	}
	db, okDB := col["database"]
	w, okW := col["cl_waiting"]
	if !okDB || !okW {
		return 0, fmt.Errorf("SHOW POOLS has no database or cl_waiting column: %v", col)
	}
	sum := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return 0, err
		}
		if fmt.Sprint(vals[db]) != "atum" {
			continue
		}
		n, err := strconv.Atoi(fmt.Sprint(vals[w]))
		if err != nil {
			return 0, fmt.Errorf("cl_waiting %v: %w", vals[w], err)
		}
		sum += n
	}
	return sum, rows.Err()
}

// dumpState logs pg_stat_activity and PgBouncer's pools, servers and
// clients, to explain a failure.
func dumpState(t *testing.T, ctx context.Context, direct, admin *pgx.Conn) {
	t.Helper()
	logRows(t, ctx, direct, "pg_stat_activity", `SELECT pid, application_name, state, wait_event_type,
		pg_blocking_pids(pid)::text, left(query, 60) FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' ORDER BY application_name`)
	for _, q := range []string{"SHOW POOLS", "SHOW SERVERS", "SHOW CLIENTS"} {
		logRows(t, ctx, admin, q, q)
	}
}

// logRows logs the rows of query, headed by its column names.
func logRows(t *testing.T, ctx context.Context, conn *pgx.Conn, title, query string) {
	t.Helper()
	rows, err := conn.Query(ctx, query)
	if err != nil {
		t.Logf("%s: %v", title, err)
		return
	}
	defer rows.Close()
	var sb strings.Builder
	for _, fd := range rows.FieldDescriptions() {
		sb.WriteString(" " + fd.Name)
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Logf("%s: %v", title, err)
			return
		}
		fmt.Fprintf(&sb, "\n  %v", vals)
	}
	t.Logf("%s:%s", title, sb.String())
}

// waitFor polls cond every 50 ms until it holds or d has passed, and
// returns how long that took and whether it held.
func waitFor(d time.Duration, cond func() (bool, error)) (time.Duration, bool, error) {
	begin := time.Now()
	for {
		ok, err := cond()
		if err != nil || ok {
			return time.Since(begin), ok, err
		}
		if time.Since(begin) > d {
			return time.Since(begin), false, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGoroutines waits up to d for the goroutine count to fall to n.
func waitGoroutines(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connectBoth opens a direct connection to Postgres and one to PgBouncer's
// admin console, closed when the test ends.
func connectBoth(t *testing.T, ctx context.Context) (direct, admin *pgx.Conn) {
	t.Helper()
	st := testenv.Stack(t)
	direct, err := pgx.Connect(ctx, st.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close(context.Background()) })
	admin, err = pgx.Connect(ctx, st.PgBouncerAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return direct, admin
}

// idleAPISessions returns the pids of the idle-in-transaction sessions of
// api processes.
func idleAPISessions(ctx context.Context, direct *pgx.Conn) ([]int32, error) {
	rows, err := direct.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE application_name LIKE 'atum:api:%' AND state = 'idle in transaction' ORDER BY pid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int32])
}

// gone reports whether no simulated session and no idle transaction is
// left.
func gone(ctx context.Context, direct *pgx.Conn) func() (bool, error) {
	return func() (bool, error) {
		a, err := readActivity(ctx, direct)
		return a.atum == 0 && a.idleInTx == 0, err
	}
}

func TestConnectionsSimulateTheFleet(t *testing.T) {
	st := testenv.Stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	direct, admin := connectBoth(t, ctx)
	goroutines := runtime.NumGoroutine()

	var log syncBuffer
	begin := time.Now()
	c, err := sim.StartConnections(ctx, sim.ConnectionsOptions{
		URL:      st.PgBouncerURL(),
		Groups:   smallFleet,
		IdleInTx: 2,
		LockWait: true,
		Busy:     30,
		Log:      &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	started := time.Since(begin)
	procs := c.Processes()
	if len(procs) != 3*2+2*1+30 {
		t.Fatalf("Processes() = %d names, want 38: %v", len(procs), procs)
	}
	if !strings.HasPrefix(procs[0], "atum:api:m-api-1:") || !strings.HasPrefix(procs[len(procs)-1], "atum:worker:m-batch-1:") {
		t.Fatalf("Processes() = %v", procs)
	}

	// The fleet shows up: named sessions, idle transactions, a lock
	// wait, and clients queueing in PgBouncer.
	var a activity
	var waiting int
	visible, ok, err := waitFor(10*time.Second, func() (bool, error) {
		var err error
		if a, err = readActivity(ctx, direct); err != nil {
			return false, err
		}
		if waiting, err = clWaiting(ctx, admin); err != nil {
			return false, err
		}
		return a.api > 0 && a.worker > 0 && a.idleInTx >= 2 && a.blocked > 0 && waiting > 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		dumpState(t, ctx, direct, admin)
		t.Fatalf("after 10 s: %+v, cl_waiting %d; log:\n%s", a, waiting, log.String())
	}
	seen, seenWaiting := a, waiting

	// Idle transactions the server ends come back.
	killed, err := idleAPISessions(ctx, direct)
	if err != nil || len(killed) < 2 {
		t.Fatalf("idle api sessions %v, %v", killed, err)
	}
	if _, err := direct.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid`, killed); err != nil {
		t.Fatal(err)
	}
	reopened, ok, err := waitFor(10*time.Second, func() (bool, error) {
		pids, err := idleAPISessions(ctx, direct)
		fresh := 0
		for _, p := range pids {
			if !slices.Contains(killed, p) {
				fresh++
			}
		}
		return fresh >= 2, err
	})
	if err != nil || !ok {
		dumpState(t, ctx, direct, admin)
		t.Fatalf("terminated idle transactions not reopened within 10 s (%v); log:\n%s", err, log.String())
	}

	stopBegin := time.Now()
	c.Stop()
	stopped := time.Since(stopBegin)
	if stopped > 3*time.Second {
		t.Errorf("Stop took %v", stopped)
	}
	c.Stop() // idempotent
	clean, ok, err := waitFor(5*time.Second, gone(ctx, direct))
	if err != nil || !ok {
		dumpState(t, ctx, direct, admin)
		t.Fatalf("simulated sessions left 5 s after Stop (%v)", err)
	}
	waitGoroutines(t, goroutines, 3*time.Second)
	t.Logf("started in %v; visible after %v (%+v, cl_waiting %d); killed idle transactions reopened in %v; "+
		"Stop took %v, sessions gone %v after Stop",
		started.Round(time.Millisecond), visible.Round(time.Millisecond), seen, seenWaiting,
		reopened.Round(time.Millisecond), stopped.Round(time.Millisecond), clean.Round(time.Millisecond))
	if s := log.String(); s != "" {
		t.Logf("log:\n%s", s)
	}
}

func TestConnectionsEndWithTheirContext(t *testing.T) {
	st := testenv.Stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	direct, admin := connectBoth(t, ctx)
	goroutines := runtime.NumGoroutine()

	simCtx, simCancel := context.WithCancel(ctx)
	defer simCancel()
	c, err := sim.StartConnections(simCtx, sim.ConnectionsOptions{
		URL:      st.PgBouncerURL(),
		Groups:   []sim.SimGroup{{Name: "api", Machines: 1, Processes: 2, Pool: 2, Overflow: 1}},
		IdleInTx: 1,
		LockWait: true,
		Busy:     2,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if _, ok, err := waitFor(10*time.Second, func() (bool, error) {
		a, err := readActivity(ctx, direct)
		// The blocker's transaction is idle too.
		return a.idleInTx >= 2 && a.blocked > 0, err
	}); err != nil || !ok {
		dumpState(t, ctx, direct, admin)
		t.Fatalf("no idle transaction and lock wait within 10 s (%v)", err)
	}

	simCancel()
	took, ok, err := waitFor(5*time.Second, gone(ctx, direct))
	if err != nil || !ok {
		dumpState(t, ctx, direct, admin)
		t.Fatalf("simulated sessions left 5 s after cancelling (%v)", err)
	}
	waitGoroutines(t, goroutines, 3*time.Second)
	begin := time.Now()
	c.Stop()
	if d := time.Since(begin); d > 100*time.Millisecond {
		t.Errorf("Stop after cancellation took %v", d)
	}
	t.Logf("sessions gone %v after cancelling", took.Round(time.Millisecond))
}

func TestStartConnectionsRejectsBadOptions(t *testing.T) {
	url := testenv.Stack(t).PgBouncerURL()
	for _, o := range []sim.ConnectionsOptions{
		{Groups: smallFleet},
		{URL: url},
		{URL: url, Groups: []sim.SimGroup{{Name: "a:b", Machines: 1, Processes: 1, Pool: 1}}},
		{URL: url, Groups: []sim.SimGroup{{Name: "api", Machines: 1, Processes: 1, Pool: 0}}},
		{URL: url, Groups: smallFleet, Busy: -1},
	} {
		if c, err := sim.StartConnections(context.Background(), o); err == nil {
			c.Stop()
			t.Errorf("StartConnections(%+v) succeeded", o)
		}
	}
}
