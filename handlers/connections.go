package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/memo"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/views"
)

// ConnectionSampler gives the latest connection snapshot and history.
type ConnectionSampler interface {
	Latest(ctx context.Context) (neon.Snapshot, error)
	History(ctx context.Context, from time.Time, points int) ([]neon.Sample, error)
}

// Connections is the connection budget screen.
type Connections struct {
	*Base
	Sampler ConnectionSampler
	// Budget returns the plan and its setting (machine counts may come
	// from the Fly fleet).
	Budget func() neon.Budget
	// BouncerConfigured is true when PGBOUNCER_ADMIN_URL is set.
	BouncerConfigured bool
	// PlatformHost and ConsoleHost name the connection strings.
	PlatformHost string
	ConsoleHost  string

	// plotted and filled share what every viewer of a second sees alike.
	plotted memo.Cache[plotKey, views.Chart]
	filled  memo.Cache[fillKey, views.Connections]
	whatIfs renderedOnce[whatIfKey]
}

// whatIfKey is the calculator as it opens: for a snapshot, at a second
// (the plan may change).
type whatIfKey struct {
	at, second int64
}

// fillKey is one view of a snapshot: its version, the second it is worded
// at (ages), and whether statements are shown.
type fillKey struct {
	at, second  int64
	showQueries bool
}

// historyRanges are the history chart's time ranges.
var historyRanges = []struct {
	key   string
	label string
	span  time.Duration
}{{"1h", "1 hour", time.Hour}, {"24h", "24 hours", 24 * time.Hour}, {"14d", "14 days", 14 * 24 * time.Hour}}

// Show renders the budget, limits, live usage, history and the what-if
// calculator. Invalid what-if input is a 400 with the page and the errors.
func (h *Connections) Show(c echo.Context) error {
	ctx := c.Request().Context()
	b := h.Budget()
	m := views.Connections{BouncerConfigured: h.BouncerConfigured}
	snap, err := h.Sampler.Latest(ctx)
	switch {
	case errors.Is(err, neon.ErrNoSnapshot):
		m.SampledAt = "not sampled yet: the first sample is taken within seconds of someone opening the console"
	case err != nil:
		return err
	default:
		s := CurrentSession(c)
		showQueries := s != nil && s.Account.Role.AtLeast(auth.Operator)
		now := time.Now()
		filled, err := h.filled.Get(ctx, fillKey{snap.At.UnixNano(), now.Unix(), showQueries},
			func(ctx context.Context) (views.Connections, error) {
				v := views.Connections{BouncerConfigured: h.BouncerConfigured}
				h.fill(&v, b, snap, showQueries, now)
				v.Body = renderOnce(ctx, views.ConnectionsBody(v))
				return v, nil
			})
		if err != nil {
			return err
		}
		m = filled
	}
	m.Alerts = h.AlertsOf(ctx, "connections.")
	m.History = h.history(c, snap)
	status := http.StatusOK
	if q := c.QueryParams(); len(q) > 1 || (len(q) == 1 && !q.Has("range")) {
		if m.WhatIf = h.whatIf(q, b, snap); len(m.WhatIf.Errors) > 0 {
			status = http.StatusBadRequest
		}
	} else {
		// The calculator as it opens, filled in with the plan, is alike for
		// every viewer of a second.
		m.WhatIfForm = h.whatIfs.of(ctx, whatIfKey{snap.At.UnixNano(), time.Now().Unix()}, func(whatIfKey) templ.Component {
			return views.WhatIfSection(h.whatIf(nil, b, snap))
		})
	}
	return Render(c, status, views.ConnectionsPage(h.Page(c, "Connections", "connections"), m))
}

