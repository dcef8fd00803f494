package sim_test

import (
	"context"
	"testing"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/sim"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Main(m, devstack.Options{Postgres: true, PgBouncer: true, Redis: true})
}

func TestSeedBuildsTheDemoPlatform(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, testenv.NewDatabase(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c, err := sim.Seed(ctx, pool, sim.DefaultSeed)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenants != 1000 || c.Users < 20000 || c.Workspaces < 1000 {
		t.Fatalf("counts = %+v", c)
	}
	if c.DuplicateEmails < 50 || c.DeletedTenants == 0 || c.DeletedUsers == 0 || c.DeletedWorkspaces == 0 {
		t.Fatalf("no case twins or soft-deleted rows: %+v", c)
	}
	// A case twin differs only in case (and padding) from a real user.
	var stored, twin string
	err = pool.QueryRow(ctx, `SELECT a.email, b.email FROM users a JOIN users b
		ON lower(btrim(a.email)) = lower(btrim(b.email)) AND a.id < b.id AND a.email <> b.email LIMIT 1`).Scan(&stored, &twin)
	if err != nil {
		t.Fatalf("no twin pair: %v", err)
	}
	// Some tenants have no workspaces at all (a "missing customer" cause).
	var empty int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM tenants t WHERE NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.tenant_id = t.id)`).Scan(&empty); err != nil || empty == 0 {
		t.Fatalf("tenants without workspaces = %d, %v", empty, err)
	}
	if _, err := sim.Seed(ctx, pool, sim.DefaultSeed); err == nil {
		t.Fatal("seeding a non-empty platform succeeded")
	}
}
