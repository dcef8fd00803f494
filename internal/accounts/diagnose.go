package accounts

import (
	"context"
	"fmt"
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
}

// Fleet is what the Fly fleet tells the diagnosis: the running machines
// and those without the expected ENVIRONMENT (which may fall back to a
// local database).
type Fleet struct {
	Running            []string
	WithoutEnvironment []string
	Expected           string
}

// Diagnose checks the usual causes of a "missing" customer: which
// database this is, duplicates, soft deletes, a tenant without workspaces,
// a stale cache entry, platform instances on another database or
// environment, machines without ENVIRONMENT or without heartbeats (fleet
// is nil when the fleet is not known), and recent destructive actions in
// the audit.
func (s *Store) Diagnose(ctx context.Context, a Account, fleet *Fleet) []Check {
	var out []Check
	add := func(name, verdict, format string, args ...any) {
		out = append(out, Check{Name: name, Verdict: verdict, Detail: fmt.Sprintf(format, args...)})
	}
	id, idErr := s.identity(ctx)
	where := fmt.Sprintf("%s/%s (system id %s)", id.Host, id.Database, orUnknown(id.SystemID))
	switch {
	case idErr != nil:
		add("Database", Problem, "the platform database could not be identified: %v", idErr)
	case a.User != nil:
		add("User exists in this database", OK, "user %s is in %s", a.User.ID, where)
	default:
		add("Tenant exists in this database", OK, "tenant %s is in %s", a.Tenant.ID, where)
	}
	if a.User != nil {
		if n := len(a.Duplicates); n > 0 {
			add("Accounts differing only in case or spaces", Problem, "%d other user(s) share the normalised email %q: the customer may sign in to the empty twin", n, strings.ToLower(strings.TrimSpace(a.User.Email)))
		} else {
			add("Accounts differing only in case or spaces", OK, "no other user has this email in another case")
		}
		if a.User.DeletedAt != nil {
			add("User soft-deleted", Problem, "deleted_at is %s", a.User.DeletedAt.UTC().Format(time.RFC3339))
		} else {
			add("User soft-deleted", OK, "not deleted")
		}
	}
	switch {
	case a.TenantMissing:
		add("Tenant", Problem, "the user's tenant does not exist in this database")
	case a.Tenant != nil && a.Tenant.DeletedAt != nil:
		add("Tenant", Problem, "tenant %s is soft-deleted since %s", a.Tenant.Slug, a.Tenant.DeletedAt.UTC().Format(time.RFC3339))
	case a.Tenant != nil && a.Tenant.Status != "active":
		add("Tenant", Warning, "tenant %s has status %q", a.Tenant.Slug, a.Tenant.Status)
	case a.Tenant != nil:
		add("Tenant", OK, "tenant %s is active", a.Tenant.Slug)
	}
	if a.Tenant != nil {
		deleted := a.TotalWorkspaces - a.LiveWorkspaces
		switch {
		case a.TotalWorkspaces == 0:
			add("Workspaces", Problem, "the tenant has no workspaces at all")
		case a.LiveWorkspaces == 0:
			add("Workspaces", Problem, "all %d workspaces are soft-deleted", deleted)
		case deleted > 0:
			add("Workspaces", Warning, "%d of %d workspaces are soft-deleted", deleted, a.TotalWorkspaces)
		default:
			add("Workspaces", OK, "%d live workspaces", a.LiveWorkspaces)
		}
		c := a.Cache
		switch {
		case c.Err != "":
			add("Tenant cache entry", Warning, "%s", c.Err)
		case !c.Present:
			add("Tenant cache entry", OK, "not cached: the next lookup reads the database")
		case !c.Matches:
			add("Tenant cache entry", Problem, "stale: %s (%s); invalidate it", c.Mismatch, ExpiryText(c.TTL))
		case c.TTL == -1:
			add("Tenant cache entry", Warning, "matches the database, but %s", ExpiryText(c.TTL))
		default:
			add("Tenant cache entry", OK, "cached and matching the database (%s)", ExpiryText(c.TTL))
		}
	}
	out = append(out, s.instanceChecks(ctx, id, idErr == nil, fleet)...)
	out = append(out, s.destructiveChecks(ctx, a)...)
	return out
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

// sameDatabase reports whether an instance's database_identity names
// the database id: "host/database", optionally with "#system id".
func sameDatabase(reported string, id store.Identity) bool {
	if id.SystemID != "" && strings.Contains(reported, id.SystemID) {
		return true
	}
	hostDB, _, _ := strings.Cut(reported, "#")
	return hostDB == id.Host+"/"+id.Database
}

// instanceChecks compares the instances' heartbeats of the last hour with
// this database and environment, and with the running machines.
func (s *Store) instanceChecks(ctx context.Context, id store.Identity, known bool, fleet *Fleet) []Check {
	rows, err := s.Console.Query(ctx, `SELECT instance_id, machine_id, environment, database_identity FROM ops.instance_heartbeats
		WHERE reported_at > now() - interval '1 hour' ORDER BY instance_id`)
	if err != nil {
		return []Check{{Name: "Platform instances", Verdict: Warning, Detail: "heartbeats could not be read: " + err.Error()}}
	}
	type hb struct{ instance, machine, env, db string }
	beats, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hb, error) {
		var h hb
		err := r.Scan(&h.instance, &h.machine, &h.env, &h.db)
		return h, err
	})
	if err != nil {
		return []Check{{Name: "Platform instances", Verdict: Warning, Detail: "heartbeats could not be read: " + err.Error()}}
	}
	var otherDB, otherEnv []string
	seen := map[string]bool{}
	for _, h := range beats {
		seen[h.machine] = true
		if known && !sameDatabase(h.db, id) {
			otherDB = append(otherDB, fmt.Sprintf("%s (%s)", h.instance, h.db))
		}
		if h.env != s.Environment {
			otherEnv = append(otherEnv, fmt.Sprintf("%s (%s)", h.instance, h.env))
		}
	}
	var out []Check
	switch {
	case len(beats) == 0:
		out = append(out, Check{"Platform instances' database", Warning, "no instance reported a heartbeat in the last hour"})
	case len(otherDB) > 0:
		out = append(out, Check{"Platform instances' database", Problem, "instances report another database than this one: " + strings.Join(otherDB, ", ") + " — the customer's data may be there"})
	default:
		out = append(out, Check{"Platform instances' database", OK, fmt.Sprintf("all %d instances report this database", len(beats))})
	}
	if len(otherEnv) > 0 {
		out = append(out, Check{"Platform instances' environment", Problem, "instances report an environment other than " + s.Environment + ": " + strings.Join(otherEnv, ", ") + " (a missing ENVIRONMENT once made the platform fall back to a local SQLite file)"})
	} else if len(beats) > 0 {
		out = append(out, Check{"Platform instances' environment", OK, "every instance reports " + s.Environment})
	}
	if fleet == nil {
		out = append(out, Check{"Machines' ENVIRONMENT", Warning, "the Fly fleet is not known here, so machines' configuration cannot be checked"})
		out = append(out, Check{"Running machines without heartbeat", Warning, "the Fly fleet is not known here, so silent machines cannot be found"})
		return out
	}
	if len(fleet.WithoutEnvironment) > 0 {
		out = append(out, Check{"Machines' ENVIRONMENT", Problem, "running without ENVIRONMENT=" + fleet.Expected + ": " +
			strings.Join(fleet.WithoutEnvironment, ", ") + " — they may fall back to a local database, where the customer's recent writes would be"})
	} else {
		out = append(out, Check{"Machines' ENVIRONMENT", OK, "every machine Fly lists has ENVIRONMENT=" + fleet.Expected})
	}
	var silent []string
	for _, m := range fleet.Running {
		if !seen[m] {
			silent = append(silent, m)
		}
	}
	if len(silent) > 0 {
		out = append(out, Check{"Running machines without heartbeat", Problem, "running but silent (possibly on another database): " + strings.Join(silent, ", ")})
	} else {
		out = append(out, Check{"Running machines without heartbeat", OK, fmt.Sprintf("all %d running machines report heartbeats", len(fleet.Running))})
	}
	return out
}

// destructiveChecks lists destructive audit events on the account in the
// last 30 days.
func (s *Store) destructiveChecks(_ context.Context, a Account) []Check {
	var hits []string
	for _, e := range a.Audit {
		act := strings.ToLower(e.Action)
		if time.Since(e.At) < 30*24*time.Hour && (strings.Contains(act, "delete") || strings.Contains(act, "purge") ||
			strings.Contains(act, "invalidate") || strings.Contains(act, "protect")) {
			hits = append(hits, fmt.Sprintf("%s by %s %s", e.Action, e.Operator, e.At.UTC().Format("2006-01-02 15:04Z")))
		}
	}
	if len(hits) > 0 {
		return []Check{{"Recent destructive actions", Warning, strings.Join(hits, "; ")}}
	}
	return []Check{{"Recent destructive actions", OK, "none in the audit log in the last 30 days"}}
}
