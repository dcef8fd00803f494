package neon_test

import (
	"context"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true, PgBouncer: true}) }

func TestPlatformProbeNamesMissingTables(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, testenv.NewDatabase(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	probe := neon.PlatformProbe(pool)
	if _, err := probe(ctx); err == nil || !strings.Contains(err.Error(), "tenants, users, workspaces") {
		t.Fatalf("empty database: %v", err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE tenants (id int); CREATE TABLE users (id int)`); err != nil {
		t.Fatal(err)
	}
	if _, err := probe(ctx); err == nil || !strings.Contains(err.Error(), "missing: workspaces") {
		t.Fatalf("one table missing: %v", err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE workspaces (id int)`); err != nil {
		t.Fatal(err)
	}
	if detail, err := probe(ctx); err != nil || !strings.HasPrefix(detail, "PostgreSQL 15") {
		t.Fatalf("all tables: %q, %v", detail, err)
	}
}

func TestPgBouncerProbeReadsPools(t *testing.T) {
	st := testenv.Stack(t)
	detail, err := neon.PgBouncerProbe(st.PgBouncerAdminURL())(context.Background())
	if err != nil || !strings.Contains(detail, "pools") || !strings.Contains(detail, "waiting") {
		t.Fatalf("probe = %q, %v", detail, err)
	}
	if _, err := neon.PgBouncerProbe("postgres://postgres@127.0.0.1:1/pgbouncer")(context.Background()); err == nil {
		t.Fatal("probe of a closed port succeeded")
	}
}
