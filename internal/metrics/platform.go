package metrics

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/watch"
)

// Sources are where the platform figures come from. A nil function is a
// source that is not configured: its metrics are left out.
type Sources struct {
	// Systems is the watch monitor's latest state of every system
	// (in memory).
	Systems func() []watch.Status
	// Connections is the latest connection snapshot (in memory, else
	// stored); Budget is the planned budget (in memory).
	Connections func(ctx context.Context) (neon.Snapshot, error)
	Budget      func() neon.Budget
	// CacheCounters sums the platform's tenant-cache counters gained over
	// the last 5 minutes (the stored cache figures).
	CacheCounters func(ctx context.Context) (rediscache.Counters, error)
	// CommandsPerDay projects the Redis commands per day from the stored
	// samples; RedisBudget is REDIS_DAILY_COMMAND_BUDGET.
	CommandsPerDay func(ctx context.Context, now time.Time) (int64, time.Duration, error)
	RedisBudget    int64
	// QStash returns a region's stored queue snapshot, for each of
	// QStashRegions.
	QStash        func(ctx context.Context, region string) (qstash.Snapshot, error)
	QStashRegions []string
	// Fleet is the report of the last Fly listing (in memory); ok is false
	// before the first.
	Fleet func() (fly.Report, bool)
	// Switches lists the kill switches (stored).
	Switches func(ctx context.Context) ([]switches.Switch, error)
	// AlertsFiring counts the firing alerts by severity (in memory); ok
	// is false before the first evaluation was read.
	AlertsFiring func() (bySeverity map[string]int, ok bool)
	// UpstreamCalls counts the calls this instance made to each system
	// since it started (in memory).
	UpstreamCalls func() map[string]int64
	// Reading says whether stored snapshots may be read now; while it is
	// false (background sampling paused, so the console's database may be
	// scaled to zero) only in-memory figures are exported. Nil: always.
	Reading func() bool

	// Deadline bounds the reads of one scrape (default 2 s); figures are
	// kept for CacheFor (default 5 s), however many scrapers ask.
	Deadline time.Duration
	CacheFor time.Duration
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// The platform figures, each documented in the README's Metrics section.
var (
	descSystemState = desc("system_state", "1 for the state each watched system is in (ok, error, pending, not_configured), 0 for the others.", "system", "state")
	descNotChecked  = desc("system_not_checked", "1 while the latest check of a system could not run (the console's database did not answer); its state is then the last known one.", "system")
	descLastOK      = desc("system_last_ok_timestamp_seconds", "When the system last answered a check (Unix time).", "system")

	descConnUsed     = desc("connections_used", "Client connections open on the platform database at the last sample, by process group (other: every other application_name).", "group")
	descConnUsable   = desc("connections_usable", "Usable direct connection slots: max_connections minus reserved slots.")
	descConnMax      = desc("connections_max", "max_connections of the platform database.")
	descConnPlanned  = desc("connections_planned", "Planned connections: machines × processes × (pool + overflow) per process group, or an engine's maximum.", "group", "kind")
	descPlanLimit    = desc("connections_plan_limit", "The limit the planned budget counts against: usable direct slots, or the pooler's client limit.")
	descIdleInTx     = desc("connections_idle_in_transaction", "Platform connections idle in a transaction at the last sample.")
	descLockWaiting  = desc("connections_lock_waiting", "Platform connections waiting on a lock at the last sample.")
	descConnSampleAt = desc("connections_sample_timestamp_seconds", "When the connections were last sampled (Unix time), whether or not that sample could read them.")
	descBouncerWait  = desc("pgbouncer_waiting_clients", "Clients waiting for a server connection in PgBouncer at the last sample.")
	descBouncerMax   = desc("pgbouncer_max_wait_seconds", "Longest current wait of a PgBouncer client at the last sample.")

	descCacheRatio   = desc("tenant_cache_ratio", "Share of the platform's tenant lookups served by each layer (memory, redis, db) over the last 5 minutes; absent without lookups.", "layer")
	descCacheLookups = desc("tenant_cache_lookups_5m", "Tenant lookups the platform reported over the last 5 minutes.")
	descRedisDay     = desc("redis_commands_per_day_projected", "Redis commands per day projected from the last hour's samples; absent until two samples exist.")
	descRedisBudget  = desc("redis_commands_per_day_budget", "REDIS_DAILY_COMMAND_BUDGET: Redis commands per day the platform should stay under.")

	descQueueLag    = desc("qstash_queue_lag", "Messages waiting in a QStash queue at the last listing.", "region", "queue")
	descQueuePaused = desc("qstash_queue_paused", "1 when a QStash queue is paused at the last listing.", "region", "queue")
	descQueueListed = desc("qstash_listing_timestamp_seconds", "When a region's queues were last listed successfully (Unix time).", "region")
	descQueueFail   = desc("qstash_listing_failing", "1 when the latest listing of a region's queues failed (the queues shown are older).", "region")

	descFlyMachines = desc("fly_machines", "Fly machines of the platform's app by process group and state, at the last listing.", "group", "state")
	descFlyLoops    = desc("fly_crash_looping_machines", "Machines of a process group that crash-loop at the last listing.", "group")

	descSwitch = desc("kill_switch_enabled", "1 when a kill switch is in effect.", "switch")

	descAlertsFiring = desc("alerts_firing", "Alerts firing at the last evaluation this instance read, by severity (silenced ones included).", "severity")

	descUpstream = desc("upstream_calls_total", "Calls this console instance made to an upstream since it started (platform_database, redis, qstash_REGION).", "system")
	descSourceUp = desc("metrics_source_up", "1 when a source of these metrics could be read at this scrape; 0 when it failed or did not answer in time (its metrics are then left out).", "source")
)

var allDescs = []*prometheus.Desc{descSystemState, descNotChecked, descLastOK, descConnUsed, descConnUsable, descConnMax,
	descConnPlanned, descPlanLimit, descIdleInTx, descLockWaiting, descConnSampleAt, descBouncerWait, descBouncerMax,
	descCacheRatio, descCacheLookups, descRedisDay, descRedisBudget, descQueueLag, descQueuePaused, descQueueListed,
	descQueueFail, descFlyMachines, descFlyLoops, descSwitch, descAlertsFiring, descUpstream, descSourceUp}

// states are the system states, in the order exported.
var states = []string{watch.OK, watch.Failing, watch.Pending, watch.NotConfigured}

// platform collects the platform figures at scrape time.
type platform struct {
	src Sources

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

func newPlatform(src Sources) *platform {
	if src.Deadline <= 0 {
		src.Deadline = 2 * time.Second
	}
	if src.CacheFor <= 0 {
		src.CacheFor = 5 * time.Second
	}
	return &platform{src: src}
}

// Describe sends every platform metric's description.
func (p *platform) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect sends the figures, read at most once per CacheFor.
func (p *platform) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	if p.last == nil || time.Since(p.at) >= p.src.CacheFor {
		p.last, p.at = p.gather(), time.Now()
	}
	out := p.last
	p.mu.Unlock()
	for _, m := range out {
		ch <- m
	}
}

// part is one source's reading: its metrics, or why it failed.
type part struct {
	source  string
	metrics []prometheus.Metric
	err     error
}

// gather reads every source, those that read the database concurrently
// and all within the deadline.
func (p *platform) gather() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), p.src.Deadline)
	defer cancel()
	now := time.Now()
	stored := p.src.Reading == nil || p.src.Reading()
	var readers []func(context.Context) part
	add := func(ok bool, f func(context.Context) part) {
		if ok {
			readers = append(readers, f)
		}
	}
	add(p.src.Connections != nil && stored, p.connections)
	add(p.src.CacheCounters != nil && stored, p.cache)
	add(p.src.CommandsPerDay != nil && stored, func(ctx context.Context) part { return p.redis(ctx, now) })
	add(p.src.QStash != nil && stored, p.queues)
	add(p.src.Switches != nil && stored, p.switches)

	parts := make([]part, len(readers))
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Go(func() { parts[i] = r(ctx) })
	}
	wg.Wait()

	var out []prometheus.Metric
	out = append(out, p.systems()...)
	out = append(out, p.planned()...)
	out = append(out, p.fleet()...)
	out = append(out, p.alerts()...)
	out = append(out, p.upstream()...)
	for _, pt := range parts {
		up := 1.0
		if pt.err != nil {
			up = 0
		}
		out = append(out, gauge(descSourceUp, up, pt.source))
		out = append(out, pt.metrics...)
	}
	return out
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (p *platform) systems() []prometheus.Metric {
	if p.src.Systems == nil {
		return nil
	}
	var out []prometheus.Metric
	for _, st := range p.src.Systems() {
		for _, s := range states {
			out = append(out, gauge(descSystemState, flag(st.State == s), st.Key, s))
		}
		out = append(out, gauge(descNotChecked, flag(st.NotChecked != ""), st.Key))
		if !st.LastOK.IsZero() {
			out = append(out, gauge(descLastOK, unix(st.LastOK), st.Key))
		}
	}
	return out
}

