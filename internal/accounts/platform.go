// Package accounts finds users and tenants of the platform and diagnoses
// a customer who "disappeared". All SQL that touches the platform's own
// tables (tenants, users, workspaces) is in this file, so the platform
// team adapts one file when their schema changes.
package accounts

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PlatformFunctions is the SQL (platform_functions.sql) that creates the
// functions the console's search and the indexes below use:
// atum_norm_email, atum_skeleton and the email ones built on them. It is
// generated from NormalizeEmail's and Skeleton's own tables, and the
// platform team runs it before PlatformIndexes.
//
//go:embed platform_functions.sql
var PlatformFunctions string

// PlatformIndexes are the indexes the README asks the platform team to
// create (after PlatformFunctions, as a role that may CREATE EXTENSION
// pg_trgm) so that every search stays bounded on millions of users: the
// normalised address and its skeleton (exact and prefix), the domain with
// its skeleton (domain and lookalike domains, each read in index order),
// tenant names normalised (exact and prefix) and trigram indexes for
// names and slugs containing the query.
const PlatformIndexes = `
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_atum_email_idx ON users (atum_norm_email(email) text_pattern_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_atum_email_skeleton_idx ON users (atum_email_skeleton(email) text_pattern_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_atum_email_domain_idx ON users (atum_email_domain_skeleton(email), atum_email_domain(email), atum_norm_email(email));
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_tenant_idx ON users (tenant_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS tenants_slug_pattern_idx ON tenants (slug text_pattern_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS tenants_atum_name_idx ON tenants (atum_norm_email(name) text_pattern_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS tenants_name_trgm_idx ON tenants USING gin (atum_norm_email(name) gin_trgm_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS tenants_slug_trgm_idx ON tenants USING gin (slug gin_trgm_ops);
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
	Kind     string // "user" or "tenant"
	ID       string
	Email    string
	Slug     string
	Name     string
	Tenant   string // the user's tenant slug
	TenantID string // the user's tenant (the tenant itself for a tenant hit)
	Deleted  bool
	Exact    bool
	// Match says how the hit was found: MatchID, MatchExact,
	// MatchLookalike, MatchPrefix, MatchDomain, MatchContains or
	// MatchTenant.
	Match string
	// TenantDeleted and TenantStatus are the user's tenant's state (or
	// the tenant's own, for a tenant hit); TenantStatus is "" when the
	// tenant is missing.
	TenantDeleted bool
	TenantStatus  string
	// Workspaces counts the live workspaces of the user's tenant (or of
	// the tenant); Users counts a tenant's live users. Both are counted
	// up to CountCap+1.
	Workspaces int
	Users      int
	// LastLogin is the user's last sign-in (nil: never, or a tenant).
	LastLogin *time.Time
	// Lookalike is set for a twin found by its confusable skeleton (it
	// renders like the address but differs from it once normalised).
	Lookalike bool
}

// How a hit was found (Hit.Match).
const (
	MatchID        = "id"
	MatchExact     = "exact"
	MatchLookalike = "lookalike"
	MatchPrefix    = "prefix"
	MatchDomain    = "domain"
	MatchContains  = "contains"
	MatchTenant    = "tenant"
)

// CountCap bounds the counts of a hit's workspaces and users: a search
// counts no further than CountCap+1 ("more than CountCap").
const CountCap = 1000

// likePrefix turns s into a LIKE prefix pattern, its wildcards escaped.
//
// Notes on the searches below. Each reads a bounded number of index
// entries: equality on an expression index, or a prefix or equality
// range read in the index's order (ORDER BY the indexed expression, with
// ~<~ for text_pattern_ops) under a LIMIT, never a sort of every match.
// The Go side computes the normalised forms and patterns
// (NormalizeEmail, Skeleton), which equal the SQL functions'. Searches
// run in pgx's exec mode (an unnamed statement planned with the actual
// pattern): a cached generic plan cannot use the prefix index for LIKE
// with a parameter and falls back to scanning every user.
func likePrefix(s string) string {
	return likeEscape(s) + "%"
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// userColumns are what every user search reads, in scanUsers' order.
const userColumns = `u.id::text, u.email, u.tenant_id::text, u.deleted_at IS NOT NULL, u.last_login_at`

// ErrPlatformSetup says the platform database lacks the functions or
// the extension the searches need (PlatformFunctions, PlatformIndexes).
var ErrPlatformSetup = errors.New("the platform database lacks the console's search functions (atum_norm_email and others): " +
	"the platform team runs the SQL of the README's Accounts section")

// setupError turns an undefined function (SQLSTATE 42883) into
// ErrPlatformSetup; other errors pass unchanged.
func setupError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42883" {
		return fmt.Errorf("%w (%s)", ErrPlatformSetup, pe.Message)
	}
	return err
}

// queryUsers runs a search of users and returns them as hits found by
// match.
func (s *Store) queryUsers(ctx context.Context, match, sql string, args ...any) ([]Hit, error) {
	rows, err := s.Platform.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, setupError(fmt.Errorf("accounts: search users (%s): %w", match, err))
	}
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hit, error) {
		h := Hit{Kind: "user", Match: match, Exact: match == MatchExact || match == MatchID, Lookalike: match == MatchLookalike}
		err := r.Scan(&h.ID, &h.Email, &h.TenantID, &h.Deleted, &h.LastLogin)
		return h, err
	})
	return hits, setupError(err)
}

// usersByEmail returns the users whose address normalises to n.
func (s *Store) usersByEmail(ctx context.Context, n string, limit int) ([]Hit, error) {
	return s.queryUsers(ctx, MatchExact, `SELECT `+userColumns+` FROM users u
		WHERE atum_norm_email(u.email) = $1 ORDER BY u.created_at LIMIT $2`, n, limit)
}

// usersBySkeleton returns the lookalikes of the normalised address n:
// the same skeleton, another normalised address.
func (s *Store) usersBySkeleton(ctx context.Context, n string, limit int) ([]Hit, error) {
	return s.queryUsers(ctx, MatchLookalike, `SELECT `+userColumns+` FROM users u
		WHERE atum_email_skeleton(u.email) = $1 AND atum_norm_email(u.email) <> $2 ORDER BY u.created_at LIMIT $3`,
		Skeleton(n), n, limit)
}

// usersByPrefix returns the users whose normalised address starts with n,
// in the index's order.
func (s *Store) usersByPrefix(ctx context.Context, n string, limit int) ([]Hit, error) {
	return s.queryUsers(ctx, MatchPrefix, `SELECT `+userColumns+` FROM users u
		WHERE atum_norm_email(u.email) LIKE $1 ORDER BY atum_norm_email(u.email) USING ~<~ LIMIT $2`, likePrefix(n), limit)
}

// usersBySkeletonPrefix returns the first users, in the skeleton index's
// order, whose skeleton starts with n's (lookalikes of a prefix among
// them).
func (s *Store) usersBySkeletonPrefix(ctx context.Context, n string, limit int) ([]Hit, error) {
	return s.queryUsers(ctx, MatchLookalike, `SELECT `+userColumns+` FROM users u
		WHERE atum_email_skeleton(u.email) LIKE $1 ORDER BY atum_email_skeleton(u.email) USING ~<~ LIMIT $2`,
		likePrefix(Skeleton(n)), limit)
}

// usersByDomain returns the users of the normalised domain d, by address.
func (s *Store) usersByDomain(ctx context.Context, d string, limit int) ([]Hit, error) {
	return s.queryUsers(ctx, MatchDomain, `SELECT `+userColumns+` FROM users u
		WHERE atum_email_domain_skeleton(u.email) = $1 AND atum_email_domain(u.email) = $2
		ORDER BY atum_norm_email(u.email) LIMIT $3`, Skeleton(d), d, limit)
}

// usersOfLookalikeDomains returns users of domains that look like d but
// differ from it: the same domain skeleton, read on both sides of d in
// the index.
func (s *Store) usersOfLookalikeDomains(ctx context.Context, d string, limit int) ([]Hit, error) {
	return s.queryUsers(ctx, MatchLookalike, `
		(SELECT `+userColumns+` FROM users u WHERE atum_email_domain_skeleton(u.email) = $1 AND atum_email_domain(u.email) < $2
		 ORDER BY atum_email_domain(u.email) DESC LIMIT $3)
		UNION ALL
		(SELECT `+userColumns+` FROM users u WHERE atum_email_domain_skeleton(u.email) = $1 AND atum_email_domain(u.email) > $2
		 ORDER BY atum_email_domain(u.email) LIMIT $3)`, Skeleton(d), d, limit)
}

// usersOfTenants returns at most perTenant users of each tenant (any of
// them: no order, so a tenant of a million users costs the same).
func (s *Store) usersOfTenants(ctx context.Context, tenantIDs []string, perTenant int) ([]Hit, error) {
	return s.queryUsers(ctx, MatchTenant, `SELECT `+userColumns+` FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)
		CROSS JOIN LATERAL (SELECT * FROM users u WHERE u.tenant_id = t.id LIMIT $2) u ORDER BY t.n`, tenantIDs, perTenant)
}

// searchTenants finds tenants by slug or normalised name n: exact, then
// prefix (each read in its index's order), then, when contains is a
// pattern, containing n (trigram indexes; no order). Each part is
// limited; the caller drops repeats.
func (s *Store) searchTenants(ctx context.Context, n, contains string, limit int) ([]Hit, error) {
	const cols = `id::text, slug, name, deleted_at IS NOT NULL, status`
	rows, err := s.Platform.Query(ctx, `
		(SELECT 0, `+cols+` FROM tenants WHERE slug = $1 OR atum_norm_email(name) = $1 LIMIT $4)
		UNION ALL (SELECT 1, `+cols+` FROM tenants WHERE slug LIKE $2 ORDER BY slug USING ~<~ LIMIT $4)
		UNION ALL (SELECT 1, `+cols+` FROM tenants WHERE atum_norm_email(name) LIKE $2 ORDER BY atum_norm_email(name) USING ~<~ LIMIT $4)
		UNION ALL (SELECT 2, `+cols+` FROM tenants WHERE $3 <> '' AND (slug LIKE $3 OR atum_norm_email(name) LIKE $3) LIMIT $4)`,
		pgx.QueryExecModeExec, n, likePrefix(n), contains, limit)
	if err != nil {
		return nil, setupError(fmt.Errorf("accounts: search tenants: %w", err))
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hit, error) {
		var rank int
		h := Hit{Kind: "tenant"}
		err := r.Scan(&rank, &h.ID, &h.Slug, &h.Name, &h.Deleted, &h.TenantStatus)
		h.TenantID, h.TenantDeleted, h.Exact = h.ID, h.Deleted, rank == 0
		h.Match = []string{MatchExact, MatchPrefix, MatchContains}[rank]
		return h, err
	})
}

// tenantByID returns the tenant with this id, if any.
func (s *Store) tenantByID(ctx context.Context, id string) ([]Hit, error) {
	h := Hit{Kind: "tenant", ID: id, TenantID: id, Exact: true, Match: MatchID}
	err := s.Platform.QueryRow(ctx, `SELECT slug, name, deleted_at IS NOT NULL FROM tenants WHERE id = $1::uuid`, id).
		Scan(&h.Slug, &h.Name, &h.Deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: search by id: %w", err)
	}
	return []Hit{h}, nil
}

// tenantFacts is what a hit shows of a tenant.
type tenantFacts struct {
	Slug              string
	Status            string
	Deleted           bool
	Workspaces, Users int
}

// tenantFacts reads the tenants' state and live workspaces, and the live
// users of those in withUsers, each count stopping at CountCap+1.
func (s *Store) tenantFacts(ctx context.Context, ids, withUsers []string) (map[string]tenantFacts, error) {
	rows, err := s.Platform.Query(ctx, `SELECT t.id::text, t.slug, t.status, t.deleted_at IS NOT NULL,
		    (SELECT count(*) FROM (SELECT 1 FROM workspaces w WHERE w.tenant_id = t.id AND w.deleted_at IS NULL LIMIT $3) w),
		    CASE WHEN t.id = ANY($2::uuid[]) THEN
		        (SELECT count(*) FROM (SELECT 1 FROM users u WHERE u.tenant_id = t.id AND u.deleted_at IS NULL LIMIT $3) u) ELSE 0 END
		FROM tenants t WHERE t.id = ANY($1::uuid[])`, ids, withUsers, CountCap+1)
	if err != nil {
		return nil, fmt.Errorf("accounts: tenants of hits: %w", err)
	}
	out := map[string]tenantFacts{}
	var id string
	var f tenantFacts
	_, err = pgx.ForEachRow(rows, []any{&id, &f.Slug, &f.Status, &f.Deleted, &f.Workspaces, &f.Users}, func() error {
		out[id] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: tenants of hits: %w", err)
	}
	return out, nil
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

// duplicates returns the other users whose address normalises to the
// same (white space, case and width twins) first, then its lookalikes
// (the same skeleton, Lookalike set), with their tenants' state.
func (s *Store) duplicates(ctx context.Context, u User) ([]Hit, error) {
	n := NormalizeEmail(u.Email)
	hits, err := s.queryUsers(ctx, MatchExact, `SELECT `+userColumns+` FROM users u
		WHERE (atum_norm_email(u.email) = $1 OR atum_email_skeleton(u.email) = $2) AND u.id <> $3::uuid
		ORDER BY u.created_at LIMIT 20`, n, Skeleton(n), u.ID)
	if err != nil {
		return nil, err
	}
	for i := range hits {
		if NormalizeEmail(hits[i].Email) != n {
			hits[i].Exact, hits[i].Lookalike, hits[i].Match = false, true, MatchLookalike
		}
	}
	slices.SortStableFunc(hits, func(a, b Hit) int { return compareBool(a.Lookalike, b.Lookalike) })
	return hits, s.fillTenants(ctx, hits)
}

func (s *Store) tenantUsers(ctx context.Context, tenantID string) (int, error) {
	var n int
	err := s.Platform.QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1::uuid AND deleted_at IS NULL`, tenantID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("accounts: tenant users: %w", err)
	}
	return n, nil
}
