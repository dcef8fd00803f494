package accounts

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/atum/ops-console/internal/store"
)

// ErrNotFound says the account does not exist in this database.
var ErrNotFound = errors.New("accounts: not found")

// Store reads the platform's accounts (read-only role), the console's own
// protection list and audit, and the tenant cache in Redis.
type Store struct {
	Platform *pgxpool.Pool
	Console  *pgxpool.Pool
	// Redis is nil when not configured.
	Redis *redis.Client
	// PlatformURL names the platform database for the identity check.
	PlatformURL string
	// Environment is the console's own ENVIRONMENT.
	Environment string
	// RedisSkip, when set, says why Redis must not be asked now (the
	// switch is on, Redis is known down), or "" when it may.
	RedisSkip func(ctx context.Context) string
	// RedisTimeout bounds the cache-entry check; default 300 ms.
	RedisTimeout time.Duration
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether s is a UUID.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// MaxQueryBytes is the longest search accepted (an email's maximum).
const MaxQueryBytes = 320

// Search finds users and tenants: by id (a UUID), by email when q has an
// "@" (case- and space-insensitive, exact matches first, then prefix),
// else by tenant slug or name prefix and user email prefix.
func (s *Store) Search(ctx context.Context, q string, limit int) ([]Hit, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	if len(q) > MaxQueryBytes {
		return nil, fmt.Errorf("the search is %d bytes long; at most %d are accepted", len(q), MaxQueryBytes)
	}
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	if IsUUID(q) {
		return s.searchByID(ctx, q)
	}
	if strings.Contains(q, "@") {
		return s.searchUsersByEmail(ctx, q, limit)
	}
	hits, err := s.searchTenants(ctx, q, limit)
	if err != nil {
		return nil, err
	}
	users, err := s.searchUsersByEmail(ctx, q, limit-len(hits))
	return append(hits, users...), err
}

// CacheEntry is the tenant's Redis cache entry compared with the database.
// It never holds the cached values themselves.
type CacheEntry struct {
	Checked  bool
	Present  bool
	TTL      time.Duration
	Matches  bool
	Mismatch string
	Err      string
}

// Account is everything the account page shows.
type Account struct {
	User          *User
	Tenant        *Tenant
	TenantMissing bool
	// Workspaces are the tenant's newest workspaces (at most 50);
	// TotalWorkspaces and LiveWorkspaces count them all.
	Workspaces      []Workspace
	TotalWorkspaces int
	LiveWorkspaces  int
	Duplicates      []Hit
	TenantUsers     int
	UserProtected   bool
	TenantProtected bool
	Cache           CacheEntry
	Audit           []AuditEvent
}

// AuditEvent is a recent audit event about the account.
type AuditEvent struct {
	At       time.Time
	Operator string
	Action   string
	Target   string
	Result   string
}

// UserAccount loads the account page of a user.
func (s *Store) UserAccount(ctx context.Context, userID string) (Account, error) {
	if !IsUUID(userID) {
		return Account{}, ErrNotFound
	}
	u, err := s.user(ctx, userID)
	if err != nil {
		return Account{}, err
	}
	a := Account{User: &u}
	if a.Duplicates, err = s.duplicates(ctx, u); err != nil {
		return a, err
	}
	if a.UserProtected, err = s.IsProtected(ctx, "user", u.ID); err != nil {
		return a, err
	}
	if err := s.fillTenant(ctx, &a, u.TenantID); err != nil {
		return a, err
	}
	a.Audit, err = s.audit(ctx, u.ID, u.Email, a.tenantSlug())
	return a, err
}

// TenantAccount loads the account page of a tenant.
func (s *Store) TenantAccount(ctx context.Context, tenantID string) (Account, error) {
	if !IsUUID(tenantID) {
		return Account{}, ErrNotFound
	}
	var a Account
	if err := s.fillTenant(ctx, &a, tenantID); err != nil {
		return a, err
	}
	if a.Tenant == nil {
		return a, ErrNotFound
	}
	var err error
	a.Audit, err = s.audit(ctx, tenantID, "", a.tenantSlug())
	return a, err
}

func (a Account) tenantSlug() string {
	if a.Tenant == nil {
		return ""
	}
	return a.Tenant.Slug
}

func (s *Store) fillTenant(ctx context.Context, a *Account, tenantID string) error {
	t, err := s.tenant(ctx, tenantID)
	if err != nil {
		return err
	}
	if t == nil {
		a.TenantMissing = true
		return nil
	}
	a.Tenant = t
	if a.Workspaces, err = s.workspaces(ctx, t.ID); err != nil {
		return err
	}
	if a.TotalWorkspaces, a.LiveWorkspaces, err = s.workspaceCounts(ctx, t.ID); err != nil {
		return err
	}
	if a.TenantUsers, err = s.tenantUsers(ctx, t.ID); err != nil {
		return err
	}
	if a.TenantProtected, err = s.IsProtected(ctx, "tenant", t.ID); err != nil {
		return err
	}
	a.Cache = s.cacheEntry(ctx, *t)
	return nil
}

// cachedTenant is the platform's cached tenant record (key tenant:<slug>).
type cachedTenant struct {
	ID     string `json:"id"`
	Slug   string `json:"slug"`
	Plan   string `json:"plan"`
	Status string `json:"status"`
}

// CacheKey is the Redis key the platform caches a tenant under.
func CacheKey(slug string) string { return "tenant:" + slug }

func (s *Store) cacheEntry(ctx context.Context, t Tenant) CacheEntry {
	if s.Redis == nil {
		return CacheEntry{Err: "Redis is not configured"}
	}
	if s.RedisSkip != nil {
		if why := s.RedisSkip(ctx); why != "" {
			return CacheEntry{Err: "not checked: " + why}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(s.RedisTimeout, 300*time.Millisecond))
	defer cancel()
	e := CacheEntry{Checked: true}
	raw, err := s.Redis.Get(ctx, CacheKey(t.Slug)).Bytes()
	if errors.Is(err, redis.Nil) {
		return e
	}
	if err != nil {
		e.Err = "Redis did not answer: " + err.Error()
		return e
	}
	e.Present = true
	if ttl, err := s.Redis.TTL(ctx, CacheKey(t.Slug)).Result(); err == nil {
		e.TTL = ttl
	}
	var c cachedTenant
	if err := json.Unmarshal(raw, &c); err != nil {
		e.Mismatch = "the cached entry is not the platform's JSON"
		return e
	}
	var diffs []string
	if c.ID != t.ID {
		diffs = append(diffs, "the cached id points at another tenant ("+c.ID+")")
	}
	if c.Status != t.Status {
		diffs = append(diffs, fmt.Sprintf("status: cached %q, database %q", c.Status, t.Status))
	}
	if c.Plan != t.Plan {
		diffs = append(diffs, fmt.Sprintf("plan: cached %q, database %q", c.Plan, t.Plan))
	}
	e.Matches, e.Mismatch = len(diffs) == 0, strings.Join(diffs, "; ")
	return e
}

// InvalidateCache deletes the tenant's cache entry and reports whether it
// existed.
func (s *Store) InvalidateCache(ctx context.Context, slug string) (bool, error) {
	if s.Redis == nil {
		return false, errors.New("accounts: Redis is not configured")
	}
	n, err := s.Redis.Del(ctx, CacheKey(slug)).Result()
	if err != nil {
		return false, fmt.Errorf("accounts: invalidate cache: %w", err)
	}
	return n > 0, nil
}

// Protect adds an account to the protected list.
func (s *Store) Protect(ctx context.Context, kind, id, reason, by string) error {
	_, err := s.Console.Exec(ctx, `INSERT INTO ops.protected_accounts (kind, id, reason, set_by) VALUES ($1, $2::uuid, $3, $4)
		ON CONFLICT (kind, id) DO UPDATE SET reason = EXCLUDED.reason, set_by = EXCLUDED.set_by, set_at = now()`, kind, id, reason, by)
	if err != nil {
		return fmt.Errorf("accounts: protect: %w", err)
	}
	return nil
}

// Unprotect removes an account from the protected list.
func (s *Store) Unprotect(ctx context.Context, kind, id string) error {
	if _, err := s.Console.Exec(ctx, `DELETE FROM ops.protected_accounts WHERE kind = $1 AND id = $2::uuid`, kind, id); err != nil {
		return fmt.Errorf("accounts: unprotect: %w", err)
	}
	return nil
}

// IsProtected reports whether an account is on the protected list.
func (s *Store) IsProtected(ctx context.Context, kind, id string) (bool, error) {
	var ok bool
	err := s.Console.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ops.protected_accounts WHERE kind = $1 AND id = $2::uuid)`, kind, id).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("accounts: protected: %w", err)
	}
	return ok, nil
}

func (s *Store) audit(ctx context.Context, id, email, slug string) ([]AuditEvent, error) {
	terms := []string{id}
	if email != "" {
		terms = append(terms, strings.ToLower(strings.TrimSpace(email)))
	}
	if slug != "" {
		terms = append(terms, slug)
	}
	rows, err := s.Console.Query(ctx, `SELECT at, operator, action, target, result FROM ops.audit_events
		WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS t WHERE target ILIKE '%' || t || '%')
		ORDER BY id DESC LIMIT 20`, terms)
	if err != nil {
		return nil, fmt.Errorf("accounts: audit: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEvent, error) {
		var e AuditEvent
		err := r.Scan(&e.At, &e.Operator, &e.Action, &e.Target, &e.Result)
		return e, err
	})
}

// CreateIndexes creates PlatformIndexes (without CONCURRENTLY) for the
// demo and the tests.
func CreateIndexes(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, strings.ReplaceAll(PlatformIndexes, " CONCURRENTLY", ""))
	if err != nil {
		return fmt.Errorf("accounts: indexes: %w", err)
	}
	return nil
}

// identity returns the platform database's identity, for the diagnosis.
func (s *Store) identity(ctx context.Context) (store.Identity, error) {
	return store.ReadIdentity(ctx, s.Platform, s.PlatformURL)
}
