package devstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresConf is appended to the postgresql.conf written by initdb. The
// durability settings are off because the data is thrown away anyway.
const postgresConf = `
# Added by devstack: a throwaway server for tests.
listen_addresses = '127.0.0.1'
unix_socket_directories = %s
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
`

// quoteConf quotes s as a postgresql.conf string value.
func quoteConf(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// startPostgres initialises a cluster, starts the postmaster and creates the
// "atum" database.
func (s *Stack) startPostgres(ctx context.Context) error {
	if err := s.pickSocketDir(); err != nil {
		return err
	}
	data := filepath.Join(s.dir, "pgdata")
	initLog := filepath.Join(s.dir, "initdb.log")
	begin := time.Now()
	p, err := startProcess(procSpec{
		name: "initdb",
		path: s.bins.initdb,
		args: []string{
			"-D", data, "-U", "postgres", "-A", "trust",
			"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
		},
		dir:     s.dir,
		logPath: initLog,
		user:    s.user,
		stopSig: syscall.SIGTERM,
	})
	if err != nil {
		return fmt.Errorf("devstack: initdb: %w", err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		killGroup(p.pid)
		<-p.done
		return fmt.Errorf("devstack: initdb: %w%s", ctx.Err(), logTails(initLog))
	}
	if p.waitErr != nil {
		return fmt.Errorf("devstack: initdb: %w%s", p.waitErr, logTails(initLog))
	}
	s.logf("devstack: initdb done (%v)", time.Since(begin).Round(time.Millisecond))
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	_, err = fmt.Fprintf(f, postgresConf, quoteConf(s.sockDir))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}

	logPath := filepath.Join(s.dir, "postgres.log")
	s.pg, s.pgPort, err = s.startServer(ctx, "postgres", logPath,
		func(port int) (procSpec, error) {
			return procSpec{
				name:    "postgres",
				path:    s.bins.postgres,
				args:    []string{"-D", data, "-p", strconv.Itoa(port)},
				dir:     s.dir,
				logPath: logPath,
				user:    s.user,
				stopSig: syscall.SIGINT, // fast shutdown
			}, nil
		},
		func(ctx context.Context, _ *process, port int) error {
			return checkPostgres(ctx, pgURL(port, "postgres", "sslmode=disable"), data)
		})
	if err != nil {
		return err
	}

	conn, err := pgx.Connect(ctx, s.PostgresAdminURL("postgres"))
	if err != nil {
		return fmt.Errorf("devstack: postgres: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE atum OWNER postgres"); err != nil {
		return fmt.Errorf("devstack: postgres: creating database atum: %w", err)
	}
	return nil
}

// pickSocketDir chooses the directory for the postgres unix socket: the
// state directory, unless the socket path would be too long for the kernel,
// in which case it is a new directory under the temporary directory (or
// /tmp) that Stop removes.
func (s *Stack) pickSocketDir() error {
	s.sockDir = s.dir
	if len(filepath.Join(s.dir, ".s.PGSQL.65535")) <= maxSocketPath {
		return nil
	}
	parent := os.TempDir()
	if len(filepath.Join(parent, "devstack-pg-0123456789", ".s.PGSQL.65535")) > maxSocketPath {
		parent = "/tmp"
	}
	d, err := os.MkdirTemp(parent, "devstack-pg-")
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	s.sockDir, s.ownSockDir = d, true
	if err := s.user.chown(d); err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	return nil
}

// checkPostgres connects to url and checks that the server there runs on
// the data directory data (rather than being some other server that grabbed
// the port).
func checkPostgres(ctx context.Context, url, data string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var dir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dir); err != nil {
		return err
	}
	if !sameFile(dir, data) {
		return fmt.Errorf("the server on this port uses data directory %s, not %s", dir, data)
	}
	return nil
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(fa, fb)
}
