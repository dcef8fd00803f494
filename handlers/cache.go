package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/watch"
	"github.com/atum/ops-console/views"
)

// RedisSampler gives Redis server figures and sends INFO on request.
type RedisSampler interface {
	Latest(ctx context.Context) (rediscache.Server, error)
	Tick(ctx context.Context, force bool) (rediscache.Server, error)
}

// Cache is the tenant-cache screen: hit rates from heartbeats, Redis
// server figures and the SUSPEND_REDIS switch.
type Cache struct {
	*Base
	// Console is the console's database (heartbeats and samples).
	Console  *pgxpool.Pool
	Redis    RedisSampler
	Switches *Switches
	// RedisConfigured is false when REDIS_URL is not set.
	RedisConfigured bool
	// Budget is REDIS_DAILY_COMMAND_BUDGET.
	Budget int64
}

// rateWindows are the hit-rate windows shown.
var rateWindows = []struct {
	label string
	span  time.Duration
}{{"5 minutes", 5 * time.Minute}, {"1 hour", time.Hour}, {"1 day", 24 * time.Hour}}

// Show renders the Cache page from the console's own database: it sends
// nothing to Redis.
func (h *Cache) Show(c echo.Context) error {
	ctx := c.Request().Context()
	now := time.Now()
	var m views.Cache
	for _, w := range rateWindows {
		per, err := rediscache.Deltas(ctx, h.Console, now.Add(-w.span), now)
		if err != nil {
			return err
		}
		m.Rates = append(m.Rates, hitRate(w.label, rediscache.Total(per)))
	}
	f := rediscache.ReadFigures(ctx, h.Console, now)
	var err error
	if m.Machines, m.Tenants, err = h.machines(ctx, now, f); err != nil {
		return err
	}
	sw, err := h.Switches.Store.Get(ctx, switches.SuspendRedis)
	if err != nil {
		return err
	}
	live, err := h.Switches.Store.LiveInstances(ctx)
	if err != nil {
		return err
	}
	if m.Switch, err = h.Switches.View(c, sw, live); err != nil {
		return err
	}
	m.Redis = h.server(c, sw.Enabled, now, f)
	m.Chart = h.chart(ctx, now)
	m.Alerts = h.AlertsOf(ctx, "cache.")
	return Render(c, http.StatusOK, views.CachePage(h.Page(c, "Cache", "cache"), m))
}

func hitRate(label string, t rediscache.Counters) views.HitRate {
	r := views.HitRate{Window: label, Lookups: t.Lookups(), Overall: t.Percent(t.MemoryHits + t.RedisHits),
		Memory: t.Percent(t.MemoryHits), Redis: t.Percent(t.RedisHits), DB: t.Percent(t.Misses)}
	if t.Lookups() == 0 {
		r.Empty = "no tenant lookups reported in this window"
	}
	return r
}

// machines lists every instance seen in the last hour with its figures,
// and the top tenants by misses over the live ones.
func (h *Cache) machines(ctx context.Context, now time.Time, f rediscache.Figures) ([]views.MachineCache, []views.TenantMisses, error) {
	if f.InstancesErr != nil {
		return nil, nil, f.InstancesErr
	}
	hour, err := rediscache.Deltas(ctx, h.Console, now.Add(-time.Hour), now)
	if err != nil {
		return nil, nil, err
	}
	if f.RatesErr != nil {
		return nil, nil, f.RatesErr
	}
	insts, recent, groups := f.Instances, f.Recent, f.Groups()
	var out []views.MachineCache
	var live []rediscache.Instance
	for _, i := range insts {
		c := hour[i.ID]
		row := views.MachineCache{Instance: i.ID, Machine: i.Machine, Group: i.Group, Lookups: c.Lookups(),
			Overall: c.Percent(c.MemoryHits + c.RedisHits), Memory: c.Percent(c.MemoryHits), Redis: c.Percent(c.RedisHits),
			DB: c.Percent(c.Misses), RedisCommands: c.RedisCommands, RedisPerMin: recent[i.ID], Suspended: i.Suspended,
			Source: i.Source, LastSeen: human.Ago(i.LastSeen, now), Stale: now.Sub(i.LastSeen) > switches.LiveWithin}
		if base, against, jumped := f.JumpOf(i.ID, groups); jumped {
			row.Jump = fmt.Sprintf("jumped from %.0f/min (%s)", base, against)
		}
		if !row.Stale {
			live = append(live, i)
		}
		out = append(out, row)
	}
	var top []views.TenantMisses
	for _, t := range rediscache.TopTenants(live, 20) {
		top = append(top, views.TenantMisses{Tenant: t.Tenant, Misses: t.Misses})
	}
	return out, top, nil
}

