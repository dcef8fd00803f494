package cli

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/testenv"
)

// With WATCH=always the console samples while nobody looks; with
// WATCH=active it waits for someone to use it.
func TestWatchAlwaysSamplesWithNobodyLooking(t *testing.T) {
	samples := func(dbURL string) int {
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM ops.connection_samples`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	start := func(mode string) string {
		dbURL := testenv.NewDatabase(t)
		env, _, _ := testEnv(map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": dbURL}, "")
		if code := Run(context.Background(), []string{"migrate"}, env); code != 0 {
			t.Fatal("migrate failed")
		}
		env, _, _ = testEnv(map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": dbURL, "WATCH": mode,
			"SAMPLE_INTERVAL": "1s", "CHECK_INTERVAL": "1s"}, "")
		_, stop := serveInBackground(t, env)
		t.Cleanup(func() { _ = stop() })
		return dbURL
	}
	always, active := start("always"), start("active")
	began := time.Now()
	testenv.Eventually(t, 20*time.Second, func() bool { return samples(always) >= 2 },
		"WATCH=always took no connection samples while nobody looked")
	// The same time has passed for the console that waits for a viewer.
	if time.Since(began) < time.Second {
		time.Sleep(time.Second)
	}
	if n := samples(active); n != 0 {
		t.Fatalf("WATCH=active sampled %d times with nobody looking", n)
	}
}
