package accounts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Shares of a search's limit.
const (
	// lookalikeLimit bounds the lookalikes a search lists beside the
	// matches themselves (they get room even when the matches fill the
	// list).
	lookalikeLimit = 10
	// tenantsWithUsers is how many of the tenants found have their users
	// listed too.
	tenantsWithUsers = 3
	// containsMin is the shortest query searched inside names (trigrams).
	containsMin = 3
)

// domainRE matches a query that looks like a domain: dot-separated labels
// without spaces or "@", the last one of two or more letters.
var domainRE = regexp.MustCompile(`^([^\s@.]+\.)+[^\s@.0-9]{2,}$`)

// Search finds users and tenants with bounded work, whatever the query,
// everything compared in the normalised form (NormalizeEmail):
//
//   - a UUID: the user (with its twins) or the tenant (with its users);
//   - "@domain": the users of that domain, then of lookalike domains;
//   - an address or its start ("rish@bren"): exact matches, lookalikes,
//     then prefix matches in index order and lookalikes of the prefix;
//   - a domain ("brennan.ca"): as "@brennan.ca", then addresses starting
//     with it;
//   - anything else: tenants by slug or name (exact, prefix, and for 3+
//     characters contained), the users of the first tenants found, then
//     addresses starting with it.
//
// Each hit carries its user's and tenant's state (fillTenants).
func (s *Store) Search(ctx context.Context, q string, limit int) ([]Hit, error) {
	if n := len(strings.TrimSpace(q)); n > MaxQueryBytes {
		return nil, fmt.Errorf("the search is %d bytes long; at most %d are accepted", n, MaxQueryBytes)
	}
	n := NormalizeEmail(q)
	if n == "" || strings.ContainsRune(n, 0) {
		return nil, nil
	}
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	c := &collector{limit: limit, seen: map[string]bool{}}
	var err error
	switch {
	case IsUUID(n):
		err = s.searchID(ctx, n, c)
	case strings.HasPrefix(n, "@") && len(n) > 1 && !strings.Contains(n[1:], "@"):
		err = s.searchDomain(ctx, n[1:], c)
	case strings.Contains(n, "@"):
		err = s.searchEmail(ctx, n, c)
	case domainRE.MatchString(n):
		if err = s.searchDomain(ctx, n, c); err == nil {
			err = s.searchEmail(ctx, n, c)
		}
	default:
		if err = s.searchTenantsAndUsers(ctx, n, c); err == nil {
			err = s.searchEmail(ctx, n, c)
		}
	}
	if err != nil {
		return nil, setupError(err)
	}
	return c.hits, s.fillTenants(ctx, c.hits)
}

// collector gathers hits in order, once each, up to limit.
type collector struct {
	hits  []Hit
	seen  map[string]bool
	limit int
}

// room is how many more hits fit.
func (c *collector) room() int { return c.limit - len(c.hits) }

// add appends the hits not seen yet while there is room.
func (c *collector) add(hits ...Hit) { c.addKeeping(0, hits...) }

// addKeeping appends the hits not seen yet while more than keep places
// are left.
func (c *collector) addKeeping(keep int, hits ...Hit) {
	for _, h := range hits {
		if c.room() > keep && !c.seen[h.Kind+h.ID] {
			c.seen[h.Kind+h.ID] = true
			c.hits = append(c.hits, h)
		}
	}
}

// searchID finds a user and its twins, or a tenant and its users.
func (s *Store) searchID(ctx context.Context, id string, c *collector) error {
	u, err := s.user(ctx, id)
	switch {
	case err == nil:
		c.add(Hit{Kind: "user", ID: u.ID, Email: u.Email, TenantID: u.TenantID, Deleted: u.DeletedAt != nil,
			LastLogin: u.LastLoginAt, Exact: true, Match: MatchID})
		twins, err := s.duplicates(ctx, u)
		c.add(twins...)
		return err
	case !errors.Is(err, ErrNotFound):
		return err
	}
	tenants, err := s.tenantByID(ctx, id)
	if err != nil || len(tenants) == 0 {
		return err
	}
	c.add(tenants...)
	members, err := s.usersOfTenants(ctx, []string{id}, c.room())
	c.add(members...)
	return err
}

// searchEmail finds the users whose normalised address is n or starts
// with it, and their lookalikes; lookalikes keep their room.
func (s *Store) searchEmail(ctx context.Context, n string, c *collector) error {
	if c.room() == 0 {
		return nil
	}
	exact, err := s.usersByEmail(ctx, n, c.room())
	if err != nil {
		return err
	}
	look, err := s.usersBySkeleton(ctx, n, lookalikeLimit)
	if err != nil {
		return err
	}
	near, err := s.usersBySkeletonPrefix(ctx, n, c.limit)
	if err != nil {
		return err
	}
	near = slices.DeleteFunc(near, func(h Hit) bool { return strings.HasPrefix(NormalizeEmail(h.Email), n) })
	near = near[:min(len(near), lookalikeLimit)]
	c.add(exact...)
	c.add(look...)
	reserve := len(near)
	prefix, err := s.usersByPrefix(ctx, n, max(0, c.room()-reserve)+len(exact))
	if err != nil {
		return err
	}
	c.addKeeping(reserve, prefix...)
	c.add(near...)
	return nil
}

// searchDomain finds the users of the normalised domain d and of domains
// that look like it.
func (s *Store) searchDomain(ctx context.Context, d string, c *collector) error {
	look, err := s.usersOfLookalikeDomains(ctx, d, lookalikeLimit)
	if err != nil {
		return err
	}
	look = look[:min(len(look), lookalikeLimit)]
	users, err := s.usersByDomain(ctx, d, max(0, c.room()-len(look)))
	if err != nil {
		return err
	}
	c.add(users...)
	c.add(look...)
	return nil
}

// searchTenantsAndUsers finds tenants by slug or name (a third of the
// list at most) and lists the users of the first ones (another third).
func (s *Store) searchTenantsAndUsers(ctx context.Context, n string, c *collector) error {
	contains := ""
	if utf8.RuneCountInString(n) >= containsMin {
		contains = "%" + likeEscape(n) + "%"
	}
	share := max(1, c.limit/3)
	tenants, err := s.searchTenants(ctx, n, contains, share)
	if err != nil {
		return err
	}
	before := len(c.hits)
	c.add(tenants[:min(len(tenants), share)]...)
	var ids []string
	for _, h := range c.hits[before:] {
		if len(ids) < tenantsWithUsers {
			ids = append(ids, h.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	members, err := s.usersOfTenants(ctx, ids, share)
	c.add(members[:min(len(members), share)]...)
	return err
}

// fillTenants sets each hit's tenant slug, state and counts (and a
// tenant hit's users).
func (s *Store) fillTenants(ctx context.Context, hits []Hit) error {
	var ids, withUsers []string
	for _, h := range hits {
		if h.TenantID != "" && !slices.Contains(ids, h.TenantID) {
			ids = append(ids, h.TenantID)
		}
		if h.Kind == "tenant" {
			withUsers = append(withUsers, h.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	facts, err := s.tenantFacts(ctx, ids, withUsers)
	if err != nil {
		return err
	}
	for i := range hits {
		f, ok := facts[hits[i].TenantID]
		if !ok {
			continue
		}
		h := &hits[i]
		h.TenantStatus, h.TenantDeleted, h.Workspaces = f.Status, f.Deleted, f.Workspaces
		if h.Kind == "tenant" {
			h.Users = f.Users
		} else {
			h.Tenant = f.Slug
		}
	}
	return nil
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	return cmp.Compare(boolInt(a), boolInt(b))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
