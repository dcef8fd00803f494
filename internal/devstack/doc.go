// Package devstack starts throwaway PostgreSQL 15, PgBouncer and Redis
// servers for tests and local demos.
//
// The servers are the Debian system binaries (packages postgresql-15,
// pgbouncer and redis-server; see scripts/install-deps.sh). Every server
// listens only on 127.0.0.1, on a free port picked at start-up, and keeps
// all of its state in one directory that is removed again by Stack.Stop
// when devstack created it.
//
// A typical TestMain:
//
//	func TestMain(m *testing.M) {
//		st, err := devstack.Start(context.Background(), devstack.Options{Postgres: true, Redis: true})
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		st.Stop()
//		os.Exit(code)
//	}
//
// The state directory (Stack.Dir) holds:
//
//	pgdata/               the PostgreSQL cluster
//	initdb.log            output of initdb
//	postgres.log          server log of postgres
//	pgbouncer.ini         PgBouncer configuration (and pgbouncer-users.txt)
//	pgbouncer.log         PgBouncer log
//	redis/, redis.log     Redis working directory and log
//	.s.PGSQL.<port>       the postgres unix socket, if the path is short enough
//
// Long-running programs should stop the stack when interrupted, e.g. by
// deriving their context from signal.NotifyContext and calling Stop when it
// is done.
//
// # Process lifetime
//
// The servers are children of the calling process. Each one runs in its own
// process group and is started with a parent-death signal (SIGKILL), so the
// servers die with the calling process even when it panics, hits a test
// timeout or is killed with SIGKILL; they never outlive it as orphans.
// Because Linux ties the parent-death signal to the thread that forked the
// child rather than to the process, devstack forks all servers from one
// dedicated goroutine that is locked to its OS thread and never exits. That
// costs one OS thread for the life of the process.
//
// # Running as root
//
// initdb, postgres and pgbouncer refuse to run as root. When the calling
// process is root they run as the "postgres" system user (created by the
// postgresql-15 package) and the state directory is handed over to that
// user; the directory and all of its ancestors must therefore be reachable
// by it, which is the case for directories under /tmp. Redis runs as the
// calling user.
//
// Only Linux is supported.
package devstack
