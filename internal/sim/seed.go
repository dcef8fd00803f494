// Package sim is the simulated ATUM platform used by `make demo` and the
// tests: its tables and seeded tenants, users and workspaces.
package sim

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed schema.sql
var schemaSQL string

// SeedOptions sizes the seeded platform.
type SeedOptions struct {
	Tenants int
	Users   int
}

// DefaultSeed is the demo's size.
var DefaultSeed = SeedOptions{Tenants: 1000, Users: 20000}

// Counts is what Seed wrote.
type Counts struct {
	Tenants, Users, Workspaces int64
	// DuplicateEmails counts emails held by more than one user once
	// trimmed and lower-cased.
	DuplicateEmails                                 int64
	DeletedTenants, DeletedUsers, DeletedWorkspaces int64
}

// Seed creates the platform tables if needed and fills them with a
// deterministic simulated platform: every user belongs to a tenant; about
// one user in 200 has a twin whose email differs only in case (and
// surrounding spaces); about 1 % of tenants and users and 3 % of
// workspaces are soft-deleted. It refuses to seed tables that already
// hold rows.
func Seed(ctx context.Context, pool *pgxpool.Pool, o SeedOptions) (Counts, error) {
	if o.Tenants <= 0 || o.Users < o.Tenants {
		return Counts{}, fmt.Errorf("sim: seed needs tenants > 0 and users >= tenants")
	}
	var c Counts
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, schemaSQL); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
		var existing int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tenants`).Scan(&existing); err != nil {
			return err
		}
		if existing > 0 {
			return fmt.Errorf("platform tables already hold %d tenants; seed only an empty database", existing)
		}
		steps := []struct {
			name string
			sql  string
			args []any
		}{
			{"tenants", `
				INSERT INTO tenants (id, slug, name, plan, status, created_at, deleted_at)
				SELECT uuid_in(md5('tenant' || g)::cstring), 'tenant-' || g, 'Tenant ' || g || ' Ltd',
				       (ARRAY['free', 'launch', 'scale', 'enterprise'])[1 + g % 4],
				       CASE WHEN g % 97 = 0 THEN 'suspended' ELSE 'active' END,
				       now() - make_interval(days => g % 700),
				       CASE WHEN g % 100 = 0 THEN now() - make_interval(days => g % 30) END
				FROM generate_series(1, $1::int) AS g`, []any{o.Tenants}},
			{"workspaces", `
				INSERT INTO workspaces (id, tenant_id, name, created_at, deleted_at)
				SELECT uuid_in(md5('workspace' || t || '-' || w)::cstring), uuid_in(md5('tenant' || t)::cstring),
				       'Workspace ' || w || ' of tenant ' || t, now() - make_interval(days => (t + w) % 600),
				       CASE WHEN (t * 3 + w) % 33 = 0 THEN now() - make_interval(days => t % 20) END
				FROM generate_series(1, $1::int) AS t, generate_series(1, 1 + t % 3) AS w
				WHERE t % 250 <> 0`, []any{o.Tenants}},
			{"users", `
				INSERT INTO users (id, tenant_id, email, auth_provider, created_at, last_login_at, deleted_at)
				SELECT uuid_in(md5('user' || g)::cstring), uuid_in(md5('tenant' || (1 + g % $2::int))::cstring),
				       'user' || g || '@tenant-' || (1 + g % $2::int) || '.example',
				       (ARRAY['password', 'google', 'sso'])[1 + g % 3],
				       now() - make_interval(days => g % 650),
				       CASE WHEN g % 7 <> 0 THEN now() - make_interval(hours => g % 900) END,
				       CASE WHEN g % 101 = 0 THEN now() - make_interval(days => g % 40) END
				FROM generate_series(1, $1::int) AS g`, []any{o.Users, o.Tenants}},
			{"case twins", `
				INSERT INTO users (id, tenant_id, email, auth_provider, created_at, last_login_at, deleted_at)
				SELECT uuid_in(md5('twin' || g)::cstring), uuid_in(md5('tenant' || (1 + (g * 7) % $2::int))::cstring),
				       CASE WHEN g % 400 = 0 THEN ' ' || initcap('user' || g) || '@Tenant-' || (1 + g % $2::int) || '.example '
				            ELSE upper('user' || g || '@tenant-' || (1 + g % $2::int) || '.example') END,
				       'password', now() - make_interval(days => g % 30), NULL, NULL
				FROM generate_series(200, $1::int, 200) AS g`, []any{o.Users, o.Tenants}},
		}
		for _, s := range steps {
			if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
				return fmt.Errorf("seed %s: %w", s.name, err)
			}
		}
		return tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM tenants), (SELECT count(*) FROM users), (SELECT count(*) FROM workspaces),
			(SELECT count(*) FROM (SELECT lower(btrim(email)) FROM users GROUP BY 1 HAVING count(*) > 1) AS d),
			(SELECT count(*) FROM tenants WHERE deleted_at IS NOT NULL), (SELECT count(*) FROM users WHERE deleted_at IS NOT NULL),
			(SELECT count(*) FROM workspaces WHERE deleted_at IS NOT NULL)`).
			Scan(&c.Tenants, &c.Users, &c.Workspaces, &c.DuplicateEmails, &c.DeletedTenants, &c.DeletedUsers, &c.DeletedWorkspaces)
	})
	if err != nil {
		return Counts{}, fmt.Errorf("sim: %w", err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE tenants, users, workspaces`); err != nil {
		return c, fmt.Errorf("sim: analyze: %w", err)
	}
	return c, nil
}
