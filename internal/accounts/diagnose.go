package accounts

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/store"
)

// Verdicts of a diagnosis line.
const (
	OK      = "ok"
	Warning = "warning"
	Problem = "problem"
)

// Check is one line of the diagnosis.
type Check struct {
	Name    string
	Verdict string
	Detail  string
	// Cause says in one sentence what the finding would mean for a
	// customer who "disappeared"; "" when it explains nothing.
	Cause string
	// NoHeartbeatsYet marks the one platform line that stands for the
	// heartbeat checks while no platform instance has ever reported a
	// heartbeat (its Detail is store.NoHeartbeatsYet); pages link the
	// contract from it.
	NoHeartbeatsYet bool
	// rank orders the causes, 1 the likeliest; 0 for none.
	rank int
}

// Diagnosis is what the account page says about a "missing" customer.
type Diagnosis struct {
	// Likely says in one sentence what most likely happened: the cause of
	// the likeliest account finding, or NothingFound.
	Likely string
	// Account are the findings about this account, those with a cause
	// first, the likeliest first.
	Account []Check
	// Platform are conditions that could affect any account (instances on
	// another database or environment, machines without ENVIRONMENT,
	// silent machines, or one line saying that no platform instance
	// reports heartbeats yet). They never count as this account's
	// problems.
	Platform []Check
}

// NothingFound is Diagnosis.Likely when no account finding explains a
// missing account.
const NothingFound = "Nothing found that explains a missing account."

// Ranks of the causes, the likeliest first.
const (
	rankUserDeleted = iota + 1
	rankTenantMissing
	rankTenantDeleted
	rankWorkspacesDeleted
	rankEmptyTwin
	rankOtherTwin
	rankNoWorkspaces
	rankStaleCache
	rankTenantStatus
	rankUnusedTwin
	rankDestructive
	rankSomeWorkspacesDeleted
)

// Fleet is what the Fly fleet tells the diagnosis: the running machines
// and those without the expected ENVIRONMENT (which may fall back to a
// local database).
type Fleet struct {
	Running            []string
	WithoutEnvironment []string
	Expected           string
}

// Diagnose checks the usual causes of a "missing" customer. About the
// account: which database it is in, twins (by case, spaces or Unicode
// form, and lookalikes), soft deletes, a tenant missing or without live
// workspaces, a stale cache entry and recent destructive actions, ranked
// into the likely cause. Apart, the conditions that could affect any
// account: platform instances on another database or environment,
// machines without ENVIRONMENT or without heartbeats (fleet is nil when
// the fleet is not known). Until the platform's first heartbeat ever, one
// line says that no instance reports heartbeats yet instead of the
// heartbeat checks.
func (s *Store) Diagnose(ctx context.Context, a Account, fleet *Fleet) Diagnosis {
	id, idErr := s.identity(ctx)
	d := Diagnosis{Account: accountChecks(a, id, idErr), Platform: s.platformChecks(ctx, id, idErr, fleet)}
	d.Likely = rankCauses(d.Account)
	return d
}

// rankCauses puts the findings with a cause first, the likeliest first,
// and returns the likeliest cause, or NothingFound.
func rankCauses(checks []Check) string {
	key := func(c Check) int {
		if c.Cause == "" {
			return math.MaxInt
		}
		return c.rank
	}
	slices.SortStableFunc(checks, func(x, y Check) int { return cmp.Compare(key(x), key(y)) })
	if len(checks) == 0 || checks[0].Cause == "" {
		return NothingFound
	}
	return checks[0].Cause
}

// accountChecks are the findings about the account itself.
func accountChecks(a Account, id store.Identity, idErr error) []Check {
	out := []Check{whereCheck(a, id, idErr)}
	if a.User != nil {
		out = append(out, twinChecks(a)...)
		out = append(out, userDeletedCheck(*a.User))
	}
	out = append(out, tenantChecks(a)...)
	return append(out, destructiveCheck(a))
}

// whereCheck says which database the account is in.
func whereCheck(a Account, id store.Identity, idErr error) Check {
	where := fmt.Sprintf("%s/%s (system id %s)", id.Host, id.Database, orUnknown(id.SystemID))
	if idErr != nil {
		where = "this database (which could not be identified)"
	}
	if a.User != nil {
		return Check{Name: "User exists in this database", Verdict: OK, Detail: fmt.Sprintf("user %s is in %s", a.User.ID, where)}
	}
	return Check{Name: "Tenant exists in this database", Verdict: OK, Detail: fmt.Sprintf("tenant %s is in %s", a.Tenant.ID, where)}
}