// fill builds the page from a snapshot; statements are shown (literals
// masked) only when showQueries is set, for operators and above.
func (h *Connections) fill(m *views.Connections, b neon.Budget, snap neon.Snapshot, showQueries bool, now time.Time) {
	m.SampledAt = human.Ago(snap.At, now)
	m.Err = snap.Err
	l, u := snap.Limits, snap.Usage
	if !u.CanSeeAll && u.Role != "" {
		m.MonitorNote = fmt.Sprintf("The console's role %s lacks pg_monitor, so the states, ages and queries of other roles' sessions are hidden and the counts below are incomplete. Grant it: GRANT pg_monitor TO %s;", u.Role, u.Role)
	}
	limit, what := b.PlanLimit(l)
	planned := b.Plan.Total()
	m.Planned = gauge("Planned", planned, limit, "of "+what)
	m.Live = gauge("Live", u.Total, l.Usable, "client backends of the usable direct slots")
	if snap.Err != "" {
		m.Live.Unknown = "not read"
	}
	m.Formula = "Σ over process groups of machines × processes per machine × (pool_size + max_overflow), plus every other engine"
	m.Terms = terms(b.Plan, limit)
	for _, e := range b.Plan.Engines {
		m.Engines = append(m.Engines, views.EngineTerm{Name: e.Name, Connections: e.Connections})
	}
	m.PlannedTotal, m.GuideTotal = planned, b.Plan.GuideTotal()
	m.GuideNote = fmt.Sprintf("It counts one pool per machine, but every process on a machine holds its own pool, and it leaves out this console, cron and migrations: %d connections under-counted.", planned-m.GuideTotal)
	m.Limits = h.limits(b, l)
	if bo := snap.Bouncer; bo != nil {
		m.Waiting, m.MaxWait = bo.Waiting, bo.MaxWait.Round(time.Millisecond).String()
		for _, p := range bo.Pools {
			m.Pools = append(m.Pools, views.PoolRow{Database: p.Database, User: p.User, ClActive: p.ClActive, ClWaiting: p.ClWaiting,
				SvActive: p.SvActive, SvIdle: p.SvIdle, MaxWait: p.MaxWait.Round(time.Millisecond).String(), Mode: p.PoolMode})
		}
	}
	m.BouncerErr = snap.BouncerErr
	m.Total = u.Total
	for state, n := range u.ByState {
		m.ByState = append(m.ByState, views.StateCount{State: state, Count: n})
	}
	sort.Slice(m.ByState, func(i, j int) bool { return m.ByState[i].Count > m.ByState[j].Count })
	planByGroup := map[string]int{}
	for _, g := range b.Plan.Groups {
		planByGroup[g.Name] = g.Total()
	}
	for _, s := range u.Sources {
		m.Sources = append(m.Sources, views.SourceRow{Name: s.Name, Group: s.Group, Machines: s.Machines, Processes: s.Processes,
			Total: s.Total, Active: s.Active, Idle: s.Idle, IdleInTx: s.IdleInTx, Waiting: s.Waiting,
			OldestXact: duration(s.OldestXact), Planned: planByGroup[s.Group]})
	}
	m.LongXacts, m.IdleInTx = backendRows(u.LongestXacts, showQueries), backendRows(u.IdleInTxList, showQueries)
	for _, lw := range u.LockWaits {
		m.LockWaits = append(m.LockWaits, views.LockWaitRow{Waiting: backendRow(lw.Waiting, showQueries), Blocking: backendRow(lw.Blocking, showQueries),
			WaitingFor: duration(lw.WaitingFor)})
	}
}

