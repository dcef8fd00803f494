package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// startTimeout bounds Start when its context has no earlier deadline.
	startTimeout = 90 * time.Second
	// stopTimeout is how long Stop waits for a server before killing it.
	stopTimeout = 10 * time.Second
	// portAttempts is how many ports a server is tried on when the port
	// picked for it is taken before it binds it.
	portAttempts = 5
	// maxSocketPath is the longest unix socket path Linux accepts.
	maxSocketPath = 107
)

// Options selects the services Start runs and where their data goes.
type Options struct {
	// Dir is the directory that holds the servers' data, configuration and
	// logs. If empty, Start creates a temporary directory and Stop removes
	// it again. If set, the directory is created when missing and its
	// previous contents are deleted, so that data left by a crashed run
	// (such as a stale postmaster.pid) cannot get in the way; Stop leaves
	// it, with the server logs, in place. Start refuses a directory in
	// which a postgres server is still running.
	Dir string

	// Postgres starts PostgreSQL 15 with a database named "atum".
	Postgres bool
	// PgBouncer starts PgBouncer in transaction pooling mode in front of
	// the "atum" database. It requires Postgres.
	PgBouncer bool
	// Redis starts a Redis server without persistence.
	Redis bool

	// Log, if not nil, receives one line per step of Start and Stop. The
	// servers' own output goes to postgres.log, pgbouncer.log and
	// redis.log in Dir.
	Log io.Writer
}

// Stack is a set of running servers started by Start. Its methods may be
// called from several goroutines. The URL methods return "" for a service
// that was not started.
type Stack struct {
	dir        string
	ownDir     bool   // dir was created by Start and is removed by Stop
	sockDir    string // unix socket directory of postgres
	ownSockDir bool   // sockDir is a separate directory removed by Stop
	user       *account
	bins       binaries
	log        io.Writer

	pgPort, bouncerPort, redisPort int
	pg, bouncer, redis             *process
	procs                          []*process // in start order

	stopOnce sync.Once
	stopErr  error
}

// Start starts the services selected in opts, each listening on a free port
// on 127.0.0.1, and returns once all of them accept connections. ctx bounds
// only the start-up (which is also limited to 90 seconds); cancelling it
// later does not affect the servers, which run until Stop is called or the
// calling process exits.
//
// If a required binary is missing, Start fails with an error naming the
// Debian packages to install (see Missing). If a server fails to start, Start
// stops the servers it has already started and returns an error that
// includes the end of that server's log.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if !supported {
		return nil, errors.New("devstack: only Linux is supported")
	}
	if opts.PgBouncer && !opts.Postgres {
		return nil, errors.New("devstack: PgBouncer requires Postgres")
	}
	bins, missing := lookupBinaries(opts)
	if len(missing) > 0 {
		return nil, fmt.Errorf("devstack: missing binaries: %s; install with: apt-get install -y %s (or run scripts/install-deps.sh)",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	s := &Stack{bins: bins, log: opts.Log}
	if s.log == nil {
		s.log = io.Discard
	}
	if opts.Postgres || opts.PgBouncer {
		u, err := serverAccount()
		if err != nil {
			return nil, err
		}
		s.user = u
	}

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	if err := s.prepareDir(opts.Dir); err != nil {
		s.cleanupDirs()
		return nil, err
	}
	begin := time.Now()
	err := func() error {
		if opts.Postgres {
			if err := s.startPostgres(ctx); err != nil {
				return err
			}
		}
		if opts.PgBouncer {
			if err := s.startPgBouncer(ctx); err != nil {
				return err
			}
		}
		if opts.Redis {
			if err := s.startRedis(ctx); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		_ = s.stop()
		return nil, err
	}
	s.logf("devstack: ready in %v (dir %s)", time.Since(begin).Round(time.Millisecond), s.dir)
	return s, nil
}

// prepareDir creates or empties the state directory and picks the postgres
// socket directory.
func (s *Stack) prepareDir(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "devstack-")
		if err != nil {
			return fmt.Errorf("devstack: %w", err)
		}
		s.dir, s.ownDir = d, true
	} else {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("devstack: %w", err)
		}
		if abs == filepath.Dir(abs) {
			return fmt.Errorf("devstack: refusing to use %s as Dir", abs)
		}
		if pid := runningPostmaster(filepath.Join(abs, "pgdata", "postmaster.pid")); pid != 0 {
			return fmt.Errorf("devstack: a postgres server (pid %d) is still running in %s; stop it first", pid, abs)
		}
		if err := emptyDir(abs); err != nil {
			return fmt.Errorf("devstack: clearing %s: %w", abs, err)
		}
		s.dir = abs
	}
	if err := s.user.chown(s.dir); err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	return s.user.checkReachable(s.dir)
}

// emptyDir creates dir if needed and removes everything in it. Missing
// parents are created world-searchable, so that the server account can
// reach dir.
func emptyDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) logf(format string, args ...any) {
	fmt.Fprintf(s.log, format+"\n", args...)
}

