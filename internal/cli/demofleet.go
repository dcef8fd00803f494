package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/atum/ops-console/internal/flydouble"
)

// Demo Fly app and token of the Fly API double.
const (
	demoFlyApp   = "atum"
	demoFlyToken = "demo-fly-token"
)

// startDemoFleet starts the Fly API double with the simulated platform's
// machines, as a bad week leaves them: api-3 still on the previous image,
// a stopped api machine whose host is unreachable, worker-2 with
// SUSPEND_REDIS=true in its environment, and a third worker deployed
// without ENVIRONMENT that crash-loops and sends no heartbeat.
func startDemoFleet(ctx context.Context) (*flydouble.Server, string, error) {
	fd := flydouble.New(flydouble.Options{Token: demoFlyToken, App: demoFlyApp, Latency: 30 * time.Millisecond})
	u, err := fd.Start("127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	const (
		current  = "sha256:9f2c4e7a1b3d5f6081726354a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0"
		previous = "sha256:41d8cd98f00b204e9800998ecf8427e0b7a3c2d1e0f9a8b7c6d5e4f3a2b1c0d9"
	)
	env := func(pool, overflow, procs string) map[string]string {
		return map[string]string{"ENVIRONMENT": "production", "DB_POOL_SIZE": pool, "DATABASE_MAX_OVERFLOW": overflow,
			"WEB_CONCURRENCY": procs, "SUSPEND_REDIS": "false", "PRIMARY_REGION": "fra"}
	}
	booted := time.Now().Add(-3 * time.Hour)
	start := []flydouble.Event{{Type: "launch", Status: "created", Source: "user", At: booted.Add(-5 * time.Second)},
		{Type: "start", Status: "started", Source: "flyd", At: booted}}
	for i := 1; i <= 3; i++ {
		digest, release := current, "42"
		if i == 3 {
			digest, release = previous, "41"
		}
		fd.Put(flydouble.Machine{ID: fmt.Sprintf("m-api-%d", i), Name: fmt.Sprintf("api-%d", i), State: "started", Region: "fra",
			Group: "api", Release: release, Image: "registry.fly.io/atum:deployment-" + release, Digest: digest,
			Env: env("3", "2", "2"), Concurrency: &[2]int{20, 25}, Events: start})
	}
	fd.Put(flydouble.Machine{ID: "m-api-4", Name: "api-4", State: "stopped", Region: "ams", Group: "api", Release: "42",
		Digest: current, NoConfig: true})
	for i := 1; i <= 3; i++ {
		e := env("2", "1", "1")
		switch i {
		case 2:
			e["SUSPEND_REDIS"] = "true"
		case 3:
			delete(e, "ENVIRONMENT")
		}
		fd.Put(flydouble.Machine{ID: fmt.Sprintf("m-worker-%d", i), Name: fmt.Sprintf("worker-%d", i), State: "started", Region: "fra",
			Group: "worker", Release: "42", Image: "registry.fly.io/atum:deployment-42", Digest: current, Env: e, Events: start})
	}
	fd.CrashLoop("m-worker-3", 4, 2*time.Minute, 1, false)
	fd.RunCrashLoop(ctx, "m-worker-3", 2*time.Minute, 1)
	fd.SetSecrets("DATABASE_URL", "REDIS_URL", "QSTASH_TOKEN", "SENTRY_DSN")
	return fd, u, nil
}
