package devstack

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
)

// pgbouncerConf is the PgBouncer configuration; the verbs are the Postgres
// port, the listen port and the paths of the auth file, log file and pid
// file.
const pgbouncerConf = `;; Written by devstack: a throwaway pooler for tests.
[databases]
atum = host=127.0.0.1 port=%d dbname=atum

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = postgres
stats_users = postgres
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
logfile = %s
pidfile = %s
`

// startPgBouncer configures and starts PgBouncer in front of the "atum"
// database.
func (s *Stack) startPgBouncer(ctx context.Context) error {
	ini := filepath.Join(s.dir, "pgbouncer.ini")
	users := filepath.Join(s.dir, "pgbouncer-users.txt")
	logPath := filepath.Join(s.dir, "pgbouncer.log")
	pidPath := filepath.Join(s.dir, "pgbouncer.pid")
	if err := s.writeFile(users, "\"postgres\" \"\"\n"); err != nil {
		return fmt.Errorf("devstack: pgbouncer: %w", err)
	}
	data := filepath.Join(s.dir, "pgdata")
	var err error
	s.bouncer, s.bouncerPort, err = s.startServer(ctx, "pgbouncer", logPath,
		func(port int) (procSpec, error) {
			conf := fmt.Sprintf(pgbouncerConf, s.pgPort, port, users, logPath, pidPath)
			if err := s.writeFile(ini, conf); err != nil {
				return procSpec{}, err
			}
			return procSpec{
				name: "pgbouncer",
				path: s.bins.pgbouncer,
				// -q: log only to logfile, not to stderr as well.
				// Errors from before the log file is open still
				// reach stderr, which goes to the same file.
				args:    []string{"-q", ini},
				dir:     s.dir,
				logPath: logPath,
				user:    s.user,
				stopSig: syscall.SIGTERM, // immediate shutdown
			}, nil
		},
		func(ctx context.Context, _ *process, port int) error {
			return checkPostgres(ctx, pgURL(port, "atum", "sslmode=disable&default_query_exec_mode=exec"), data)
		})
	return err
}
