package accounts_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/store"
)

const heartbeatSQL = `INSERT INTO ops.instance_heartbeats (instance_id, machine_id, process_group, boot_id, started_at, environment, database_identity, suspend_redis, suspend_redis_source)
	VALUES ($1, $2, 'api', 'b', now(), $3, $4, false, 'database')`

// platformIdentity is the identity the console reads of the platform
// database; the tests need its system identifier.
func platformIdentity(t *testing.T, s *accounts.Store) store.Identity {
	t.Helper()
	id, err := store.ReadIdentity(context.Background(), s.Platform, s.PlatformURL)
	if err != nil || id.SystemID == "" {
		t.Fatalf("identity = %+v, %v: the test database's system identifier must be readable", id, err)
	}
	return id
}

// troubledPlatform records a healthy instance and returns a fleet with a
// machine without ENVIRONMENT and a silent machine: conditions of the
// platform, never of one account.
func troubledPlatform(t *testing.T, s *accounts.Store, pool *pgxpool.Pool) *accounts.Fleet {
	t.Helper()
	id := platformIdentity(t, s)
	exec(t, pool, heartbeatSQL, "api-1", "m1", "production", id.Host+"/"+id.Database+"#"+id.SystemID)
	return &accounts.Fleet{Running: []string{"m1", "m-silent"}, WithoutEnvironment: []string{"m-noenv"}, Expected: "production"}
}

// problems names the lines of checks that are problems.
func problems(checks []accounts.Check) []string {
	var out []string
	for _, c := range checks {
		if c.Verdict == accounts.Problem {
			out = append(out, c.Name)
		}
	}
	return out
}

// assertPlatformApart checks that the platform's conditions are in the
// platform panel and in no account line.
func assertPlatformApart(t *testing.T, d accounts.Diagnosis) {
	t.Helper()
	for _, name := range []string{"Machines' ENVIRONMENT", "Running machines without heartbeat"} {
		if c := verdict(d.Platform, name); c.Verdict != accounts.Problem {
			t.Errorf("platform panel: %s = %+v", name, c)
		}
		if c := verdict(d.Account, name); c.Name != "" {
			t.Errorf("a platform condition among the account's findings: %+v", c)
		}
	}
}

