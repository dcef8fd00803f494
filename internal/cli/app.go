package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/alerts/rules"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/config"
	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/memo"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/watch"
	"github.com/atum/ops-console/views"
)

// app holds the console's connections and background state.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	pool     *pgxpool.Pool
	platform *pgxpool.Pool
	redis    *redis.Client
	monitor  *watch.Monitor
	activity *watch.Activity
	sampler  *neon.Sampler
	redisInf *rediscache.Sampler
	// cacheFigures are the stored tenant-cache figures; roller folds the
	// heartbeats into the rollups they are computed from.
	cacheFigures *rediscache.Snapshots
	roller       *rediscache.Roller
	switches     *switches.Store
	qstash       map[string]*qstash.Client
	regions      []string
	queues       *qstash.Sampler
	dlqSummary   *qstash.Summariser
	purger       *qstash.Purger
	accounts     *accounts.Store
	fleet        *fly.Fleet
	auth         *auth.Store
	audit        *audit.Log

	identity  atomic.Pointer[views.DBIdentity]
	schemaErr atomic.Pointer[store.SchemaError]
	// demoOperators counts demo accounts found outside demo mode.
	demoOperators atomic.Int64
	// direct makes probes call upstreams now rather than through the
	// samplers (the check command).
	direct bool
	// observeProbe, when set (metrics are on), is told how long each
	// check took and whether it failed.
	observeProbe func(system string, d time.Duration, err error)
	// observeQueries, when set (metrics are on), is told how many
	// statements each request sent to the console's database.
	observeQueries func(route string, queries int64)

	alertEngine *alerts.Engine
	rules       *rules.Set
	alertMu     sync.Mutex
	alertAt     time.Time
	alertCache  []views.Alert
	alertErr    string
	alertKick   chan struct{}
	// budgets keeps the budget per Fly listing, for a second.
	budgets memo.Cache[int64, neon.Budget]
}

// Server-side limits of the serving pools: no page waits this long (the
// requests' own deadlines are shorter), and background work that would is
// better cut off than left holding a connection or a lock.
const (
	statementTimeout = 10 * time.Second
	lockTimeout      = 2 * time.Second
)

// newApp opens (lazily) every configured system. Nothing here needs an
// upstream to be up.
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log}
	alerts.SetRunbookURLs(cfg.AlertRunbookURLs)
	var err error
	if a.pool, err = store.OpenBounded(ctx, cfg.DatabaseURL, 10, statementTimeout, lockTimeout); err != nil {
		return nil, err
	}
	a.platform = a.pool
	if cfg.PlatformDatabaseURL != cfg.DatabaseURL {
		if a.platform, err = store.OpenBounded(ctx, cfg.PlatformDatabaseURL, 4, statementTimeout, lockTimeout); err != nil {
			a.pool.Close()
			return nil, err
		}
	}
	if cfg.RedisURL != "" {
		if a.redis, err = rediscache.NewClient(cfg.RedisURL); err != nil {
			a.close()
			return nil, err
		}
	}
	a.qstash = map[string]*qstash.Client{}
	for _, r := range []struct{ key, url, token, readOnly string }{{"eu", cfg.QStashURL, cfg.QStashToken, cfg.QStashReadOnlyToken},
		{"us", cfg.QStashUSURL, cfg.QStashUSToken, cfg.QStashUSReadOnlyToken}} {
		if r.token == "" {
			continue
		}
		c, err := qstash.NewClient(r.key, r.url, r.token, 10*time.Second)
		if err != nil {
			a.close()
			return nil, err
		}
		a.qstash[r.key], a.regions = c.WithReadOnlyToken(r.readOnly), append(a.regions, r.key)
	}
	a.queues = &qstash.Sampler{Pool: a.pool, Clients: a.qstash, Interval: cfg.QStashSampleInterval}
	a.dlqSummary = &qstash.Summariser{Pool: a.pool, Clients: a.qstash, Regions: a.regions,
		Interval: max(cfg.QStashSampleInterval, qstash.DefaultSummaryInterval), Background: ctx, Log: log}
	a.purger = &qstash.Purger{Pool: a.pool, Clients: a.qstash, Log: log}
	a.switches = switches.NewStore(a.pool)
	if a.fleet, err = newFleet(a, cfg); err != nil {
		a.close()
		return nil, err
	}
	a.accounts = &accounts.Store{Platform: a.platform, Console: a.pool, Redis: a.redis, PlatformURL: cfg.PlatformDatabaseURL,
		Environment: cfg.Environment, RedisSkip: a.redisSkip}
	a.redisInf = &rediscache.Sampler{Console: a.pool, Client: a.redis, Interval: cfg.SampleInterval,
		Suspended: func(ctx context.Context) (bool, error) {
			s, err := a.switches.Get(ctx, switches.SuspendRedis)
			return s.Enabled, err
		}}
	a.auth = auth.NewStore(a.pool)
	a.auth.AllowDemo = cfg.Environment == config.Demo
	a.audit = audit.New(a.pool)
	a.identity.Store(&views.DBIdentity{Host: hostOf(cfg.DatabaseURL), Err: "not checked yet"})
	a.monitor = watch.New(cfg.CheckInterval, a.redact, log, a.checks()...)
	a.alertEngine = newAlertEngine(a.pool)
	a.activity = watch.NewWatch(cfg.Watch, cfg.ActiveWindow)
	a.monitor.Gate = a.activity.Watching
	a.sampler = neon.NewSampler()
	a.sampler.Console, a.sampler.Platform, a.sampler.BouncerURL = a.pool, a.platform, cfg.PgBouncerAdminURL
	a.sampler.Interval, a.sampler.Keep, a.sampler.Active = cfg.SampleInterval, cfg.HistoryRetention, a.activity.Watching
	a.sampler.Planned = func() int { return a.budget().Plan.Total() }
	a.sampler.Redact, a.sampler.Log = a.redact, log
	a.alertKick = make(chan struct{}, 1)
	a.cacheFigures = &rediscache.Snapshots{Pool: a.pool}
	a.roller = &rediscache.Roller{Pool: a.pool, Interval: cfg.SampleInterval, Snapshots: a.cacheFigures,
		Active: a.activity.Watching, OnSample: a.kickAlerts, Log: log}
	a.rules = a.newRules()
	// The rules run after each sample, on the instance that took it.
	a.sampler.OnSample, a.redisInf.OnSample, a.queues.OnSample = a.kickAlerts, a.kickAlerts, a.kickAlerts
	if a.fleet != nil {
		a.fleet.Sampler.OnSample = a.kickAlerts
	}
	a.activity.OnWake = func() {
		a.monitor.Refresh()
		a.sampler.Kick()
		a.roller.Kick()
		a.kickAlerts()
	}
	return a, nil
}

