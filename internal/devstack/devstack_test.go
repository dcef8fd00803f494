//go:build linux

package devstack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// childEnv switches the test binary into child mode (see runChild); its
// value says how the child dies.
const childEnv = "DEVSTACK_TEST_CHILD"

// childDirEnv is the state directory the child uses.
const childDirEnv = "DEVSTACK_TEST_CHILD_DIR"

// childReport is what the child prints on one line, prefixed by
// childReportPrefix, once its stack is up.
type childReport struct {
	PIDs map[string]int
	Dir  string
}

const childReportPrefix = "DEVSTACK-CHILD "

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		runChild(mode)
		return
	}
	os.Exit(m.Run())
}

// runChild starts a stack, reports it on stdout and then dies abruptly
// without stopping it: by panicking, or by blocking until the parent
// SIGKILLs it.
func runChild(mode string) {
	ctx := context.Background()
	st, err := devstack.Start(ctx, devstack.Options{
		Dir: os.Getenv(childDirEnv), Postgres: true, PgBouncer: true, Redis: true, Log: os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	b, _ := json.Marshal(childReport{PIDs: st.PIDs(), Dir: st.Dir()})
	fmt.Printf("%s%s\n", childReportPrefix, b)
	switch mode {
	case "panic":
		panic("devstack test child: dying without Stop")
	default:
		select {}
	}
}

// testLog adapts t.Log to an io.Writer.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func startStack(t *testing.T, opts devstack.Options) *devstack.Stack {
	t.Helper()
	if opts.Log == nil {
		opts.Log = testLog{t}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	begin := time.Now()
	st, err := devstack.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start took %v", time.Since(begin).Round(time.Millisecond))
	t.Cleanup(func() { st.Stop() })
	return st
}

// gone reports whether no process of the process group led by pid is left.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH) && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestMissingNothing(t *testing.T) {
	if m := devstack.Missing(devstack.Options{Postgres: true, PgBouncer: true, Redis: true}); len(m) > 0 {
		t.Fatalf("missing packages %v: run scripts/install-deps.sh", m)
	}
}

func TestPgBouncerNeedsPostgres(t *testing.T) {
	st, err := devstack.Start(context.Background(), devstack.Options{PgBouncer: true})
	if err == nil {
		st.Stop()
		t.Fatal("Start with PgBouncer but without Postgres succeeded")
	}
}

func TestAllServices(t *testing.T) {
	ctx := context.Background()
	st := startStack(t, devstack.Options{Postgres: true, PgBouncer: true, Redis: true})
	dir := st.Dir()
	pids := st.PIDs()
	if len(pids) != 3 {
		t.Fatalf("PIDs() = %v, want postgres, pgbouncer and redis", pids)
	}
	t.Logf("dir %s, pids %v", dir, pids)
	t.Logf("URLs: %s %s %s %s", st.PostgresURL(), st.PgBouncerURL(), st.PgBouncerAdminURL(), st.RedisURL())

	// Postgres, directly.
	conn, err := pgx.Connect(ctx, st.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var db string
	var n int
	if err := conn.QueryRow(ctx, "SELECT current_database(), $1::int + 1", 41).Scan(&db, &n); err != nil {
		t.Fatal(err)
	}
	if db != "atum" || n != 42 {
		t.Fatalf("got %q, %d; want atum, 42", db, n)
	}
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "15.") {
		t.Errorf("server_version = %q, want 15.x", version)
	}
	for name, want := range map[string]string{"fsync": "off", "max_connections": "200", "shared_buffers": "128MB", "listen_addresses": "127.0.0.1"} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// Postgres, through PgBouncer: the same query several times, and a
	// transaction, on one connection (which would break with named
	// prepared statements in transaction mode).
	bconn, err := pgx.Connect(ctx, st.PgBouncerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer bconn.Close(ctx)
	for i := range 3 {
		if err := bconn.QueryRow(ctx, "SELECT current_database(), $1::int + 1", i).Scan(&db, &n); err != nil {
			t.Fatal(err)
		}
		if db != "atum" || n != i+1 {
			t.Fatalf("through pgbouncer: got %q, %d", db, n)
		}
	}
	tx, err := bconn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE t (v text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO t VALUES ($1)", "via pgbouncer"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "via pgbouncer" {
		t.Fatalf("row written through pgbouncer: %q, %v", v, err)
	}

	// PgBouncer admin console.
	admin, err := pgx.Connect(ctx, st.PgBouncerAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	rows, err := admin.Query(ctx, "SHOW POOLS")
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, fd := range rows.FieldDescriptions() {
		col[fd.Name] = i
	}
	for _, name := range []string{"database", "cl_active", "cl_waiting"} {
		if _, ok := col[name]; !ok {
			t.Fatalf("SHOW POOLS has no column %s (columns %v)", name, col)
		}
	}
	var sawAtum bool
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SHOW POOLS: database=%v cl_active=%v cl_waiting=%v", vals[col["database"]], vals[col["cl_active"]], vals[col["cl_waiting"]])
		if fmt.Sprint(vals[col["database"]]) == "atum" {
			sawAtum = true
			if got := fmt.Sprint(vals[col["cl_active"]]); got != "1" {
				t.Errorf("atum cl_active = %s, want 1", got)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !sawAtum {
		t.Error("SHOW POOLS has no atum pool")
	}

	// Redis.
	opt, err := redis.ParseURL(st.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "v1" {
		t.Fatalf("GET k = %q, %v", got, err)
	}

	// CreateDatabase.
	url, err := st.CreateDatabase(ctx, "Test-Isolated")
	if err != nil {
		t.Fatal(err)
	}
	iconn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := iconn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != "Test-Isolated" {
		t.Fatalf("current_database() via %s = %q, %v", url, db, err)
	}
	if _, err := iconn.Exec(ctx, "CREATE TABLE t (v text)"); err != nil {
		t.Fatalf("the new database is not empty: %v", err)
	}
	iconn.Close(ctx)
	if _, err := st.CreateDatabase(ctx, "Test-Isolated"); err == nil {
		t.Error("creating the same database twice succeeded")
	}

	// Stop with open client connections; then everything must be gone.
	begin := time.Now()
	if err := st.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %v", time.Since(begin).Round(time.Millisecond))
	for name, pid := range pids {
		if !gone(pid) {
			t.Errorf("%s (pid %d) or a process of its group still exists after Stop", name, pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary dir %s still exists after Stop (%v)", dir, err)
	}
	if err := st.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartAgainAfterStop(t *testing.T) {
	ctx := context.Background()
	for i := range 2 {
		st := startStack(t, devstack.Options{Postgres: true, PgBouncer: true, Redis: true})
		conn, err := pgx.Connect(ctx, st.PgBouncerURL())
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if err := conn.Ping(ctx); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		conn.Close(ctx)
		if err := st.Stop(); err != nil {
			t.Fatalf("round %d: Stop: %v", i, err)
		}
	}
}

func TestGivenDirWithStaleJunk(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "devstack-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// What a crashed run leaves: a postmaster.pid naming a live process
	// that is not postgres (our own pid), a half-written cluster, sockets'
	// lock files and pid files.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "pgdata", "base", "1"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "pgdata", "postmaster.pid"), fmt.Appendf(nil, "%d\n%s/pgdata\n", os.Getpid(), dir), 0o600))
	must(os.WriteFile(filepath.Join(dir, "pgdata", "PG_VERSION"), []byte("15\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, ".s.PGSQL.5432.lock"), []byte("1\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "pgbouncer.pid"), []byte("1\n"), 0o600))
	must(os.MkdirAll(filepath.Join(dir, "redis", "junk"), 0o755))

	st := startStack(t, devstack.Options{Dir: dir, Postgres: true, PgBouncer: true, Redis: true})
	if st.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", st.Dir(), dir)
	}
	conn, err := pgx.Connect(ctx, st.PgBouncerURL())
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	// A second Start on the same Dir while the first is running must not
	// wipe the running server's data.
	if st2, err := devstack.Start(ctx, devstack.Options{Dir: dir, Postgres: true}); err == nil {
		st2.Stop()
		t.Error("second Start on a Dir with a running postgres succeeded")
	} else {
		t.Logf("second Start on a busy Dir: %v", err)
	}

	pids := st.PIDs()
	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}
	for name, pid := range pids {
		if !gone(pid) {
			t.Errorf("%s (pid %d) still exists after Stop", name, pid)
		}
	}
	// A given Dir is kept, with the logs.
	if _, err := os.Stat(filepath.Join(dir, "postgres.log")); err != nil {
		t.Errorf("postgres.log not kept in the given Dir: %v", err)
	}
}

func TestLongDirPath(t *testing.T) {
	base, err := os.MkdirTemp("", "devstack-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	// Let the postgres user (when we are root) reach the directory.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, strings.Repeat("d", 120), "state")
	st := startStack(t, devstack.Options{Dir: dir, Postgres: true})
	conn, err := pgx.Connect(context.Background(), st.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	var sock string
	if err := conn.QueryRow(context.Background(), "SHOW unix_socket_directories").Scan(&sock); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	t.Logf("socket dir for a %d-byte Dir: %s", len(dir), sock)
	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket dir %s still exists after Stop (%v)", sock, err)
	}
}

// TestNoOrphans runs a child process that starts a stack and dies without
// stopping it, and checks that the servers die with it.
func TestNoOrphans(t *testing.T) {
	// Orphans are re-parented to the nearest subreaper. Becoming one
	// ourselves lets us reap the dead servers, so that a kill(pid, 0)
	// returning ESRCH proves they are gone (instead of lingering as
	// zombies under an init that may not reap).
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0); errno != 0 {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", errno)
	}
	defer syscall.RawSyscall(syscall.SYS_PRCTL, 36, 0, 0)

	for _, mode := range []string{"panic", "sigkill"} {
		t.Run(mode, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "devstack-test-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })

			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), childEnv+"="+mode, childDirEnv+"="+dir)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var rep childReport
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if line, ok := strings.CutPrefix(sc.Text(), childReportPrefix); ok {
					if err := json.Unmarshal([]byte(line), &rep); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
			if len(rep.PIDs) != 3 {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child did not report a stack; stderr:\n%s", stderr.String())
			}
			for name, pid := range rep.PIDs {
				if gone(pid) {
					t.Fatalf("%s (pid %d) is not running in the child", name, pid)
				}
			}
			if mode == "sigkill" {
				cmd.Process.Kill()
			}
			go func() { _, _ = bufio.NewReader(stdout).WriteTo(new(bytes.Buffer)) }()
			err = cmd.Wait()
			t.Logf("child exited: %v", err)
			if mode == "panic" && !strings.Contains(stderr.String(), "dying without Stop") {
				t.Errorf("child did not panic; stderr:\n%s", stderr.String())
			}

			deadline := time.Now().Add(10 * time.Second)
			for name, pid := range rep.PIDs {
				for {
					// Reap whatever of this group was handed to us.
					for {
						wpid, err := syscall.Wait4(-pid, nil, syscall.WNOHANG, nil)
						if wpid <= 0 || err != nil {
							break
						}
					}
					if gone(pid) {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("%s (pid %d) or part of its process group outlived its parent", name, pid)
						syscall.Kill(-pid, syscall.SIGKILL)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
}
