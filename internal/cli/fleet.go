package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/config"
	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/switches"
)

// newFleet returns the Fly fleet watcher, or nil when Fly is not
// configured.
func newFleet(a *app, cfg *config.Config) (*fly.Fleet, error) {
	if !cfg.FlyConfigured() {
		return nil, nil
	}
	c, err := fly.NewClient(cfg.FlyAPIURL, cfg.FlyAppName, cfg.FlyAPIToken, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var groups []string
	for _, g := range cfg.Budget.Groups {
		groups = append(groups, g.Name)
	}
	keys := append([]string{}, fly.DriftKeys...)
	for _, k := range cfg.FlyDriftKeys {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return &fly.Fleet{
		Sampler: &fly.Sampler{Pool: a.pool, Client: c, Interval: cfg.FlySampleInterval},
		Console: a.pool, HeartbeatWithin: switches.LiveWithin,
		Options: fly.Options{ExpectedEnvironment: cfg.FlyExpectedEnvironment, Groups: groups, Keys: keys,
			HeartbeatGrace: switches.LiveWithin},
	}, nil
}

// probeFly is the Fly tile's check: the fleet sampler's tick, so the tile
// costs at most one listing per interval across instances and viewers.
// The check command (a.direct) lists the fleet now instead, to prove the
// token and the app name, and stores nothing.
func (a *app) probeFly(ctx context.Context) (string, error) {
	var snap fly.Snapshot
	var err error
	if a.direct {
		snap.Machines, err = a.fleet.Sampler.Client.Machines(ctx)
	} else {
		snap, err = a.fleet.Sampler.Tick(ctx)
	}
	if err != nil {
		return "", err
	}
	r := fly.Analyze(snap.Machines, snap.Secrets, fly.Options{Now: time.Now()})
	started, loops := 0, 0
	for _, g := range r.Groups {
		started += g.Started
		loops += g.CrashLoops
	}
	d := fmt.Sprintf("%s: %d machines · %d started", a.fleet.Sampler.Client.App(), len(snap.Machines), started)
	if loops > 0 {
		d += fmt.Sprintf(" · %d crash-looping", loops)
	}
	return d, nil
}

// liveBudget takes the budget's live inputs from the last Fly listing: the
// machine count of each planned group, and DB_POOL_SIZE and
// DATABASE_MAX_OVERFLOW as its machines report them (the largest, else
// the configured value). A group Fly runs but the plan lacks is added,
// with WEB_CONCURRENCY as its processes per machine when reported.
func liveBudget(plan neon.Plan, r fly.Report) neon.Plan {
	counts := r.Counts()
	live := map[string]fly.GroupReport{}
	for _, g := range r.Groups {
		live[g.Name] = g
	}
	out := neon.Plan{Engines: plan.Engines}
	for _, g := range plan.Groups {
		lg, configured := live[g.Name], g
		g.Configured = &configured
		g.Machines, g.MachinesFrom = counts[g.Name], "fly"
		g.PoolSize = largestInt(lg, "DB_POOL_SIZE", g.PoolSize, neon.MaxPool)
		g.MaxOverflow = largestInt(lg, "DATABASE_MAX_OVERFLOW", g.MaxOverflow, neon.MaxPool)
		out.Groups = append(out.Groups, g)
		delete(live, g.Name)
	}
	for _, g := range r.Groups {
		if _, unplanned := live[g.Name]; !unplanned || counts[g.Name] == 0 {
			continue
		}
		ng := neon.Group{Name: g.Name, Machines: counts[g.Name], Processes: 1, MachinesFrom: "fly"}
		if len(plan.Groups) > 0 {
			ng.PoolSize, ng.MaxOverflow = plan.Groups[0].PoolSize, plan.Groups[0].MaxOverflow
		}
		ng.PoolSize = largestInt(g, "DB_POOL_SIZE", ng.PoolSize, neon.MaxPool)
		ng.MaxOverflow = largestInt(g, "DATABASE_MAX_OVERFLOW", ng.MaxOverflow, neon.MaxPool)
		ng.Processes = largestInt(g, "WEB_CONCURRENCY", ng.Processes, neon.MaxProcesses)
		out.Groups = append(out.Groups, ng)
	}
	return out
}

// largestInt is the largest whole value (up to limit) of key among a
// group's machines, or def when none has one.
func largestInt(g fly.GroupReport, key string, def, limit int) int {
	best := -1
	for _, m := range g.Machines {
		if n, err := strconv.Atoi(m.Env[key]); err == nil && n >= 0 && n <= limit {
			best = max(best, n)
		}
	}
	if best < 0 {
		return def
	}
	return best
}

// fleetReporter is the Fleet screen's source: nil (not a nil pointer in an
// interface) when Fly is not configured.
func (a *app) fleetReporter() handlers.FleetReporter {
	if a.fleet == nil {
		return nil
	}
	return a.fleet
}
