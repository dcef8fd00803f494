// Package neon reads the platform's Postgres (Neon in production) and a
// self-hosted PgBouncer: reachability now, the connection budget later.
package neon

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// platformTables are the platform tables the console reads.
var platformTables = []string{"tenants", "users", "workspaces"}

// PlatformProbe returns a check of the platform database: it answers, and
// which of the platform tables it holds.
func PlatformProbe(pool *pgxpool.Pool) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		var version string
		var missing []string
		rows, err := pool.Query(ctx, `
			SELECT t, to_regclass(t) IS NULL, current_setting('server_version')
			FROM unnest($1::text[]) AS t`, platformTables)
		if err != nil {
			return "", fmt.Errorf("platform database: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t string
			var absent bool
			if err := rows.Scan(&t, &absent, &version); err != nil {
				return "", fmt.Errorf("platform database: %w", err)
			}
			if absent {
				missing = append(missing, t)
			}
		}
		if err := rows.Err(); err != nil {
			return "", fmt.Errorf("platform database: %w", err)
		}
		if len(missing) > 0 {
			return "", fmt.Errorf("platform tables missing: %s", strings.Join(missing, ", "))
		}
		return "PostgreSQL " + version + " · tenants, users, workspaces present", nil
	}
}

// PgBouncerProbe returns a check of a self-hosted PgBouncer's admin
// console. It opens one connection per probe over the simple query
// protocol: the admin console accepts neither prepared statements nor a
// pool's health pings.
func PgBouncerProbe(adminURL string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		cfg, err := pgx.ParseConfig(adminURL)
		if err != nil {
			return "", fmt.Errorf("pgbouncer: cannot parse PGBOUNCER_ADMIN_URL")
		}
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return "", fmt.Errorf("pgbouncer: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		rows, err := conn.Query(ctx, "SHOW POOLS")
		if err != nil {
			return "", fmt.Errorf("pgbouncer: SHOW POOLS: %w", err)
		}
		defer rows.Close()
		col := map[string]int{}
		for i, f := range rows.FieldDescriptions() {
			col[f.Name] = i
		}
		pools, active, waiting := 0, int64(0), int64(0)
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				return "", fmt.Errorf("pgbouncer: SHOW POOLS: %w", err)
			}
			pools++
			active += asInt(vals, col, "cl_active")
			waiting += asInt(vals, col, "cl_waiting")
		}
		if err := rows.Err(); err != nil {
			return "", fmt.Errorf("pgbouncer: SHOW POOLS: %w", err)
		}
		return fmt.Sprintf("%d pools · %d clients active · %d waiting", pools, active, waiting), nil
	}
}

func asInt(vals []any, col map[string]int, name string) int64 {
	i, ok := col[name]
	if !ok || i >= len(vals) {
		return 0
	}
	switch v := vals[i].(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case string:
		var n int64
		fmt.Sscan(v, &n)
		return n
	}
	return 0
}
