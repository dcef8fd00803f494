// Package store opens the console's own Postgres database, runs the
// embedded migrations of schema ops, reads the database's identity and
// says whether the platform ever reported a heartbeat to it.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ApplicationName is the application_name the console's connections carry,
// following the platform's service:group:machine:pid convention.
const ApplicationName = "atum-console"

// Open returns a pool for url without connecting: the console must start
// while its database is down, and pgxpool reconnects by itself. Its
// statements have no server-side time limit (migrations, seeding).
func Open(ctx context.Context, rawURL string, maxConns int32) (*pgxpool.Pool, error) {
	return OpenBounded(ctx, rawURL, maxConns, 0, 0)
}

// OpenBounded is Open for serving: the server ends any statement running
// longer than statement and any wait for a lock longer than lock (zero
// leaves the server's default), so a statement the console gave up on
// never keeps running or holding locks. Requests also carry context
// deadlines; these are the server-side backstop. JIT compilation is off
// unless the URL sets it.
func OpenBounded(ctx context.Context, rawURL string, maxConns int32, statement, lock time.Duration) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, errors.New("store: cannot parse the database URL (value not shown)")
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = ApplicationName
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 5*time.Second {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	for name, d := range map[string]time.Duration{"statement_timeout": statement, "lock_timeout": lock} {
		if _, set := cfg.ConnConfig.RuntimeParams[name]; d > 0 && !set {
			cfg.ConnConfig.RuntimeParams[name] = fmt.Sprint(d.Milliseconds())
		}
	}
	// The console's queries are short; JIT compiling one whose estimated
	// cost crosses jit_above_cost took 0.2 s for 3 ms of work.
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	// Statements count towards the query counter of their context, if any
	// (WithQueryCounter): the queries per page view.
	if cfg.ConnConfig.Tracer == nil {
		cfg.ConnConfig.Tracer = queryTracer{}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open pool: %w", err)
	}
	return pool, nil
}

// Identity says which database a connection reached. It never holds a
// password.
type Identity struct {
	Host          string
	Database      string
	User          string
	ServerVersion string
	// SystemID is pg_control_system().system_identifier, or the Neon
	// timeline id, or "" when the role may not read either.
	SystemID string
}

// ReadIdentity reads the identity of the database behind pool. rawURL
// supplies the host as configured (on Neon the server address is internal).
func ReadIdentity(ctx context.Context, pool *pgxpool.Pool, rawURL string) (Identity, error) {
	var id Identity
	if u, err := url.Parse(rawURL); err == nil {
		id.Host = u.Hostname()
	}
	err := pool.QueryRow(ctx, `SELECT current_database(), current_user, current_setting('server_version')`).
		Scan(&id.Database, &id.User, &id.ServerVersion)
	if err != nil {
		return id, fmt.Errorf("store: read identity: %w", err)
	}
	id.SystemID = systemID(ctx, pool)
	return id, nil
}

// systemID tries the Neon timeline first, then the cluster's system
// identifier; both may be refused to an unprivileged role.
func systemID(ctx context.Context, pool *pgxpool.Pool) string {
	var s string
	err := pool.QueryRow(ctx, `SELECT current_setting('neon.timeline_id', true)`).Scan(&s)
	if err == nil && s != "" {
		return "neon:" + s
	}
	var n int64
	err = pool.QueryRow(ctx, `SELECT system_identifier FROM pg_control_system()`).Scan(&n)
	if err == nil {
		return fmt.Sprint(n)
	}
	return ""
}

// NullTime is t for a nullable timestamptz column: nil for the zero time.
func NullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// IsNoRows reports whether err means a query found no row.
func IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