func (h *Connections) limits(b neon.Budget, l neon.Limits) []views.LimitRow {
	platform := "the platform's connection string (" + h.PlatformHost + ")"
	direct, pooled := "the console's own ("+h.ConsoleHost+"), migrations", "-pooler connection strings"
	if b.Pooled {
		pooled = platform + " and other " + pooled
	} else {
		direct = platform + ", " + direct
	}
	rows := []views.LimitRow{
		{Name: "Direct connections", Value: fmt.Sprintf("%d usable = %d max_connections − %d superuser reserved − %d reserved", l.Usable, l.MaxConnections, l.SuperuserReserved, l.Reserved),
			Applies: direct, Note: "Every server connection counts here, pooled or not."},
		{Name: "Pooler client connections", Value: fmt.Sprint(neon.PoolerClientLimit), Applies: pooled,
			Note: "Neon's max_client_conn, on every plan: clients of the pooler, not Postgres slots."},
		{Name: "Pooler server connections per user and database", Value: fmt.Sprintf("%d = 0.9 × max_connections", neon.PerPoolLimit(l.MaxConnections)), Applies: pooled,
			Note: "Neon's default_pool_size: concurrent transactions per pool; past it clients wait, up to query_wait_timeout (120 s)."},
	}
	if b.MaxCU > 0 {
		want := neon.ComputeMaxConnections(b.MinCU, b.MaxCU)
		note := "matches the server"
		if want != l.MaxConnections {
			note = fmt.Sprintf("differs from the server's %d: check NEON_COMPUTE_MIN_CU/MAX_CU or the compute", l.MaxConnections)
		}
		rows = append(rows, views.LimitRow{Name: "Neon compute size", Value: fmt.Sprintf("%g–%g CU → max_connections %d", b.MinCU, b.MaxCU, want),
			Applies: "the platform's compute", Note: note})
	}
	return rows
}

func (h *Connections) whatIf(q url.Values, b neon.Budget, snap neon.Snapshot) views.WhatIf {
	in, form, errs := parseWhatIf(q, b.Plan)
	form.Errors = errs
	if q.Get("whatif") == "" || len(errs) > 0 {
		return form
	}
	limit, from := snap.Limits.Usable, "the live usable direct slots"
	if in.maxCU > 0 {
		max := neon.ComputeMaxConnections(in.minCU, in.maxCU)
		limit = max - snap.Limits.SuperuserReserved - snap.Limits.Reserved
		from = fmt.Sprintf("%g–%g CU: max_connections %d minus reserved slots", in.minCU, in.maxCU, max)
	}
	if b.Pooled {
		limit, from = neon.PoolerClientLimit, "the pooler's client connections"
	}
	if limit <= 0 {
		form.Errors = []string{"The limit is unknown until the platform database has been read once; give a compute size."}
		return form
	}
	form.Computed, form.Total, form.Limit, form.LimitFrom = true, in.plan.Total(), limit, from
	form.Headroom = limit - form.Total
	form.Terms = terms(in.plan, limit)
	form.Gauge = gauge("What if", form.Total, limit, "of "+from)
	return form
}

func (h *Connections) history(c echo.Context, snap neon.Snapshot) views.Chart {
	key := c.QueryParam("range")
	span := time.Hour
	chart := views.Chart{Title: "Connections over time"}
	for _, r := range historyRanges {
		active := r.key == key || (key == "" && r.key == "1h")
		if active {
			span = r.span
		}
		chart.Ranges = append(chart.Ranges, views.ChartRange{Label: r.label, Href: "/connections?range=" + r.key + "#history", Active: active})
	}
	ctx := c.Request().Context()
	to := time.Now()
	from := to.Add(-span)
	plotted, err := h.plotted.Get(ctx, plotKey{span, to.Unix()}, func(ctx context.Context) (views.Chart, error) {
		samples, err := h.Sampler.History(ctx, from, 300)
		if err != nil || len(samples) == 0 {
			return views.Chart{}, err
		}
		return plot(views.Chart{}, samples, from, to), nil
	})
	switch {
	case err != nil:
		chart.Empty = "history unavailable: " + err.Error()
		return chart
	case len(plotted.Series) == 0:
		chart.Empty = "no samples in this range: samples are taken every 15 s while someone uses the console"
		return chart
	}
	chart.Series, chart.YMax, chart.XFrom, chart.XTo = plotted.Series, plotted.YMax, plotted.XFrom, plotted.XTo
	chart.Markers = h.chartMarkers(ctx, from, to)
	return h.sharedChart(ctx, "connections "+span.String(), to.Unix(), chart)
}

// plotKey is one plotted chart: its range, and the second it ends at.
type plotKey struct {
	span   time.Duration
	second int64
}