func userDeletedCheck(u User) Check {
	c := Check{Name: "User soft-deleted", Verdict: OK, Detail: "not deleted"}
	if u.DeletedAt != nil {
		at := stamp(*u.DeletedAt)
		c.Verdict, c.Detail, c.rank = Problem, "deleted_at is "+u.DeletedAt.UTC().Format(time.RFC3339), rankUserDeleted
		c.Cause = "The user was soft-deleted on " + at + ", so the platform no longer finds them."
	}
	return c
}

// tenantChecks are the tenant's state, its workspaces and its cache entry.
func tenantChecks(a Account) []Check {
	t := a.Tenant
	switch {
	case a.TenantMissing:
		return []Check{{Name: "Tenant", Verdict: Problem, Detail: "the user's tenant does not exist in this database",
			Cause: "The user's tenant does not exist in this database.", rank: rankTenantMissing}}
	case t == nil:
		return nil
	}
	c := Check{Name: "Tenant", Verdict: OK, Detail: fmt.Sprintf("tenant %s is active", t.Slug)}
	switch {
	case t.DeletedAt != nil:
		c.Verdict, c.Detail, c.rank = Problem, fmt.Sprintf("tenant %s is soft-deleted since %s", t.Slug, t.DeletedAt.UTC().Format(time.RFC3339)), rankTenantDeleted
		c.Cause = fmt.Sprintf("The tenant %s was soft-deleted on %s, so none of its users can reach it.", t.Slug, stamp(*t.DeletedAt))
	case t.Status != "active":
		c.Verdict, c.Detail, c.rank = Warning, fmt.Sprintf("tenant %s has status %q", t.Slug, t.Status), rankTenantStatus
		c.Cause = fmt.Sprintf("The tenant %s has status %q, not active.", t.Slug, t.Status)
	}
	return []Check{c, workspacesCheck(a), cacheCheck(*t, a.Cache)}
}

func workspacesCheck(a Account) Check {
	slug, deleted := a.Tenant.Slug, a.TotalWorkspaces-a.LiveWorkspaces
	c := Check{Name: "Workspaces", Verdict: OK, Detail: fmt.Sprintf("%d live workspaces", a.LiveWorkspaces)}
	switch {
	case a.TotalWorkspaces == 0:
		c.Verdict, c.Detail, c.rank = Problem, "the tenant has no workspaces at all", rankNoWorkspaces
		c.Cause = fmt.Sprintf("The tenant %s has no workspaces at all: an empty account the customer may not be using.", slug)
	case a.LiveWorkspaces == 0:
		c.Verdict, c.Detail, c.rank = Problem, fmt.Sprintf("all %d workspaces are soft-deleted", deleted), rankWorkspacesDeleted
		c.Cause = fmt.Sprintf("All %s of the tenant %s were soft-deleted.", plural(deleted, "workspace"), slug)
	case deleted > 0:
		c.Verdict, c.Detail, c.rank = Warning, fmt.Sprintf("%d of %d workspaces are soft-deleted", deleted, a.TotalWorkspaces), rankSomeWorkspacesDeleted
		c.Cause = fmt.Sprintf("%d of the %d workspaces of the tenant %s were soft-deleted.", deleted, a.TotalWorkspaces, slug)
	}
	return c
}

func cacheCheck(t Tenant, e CacheEntry) Check {
	c := Check{Name: "Tenant cache entry"}
	switch {
	case e.Err != "":
		c.Verdict, c.Detail = Warning, e.Err
	case !e.Present:
		c.Verdict, c.Detail = OK, "not cached: the next lookup reads the database"
	case !e.Matches:
		c.Verdict, c.Detail, c.rank = Problem, fmt.Sprintf("stale: %s (%s); invalidate it", e.Mismatch, ExpiryText(e.TTL)), rankStaleCache
		c.Cause = fmt.Sprintf("The platform's cache entry of the tenant %s is stale (%s): the platform serves it instead of the database until it is invalidated.", t.Slug, e.Mismatch)
	case e.TTL == -1:
		c.Verdict, c.Detail = Warning, "matches the database, but "+ExpiryText(e.TTL)
	default:
		c.Verdict, c.Detail = OK, fmt.Sprintf("cached and matching the database (%s)", ExpiryText(e.TTL))
	}
	return c
}