func (a *app) close() {
	if a.redis != nil {
		a.redis.Close()
	}
	if a.platform != nil && a.platform != a.pool {
		a.platform.Close()
	}
	if a.pool != nil {
		a.pool.Close()
	}
}

// checks lists every system the Overview shows, configured or not.
func (a *app) checks() []watch.Check {
	cfg := a.cfg
	// The console's own database is checked within 2 s, so a stall shows
	// on its tile about as soon as pages notice it.
	cs := []watch.Check{{Key: "postgres", Name: "Console database", Href: "/", Probe: a.probeConsoleDB, Timeout: 2 * time.Second}}
	platform := watch.Check{Key: "platform", Name: "Platform database", Href: "/connections", Probe: neon.PlatformProbe(a.platform)}
	cs = append(cs, platform)
	pgb := watch.Check{Key: "pgbouncer", Name: "PgBouncer", Href: "/connections"}
	if cfg.PgBouncerAdminURL != "" {
		pgb.Probe = neon.PgBouncerProbe(cfg.PgBouncerAdminURL)
	}
	rc := watch.Check{Key: "redis", Name: "Redis", Href: "/cache"}
	if a.redis != nil {
		rc.Probe = a.probeRedis
	}
	qs := watch.Check{Key: "qstash", Name: "QStash", Href: "/queues"}
	if len(a.regions) > 0 {
		qs.Probe = a.probeQStash
	}
	// A listing may read several event logs, each waiting its turn under
	// Fly's rate limits.
	fl := watch.Check{Key: "fly", Name: "Fly machines", Href: "/fleet", Timeout: 30 * time.Second}
	if a.fleet != nil {
		fl.Probe = a.probeFly
	}
	return a.timedChecks(append(cs, pgb, rc, qs, fl))
}