// plot scales samples into the chart's 1000 × 200 viewBox.
func plot(chart views.Chart, samples []neon.Sample, from, to time.Time) views.Chart {
	top := 1
	for _, s := range samples {
		top = max(top, s.Total, s.Usable, s.Planned, s.PoolWaiting)
	}
	top = top * 11 / 10
	x := func(t time.Time) float64 { return 1000 * float64(t.Sub(from)) / float64(to.Sub(from)) }
	y := func(v int) float64 { return 200 - 200*float64(v)/float64(top) }
	series := []struct {
		name, class string
		val         func(neon.Sample) int
	}{
		{"live connections", "total", func(s neon.Sample) int { return s.Total }},
		{"usable slots", "limit", func(s neon.Sample) int { return s.Usable }},
		{"planned", "planned", func(s neon.Sample) int { return s.Planned }},
		{"idle in transaction", "idle-in-tx", func(s neon.Sample) int { return s.IdleInTx }},
		{"PgBouncer waiting", "waiting", func(s neon.Sample) int { return s.PoolWaiting }},
	}
	for _, sr := range series {
		var b []byte
		for _, s := range samples {
			b = appendPoint(b, x(s.At), y(sr.val(s)))
		}
		chart.Series = append(chart.Series, views.ChartSeries{Name: sr.name, Class: sr.class, Points: strings.TrimSpace(string(b))})
	}
	chart.YMax = fmt.Sprint(top)
	chart.XFrom, chart.XTo = from.UTC().Format("Jan 2 15:04Z"), to.UTC().Format("Jan 2 15:04Z")
	return chart
}

// appendPoint appends one point of an SVG polyline, "x,y ", to one
// decimal (charts are drawn on every view: no fmt).
func appendPoint(b []byte, x, y float64) []byte {
	b = strconv.AppendFloat(b, x, 'f', 1, 64)
	b = append(b, ',')
	b = strconv.AppendFloat(b, y, 'f', 1, 64)
	return append(b, ' ')
}

func terms(p neon.Plan, limit int) []views.BudgetTerm {
	var out []views.BudgetTerm
	for i, g := range p.Groups {
		t := views.BudgetTerm{Name: g.Name, Machines: g.Machines, Processes: g.Processes, Pool: g.PoolSize,
			Overflow: g.MaxOverflow, Source: g.MachinesFrom, Total: g.Total(), BreaksAt: p.BreaksAt(i, limit)}
		if c := g.Configured; c != nil {
			t.MachinesWas, t.PoolWas, t.OverflowWas = was(c.Machines, g.Machines), was(c.PoolSize, g.PoolSize), was(c.MaxOverflow, g.MaxOverflow)
		} else {
			t.Unplanned = g.MachinesFrom == "fly"
		}
		out = append(out, t)
	}
	return out
}

// was is the configured value a live one replaced, "" when they agree.
func was(configured, live int) string {
	if configured == live || configured < 0 {
		return ""
	}
	return "BUDGET_GROUPS says " + strconv.Itoa(configured)
}

func gauge(label string, value, limit int, caption string) views.Gauge {
	g := views.Gauge{Label: label, Value: value, Limit: limit, Caption: caption, Level: neon.Level(value, limit)}
	if limit <= 0 {
		g.Unknown = "limit unknown"
		return g
	}
	g.Percent = float64(int(float64(value)*1000/float64(limit))) / 10
	return g
}

func backendRows(bs []neon.Backend, showQuery bool) []views.BackendRow {
	out := make([]views.BackendRow, 0, len(bs))
	for _, b := range bs {
		out = append(out, backendRow(b, showQuery))
	}
	return out
}

// backendRow is one session; its statement is masked again (snapshots
// stored by an earlier version kept literals) and shown only if showQuery.
func backendRow(b neon.Backend, showQuery bool) views.BackendRow {
	r := views.BackendRow{PID: b.PID, Source: b.Application, User: b.User, State: b.State, WaitEvent: b.WaitEvent,
		XactAge: duration(b.XactAge), StateAge: duration(b.StateAge)}
	if showQuery {
		r.Query = neon.MaskQuery(b.Query)
	} else {
		r.QueryHidden = b.Query != ""
	}
	return r
}

// duration formats an age for tables: "—" for none, else rounded.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}
