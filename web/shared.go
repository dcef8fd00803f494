package web

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/memo"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/timeline"
)

// SharedFor is how long the reads every viewer of a screen makes alike
// (switches and live instances, open alerts and their history, a page of
// the audit log or the timeline, a connection chart, the cache figures)
// are shared among the viewers of one console instance. Every change
// made on this instance (any request but GET and HEAD) forgets them, so
// its operators see it at once; a change made on another instance shows
// within twice this long (a value past it is served while it is read
// afresh).
const SharedFor = time.Second

// shared is every shared read of one console instance.
type shared struct {
	timeline *sharedTimeline
	caches   []interface{ Forget() }
	// changes counts the forgets: sections rendered once for every
	// viewer are keyed by it (handlers.Base.Changes).
	changes atomic.Uint64
}

// forget drops every shared read and starts a new generation of shared
// sections.
func (s *shared) forget() {
	s.changes.Add(1)
	for _, c := range s.caches {
		c.Forget()
	}
}

// forgetAfterChanges forgets every shared read when a request that may
// have changed something answers (before its answer leaves, so that the
// page a redirect leads to reads afresh), and again when it ends.
func forgetAfterChanges(s *shared) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
				return next(c)
			}
			c.Response().Before(s.forget)
			defer s.forget()
			return next(c)
		}
	}
}

// none is the key of a read without parameters.
type none struct{}

// sharedSwitches shares the switch reads; a change forgets them.
type sharedSwitches struct {
	handlers.SwitchStore
	list *memo.Cache[none, []switches.Switch]
	one  *memo.Cache[string, switches.Switch]
	live *memo.Cache[none, []switches.Instance]
	hist *memo.Cache[historyOf, []switches.HistoryEntry]
}

// historyOf is one switch's history page.
type historyOf struct {
	name  string
	limit int
}

func newSharedSwitches(s handlers.SwitchStore) *sharedSwitches {
	return &sharedSwitches{SwitchStore: s, list: memo.New[none, []switches.Switch](SharedFor),
		one: memo.New[string, switches.Switch](SharedFor), live: memo.New[none, []switches.Instance](SharedFor),
		hist: memo.New[historyOf, []switches.HistoryEntry](SharedFor)}
}

func (s *sharedSwitches) List(ctx context.Context) ([]switches.Switch, error) {
	return s.list.Get(ctx, none{}, s.SwitchStore.List)
}

func (s *sharedSwitches) Get(ctx context.Context, name string) (switches.Switch, error) {
	return s.one.Get(ctx, name, func(ctx context.Context) (switches.Switch, error) { return s.SwitchStore.Get(ctx, name) })
}

func (s *sharedSwitches) LiveInstances(ctx context.Context) ([]switches.Instance, error) {
	return s.live.Get(ctx, none{}, s.SwitchStore.LiveInstances)
}

func (s *sharedSwitches) History(ctx context.Context, name string, limit int) ([]switches.HistoryEntry, error) {
	return s.hist.Get(ctx, historyOf{name, limit}, func(ctx context.Context) ([]switches.HistoryEntry, error) {
		return s.SwitchStore.History(ctx, name, limit)
	})
}

// alertReads is the alert store with its delivery log.
type alertReads interface {
	handlers.AlertStore
	handlers.DeliveryLog
}

// sharedAlerts shares the alert reads; an action on an alert forgets them.
type sharedAlerts struct {
	alertReads
	open       *memo.Cache[none, []alerts.Alert]
	history    *memo.Cache[int, []alerts.Event]
	deliveries *memo.Cache[int, []alerts.Delivery]
}

func newSharedAlerts(s alertReads) *sharedAlerts {
	return &sharedAlerts{alertReads: s, open: memo.New[none, []alerts.Alert](SharedFor),
		history: memo.New[int, []alerts.Event](SharedFor), deliveries: memo.New[int, []alerts.Delivery](SharedFor)}
}

func (s *sharedAlerts) Open(ctx context.Context) ([]alerts.Alert, error) {
	return s.open.Get(ctx, none{}, s.alertReads.Open)
}

func (s *sharedAlerts) History(ctx context.Context, limit int) ([]alerts.Event, error) {
	return s.history.Get(ctx, limit, func(ctx context.Context) ([]alerts.Event, error) { return s.alertReads.History(ctx, limit) })
}

func (s *sharedAlerts) Deliveries(ctx context.Context, limit int) ([]alerts.Delivery, error) {
	return s.deliveries.Get(ctx, limit, func(ctx context.Context) ([]alerts.Delivery, error) {
		return s.alertReads.Deliveries(ctx, limit)
	})
}

// auditLog is what the console writes and reads of the audit log.
type auditLog interface {
	handlers.Auditor
	handlers.AuditReader
}

// sharedAudit shares the pages of the audit log; an event recorded here
// forgets them.
type sharedAudit struct {
	auditLog
	pages *memo.Cache[audit.Filter, []audit.Event]
}

func (s *sharedAudit) List(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	return s.pages.Get(ctx, f, func(ctx context.Context) ([]audit.Event, error) { return s.auditLog.List(ctx, f) })
}

