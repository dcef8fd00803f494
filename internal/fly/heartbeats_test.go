package fly_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/flydouble"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
)

// TestFleetReportUntilTheFirstHeartbeat serves the report from the
// console's database: with three machines running and no heartbeat ever
// it has one no_heartbeats_yet finding; after one heartbeat the two
// silent machines are flagged each; and once the heartbeat rows are
// pruned (a day without reports) the machines are silent, not "never
// heard": the first heartbeat is remembered.
func TestFleetReportUntilTheFirstHeartbeat(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	_, c := double(t, flydouble.Options{})
	f := &fly.Fleet{Sampler: &fly.Sampler{Pool: pool, Client: c, Interval: time.Minute}, Console: pool, HeartbeatWithin: time.Minute,
		Options: fly.Options{ExpectedEnvironment: "production", Groups: []string{"api", "worker"}}}
	if _, err := f.Sampler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	heard := func() ([]string, fly.Report) {
		t.Helper()
		_, r, err := f.Report(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range r.Alerts {
			if a.Kind == "heartbeat" || a.Kind == "no_heartbeats_yet" {
				out = append(out, a.Kind+":"+a.Machine)
			}
		}
		return out, r
	}
	if first, err := store.FirstHeartbeat(ctx, pool); err != nil || !first.IsZero() {
		t.Fatalf("first heartbeat of a new database = %v, %v", first, err)
	}
	got, r := heard()
	if !slices.Equal(got, []string{"no_heartbeats_yet:"}) || !r.NoHeartbeatsYet {
		t.Fatalf("no heartbeat ever: %v; want one no_heartbeats_yet and no machine's heartbeat finding", got)
	}
	if !strings.Contains(r.Alerts[len(r.Alerts)-1].Text, "3 running machines") {
		t.Errorf("the finding says %q", r.Alerts[len(r.Alerts)-1].Text)
	}

	if _, err := pool.Exec(ctx, `INSERT INTO ops.instance_heartbeats (instance_id, machine_id, process_group, boot_id, started_at,
		environment, database_identity, suspend_redis, suspend_redis_source) VALUES ('api1-1', 'api1', 'api', 'b1', now(), 'production', 'x', false, 'database')`); err != nil {
		t.Fatal(err)
	}
	if first, err := store.FirstHeartbeat(ctx, pool); err != nil || first.IsZero() {
		t.Fatalf("first heartbeat after one = %v, %v", first, err)
	}
	if got, r := heard(); !slices.Equal(got, []string{"heartbeat:api2", "heartbeat:wrk1"}) || r.NoHeartbeatsYet {
		t.Fatalf("after the first heartbeat: %v; want the two silent machines", got)
	}

	// A day later every row is gone (rediscache.PruneInstances); the
	// marker is not, so all three machines are silent, one by one.
	if _, err := pool.Exec(ctx, `DELETE FROM ops.instance_heartbeats; DELETE FROM ops.heartbeat_history`); err != nil {
		t.Fatal(err)
	}
	if got, _ := heard(); !slices.Equal(got, []string{"heartbeat:api1", "heartbeat:api2", "heartbeat:wrk1"}) {
		t.Fatalf("after pruning: %v; want each machine silent", got)
	}
}
