package cli

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/metrics"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/watch"
)

// timedChecks wraps every configured probe so that, once metrics are on,
// each check's duration and failure are recorded per system.
func (a *app) timedChecks(cs []watch.Check) []watch.Check {
	for i, c := range cs {
		if c.Probe == nil {
			continue
		}
		probe := c.Probe
		cs[i].Probe = func(ctx context.Context) (string, error) {
			start := time.Now()
			detail, err := probe(ctx)
			if a.observeProbe != nil {
				a.observeProbe(c.Key, time.Since(start), err)
			}
			return detail, err
		}
	}
	return cs
}

// metricsSources are the console's figures the metrics read at scrape
// time: in-memory state, and stored snapshots while sampling runs.
func (a *app) metricsSources() metrics.Sources {
	src := metrics.Sources{
		Systems: a.monitor.Snapshot, Connections: a.sampler.Latest, Budget: a.budget,
		CacheCounters: func(ctx context.Context) (rediscache.Counters, error) {
			f, err := a.cacheFigures.Latest(ctx)
			if err != nil || len(f.Windows) == 0 {
				return rediscache.Counters{}, err
			}
			return f.Windows[0].Counters, nil
		},
		Switches: a.switches.List, Reading: a.monitor.Gate, AlertsFiring: a.alertsFiring,
		UpstreamCalls: func() map[string]int64 {
			out := map[string]int64{"platform_database": a.sampler.Reads()}
			if a.redis != nil {
				out["redis"] = a.redisInf.Sent()
			}
			for r, c := range a.qstash {
				out["qstash_"+r] = c.Calls()
			}
			return out
		},
	}
	if a.redis != nil {
		src.CommandsPerDay = func(ctx context.Context, now time.Time) (int64, time.Duration, error) {
			return rediscache.CommandsPerDay(ctx, a.pool, now)
		}
		src.RedisBudget = a.cfg.RedisDailyCommandBudget
	}
	if len(a.regions) > 0 {
		src.QStash, src.QStashRegions = a.queues.Latest, a.regions
	}
	if a.fleet != nil {
		src.Fleet = func() (fly.Report, bool) { return a.fleet.Live() }
	}
	return src
}

// startMetrics serves the metrics on METRICS_ADDR, a listener of their
// own, until stop is called; observe is for the public server's requests.
// Both are no-ops when METRICS_ADDR is not set.
func (a *app) startMetrics(ctx context.Context) (observe func(method, route string, status int, d time.Duration), stop func(), err error) {
	if a.cfg.MetricsAddr == "" {
		return nil, func() {}, nil
	}
	ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics listen: %w", err)
	}
	m := metrics.New(a.metricsSources())
	a.observeProbe = m.ObserveProbe
	a.observeQueries = m.ObserveQueries
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := metrics.Serve(ctx, ln, m.Handler()); err != nil {
			a.log.Warn("metrics listener stopped", "error", err)
		}
	}()
	a.log.Info("serving metrics", "addr", ln.Addr().String(), "path", metrics.Path)
	return m.ObserveRequest, func() { cancel(); <-done }, nil
}
