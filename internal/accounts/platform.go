// Package accounts finds users and tenants of the platform and diagnoses
// a customer who "disappeared". All SQL that touches the platform's own
// tables (tenants, users, workspaces) is in this file, so the platform
// team adapts one file when their schema changes.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// PlatformIndexes are the indexes the README asks the platform team to
// create so that lookups stay fast on millions of users.
const PlatformIndexes = `
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_norm_idx ON users (lower(btrim(email)) text_pattern_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_tenant_idx ON users (tenant_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS tenants_slug_pattern_idx ON tenants (slug text_pattern_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS tenants_name_norm_idx ON tenants (lower(name) text_pattern_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS workspaces_tenant_idx ON workspaces (tenant_id);`

// ReadOnlyGrants is the SQL the README gives the platform team for the
// console's read-only role (after CREATE ROLE and GRANT CONNECT).
const ReadOnlyGrants = `-- run as the owner of the platform tables
GRANT USAGE ON SCHEMA public TO atum_console_ro;
GRANT SELECT ON tenants, users, workspaces TO atum_console_ro;
ALTER ROLE atum_console_ro SET default_transaction_read_only = on;`

// ProtectTrigger is an optional trigger for the platform's database that
// makes every script unable to delete a protected user or tenant (it
// reads the console's ops.protected_accounts).
const ProtectTrigger = `CREATE OR REPLACE FUNCTION refuse_protected_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ops.protected_accounts p
               WHERE (p.kind = 'user' AND TG_TABLE_NAME = 'users' AND p.id = OLD.id)
                  OR (p.kind = 'tenant' AND TG_TABLE_NAME = 'tenants' AND p.id = OLD.id)
                  OR (p.kind = 'tenant' AND TG_TABLE_NAME IN ('users', 'workspaces') AND p.id = OLD.tenant_id)) THEN
        RAISE EXCEPTION '% % is protected (ops.protected_accounts): refusing %', TG_TABLE_NAME, OLD.id, TG_OP;
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER users_protected BEFORE DELETE ON users FOR EACH ROW EXECUTE FUNCTION refuse_protected_delete();
CREATE TRIGGER tenants_protected BEFORE DELETE ON tenants FOR EACH ROW EXECUTE FUNCTION refuse_protected_delete();
CREATE TRIGGER workspaces_protected BEFORE DELETE ON workspaces FOR EACH ROW EXECUTE FUNCTION refuse_protected_delete();`

// Hit is one search result (or a twin of a user): enough of the user and
// its tenant to tell twins apart from the list.
type Hit struct {
	Kind    string // "user" or "tenant"
	ID      string
	Email   string
	Slug    string
	Name    string
	Tenant  string // the user's tenant slug
	Deleted bool
	Exact   bool
	// TenantDeleted and TenantStatus are the user's tenant's state (or
	// the tenant's own, for a tenant hit).
	TenantDeleted bool
	TenantStatus  string
	// Workspaces counts the live workspaces of the user's tenant (or of
	// the tenant); Users counts a tenant's live users.
	Workspaces int
	Users      int
	// LastLogin is the user's last sign-in (nil: never, or a tenant).
	LastLogin *time.Time
	// Lookalike is set for a twin found by its confusable skeleton (it
	// renders like the address but differs from it once normalised).
	Lookalike bool
}