// timelineKey is one timeline read: its window to the second, and the
// systems.
type timelineKey struct {
	from, to int64
	systems  string
}

// sharedTimeline shares the timeline's pages; a switch change forgets
// them (with the markers).
type sharedTimeline struct {
	*timeline.Timeline
	pages *memo.Cache[timelineKey, timeline.Result]
}

func (s *sharedTimeline) Read(ctx context.Context, from, to time.Time, systems []string) timeline.Result {
	r, _ := s.pages.Get(ctx, timelineKey{from.Unix(), to.Unix(), strings.Join(systems, ",")},
		func(ctx context.Context) (timeline.Result, error) {
			return s.Timeline.Read(ctx, from, to, systems), nil
		})
	return r
}

// historyKey is one connection chart: its start to the second, and its
// points.
type historyKey struct {
	from   int64
	points int
}

// sharedConnections shares the connection snapshot and charts.
type sharedConnections struct {
	handlers.ConnectionSampler
	latest *memo.Cache[none, neon.Snapshot]
	charts *memo.Cache[historyKey, []neon.Sample]
}

func (s *sharedConnections) Latest(ctx context.Context) (neon.Snapshot, error) {
	return s.latest.Get(ctx, none{}, s.ConnectionSampler.Latest)
}

func (s *sharedConnections) History(ctx context.Context, from time.Time, points int) ([]neon.Sample, error) {
	return s.charts.Get(ctx, historyKey{from.Unix(), points}, func(ctx context.Context) ([]neon.Sample, error) {
		return s.ConnectionSampler.History(ctx, from, points)
	})
}

// sharedRedis shares the Redis server's latest figures.
type sharedRedis struct {
	handlers.RedisSampler
	latest *memo.Cache[none, rediscache.Server]
}

func (s *sharedRedis) Latest(ctx context.Context) (rediscache.Server, error) {
	return s.latest.Get(ctx, none{}, s.RedisSampler.Latest)
}

// fleetReport is one fleet report.
type fleetReport struct {
	snap fly.Snapshot
	r    fly.Report
}

// sharedFleet shares the fleet's report (its snapshot, the heartbeats and
// the analysis).
type sharedFleet struct {
	handlers.FleetReporter
	report *memo.Cache[none, fleetReport]
}

func (s *sharedFleet) Report(ctx context.Context) (fly.Snapshot, fly.Report, error) {
	fr, err := s.report.Get(ctx, none{}, func(ctx context.Context) (fleetReport, error) {
		snap, r, err := s.FleetReporter.Report(ctx)
		return fleetReport{snap, r}, err
	})
	return fr.snap, fr.r, err
}

// sharedFigures shares the cache figures' freshness check.
type sharedFigures struct {
	handlers.CacheFigures
	latest *memo.Cache[none, rediscache.Figures]
}

func (s *sharedFigures) Latest(ctx context.Context) (rediscache.Figures, error) {
	return s.latest.Get(ctx, none{}, s.CacheFigures.Latest)
}

// shareReads wraps d's stores so that viewers share their reads.
func shareReads(d *Deps) *shared {
	s := &shared{}
	keep := func(c interface{ Forget() }) { s.caches = append(s.caches, c) }
	if d.Switches != nil {
		sw := newSharedSwitches(d.Switches)
		keep(sw.list)
		keep(sw.one)
		keep(sw.live)
		keep(sw.hist)
		d.Switches = sw
	}
	if a, ok := d.AlertStore.(alertReads); ok {
		sa := newSharedAlerts(a)
		keep(sa.open)
		keep(sa.history)
		keep(sa.deliveries)
		d.AlertStore = sa
	}
	if d.Audit != nil {
		sa := &sharedAudit{auditLog: d.Audit, pages: memo.New[audit.Filter, []audit.Event](SharedFor)}
		keep(sa.pages)
		d.Audit = sa
	}
	if d.CacheFigures != nil {
		sf := &sharedFigures{CacheFigures: d.CacheFigures, latest: memo.New[none, rediscache.Figures](SharedFor)}
		keep(sf.latest)
		d.CacheFigures = sf
	}
	if d.Fleet != nil {
		sf := &sharedFleet{FleetReporter: d.Fleet, report: memo.New[none, fleetReport](SharedFor)}
		keep(sf.report)
		d.Fleet = sf
	}
	if d.Redis != nil {
		sr := &sharedRedis{RedisSampler: d.Redis, latest: memo.New[none, rediscache.Server](SharedFor)}
		keep(sr.latest)
		d.Redis = sr
	}
	if d.Connections != nil {
		sc := &sharedConnections{ConnectionSampler: d.Connections, latest: memo.New[none, neon.Snapshot](SharedFor),
			charts: memo.New[historyKey, []neon.Sample](SharedFor)}
		keep(sc.latest)
		keep(sc.charts)
		d.Connections = sc
	}
	s.timeline = &sharedTimeline{Timeline: d.Timeline, pages: memo.New[timelineKey, timeline.Result](SharedFor)}
	keep(s.timeline.pages)
	keep(d.Timeline)
	return s
}
