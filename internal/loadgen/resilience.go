package main

import (
	"context"
	"fmt"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/sim"
	"github.com/atum/ops-console/internal/store"
)

// resilience runs the benchmark of issue 11 against real Postgres and
// Redis: sign-in floods from one and from 50 client addresses, then a
// Postgres stall and a Redis stall while admins load every screen. Missed
// goals are marked in the output; it fails only when the console dies.
func resilience(o options) error {
	ctx := context.Background()
	st, err := startStackAs(ctx, devstack.Options{Postgres: true, Redis: true}, auth.Admin)
	if err != nil {
		return err
	}
	defer st.Stop()
	undo := onInterrupt(func() { _ = st.Stop() })
	defer undo()
	tenant, err := seedPlatform(ctx, st.PostgresURL())
	if err != nil {
		return err
	}
	env := func() map[string]string {
		return map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": st.PostgresURL(), "REDIS_URL": st.RedisURL()}
	}
	var deaths []string
	died := func(d string) {
		if d != "" {
			fmt.Printf("  CONSOLE DIED: %s\n", d)
			deaths = append(deaths, d)
		}
	}
	if o.phases["flood"] {
		if o.guardMiB <= 0 {
			o.guardMiB = memoryGuardMiB()
		}
		for _, f := range floods(o.flood) {
			d, err := signInFlood(o.bin, env(), f, o.guardMiB)
			if err != nil {
				return err
			}
			died(d)
		}
	}
	if o.phases["stalls"] {
		pids := st.PIDs()
		for _, s := range []stallSpec{{name: "Postgres", root: pids["postgres"], children: true}, {name: "Redis", root: pids["redis"]}} {
			d, err := stallRun(o.bin, env(), s, screens(tenant), o.stall)
			if err != nil {
				return err
			}
			died(d)
		}
	}
	if len(deaths) > 0 {
		return fmt.Errorf("the console process died %d time(s) during the resilience benchmark", len(deaths))
	}
	return nil
}

// screens are the pages an admin loads during a stall: every screen of
// the navigation, an account search, a tenant's page (which reads the
// tenant's cache entry from Redis) and the sign-in page.
func screens(tenant string) []string {
	return []string{"/", "/connections", "/cache", "/queues", "/fleet", "/accounts?q=a",
		"/accounts/tenants/" + tenant, "/audit", "/switches", "/operators", "/login"}
}

// seedPlatform fills the platform's tables in the console's database
// (PLATFORM_DATABASE_URL defaults to it) and returns the id of a live
// tenant.
func seedPlatform(ctx context.Context, dbURL string) (string, error) {
	pool, err := store.Open(ctx, dbURL, 2)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	if _, err := sim.Seed(ctx, pool, sim.DefaultSeed); err != nil {
		return "", fmt.Errorf("seeding the platform: %w", err)
	}
	var id string
	err = pool.QueryRow(ctx, `SELECT id::text FROM tenants WHERE deleted_at IS NULL ORDER BY slug LIMIT 1`).Scan(&id)
	return id, err
}
