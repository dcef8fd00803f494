// Package neon reads the platform's Postgres (Neon in production) and a
// self-hosted PgBouncer: reachability now, the connection budget later.
package neon

import (
	"context"
	"fmt"
	"strings"

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
// console (see ReadPgBouncer).
func PgBouncerProbe(adminURL string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		b, err := ReadPgBouncer(ctx, adminURL)
		if err != nil {
			return "", err
		}
		var active int64
		for _, p := range b.Pools {
			active += p.ClActive
		}
		return fmt.Sprintf("%d pools · %d clients active · %d waiting", len(b.Pools), active, b.Waiting), nil
	}
}