// ExpiryText reads a Redis TTL: "expires in 4m12s", or for -1 a key
// without expiry, which never refreshes from the database.
func ExpiryText(ttl time.Duration) string {
	switch {
	case ttl == -1:
		return "it has no expiry: it never refreshes from the database until invalidated"
	case ttl < 0:
		return "it expired while the page was read"
	}
	return "expires in " + ttl.Round(time.Second).String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// dbComparison is how a heartbeat's database_identity compares with this
// database.
type dbComparison struct {
	same bool
	// bySystemID is set when both sides know the system identifier.
	bySystemID bool
	// why says what differs, for another database.
	why string
}

// compareDatabase compares an instance's database_identity,
// "host/database" optionally with "#system id", with id: by system
// identifier and database name whenever both sides know the identifier
// (a host may have several names), else by host and database name.
func compareDatabase(reported string, id store.Identity) dbComparison {
	hostDB, sys, _ := strings.Cut(reported, "#")
	host, db, _ := strings.Cut(hostDB, "/")
	if sys != "" && id.SystemID != "" {
		switch {
		case strings.TrimPrefix(sys, "neon:") != strings.TrimPrefix(id.SystemID, "neon:"):
			return dbComparison{bySystemID: true, why: "another system identifier, this database's is " + id.SystemID}
		case db != id.Database:
			return dbComparison{bySystemID: true, why: "another database of the same server"}
		}
		return dbComparison{same: true, bySystemID: true}
	}
	if !strings.EqualFold(host, id.Host) || db != id.Database {
		return dbComparison{why: "another host or database name"}
	}
	return dbComparison{same: true}
}

// heartbeat is an instance's report of the last hour.
type heartbeat struct{ instance, machine, env, db string }

func (s *Store) heartbeats(ctx context.Context) ([]heartbeat, error) {
	rows, err := s.Console.Query(ctx, `SELECT instance_id, machine_id, environment, database_identity FROM ops.instance_heartbeats
		WHERE reported_at > now() - interval '1 hour' ORDER BY instance_id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (heartbeat, error) {
		var h heartbeat
		err := r.Scan(&h.instance, &h.machine, &h.env, &h.db)
		return h, err
	})
}

// platformChecks compares the instances' heartbeats of the last hour with
// this database and environment, and with the running machines. A
// platform that never reported a heartbeat gets one line saying so in
// place of the database check and the silent machines.
func (s *Store) platformChecks(ctx context.Context, id store.Identity, idErr error, fleet *Fleet) []Check {
	var out []Check
	if idErr != nil {
		out = append(out, Check{Name: "This database's identity", Verdict: Warning,
			Detail: "the platform database could not be identified, so the instances' databases cannot be compared with it: " + idErr.Error()})
	}
	beats, err := s.heartbeats(ctx)
	if err != nil {
		return append(out, Check{Name: "Platform instances", Verdict: Warning, Detail: "heartbeats could not be read: " + err.Error()})
	}
	if len(beats) == 0 {
		// Not knowing whether one ever came keeps the usual lines.
		if first, err := store.FirstHeartbeat(ctx, s.Console); err == nil && first.IsZero() {
			out = append(out, Check{Name: "Platform heartbeats", Verdict: Warning, Detail: store.NoHeartbeatsYet, NoHeartbeatsYet: true})
			return append(out, machinesEnvironmentCheck(fleet))
		}
	}
	out = append(out, databaseCheck(beats, id, idErr == nil))
	if c, ok := environmentCheck(beats, s.Environment); ok {
		out = append(out, c)
	}
	return append(out, fleetChecks(beats, fleet)...)
}

// databaseCheck says whether every instance reports this database.
func databaseCheck(beats []heartbeat, id store.Identity, known bool) Check {
	c := Check{Name: "Platform instances' database", Verdict: Warning}
	switch {
	case len(beats) == 0:
		c.Detail = "no instance reported a heartbeat in the last hour"
		return c
	case !known:
		c.Detail = "not compared: this database could not be identified"
		return c
	}
	var other, byName []string
	for _, h := range beats {
		switch m := compareDatabase(h.db, id); {
		case !m.same:
			other = append(other, fmt.Sprintf("%s (%s: %s)", h.instance, h.db, m.why))
		case !m.bySystemID:
			byName = append(byName, h.instance)
		}
	}
	this := fmt.Sprintf("%s/%s", id.Host, id.Database)
	switch {
	case len(other) > 0:
		c.Verdict, c.Detail = Problem, fmt.Sprintf("%d of %d instances report another database than this one (%s, system id %s): %s — the customer's data may be there",
			len(other), len(beats), this, orUnknown(id.SystemID), strings.Join(other, ", "))
	case id.SystemID == "":
		c.Verdict, c.Detail = OK, fmt.Sprintf("all %d instances report %s; this database's system identifier is unknown (not readable by the console's role), so they were compared by host and name only",
			len(beats), this)
	case len(byName) > 0:
		c.Verdict, c.Detail = OK, fmt.Sprintf("all %d instances report %s (system id %s); the system identifier is unknown for %s (not in their heartbeat), compared by host and name only",
			len(beats), this, id.SystemID, strings.Join(byName, ", "))
	default:
		c.Verdict, c.Detail = OK, fmt.Sprintf("all %d instances report this database (%s, system id %s)", len(beats), this, id.SystemID)
	}
	return c
}

// environmentCheck says whether every instance reports env; ok is false
// without heartbeats.
func environmentCheck(beats []heartbeat, env string) (Check, bool) {
	var other []string
	for _, h := range beats {
		if h.env != env {
			other = append(other, fmt.Sprintf("%s (%s)", h.instance, h.env))
		}
	}
	c := Check{Name: "Platform instances' environment", Verdict: OK, Detail: "every instance reports " + env}
	if len(other) > 0 {
		c.Verdict, c.Detail = Problem, "instances report an environment other than "+env+": "+strings.Join(other, ", ")+
			" (a missing ENVIRONMENT once made the platform fall back to a local SQLite file)"
	}
	return c, len(beats) > 0
}

// fleetChecks are the machines Fly runs without ENVIRONMENT or without
// heartbeats.
func fleetChecks(beats []heartbeat, fleet *Fleet) []Check {
	if fleet == nil {
		return []Check{machinesEnvironmentCheck(nil), {Name: "Running machines without heartbeat", Verdict: Warning,
			Detail: "the Fly fleet is not known here, so silent machines cannot be found"}}
	}
	return []Check{machinesEnvironmentCheck(fleet), silentMachinesCheck(beats, fleet)}
}

// machinesEnvironmentCheck names the machines Fly runs without the
// expected ENVIRONMENT (fleet is nil when the fleet is not known).
func machinesEnvironmentCheck(fleet *Fleet) Check {
	if fleet == nil {
		return Check{Name: "Machines' ENVIRONMENT", Verdict: Warning, Detail: "the Fly fleet is not known here, so machines' configuration cannot be checked"}
	}
	env := Check{Name: "Machines' ENVIRONMENT", Verdict: OK, Detail: "every machine Fly lists has ENVIRONMENT=" + fleet.Expected}
	if len(fleet.WithoutEnvironment) > 0 {
		env.Verdict, env.Detail = Problem, "running without ENVIRONMENT="+fleet.Expected+": "+
			strings.Join(fleet.WithoutEnvironment, ", ")+" — they may fall back to a local database, where the customer's recent writes would be"
	}
	return env
}

// silentMachinesCheck names the running machines without a heartbeat in
// beats.
func silentMachinesCheck(beats []heartbeat, fleet *Fleet) Check {
	seen := map[string]bool{}
	for _, h := range beats {
		seen[h.machine] = true
	}
	var silent []string
	for _, m := range fleet.Running {
		if !seen[m] {
			silent = append(silent, m)
		}
	}
	heard := Check{Name: "Running machines without heartbeat", Verdict: OK, Detail: fmt.Sprintf("all %d running machines report heartbeats", len(fleet.Running))}
	if len(silent) > 0 {
		heard.Verdict, heard.Detail = Problem, "running but silent (possibly on another database): "+strings.Join(silent, ", ")
	}
	return heard
}

// destructiveCheck lists destructive audit events on the account in the
// last 30 days.
func destructiveCheck(a Account) Check {
	var hits []string
	for _, e := range a.Audit {
		if time.Since(e.At) < 30*24*time.Hour && isDestructive(e.Action) {
			hits = append(hits, fmt.Sprintf("%s by %s %s", e.Action, e.Operator, stamp(e.At)))
		}
	}
	if len(hits) == 0 {
		return Check{Name: "Recent destructive actions", Verdict: OK, Detail: "none in the audit log in the last 30 days"}
	}
	return Check{Name: "Recent destructive actions", Verdict: Warning, Detail: strings.Join(hits, "; "), rank: rankDestructive,
		Cause: fmt.Sprintf("A destructive action was taken on this account in the last 30 days (%s).", hits[0])}
}

// isDestructive reports whether an audit action deletes, purges or
// invalidates something. Protecting or unprotecting an account is not
// destructive: it guards the account.
func isDestructive(action string) bool {
	act := strings.ToLower(action)
	return strings.Contains(act, "delete") || strings.Contains(act, "purge") || strings.Contains(act, "invalidate")
}
