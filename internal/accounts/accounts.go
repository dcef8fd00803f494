package accounts

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/atum/ops-console/internal/audit"
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
	// TwinsUnchecked says why twins could not be looked for ("": they
	// were).
	TwinsUnchecked  string
	TenantUsers     int
	UserProtected   bool
	TenantProtected bool
	// UserProtection and TenantProtection are the protections in force
	// (nil: none); History is every change of them, newest first.
	UserProtection   *Protection
	TenantProtection *Protection
	History          []ProtectionChange
	Cache            CacheEntry
	// Audit are the audit events about the account, by its exact
	// identifiers, newest first: its newest AuditActions actions and
	// AuditViews views and searches.
	Audit []AuditEvent
}

// AuditEvent is an audit event about the account.
type AuditEvent struct {
	ID       int64
	At       time.Time
	Operator string
	Role     string
	Action   string
	Target   string
	Reason   string
	Result   string
	// Account is the account the event names (the user, or the tenant).
	Account audit.Account
	// Details are the event's recorded details.
	Details map[string]any
}

// Bounds of Account.Audit: the account's newest actions, and apart its
// newest views and searches, so that views never push an action out.
const (
	AuditActions = 100
	AuditViews   = 20
)

// ViewActions are the audited reads of an account: opening its page, a
// search that found it, its tenant's QStash messages.
var ViewActions = []string{"account.view", "account.search", "qstash.tenant.view"}

// Ref names the account for the audit log: the user (with its tenant), or
// the tenant.
func (a Account) Ref() audit.Account {
	var r audit.Account
	if a.User != nil {
		r.UserID, r.Email, r.TenantID = a.User.ID, NormalizeEmail(a.User.Email), a.User.TenantID
	}
	if a.Tenant != nil {
		r.TenantID, r.Slug = a.Tenant.ID, a.Tenant.Slug
	}
	return r
}

// TenantRef names the account's tenant alone for the audit log (zero
// without a tenant).
func (a Account) TenantRef() audit.Account {
	if a.Tenant == nil {
		return audit.Account{}
	}
	return audit.Account{TenantID: a.Tenant.ID, Slug: a.Tenant.Slug}
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
	a.Duplicates, err = s.duplicates(ctx, u)
	if errors.Is(err, ErrPlatformSetup) {
		a.TwinsUnchecked, err = err.Error(), nil // the rest of the page still helps
	}
	if err != nil {
		return a, err
	}
	if a.UserProtection, err = s.protection(ctx, "user", u.ID); err != nil {
		return a, err
	}
	a.UserProtected = a.UserProtection != nil
	if err := s.fillTenant(ctx, &a, u.TenantID); err != nil {
		return a, err
	}
	if a.History, err = s.history(ctx, []string{"user", u.ID, "tenant", u.TenantID}); err != nil {
		return a, err
	}
	a.Audit, err = s.audit(ctx, a.Ref())
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
	if a.History, err = s.history(ctx, []string{"tenant", a.Tenant.ID}); err != nil {
		return a, err
	}
	a.Audit, err = s.audit(ctx, a.Ref())
	return a, err
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
	if a.TenantProtection, err = s.protection(ctx, "tenant", t.ID); err != nil {
		return err
	}
	a.TenantProtected = a.TenantProtection != nil
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

// Protect adds an account to the protected list, or changes the reason
// of its protection (the old one stays in the history).
func (s *Store) Protect(ctx context.Context, kind, id, reason, by string) error {
	_, err := s.SetProtection(ctx, kind, id, true, reason, by)
	return err
}

// Unprotect removes an account from the protected list, for reason
// (kept in the history); ErrNotProtected if it was not on it.
func (s *Store) Unprotect(ctx context.Context, kind, id, reason, by string) error {
	_, err := s.SetProtection(ctx, kind, id, false, reason, by)
	return err
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

// audit returns the events about the account ref names, by its exact
// identifiers (see audit.Log.ForAccount): its newest AuditActions actions
// and AuditViews views, newest first.
func (s *Store) audit(ctx context.Context, ref audit.Account) ([]AuditEvent, error) {
	log := audit.New(s.Console)
	actions, err := log.ForAccount(ctx, audit.AccountQuery{Account: ref, Except: ViewActions, Limit: AuditActions})
	if err != nil {
		return nil, fmt.Errorf("accounts: audit: %w", err)
	}
	views, err := log.ForAccount(ctx, audit.AccountQuery{Account: ref, Actions: ViewActions, Limit: AuditViews})
	if err != nil {
		return nil, fmt.Errorf("accounts: audit: %w", err)
	}
	all := append(actions, views...)
	slices.SortFunc(all, func(a, b audit.Event) int { return cmp.Compare(b.ID, a.ID) })
	out := make([]AuditEvent, 0, len(all))
	for _, e := range all {
		ev := AuditEvent{ID: e.ID, At: e.At, Operator: e.Operator, Role: e.Role, Action: e.Action, Target: e.Target,
			Reason: e.Reason, Result: e.Result, Account: e.Account}
		_ = json.Unmarshal([]byte(e.DetailsJSON), &ev.Details)
		out = append(out, ev)
	}
	return out, nil
}

// CreateIndexes creates PlatformFunctions and PlatformIndexes (without
// CONCURRENTLY) for the demo and the tests, then analyzes the tables (the
// planner needs statistics on the new expressions).
func CreateIndexes(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, PlatformFunctions)
	if err == nil {
		_, err = pool.Exec(ctx, strings.ReplaceAll(PlatformIndexes, " CONCURRENTLY", "")+";\nANALYZE users, tenants")
	}
	if err != nil {
		return fmt.Errorf("accounts: indexes: %w", err)
	}
	return nil
}

// identity returns the platform database's identity, for the diagnosis.
func (s *Store) identity(ctx context.Context) (store.Identity, error) {
	return store.ReadIdentity(ctx, s.Platform, s.PlatformURL)
}