func (h *Cache) server(c echo.Context, suspended bool, now time.Time, f rediscache.Figures) views.RedisServer {
	v := views.RedisServer{Budget: h.Budget}
	if !h.RedisConfigured {
		v.Err = "Redis is not configured (REDIS_URL)."
		return v
	}
	sess := CurrentSession(c)
	if suspended {
		v.Paused = "Polling paused: SUSPEND_REDIS is on, so the console sends Redis nothing either. The figures below are the last ones."
		v.CanProbe = sess != nil && sess.Account.Role.AtLeast(auth.Operator)
	}
	ctx := c.Request().Context()
	down, ok := h.System("redis")
	if ok && down.State == watch.Failing {
		v.Err = "Redis is unreachable (" + human.LastAnswered(down.LastOK, now) + "): " + down.Err
	}
	srv, err := h.Redis.Latest(ctx)
	switch {
	case errors.Is(err, rediscache.ErrNoSample):
		v.Sampled = "not sampled yet"
	case err != nil:
		v.Err = err.Error()
	default:
		v.Sampled = human.Ago(srv.At, now)
		if v.Err != "" {
			v.Sampled = "not sampled: Redis is unreachable; the figures below are the last ones, sampled " + human.Ago(srv.At, now)
		}
		v.OpsPerSec, v.KeyspaceHits, v.KeyspaceMisses = srv.OpsPerSec, srv.KeyspaceHits, srv.KeyspaceMisses
		v.ConnectedClients, v.CommandsTotal, v.UsedMemory = srv.ConnectedClients, srv.TotalCommands, bytesText(srv.UsedMemory)
		if n := srv.KeyspaceHits + srv.KeyspaceMisses; n > 0 {
			v.KeyspaceHitRate = fmt.Sprintf("%.1f%%", float64(srv.KeyspaceHits)*100/float64(n))
		}
	}
	perDay, span := f.PerDay, f.Span
	if f.PerDayErr != nil {
		v.Err = f.PerDayErr.Error()
	}
	v.CommandsPerDay = perDay
	v.BudgetGauge = gauge("Commands per day", int(min(perDay, 1<<31)), int(min(h.Budget, 1<<31)), "projected from the last hour against REDIS_DAILY_COMMAND_BUDGET")
	if span > 0 {
		v.Projection = fmt.Sprintf("%s commands per day at the rate of the last %s (budget %s per day).", human.Thousands(perDay), span.Round(time.Second), human.Thousands(h.Budget))
	} else {
		v.Projection = "Not enough samples yet to project commands per day."
		v.BudgetGauge.Unknown = "not enough samples"
	}
	return v
}

func (h *Cache) chart(ctx context.Context, now time.Time) views.Chart {
	from := now.Add(-time.Hour)
	chart := views.Chart{Title: "Tenant-cache hit rate, last hour (per minute)", YMax: "100 %",
		XFrom: from.UTC().Format("15:04Z"), XTo: now.UTC().Format("15:04Z")}
	points, err := rediscache.Series(ctx, h.Console, from, time.Minute)
	if err != nil {
		chart.Empty = "history unavailable: " + err.Error()
		return chart
	}
	if len(points) == 0 {
		chart.Empty = "no heartbeats in the last hour"
		return chart
	}
	series := []struct {
		name, class string
		val         func(rediscache.Counters) float64
	}{
		{"overall hit rate", "total", func(c rediscache.Counters) float64 { return c.Percent(c.MemoryHits + c.RedisHits) }},
		{"memory", "layer-memory", func(c rediscache.Counters) float64 { return c.Percent(c.MemoryHits) }},
		{"Redis", "layer-redis", func(c rediscache.Counters) float64 { return c.Percent(c.RedisHits) }},
		{"misses to Postgres", "layer-db", func(c rediscache.Counters) float64 { return c.Percent(c.Misses) }},
	}
	for _, s := range series {
		pts := ""
		for _, p := range points {
			x := 1000 * float64(p.At.Sub(from)) / float64(now.Sub(from))
			pts += fmt.Sprintf("%.1f,%.1f ", x, 200-2*s.val(p.Counters))
		}
		chart.Series = append(chart.Series, views.ChartSeries{Name: s.name, Class: s.class, Points: pts})
	}
	chart.Markers = h.chartMarkers(ctx, from, now)
	return chart
}

// Probe sends one INFO now, even while SUSPEND_REDIS is on (operators;
// audited).
func (h *Cache) Probe(c echo.Context) error {
	_, err := h.Redis.Tick(c.Request().Context(), true)
	e := audit.Entry{Action: "redis.probe", Target: "redis", Result: audit.Success}
	if err != nil {
		e.Result, e.Details = audit.Error, map[string]any{"error": err.Error()}
	}
	if aerr := h.Record(c, e); aerr != nil {
		return aerr
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, "Redis did not answer the probe: "+err.Error())
	}
	return c.Redirect(http.StatusSeeOther, "/cache#redis")
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
