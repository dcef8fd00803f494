package sim_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
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

func dumpActivity(t *testing.T, ctx context.Context, conn *pgx.Conn) {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT application_name, coalesce(state, ''), count(*) FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		t.Logf("pg_stat_activity: %v", err)
		return
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var app, state string
		var n int
		if err := rows.Scan(&app, &state, &n); err != nil {
			t.Logf("pg_stat_activity: %v", err)
			return
		}
		fmt.Fprintf(&sb, "\n  %-32q %-22s %d", app, state, n)
	}
	t.Logf("pg_stat_activity:%s", sb.String())
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

func TestConnectionsSimulateTheFleet(t *testing.T) {
	st := testenv.Stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	direct, err := pgx.Connect(ctx, st.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	admin, err := pgx.Connect(ctx, st.PgBouncerAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
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
	if got := len(c.Processes()); got != 3*2+2*1+30 {
		t.Fatalf("Processes() = %d names, want 38: %v", got, c.Processes())
	}
	if p := c.Processes()[0]; !strings.HasPrefix(p, "atum:api:m-api-1:") {
		t.Fatalf("first process = %q", p)
	}

	var a activity
	var waiting int
	for {
		if a, err = readActivity(ctx, direct); err != nil {
			t.Fatal(err)
		}
		if waiting, err = clWaiting(ctx, admin); err != nil {
			t.Fatal(err)
		}
		if a.api > 0 && a.worker > 0 && a.idleInTx >= 2 && a.blocked > 0 && waiting > 0 {
			break
		}
		if time.Since(begin) > 10*time.Second {
			dumpActivity(t, ctx, direct)
			t.Fatalf("after 10 s: %+v, cl_waiting %d; log:\n%s", a, waiting, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	visible := time.Since(begin)
	seen := a
	dumpActivity(t, ctx, direct)

	stopBegin := time.Now()
	c.Stop()
	stopped := time.Since(stopBegin)
	if stopped > 3*time.Second {
		t.Errorf("Stop took %v", stopped)
	}
	c.Stop() // idempotent
	for {
		if a, err = readActivity(ctx, direct); err != nil {
			t.Fatal(err)
		}
		if a.atum == 0 && a.idleInTx == 0 {
			break
		}
		if time.Since(stopBegin) > 5*time.Second {
			dumpActivity(t, ctx, direct)
			debugDump(t, ctx, direct, admin)
			t.Fatalf("5 s after Stop: %+v", a)
		}
		time.Sleep(50 * time.Millisecond)
	}
	clean := time.Since(stopBegin)
	waitGoroutines(t, goroutines, 3*time.Second)
	t.Logf("started in %v, all visible after %v (%+v, cl_waiting %d), Stop took %v, sessions gone after %v",
		started.Round(time.Millisecond), visible.Round(time.Millisecond), a, waiting,
		stopped.Round(time.Millisecond), clean.Round(time.Millisecond))
	_ = seen
	if s := log.String(); s != "" {
		t.Logf("log:\n%s", s)
	}
}

func debugDump(t *testing.T, ctx context.Context, direct, admin *pgx.Conn) {
	for _, q := range []string{"SHOW SERVERS", "SHOW CLIENTS", "SHOW POOLS"} {
		rows, err := admin.Query(ctx, q)
		if err != nil {
			t.Logf("%s: %v", q, err)
			continue
		}
		var names []string
		for _, fd := range rows.FieldDescriptions() {
			names = append(names, fd.Name)
		}
		t.Logf("%s: %v", q, names)
		for rows.Next() {
			v, _ := rows.Values()
			t.Logf("  %v", v)
		}
		rows.Close()
	}
	rows, err := direct.Query(ctx, `SELECT pid, application_name, state, client_port, backend_start::text, state_change::text, query FROM pg_stat_activity WHERE application_name LIKE 'atum:%'`)
	if err != nil {
		t.Log(err)
		return
	}
	for rows.Next() {
		v, _ := rows.Values()
		t.Logf("  %v", v)
	}
	rows.Close()
}
