package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/memo"
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
	// Figures are the stored cache figures.
	Figures  CacheFigures
	Redis    RedisSampler
	Switches *Switches
	// RedisConfigured is false when REDIS_URL is not set.
	RedisConfigured bool
	// Budget is REDIS_DAILY_COMMAND_BUDGET.
	Budget int64

	// views and redisSections share what every viewer of a second sees
	// alike.
	views         memo.Cache[figuresKey, figuresView]
	redisSections renderedOnce[views.RedisServer]
}

// CacheFigures gives the latest cache figures the elected instance
// computed from the rollups.
type CacheFigures interface {
	Latest(ctx context.Context) (rediscache.Figures, error)
}

// Show renders the Cache page from the stored figures: one short query
// for them whatever the history length and the number of instances, and
// nothing sent to Redis.
func (h *Cache) Show(c echo.Context) error {
	ctx := c.Request().Context()
	now := time.Now()
	var m views.Cache
	f, err := h.Figures.Latest(ctx)
	switch {
	case errors.Is(err, rediscache.ErrNoFigures):
		m.Err = "the cache figures are not computed yet: the first round runs within seconds of the console starting"
	case err != nil:
		return err
	default:
		m.Computed = "Figures computed " + human.Ago(f.At, now) + " from the per-minute and per-hour rollups of the heartbeats."
	}
	all := c.QueryParam("all") == "1"
	// Drawn again when the figures change, every second (ages, and the
	// chart's markers), and after a change made here (an operator's own
	// flip shows at once on the chart).
	fv, err := h.views.Get(ctx, figuresKey{f.At.UnixNano(), now.Unix(), h.changes(), all},
		func(ctx context.Context) (figuresView, error) {
			return newFiguresView(ctx, f, now, all, h.chartMarkers(ctx, now.Add(-time.Hour), now)), nil
		})
	if err != nil {
		return err
	}
	m.Rates, m.Machines, m.MoreMachines, m.Tenants, m.Chart = fv.rates, fv.machines, fv.more, fv.tenants, fv.chart
	m.Tables, m.RatesTable = fv.tables, fv.ratesTable
	sw, err := h.Switches.Store.Get(ctx, switches.SuspendRedis)
	if err != nil {
		return err
	}
	live, err := h.Switches.Store.LiveInstances(ctx)
	if err != nil {
		return err
	}
	m.NoHeartbeatsYet = h.Switches.noHeartbeatsYet(ctx, live)
	if m.Switch, err = h.Switches.View(c, sw, live, m.NoHeartbeatsYet); err != nil {
		return err
	}
	m.Redis = h.server(c, sw.Enabled, now, f)
	m.RedisSection = h.redisSections.of(ctx, m.Redis, views.RedisServerSection)
	m.Alerts = h.AlertsOf(ctx, "cache.")
	return Render(c, http.StatusOK, views.CachePage(h.Page(c, "Cache", "cache"), m))
}

// figuresKey is one view of the figures: their version, the second it is
// worded at (ages), the changes made through this instance (the chart's
// markers show them), and whether every machine is listed.
type figuresKey struct {
	at, second, changes int64
	all                 bool
}

// figuresView is the part of the Cache page every viewer sees alike.
type figuresView struct {
	rates    []views.HitRate
	machines []views.MachineCache
	more     views.Rows
	tenants  []views.TenantMisses
	chart    views.Chart
	// tables is the machines and tenants, and ratesTable the hit rates,
	// rendered once (nil if that failed: each viewer renders them).
	tables, ratesTable templ.Component
}

func newFiguresView(ctx context.Context, f rediscache.Figures, now time.Time, all bool, markers []views.ChartMarker) figuresView {
	var fv figuresView
	for _, w := range f.Windows {
		fv.rates = append(fv.rates, hitRate(w.Label, w.Counters))
	}
	rows, tenants := machines(now, f)
	fv.tenants = tenants
	fv.machines, fv.more = attentionFirst(rows, all, "/cache?all=1#machines",
		func(r views.MachineCache) bool { return r.Jump != "" || r.Stale })
	fv.chart = hitRateChart(now, f.Series)
	if len(fv.chart.Series) > 0 {
		fv.chart.Markers = markers
	}
	fv.tables = renderOnce(ctx, views.CacheTables(fv.machines, fv.more, fv.tenants, fv.chart))
	fv.ratesTable = renderOnce(ctx, views.HitRates(fv.rates))
	return fv
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
func machines(now time.Time, f rediscache.Figures) ([]views.MachineCache, []views.TenantMisses) {
	groups := f.Groups()
	var out []views.MachineCache
	var live []rediscache.Instance
	for _, i := range f.Instances {
		c := f.Hour[i.ID]
		row := views.MachineCache{Instance: i.ID, Machine: i.Machine, Group: i.Group, Lookups: c.Lookups(),
			Overall: c.Percent(c.MemoryHits + c.RedisHits), Memory: c.Percent(c.MemoryHits), Redis: c.Percent(c.RedisHits),
			DB: c.Percent(c.Misses), RedisCommands: c.RedisCommands, RedisPerMin: f.Recent[i.ID], Suspended: i.Suspended,
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
	return out, top
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

// hitRateChart is the last hour's hit rates, per minute, without markers.
func hitRateChart(now time.Time, points []rediscache.Point) views.Chart {
	from := now.Add(-time.Hour)
	chart := views.Chart{Title: "Tenant-cache hit rate, last hour (per minute)", YMax: "100 %",
		XFrom: from.UTC().Format("15:04Z"), XTo: now.UTC().Format("15:04Z")}
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
		var pts []byte
		for _, p := range points {
			pts = appendPoint(pts, 1000*float64(p.At.Sub(from))/float64(now.Sub(from)), 200-2*s.val(p.Counters))
		}
		chart.Series = append(chart.Series, views.ChartSeries{Name: s.name, Class: s.class, Points: strings.TrimSpace(string(pts))})
	}
	return chart
}

// Probe sends one INFO now, even while SUSPEND_REDIS is on (operators;
// audited).
func (h *Cache) Probe(c echo.Context) error {
	// Probing while SUSPEND_REDIS is on sends a command the switch exists
	// to stop: it needs a fresh sign-in, like flipping the switch.
	sw, err := h.Switches.Store.Get(c.Request().Context(), switches.SuspendRedis)
	if (err != nil || sw.Enabled) && h.FreshAuth != nil && !h.FreshAuth(c) {
		return h.AskStepUp(c, "probe Redis while it is suspended")
	}
	_, err = h.Redis.Tick(c.Request().Context(), true)
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