// planned is the budget's terms, from configuration and the last Fly
// listing.
func (p *platform) planned() []prometheus.Metric {
	if p.src.Budget == nil {
		return nil
	}
	plan := p.src.Budget().Plan
	var out []prometheus.Metric
	for _, g := range plan.Groups {
		out = append(out, gauge(descConnPlanned, float64(g.Total()), g.Name, "process_group"))
	}
	for _, e := range plan.Engines {
		out = append(out, gauge(descConnPlanned, float64(e.Connections), e.Name, "engine"))
	}
	return out
}

func (p *platform) connections(ctx context.Context) part {
	pt := part{source: "connections"}
	snap, err := p.src.Connections(ctx)
	if errors.Is(err, neon.ErrNoSnapshot) {
		return pt
	}
	if err != nil {
		pt.err = err
		return pt
	}
	pt.metrics = append(pt.metrics, gauge(descConnSampleAt, unix(snap.At)))
	if snap.Err != "" {
		pt.err = errors.New(snap.Err)
	} else {
		used := map[string]int{}
		for _, s := range snap.Usage.Sources {
			g := s.Group
			if g == "" {
				g = "other"
			}
			used[g] += s.Total
		}
		for g, n := range used {
			pt.metrics = append(pt.metrics, gauge(descConnUsed, float64(n), g))
		}
		l := snap.Limits
		pt.metrics = append(pt.metrics, gauge(descConnUsable, float64(l.Usable)), gauge(descConnMax, float64(l.MaxConnections)),
			gauge(descIdleInTx, float64(snap.Usage.IdleInTx)), gauge(descLockWaiting, float64(snap.Usage.Waiting)))
		if p.src.Budget != nil {
			limit, _ := p.src.Budget().PlanLimit(l)
			pt.metrics = append(pt.metrics, gauge(descPlanLimit, float64(limit)))
		}
	}
	if b := snap.Bouncer; b != nil {
		pt.metrics = append(pt.metrics, gauge(descBouncerWait, float64(b.Waiting)), gauge(descBouncerMax, b.MaxWait.Seconds()))
	}
	return pt
}