// startServer starts a server on a free port and waits until it is ready,
// retrying on another port when the chosen one turns out to be taken. spec
// builds the process description (and writes any configuration) for a
// port; ready checks whether the started process serves requests.
func (s *Stack) startServer(ctx context.Context, name, logPath string, spec func(port int) (procSpec, error),
	ready func(ctx context.Context, p *process, port int) error) (*process, int, error) {
	begin := time.Now()
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, 0, fmt.Errorf("devstack: %s: picking a port: %w", name, err)
		}
		ps, err := spec(port)
		if err != nil {
			return nil, 0, fmt.Errorf("devstack: %s: %w", name, err)
		}
		offset := fileSize(logPath)
		p, err := startProcess(ps)
		if err != nil {
			return nil, 0, fmt.Errorf("devstack: %s: %w%s", name, err, logTails(logPath))
		}
		err = p.waitReady(ctx, func(ctx context.Context) error { return ready(ctx, p, port) })
		if err == nil {
			s.procs = append(s.procs, p)
			s.logf("devstack: %s ready on 127.0.0.1:%d, pid %d (%v)", name, port, p.pid, time.Since(begin).Round(time.Millisecond))
			return p, port, nil
		}
		_ = p.stop(2 * time.Second)
		if errors.Is(err, errExited) && attempt < portAttempts && portInUse(logPath, offset) {
			s.logf("devstack: %s: port %d was taken, retrying", name, port)
			continue
		}
		return nil, 0, fmt.Errorf("devstack: %s: %w%s", name, err, logTails(logPath))
	}
}

// Stop stops all servers: it sends each one its shutdown signal (SIGINT,
// a fast shutdown, for postgres; SIGTERM for pgbouncer and redis), waits up
// to 10 seconds for it to exit and kills it otherwise. It then removes the
// state directory if Start created it. Stop is idempotent and safe to call
// on a nil Stack; later calls return the first call's result.
func (s *Stack) Stop() error {
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Stack) stop() error {
	var errs []error
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		if err := p.stop(stopTimeout); err != nil {
			errs = append(errs, err)
		}
		s.logf("devstack: %s stopped", p.name)
	}
	errs = append(errs, s.cleanupDirs())
	return errors.Join(errs...)
}

// cleanupDirs removes the directories Start created.
func (s *Stack) cleanupDirs() error {
	var errs []error
	if s.ownSockDir && s.sockDir != "" {
		if err := os.RemoveAll(s.sockDir); err != nil {
			errs = append(errs, fmt.Errorf("devstack: %w", err))
		}
	}
	if s.ownDir && s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("devstack: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Dir returns the directory holding the servers' data, configuration and
// logs.
func (s *Stack) Dir() string { return s.dir }

// PIDs returns the process ids of the running servers, keyed by "postgres"
// (the postmaster), "pgbouncer" and "redis". Each server leads its own
// process group, so a pid is also the id of the server's process group.
func (s *Stack) PIDs() map[string]int {
	m := make(map[string]int)
	for _, p := range s.procs {
		m[p.name] = p.pid
	}
	return m
}

// pgURL returns a URL for database db on the server listening on port.
func pgURL(port int, db, query string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     "127.0.0.1:" + strconv.Itoa(port),
		Path:     "/" + db,
		RawQuery: query,
	}
	return u.String()
}

// PostgresURL returns the URL of the "atum" database as the superuser
// postgres, e.g. postgres://postgres@127.0.0.1:PORT/atum?sslmode=disable.
func (s *Stack) PostgresURL() string { return s.PostgresAdminURL("atum") }

// PostgresAdminURL returns the URL of database db on the Postgres server,
// connecting directly (not through PgBouncer) as the superuser postgres.
func (s *Stack) PostgresAdminURL(db string) string {
	if s.pg == nil {
		return ""
	}
	return pgURL(s.pgPort, db, "sslmode=disable")
}

// PgBouncerURL returns the URL of the "atum" database through PgBouncer.
// PgBouncer 1.18 in transaction pooling mode does not support named
// prepared statements, so the URL sets pgx's default_query_exec_mode to
// "exec" (single round trip, unnamed statements). Clients other than pgx
// need to drop that parameter.
func (s *Stack) PgBouncerURL() string {
	if s.bouncer == nil {
		return ""
	}
	return pgURL(s.bouncerPort, "atum", "sslmode=disable&default_query_exec_mode=exec")
}

// PgBouncerAdminURL returns the URL of PgBouncer's admin console (database
// "pgbouncer"), for commands such as SHOW POOLS. The console only speaks the
// simple query protocol, which the URL selects for pgx.
func (s *Stack) PgBouncerAdminURL() string {
	if s.bouncer == nil {
		return ""
	}
	return pgURL(s.bouncerPort, "pgbouncer", "sslmode=disable&default_query_exec_mode=simple_protocol")
}

// RedisURL returns the URL of Redis database 0, e.g. redis://127.0.0.1:PORT/0.
func (s *Stack) RedisURL() string {
	if s.redis == nil {
		return ""
	}
	return "redis://127.0.0.1:" + strconv.Itoa(s.redisPort) + "/0"
}

// CreateDatabase creates an empty database called name on the Postgres
// server, owned by postgres, and returns its URL (as PostgresAdminURL). It is
// meant to give each test its own database. Names are used verbatim (they
// are quoted, so they are case-sensitive) and must be 1 to 63 bytes long.
func (s *Stack) CreateDatabase(ctx context.Context, name string) (string, error) {
	if s == nil || s.pg == nil {
		return "", errors.New("devstack: CreateDatabase: Postgres was not started")
	}
	if name == "" || len(name) > 63 || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("devstack: CreateDatabase: invalid database name %q", name)
	}
	conn, err := pgx.Connect(ctx, s.PostgresAdminURL("postgres"))
	if err != nil {
		return "", fmt.Errorf("devstack: CreateDatabase: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER postgres"); err != nil {
		return "", fmt.Errorf("devstack: CreateDatabase %q: %w", name, err)
	}
	return s.PostgresAdminURL(name), nil
}

// writeFile writes a configuration file readable by the server account.
func (s *Stack) writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return err
	}
	return s.user.chown(path)
}

// mkdir creates a directory owned by the server account.
func (s *Stack) mkdir(path string) error {
	if err := os.Mkdir(path, 0o700); err != nil {
		return err
	}
	return s.user.chown(path)
}