// probeConsoleDB checks the console's own database: it answers, its
// schema matches this binary, and who it is.
func (a *app) probeConsoleDB(ctx context.Context) (string, error) {
	id, err := store.ReadIdentity(ctx, a.pool, a.cfg.DatabaseURL)
	if err != nil {
		a.identity.Store(&views.DBIdentity{Host: hostOf(a.cfg.DatabaseURL), Err: "database unreachable"})
		return "", err
	}
	a.identity.Store(&views.DBIdentity{Host: id.Host, Database: id.Database, User: id.User,
		ServerVersion: id.ServerVersion, SystemID: orDash(id.SystemID)})
	err = store.CheckSchema(ctx, a.pool)
	var se *store.SchemaError
	if errors.As(err, &se) {
		a.schemaErr.Store(se)
		return "", err
	}
	if err != nil {
		return "", err
	}
	a.schemaErr.Store(nil)
	if a.cfg.Environment != config.Demo {
		var n int64
		if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM ops.operators WHERE is_demo`).Scan(&n); err != nil {
			return "", err
		}
		a.demoOperators.Store(n)
	}
	return fmt.Sprintf("PostgreSQL %s · schema ops v%d", id.ServerVersion, store.Latest()), nil
}

// probeRedis is the Redis tile's check: the INFO sampler's tick, so the
// tile costs Redis nothing beyond one INFO per interval, and nothing at
// all while SUSPEND_REDIS is on.
func (a *app) probeRedis(ctx context.Context) (string, error) {
	srv, err := a.redisInf.Tick(ctx, false)
	if errors.Is(err, rediscache.ErrPaused) {
		last := "no figures yet"
		if l, lerr := a.redisInf.Latest(ctx); lerr == nil {
			last = "last figures " + human.Ago(l.At, time.Now())
		}
		return "polling paused: SUSPEND_REDIS is on (" + last + ")", nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d ops/s · %d clients · %d commands since start", srv.OpsPerSec, srv.ConnectedClients, srv.TotalCommands), nil
}

// probeQStash is the QStash tile's check: the queue sampler's tick for
// every region, one API call per region and interval at most. It also
// starts the dead-letter summary in the background (elected, once per
// its interval, within its own call budget).
func (a *app) probeQStash(ctx context.Context) (string, error) {
	if !a.direct {
		a.dlqSummary.Kick() // in the background, elected, at most once per its interval
	}
	var parts []string
	for _, r := range a.regions {
		snap, err := a.queues.Tick(ctx, r)
		if err != nil {
			return "", fmt.Errorf("%s: %w", r, err)
		}
		paused := 0
		for _, q := range snap.Queues {
			if q.Paused {
				paused++
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %d queues · lag %d · %d paused", strings.ToUpper(r), len(snap.Queues), snap.TotalLag(), paused))
	}
	return strings.Join(parts, "; "), nil
}

// ready is the /readyz check of the console's own database.
func (a *app) ready(ctx context.Context) error {
	if err := a.pool.Ping(ctx); err != nil {
		return fmt.Errorf("console database unreachable: %s", a.redact(err.Error()))
	}
	if se := a.schemaErr.Load(); se != nil {
		return se
	}
	return nil
}

func (a *app) schemaError() error {
	if se := a.schemaErr.Load(); se != nil {
		return se
	}
	return nil
}

// redact removes every configured secret from text bound for a page or log.
func (a *app) redact(s string) string {
	secrets := []string{a.cfg.QStashToken, a.cfg.QStashUSToken, a.cfg.QStashReadOnlyToken, a.cfg.QStashUSReadOnlyToken, a.cfg.FlyAPIToken}
	secrets = append(append(secrets, a.cfg.Notify.Secrets()...), a.cfg.Access.Secrets()...)
	for _, secret := range secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "xxxxx")
		}
	}
	for _, u := range []string{a.cfg.DatabaseURL, a.cfg.PlatformDatabaseURL, a.cfg.RedisURL, a.cfg.PgBouncerAdminURL} {
		if u != "" {
			s = strings.ReplaceAll(s, u, config.RedactURL(u))
			if p := passwordOf(u); len(p) >= 4 {
				s = strings.ReplaceAll(s, p, "xxxxx")
			}
		}
	}
	return s
}

// budget is the planned connection budget: configuration, with the
// machine counts per group from the last Fly listing when Fly is watched.
func (a *app) budget() neon.Budget {
	// Worked out once per Fly listing (and at most once a second): pages,
	// rules and samplers all ask.
	var listed int64
	if a.fleet != nil {
		if snap, ok := a.fleet.Sampler.Cached(); ok {
			listed = snap.At.UnixNano()
		}
	}
	b, _ := a.budgets.Get(context.Background(), listed, func(context.Context) (neon.Budget, error) { return a.planBudget(), nil })
	return b
}

// planBudget works the budget out.
func (a *app) planBudget() neon.Budget {
	plan := a.cfg.Budget
	if a.fleet != nil {
		if r, ok := a.fleet.Live(); ok {
			plan = liveBudget(plan, r)
		}
	}
	return neon.Budget{Plan: plan, Pooled: neon.IsPooled(hostOf(a.cfg.PlatformDatabaseURL)),
		MinCU: a.cfg.NeonMinCU, MaxCU: a.cfg.NeonMaxCU}
}

// accountFleet is what the fleet tells the account diagnosis; nil when
// Fly is not watched or was never listed.
func (a *app) accountFleet() *accounts.Fleet {
	if a.fleet == nil {
		return nil
	}
	r, ok := a.fleet.Live()
	if !ok {
		return nil
	}
	f := &accounts.Fleet{Running: a.fleet.Running(), Expected: a.cfg.FlyExpectedEnvironment}
	for _, al := range r.Alerts {
		if al.Kind == "environment" && al.Level == "critical" {
			f.WithoutEnvironment = append(f.WithoutEnvironment, al.Machine)
		}
	}
	return f
}

// redisSkip says why a page must not ask Redis now: SUSPEND_REDIS is on
// (or its state cannot be read), or Redis is known to be down.
func (a *app) redisSkip(ctx context.Context) string {
	if st, ok := a.monitor.Get("redis"); ok && st.State == watch.Failing {
		return "Redis is unreachable (last checked " + human.Ago(st.CheckedAt, time.Now()) + ")"
	}
	sw, err := a.switches.Get(ctx, switches.SuspendRedis)
	switch {
	case err != nil:
		return "the SUSPEND_REDIS switch could not be read"
	case sw.Enabled:
		return "Redis is suspended (SUSPEND_REDIS is on)"
	}
	return ""
}