func (p *platform) cache(ctx context.Context) part {
	pt := part{source: "tenant_cache"}
	c, err := p.src.CacheCounters(ctx)
	if err != nil {
		pt.err = err
		return pt
	}
	n := c.Lookups()
	pt.metrics = append(pt.metrics, gauge(descCacheLookups, float64(n)))
	if n > 0 {
		pt.metrics = append(pt.metrics, gauge(descCacheRatio, float64(c.MemoryHits)/float64(n), "memory"),
			gauge(descCacheRatio, float64(c.RedisHits)/float64(n), "redis"),
			gauge(descCacheRatio, float64(c.Misses)/float64(n), "db"))
	}
	return pt
}

func (p *platform) redis(ctx context.Context, now time.Time) part {
	pt := part{source: "redis_commands"}
	if p.src.RedisBudget > 0 {
		pt.metrics = append(pt.metrics, gauge(descRedisBudget, float64(p.src.RedisBudget)))
	}
	perDay, span, err := p.src.CommandsPerDay(ctx, now)
	if err != nil {
		pt.err = err
		return pt
	}
	if span > 0 {
		pt.metrics = append(pt.metrics, gauge(descRedisDay, float64(perDay)))
	}
	return pt
}

func (p *platform) queues(ctx context.Context) part {
	pt := part{source: "qstash"}
	for _, r := range p.src.QStashRegions {
		snap, err := p.src.QStash(ctx, r)
		if errors.Is(err, qstash.ErrNoSnapshot) {
			continue
		}
		if err != nil {
			pt.err = err
			continue
		}
		pt.metrics = append(pt.metrics, gauge(descQueueFail, flag(snap.Err != ""), r))
		if snap.ListedAt.IsZero() {
			continue
		}
		pt.metrics = append(pt.metrics, gauge(descQueueListed, unix(snap.ListedAt), r))
		for _, q := range snap.Queues {
			pt.metrics = append(pt.metrics, gauge(descQueueLag, float64(q.Lag), r, q.Name), gauge(descQueuePaused, flag(q.Paused), r, q.Name))
		}
	}
	return pt
}

func (p *platform) fleet() []prometheus.Metric {
	if p.src.Fleet == nil {
		return nil
	}
	r, ok := p.src.Fleet()
	if !ok {
		return nil
	}
	var out []prometheus.Metric
	for _, g := range r.Groups {
		by := map[string]int{}
		for _, m := range g.Machines {
			by[m.State]++
		}
		for _, s := range sortedKeys(by) {
			out = append(out, gauge(descFlyMachines, float64(by[s]), g.Name, s))
		}
		out = append(out, gauge(descFlyLoops, float64(g.CrashLoops), g.Name))
	}
	return out
}

func (p *platform) alerts() []prometheus.Metric {
	if p.src.AlertsFiring == nil {
		return nil
	}
	by, ok := p.src.AlertsFiring()
	if !ok {
		return nil
	}
	var out []prometheus.Metric
	for _, sev := range []string{"critical", "warning"} {
		out = append(out, gauge(descAlertsFiring, float64(by[sev]), sev))
	}
	return out
}

func (p *platform) switches(ctx context.Context) part {
	pt := part{source: "kill_switches"}
	list, err := p.src.Switches(ctx)
	if err != nil {
		pt.err = err
		return pt
	}
	for _, s := range list {
		pt.metrics = append(pt.metrics, gauge(descSwitch, flag(s.Enabled), s.Name))
	}
	return pt
}

func (p *platform) upstream() []prometheus.Metric {
	if p.src.UpstreamCalls == nil {
		return nil
	}
	calls := p.src.UpstreamCalls()
	var out []prometheus.Metric
	for _, k := range sortedKeys(calls) {
		out = append(out, prometheus.MustNewConstMetric(descUpstream, prometheus.CounterValue, float64(calls[k]), k))
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