// likePrefix turns s into a LIKE prefix pattern, its wildcards escaped.
//
// Two notes on the searches below. The tenant slug is read with a scalar
// subquery, not a join: the planner's estimate for a LIKE prefix is far
// too high and it would hash every tenant. Searches run in pgx's exec mode (an unnamed statement planned with the
// actual pattern): a cached generic plan cannot use the prefix index for
// LIKE with a parameter and falls back to scanning every user.
func likePrefix(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

// searchUsersByEmail returns exact matches of the normalised email first,
// then prefix matches.
func (s *Store) searchUsersByEmail(ctx context.Context, q string, limit int) ([]Hit, error) {
	rows, err := s.Platform.Query(ctx, `
		SELECT u.id::text, u.email, COALESCE((SELECT t.slug FROM tenants t WHERE t.id = u.tenant_id), ''),
		       u.deleted_at IS NOT NULL, lower(btrim(u.email)) = lower(btrim($1)) AS exact
		FROM users u
		WHERE lower(btrim(u.email)) LIKE $2
		ORDER BY exact DESC, lower(btrim(u.email)), u.created_at
		LIMIT $3`, pgx.QueryExecModeExec, q, likePrefix(strings.ToLower(strings.TrimSpace(q))), limit)
	if err != nil {
		return nil, fmt.Errorf("accounts: search users: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hit, error) {
		h := Hit{Kind: "user"}
		err := r.Scan(&h.ID, &h.Email, &h.Tenant, &h.Deleted, &h.Exact)
		return h, err
	})
}

func (s *Store) searchByID(ctx context.Context, id string) ([]Hit, error) {
	rows, err := s.Platform.Query(ctx, `
		SELECT 'user', u.id::text, u.email, COALESCE(t.slug, ''), '', u.deleted_at IS NOT NULL FROM users u LEFT JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1::uuid
		UNION ALL
		SELECT 'tenant', t.id::text, '', t.slug, t.name, t.deleted_at IS NOT NULL FROM tenants t WHERE t.id = $1::uuid`, id)
	if err != nil {
		return nil, fmt.Errorf("accounts: search by id: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hit, error) {
		h := Hit{Exact: true}
		err := r.Scan(&h.Kind, &h.ID, &h.Email, &h.Slug, &h.Name, &h.Deleted)
		return h, err
	})
}

func (s *Store) searchTenants(ctx context.Context, q string, limit int) ([]Hit, error) {
	p := likePrefix(strings.ToLower(strings.TrimSpace(q)))
	rows, err := s.Platform.Query(ctx, `
		SELECT id::text, slug, name, deleted_at IS NOT NULL, slug = lower(btrim($1)) AS exact FROM (
		    SELECT * FROM tenants WHERE slug LIKE $2
		    UNION
		    SELECT * FROM tenants WHERE lower(name) LIKE $2) t
		ORDER BY exact DESC, slug LIMIT $3`, pgx.QueryExecModeExec, q, p, limit)
	if err != nil {
		return nil, fmt.Errorf("accounts: search tenants: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hit, error) {
		h := Hit{Kind: "tenant"}
		err := r.Scan(&h.ID, &h.Slug, &h.Name, &h.Deleted, &h.Exact)
		return h, err
	})
}

// User is a platform user as stored.
type User struct {
	ID           string
	Email        string
	TenantID     string
	AuthProvider string
	CreatedAt    time.Time
	LastLoginAt  *time.Time
	DeletedAt    *time.Time
}

// Tenant is a platform tenant as stored.
type Tenant struct {
	ID        string
	Slug      string
	Name      string
	Plan      string
	Status    string
	CreatedAt time.Time
	DeletedAt *time.Time
}

// Workspace is one workspace of a tenant.
type Workspace struct {
	ID        string
	Name      string
	CreatedAt time.Time
	DeletedAt *time.Time
}

func (s *Store) user(ctx context.Context, id string) (User, error) {
	var u User
	err := s.Platform.QueryRow(ctx, `SELECT id::text, email, tenant_id::text, auth_provider, created_at, last_login_at, deleted_at
		FROM users WHERE id = $1::uuid`, id).Scan(&u.ID, &u.Email, &u.TenantID, &u.AuthProvider, &u.CreatedAt, &u.LastLoginAt, &u.DeletedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("accounts: user: %w", err)
	}
	return u, nil
}

func (s *Store) tenant(ctx context.Context, id string) (*Tenant, error) {
	var t Tenant
	err := s.Platform.QueryRow(ctx, `SELECT id::text, slug, name, plan, status, created_at, deleted_at FROM tenants WHERE id = $1::uuid`, id).
		Scan(&t.ID, &t.Slug, &t.Name, &t.Plan, &t.Status, &t.CreatedAt, &t.DeletedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: tenant: %w", err)
	}
	return &t, nil
}

// workspaceLimit is how many of a tenant's workspaces the account page
// lists (the newest); the counts are exact.
const workspaceLimit = 50

func (s *Store) workspaces(ctx context.Context, tenantID string) ([]Workspace, error) {
	rows, err := s.Platform.Query(ctx, `SELECT id::text, name, created_at, deleted_at FROM workspaces WHERE tenant_id = $1::uuid
		ORDER BY created_at DESC LIMIT $2`, tenantID, workspaceLimit)
	if err != nil {
		return nil, fmt.Errorf("accounts: workspaces: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Workspace, error) {
		var w Workspace
		err := r.Scan(&w.ID, &w.Name, &w.CreatedAt, &w.DeletedAt)
		return w, err
	})
}

// workspaceCounts counts a tenant's workspaces, all and live.
func (s *Store) workspaceCounts(ctx context.Context, tenantID string) (total, live int, err error) {
	err = s.Platform.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE deleted_at IS NULL) FROM workspaces WHERE tenant_id = $1::uuid`,
		tenantID).Scan(&total, &live)
	if err != nil {
		return 0, 0, fmt.Errorf("accounts: workspace counts: %w", err)
	}
	return total, live, nil
}

// duplicates returns the other users whose email normalises to the same.
func (s *Store) duplicates(ctx context.Context, u User) ([]Hit, error) {
	rows, err := s.Platform.Query(ctx, `
		SELECT d.id::text, d.email, COALESCE((SELECT t.slug FROM tenants t WHERE t.id = d.tenant_id), ''), d.deleted_at IS NOT NULL
		FROM users d WHERE lower(btrim(d.email)) LIKE $1 AND lower(btrim(d.email)) = lower(btrim($2)) AND d.id <> $3::uuid LIMIT 20`,
		pgx.QueryExecModeExec, likePrefix(strings.ToLower(strings.TrimSpace(u.Email))), u.Email, u.ID)
	if err != nil {
		return nil, fmt.Errorf("accounts: duplicates: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hit, error) {
		h := Hit{Kind: "user", Exact: true}
		err := r.Scan(&h.ID, &h.Email, &h.Tenant, &h.Deleted)
		return h, err
	})
}

func (s *Store) tenantUsers(ctx context.Context, tenantID string) (int, error) {
	var n int
	err := s.Platform.QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1::uuid AND deleted_at IS NULL`, tenantID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("accounts: tenant users: %w", err)
	}
	return n, nil
}