func TestDiagnosisOneFixturePerCause(t *testing.T) {
	s, pool := newStore(t, 100)
	ctx := context.Background()
	fleet := troubledPlatform(t, s, pool)
	cases := []struct {
		name          string
		breakIt       func(tenant, user string)
		line, verdict string
		detail        string
		likely        string
	}{
		{name: "healthy", likely: accounts.NothingFound},
		{name: "softuser", breakIt: func(_, u string) { exec(t, pool, `UPDATE users SET deleted_at = now() WHERE id = $1::uuid`, u) },
			line: "User soft-deleted", verdict: accounts.Problem, detail: "deleted_at is", likely: "The user was soft-deleted on"},
		{name: "softtenant", breakIt: func(tn, _ string) { exec(t, pool, `UPDATE tenants SET deleted_at = now() WHERE id = $1::uuid`, tn) },
			line: "Tenant", verdict: accounts.Problem, detail: "soft-deleted since", likely: "The tenant softtenant was soft-deleted on"},
		{name: "nolivews", breakIt: func(tn, _ string) {
			exec(t, pool, `UPDATE workspaces SET deleted_at = now() WHERE tenant_id = $1::uuid`, tn)
		},
			line: "Workspaces", verdict: accounts.Problem, detail: "all 2 workspaces are soft-deleted", likely: "All 2 workspaces of the tenant nolivews were soft-deleted."},
		{name: "stalecache", breakIt: func(tn, _ string) {
			v := fmt.Sprintf(`{"id":%q,"slug":"stalecache","plan":"scale","status":"suspended"}`, tn)
			if err := s.Redis.Set(ctx, accounts.CacheKey("stalecache"), v, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}, line: "Tenant cache entry", verdict: accounts.Problem, detail: `status: cached "suspended"`, likely: "cache entry of the tenant stalecache is stale"},
	}
	for _, tc := range cases {
		tn, u := fixture(t, pool, tc.name, 2)
		if tc.breakIt != nil {
			tc.breakIt(tn, u)
		}
		d := s.Diagnose(ctx, mustAccount(t, s, u), fleet)
		if !strings.Contains(d.Likely, tc.likely) {
			t.Errorf("%s: likely cause %q, want %q", tc.name, d.Likely, tc.likely)
		}
		assertPlatformApart(t, d)
		if tc.line == "" {
			for _, c := range d.Account {
				if c.Verdict != accounts.OK {
					t.Errorf("healthy account on a troubled platform: %+v", c)
				}
			}
			continue
		}
		if c := d.Account[0]; c.Name != tc.line || c.Verdict != tc.verdict || !strings.Contains(c.Detail, tc.detail) {
			t.Errorf("%s: first finding %+v, want %s %s %q", tc.name, c, tc.verdict, tc.line, tc.detail)
		}
		if p := problems(d.Account); len(p) != 1 {
			t.Errorf("%s: problems %v, want only %s", tc.name, p, tc.line)
		}
	}
}

func TestDiagnosisRanksTheLikelyCause(t *testing.T) {
	s, pool := newStore(t, 100)
	tn, u := fixture(t, pool, "everything", 1)
	exec(t, pool, `UPDATE workspaces SET deleted_at = now() WHERE tenant_id = $1::uuid`, tn)
	exec(t, pool, `UPDATE tenants SET deleted_at = now() WHERE id = $1::uuid`, tn)
	d := s.Diagnose(context.Background(), mustAccount(t, s, u), nil)
	if !strings.HasPrefix(d.Likely, "The tenant everything was soft-deleted") {
		t.Errorf("tenant and workspaces deleted: likely %q", d.Likely)
	}
	exec(t, pool, `UPDATE users SET deleted_at = now() WHERE id = $1::uuid`, u)
	d = s.Diagnose(context.Background(), mustAccount(t, s, u), nil)
	if !strings.HasPrefix(d.Likely, "The user was soft-deleted") {
		t.Errorf("user, tenant and workspaces deleted: likely %q", d.Likely)
	}
	var order []string
	for _, c := range d.Account[:3] {
		order = append(order, c.Name)
	}
	if strings.Join(order, ", ") != "User soft-deleted, Tenant, Workspaces" {
		t.Errorf("findings not ranked: %v", order)
	}
}

// twins makes a user holding 2 workspaces who signed in holderLogin ago
// and its case twin in an empty tenant who signed in twinLogin ago (0:
// never); it returns both user ids.
func twins(t *testing.T, pool *pgxpool.Pool, name string, holderLogin, twinLogin time.Duration) (holder, twin string) {
	t.Helper()
	_, holder = fixture(t, pool, name, 2)
	_, twin = fixture(t, pool, name+"-twin", 0)
	exec(t, pool, `UPDATE users SET email = $2 WHERE id = $1::uuid`, twin, " "+strings.ToUpper(name[:1])+name[1:]+"@Customer.Example")
	for id, ago := range map[string]time.Duration{holder: holderLogin, twin: twinLogin} {
		if ago > 0 {
			exec(t, pool, `UPDATE users SET last_login_at = now() - $2::interval WHERE id = $1::uuid`, id, ago.String())
		}
	}
	return holder, twin
}

func TestDiagnosisCaseTwinSaysWhichTheCustomerUses(t *testing.T) {
	s, pool := newStore(t, 100)
	ctx := context.Background()
	holder, twin := twins(t, pool, "carol", time.Hour, 0)
	d := s.Diagnose(ctx, mustAccount(t, s, holder), nil)
	c := verdict(d.Account, "Accounts differing")
	if c.Verdict != accounts.Warning || !strings.Contains(c.Detail, `" Carol@Customer.Example" (tenant carol-twin, 0 live workspaces, never signed in)`) ||
		!strings.Contains(c.Detail, "The live workspaces are in this account.") || !strings.Contains(c.Detail, "The customer probably signs into this account") {
		t.Errorf("the twin holding the workspaces and the sign-in: %+v", c)
	}
	if d.Likely != accounts.NothingFound {
		t.Errorf("the account the customer uses: likely %q", d.Likely)
	}
	d = s.Diagnose(ctx, mustAccount(t, s, twin), nil)
	c = verdict(d.Account, "Accounts differing")
	if c.Verdict != accounts.Problem || !strings.Contains(c.Detail, `The live workspaces are in "carol@customer.example".`) ||
		!strings.Contains(c.Detail, `The customer probably signs into "carol@customer.example"`) {
		t.Errorf("the empty twin: %+v", c)
	}
	if !strings.HasPrefix(d.Likely, `The customer probably signs into "carol@customer.example"`) || !strings.Contains(d.Likely, "not into this account") {
		t.Errorf("the empty twin: likely %q", d.Likely)
	}

	// The customer signs into the empty twin: said on the twin holding the
	// workspaces too.
	holder, _ = twins(t, pool, "dave", 48*time.Hour, time.Hour)
	d = s.Diagnose(ctx, mustAccount(t, s, holder), nil)
	c = verdict(d.Account, "Accounts differing")
	want := `The customer probably signs into " Dave@Customer.Example"`
	if c.Verdict != accounts.Problem || !strings.Contains(c.Detail, want) || !strings.HasPrefix(d.Likely, want) ||
		!strings.Contains(d.Likely, "which has no live workspaces, while the workspaces are in this account") {
		t.Errorf("signs into the empty twin: %+v, likely %q", c, d.Likely)
	}
}

func TestDiagnosisLookalikeTwin(t *testing.T) {
	s, pool := newStore(t, 100)
	ctx := context.Background()
	_, u := fixture(t, pool, "anna", 1)
	if c := verdict(s.Diagnose(ctx, mustAccount(t, s, u), nil).Account, "Accounts that look identical"); c.Verdict != accounts.OK {
		t.Errorf("no lookalike: %+v", c)
	}
	// The Cyrillic а: the same on screen, another address, in an empty
	// tenant, and the one that signed in.
	_, twin := fixture(t, pool, "anna-lookalike", 0)
	exec(t, pool, `UPDATE users SET email = $2, last_login_at = now() - interval '1 hour' WHERE id = $1::uuid`, twin, "\u0430nna@customer.example")
	d := s.Diagnose(ctx, mustAccount(t, s, u), nil)
	c := verdict(d.Account, "Accounts that look identical")
	if c.Verdict != accounts.Problem || !strings.Contains(c.Detail, `"\u0430nna@customer.example" (tenant anna-lookalike, 0 live workspaces, last sign-in`) ||
		!strings.Contains(c.Detail, `looks identical to this account's email "anna@customer.example"`) ||
		!strings.Contains(c.Detail, `The customer probably signs into "\u0430nna@customer.example"`) {
		t.Errorf("lookalike: %+v", c)
	}
	if !strings.Contains(d.Likely, `signs into "\u0430nna@customer.example"`) || !strings.Contains(d.Likely, "while the workspaces are in this account") {
		t.Errorf("lookalike: likely %q", d.Likely)
	}
	if c := verdict(d.Account, "Accounts differing"); c.Verdict != accounts.OK {
		t.Errorf("a lookalike counted as a case twin: %+v", c)
	}
	exec(t, pool, `UPDATE users SET last_login_at = NULL WHERE id = $1::uuid`, twin)
	c = verdict(s.Diagnose(ctx, mustAccount(t, s, u), nil).Account, "Accounts that look identical")
	if c.Verdict != accounts.Warning || !strings.Contains(c.Detail, "Neither has signed in yet.") {
		t.Errorf("lookalike, nobody signed in: %+v", c)
	}
}

func TestDiagnosisComparesSystemIdentifiers(t *testing.T) {
	s, pool := newStore(t, 100)
	ctx := context.Background()
	id := platformIdentity(t, s)
	_, u := fixture(t, pool, "healthy", 1)
	this := id.Host + "/" + id.Database
	exec(t, pool, heartbeatSQL, "api-same", "m1", "production", this+"#"+id.SystemID)
	exec(t, pool, heartbeatSQL, "api-alias", "m2", "production", "db-alias.internal/"+id.Database+"#"+id.SystemID)
	exec(t, pool, heartbeatSQL, "api-twin", "m3", "production", this+"#1"+id.SystemID)
	exec(t, pool, heartbeatSQL, "api-otherdb", "m4", "production", this+"_restore#"+id.SystemID)
	d := s.Diagnose(ctx, mustAccount(t, s, u), nil)
	c := verdict(d.Platform, "Platform instances' database")
	if c.Verdict != accounts.Problem || !strings.Contains(c.Detail, "api-twin ("+this+"#1"+id.SystemID+": another system identifier") ||
		!strings.Contains(c.Detail, "api-otherdb") || strings.Contains(c.Detail, "api-same") || strings.Contains(c.Detail, "api-alias") {
		t.Errorf("same host and name, another system identifier: %+v", c)
	}
	if p := problems(d.Account); len(p) > 0 || d.Likely != accounts.NothingFound {
		t.Errorf("a platform condition counted against the account: %v, %q", p, d.Likely)
	}
	exec(t, pool, `DELETE FROM ops.instance_heartbeats WHERE instance_id IN ('api-twin', 'api-otherdb')`)
	c = verdict(s.Diagnose(ctx, mustAccount(t, s, u), nil).Platform, "Platform instances' database")
	if c.Verdict != accounts.OK || !strings.Contains(c.Detail, "all 2 instances report this database") {
		t.Errorf("same system identifier: %+v", c)
	}
	exec(t, pool, heartbeatSQL, "api-noid", "m5", "production", this)
	c = verdict(s.Diagnose(ctx, mustAccount(t, s, u), nil).Platform, "Platform instances' database")
	if c.Verdict != accounts.OK || !strings.Contains(c.Detail, "the system identifier is unknown for api-noid") {
		t.Errorf("a heartbeat without system identifier: %+v", c)
	}
	exec(t, pool, heartbeatSQL, "api-elsewhere", "m6", "production", "other-host/"+id.Database)
	c = verdict(s.Diagnose(ctx, mustAccount(t, s, u), nil).Platform, "Platform instances' database")
	if c.Verdict != accounts.Problem || !strings.Contains(c.Detail, "api-elsewhere (other-host/"+id.Database+": another host or database name") {
		t.Errorf("another host, no system identifier: %+v", c)
	}
}

func TestDiagnosisProtectionIsNotDestructive(t *testing.T) {
	s, pool := newStore(t, 100)
	ctx := context.Background()
	tn, _ := fixture(t, pool, "guarded", 1)
	a, err := s.TenantAccount(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a.Audit = []accounts.AuditEvent{{At: now, Operator: "admin@atum.io", Action: "account.protect", Target: "tenant:" + tn, Result: "success"},
		{At: now, Operator: "admin@atum.io", Action: "account.unprotect", Target: "tenant:" + tn, Result: "success"},
		{At: now, Operator: "admin@atum.io", Action: "account.protect", Target: "tenant:" + tn, Result: "intent"}}
	if c := verdict(s.Diagnose(ctx, a, nil).Account, "Recent destructive actions"); c.Verdict != accounts.OK {
		t.Errorf("protecting counted as destructive: %+v", c)
	}
	a.Audit = append(a.Audit, accounts.AuditEvent{At: now, Operator: "sup@atum.io", Action: "account.cache.invalidate", Target: "tenant:" + tn, Result: "success"})
	d := s.Diagnose(ctx, a, nil)
	if c := verdict(d.Account, "Recent destructive actions"); c.Verdict != accounts.Warning || !strings.Contains(c.Detail, "account.cache.invalidate by sup@atum.io") ||
		strings.Contains(c.Detail, "protect") {
		t.Errorf("an invalidation: %+v", c)
	}
	if !strings.Contains(d.Likely, "account.cache.invalidate by sup@atum.io") {
		t.Errorf("an invalidation: likely %q", d.Likely)
	}
}

// TestDiagnosisNoHeartbeatsYet: until the platform's first heartbeat ever,
// the platform panel says so in one line instead of naming every running
// machine as silent; after one heartbeat, the silent machines are named
// again, and still after the heartbeat rows are pruned.
func TestDiagnosisNoHeartbeatsYet(t *testing.T) {
	s, pool := newStore(t, 100)
	ctx := context.Background()
	_, u := fixture(t, pool, "healthy", 1)
	fleet := &accounts.Fleet{Running: []string{"m1", "m2", "m3"}, WithoutEnvironment: []string{"m3"}, Expected: "production"}
	d := s.Diagnose(ctx, mustAccount(t, s, u), fleet)
	var never []accounts.Check
	for _, c := range d.Platform {
		if c.NoHeartbeatsYet {
			never = append(never, c)
		}
		if strings.Contains(c.Detail, "m1") || strings.Contains(c.Detail, "silent") {
			t.Errorf("a per-machine heartbeat line before any heartbeat: %+v", c)
		}
	}
	if len(never) != 1 || never[0].Detail != store.NoHeartbeatsYet || never[0].Verdict != accounts.Warning {
		t.Fatalf("platform lines %+v; want one saying %q", d.Platform, store.NoHeartbeatsYet)
	}
	for _, name := range []string{"Running machines without heartbeat", "Platform instances' database"} {
		if c := verdict(d.Platform, name); c.Name != "" {
			t.Errorf("%s before any heartbeat: %+v", name, c)
		}
	}
	if c := verdict(d.Platform, "Machines' ENVIRONMENT"); c.Verdict != accounts.Problem || !strings.Contains(c.Detail, "m3") {
		t.Errorf("the machines' ENVIRONMENT still counts: %+v", c)
	}
	if p := problems(d.Account); len(p) > 0 || d.Likely != accounts.NothingFound {
		t.Errorf("no heartbeats counted against the account: %v, %q", p, d.Likely)
	}

	id := platformIdentity(t, s)
	exec(t, pool, heartbeatSQL, "api-1", "m1", "production", id.Host+"/"+id.Database+"#"+id.SystemID)
	d = s.Diagnose(ctx, mustAccount(t, s, u), fleet)
	if c := verdict(d.Platform, "Running machines without heartbeat"); c.Verdict != accounts.Problem ||
		!strings.Contains(c.Detail, "m2, m3") || strings.Contains(c.Detail, "m1") {
		t.Errorf("after the first heartbeat: %+v", c)
	}
	for _, c := range d.Platform {
		if c.NoHeartbeatsYet {
			t.Errorf("still no heartbeats yet after one: %+v", c)
		}
	}
	exec(t, pool, `DELETE FROM ops.instance_heartbeats`)
	d = s.Diagnose(ctx, mustAccount(t, s, u), fleet)
	if c := verdict(d.Platform, "Running machines without heartbeat"); c.Verdict != accounts.Problem || !strings.Contains(c.Detail, "m1, m2, m3") {
		t.Errorf("after the rows were pruned: %+v", c)
	}
}
