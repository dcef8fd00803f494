package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/watch"
)

var sampledAt = time.Unix(1_700_000_000, 0)

// fakeSources is a platform as the console would hold it: every system
// configured, one failing, a fleet with a crash loop.
func fakeSources() Sources {
	return Sources{
		Systems: func() []watch.Status {
			return []watch.Status{{Key: "postgres", State: watch.OK, LastOK: sampledAt},
				{Key: "redis", State: watch.Failing, NotChecked: "console database down"},
				{Key: "fly", State: watch.NotConfigured}}
		},
		Connections: func(context.Context) (neon.Snapshot, error) {
			return neon.Snapshot{At: sampledAt, Limits: neon.Limits{MaxConnections: 100, Usable: 97},
				Usage: neon.Usage{Total: 42, IdleInTx: 2, Waiting: 1, Sources: []neon.Source{
					{Name: "atum:api", Group: "api", Total: 30}, {Name: "atum:worker", Group: "worker", Total: 8},
					{Name: "psql", Total: 3}, {Name: "(unset)", Total: 1}}},
				Bouncer: &neon.Bouncer{Waiting: 7, MaxWait: 1500 * time.Millisecond}}, nil
		},
		Budget: func() neon.Budget {
			return neon.Budget{Plan: neon.Plan{
				Groups:  []neon.Group{{Name: "api", Machines: 2, Processes: 2, PoolSize: 15, MaxOverflow: 5}},
				Engines: []neon.Engine{{Name: "atum-console", Connections: 14}}}}
		},
		CacheCounters: func(context.Context) (rediscache.Counters, error) {
			return rediscache.Counters{MemoryHits: 60, RedisHits: 30, Misses: 10}, nil
		},
		CommandsPerDay: func(context.Context, time.Time) (int64, time.Duration, error) {
			return 2_000_000, time.Hour, nil
		},
		RedisBudget: 1_000_000,
		QStash: func(_ context.Context, region string) (qstash.Snapshot, error) {
			if region == "us" {
				return qstash.Snapshot{}, qstash.ErrNoSnapshot
			}
			return qstash.Snapshot{Region: region, ListedAt: sampledAt, Err: "HTTP 500",
				Queues: []qstash.Queue{{Name: "billing", Lag: 12}, {Name: "emails", Lag: 0, Paused: true}}}, nil
		},
		QStashRegions: []string{"eu", "us"},
		Fleet: func() (fly.Report, bool) {
			return fly.Report{Groups: []fly.GroupReport{
				{Name: "api", CrashLoops: 0, Machines: []fly.MachineRow{{State: "started"}, {State: "started"}, {State: "stopped"}}},
				{Name: "worker", CrashLoops: 1, Machines: []fly.MachineRow{{State: "started", CrashLoop: true}}}}}, true
		},
		Switches: func(context.Context) ([]switches.Switch, error) {
			return []switches.Switch{{Name: "SUSPEND_REDIS", Enabled: true}, {Name: "PAUSE_DELIVERIES"}}, nil
		},
		UpstreamCalls: func() map[string]int64 { return map[string]int64{"redis": 5, "qstash_eu": 9} },
	}
}

func TestPlatformCollector(t *testing.T) {
	c := newPlatform(fakeSources())
	want := `
# HELP atum_system_state 1 for the state each watched system is in (ok, error, pending, not_configured), 0 for the others.
# TYPE atum_system_state gauge
atum_system_state{state="error",system="fly"} 0
atum_system_state{state="error",system="postgres"} 0
atum_system_state{state="error",system="redis"} 1
atum_system_state{state="not_configured",system="fly"} 1
atum_system_state{state="not_configured",system="postgres"} 0
atum_system_state{state="not_configured",system="redis"} 0
atum_system_state{state="ok",system="fly"} 0
atum_system_state{state="ok",system="postgres"} 1
atum_system_state{state="ok",system="redis"} 0
atum_system_state{state="pending",system="fly"} 0
atum_system_state{state="pending",system="postgres"} 0
atum_system_state{state="pending",system="redis"} 0
# HELP atum_connections_used Client connections open on the platform database at the last sample, by process group (other: every other application_name).
# TYPE atum_connections_used gauge
atum_connections_used{group="api"} 30
atum_connections_used{group="other"} 4
atum_connections_used{group="worker"} 8
# HELP atum_connections_planned Planned connections: machines × processes × (pool + overflow) per process group, or an engine's maximum.
# TYPE atum_connections_planned gauge
atum_connections_planned{group="api",kind="process_group"} 80
atum_connections_planned{group="atum-console",kind="engine"} 14
# HELP atum_connections_usable Usable direct connection slots: max_connections minus reserved slots.
# TYPE atum_connections_usable gauge
atum_connections_usable 97
# HELP atum_connections_plan_limit The limit the planned budget counts against: usable direct slots, or the pooler's client limit.
# TYPE atum_connections_plan_limit gauge
atum_connections_plan_limit 97
# HELP atum_pgbouncer_waiting_clients Clients waiting for a server connection in PgBouncer at the last sample.
# TYPE atum_pgbouncer_waiting_clients gauge
atum_pgbouncer_waiting_clients 7
# HELP atum_tenant_cache_ratio Share of the platform's tenant lookups served by each layer (memory, redis, db) over the last 5 minutes; absent without lookups.
# TYPE atum_tenant_cache_ratio gauge
atum_tenant_cache_ratio{layer="db"} 0.1
atum_tenant_cache_ratio{layer="memory"} 0.6
atum_tenant_cache_ratio{layer="redis"} 0.3
# HELP atum_redis_commands_per_day_projected Redis commands per day projected from the last hour's samples; absent until two samples exist.
# TYPE atum_redis_commands_per_day_projected gauge
atum_redis_commands_per_day_projected 2e+06
# HELP atum_redis_commands_per_day_budget REDIS_DAILY_COMMAND_BUDGET: Redis commands per day the platform should stay under.
# TYPE atum_redis_commands_per_day_budget gauge
atum_redis_commands_per_day_budget 1e+06
# HELP atum_qstash_queue_lag Messages waiting in a QStash queue at the last listing.
# TYPE atum_qstash_queue_lag gauge
atum_qstash_queue_lag{queue="billing",region="eu"} 12
atum_qstash_queue_lag{queue="emails",region="eu"} 0
# HELP atum_qstash_listing_failing 1 when the latest listing of a region's queues failed (the queues shown are older).
# TYPE atum_qstash_listing_failing gauge
atum_qstash_listing_failing{region="eu"} 1
# HELP atum_fly_machines Fly machines of the platform's app by process group and state, at the last listing.
# TYPE atum_fly_machines gauge
atum_fly_machines{group="api",state="started"} 2
atum_fly_machines{group="api",state="stopped"} 1
atum_fly_machines{group="worker",state="started"} 1
# HELP atum_fly_crash_looping_machines Machines of a process group that crash-loop at the last listing.
# TYPE atum_fly_crash_looping_machines gauge
atum_fly_crash_looping_machines{group="api"} 0
atum_fly_crash_looping_machines{group="worker"} 1
# HELP atum_kill_switch_enabled 1 when a kill switch is in effect.
# TYPE atum_kill_switch_enabled gauge
atum_kill_switch_enabled{switch="PAUSE_DELIVERIES"} 0
atum_kill_switch_enabled{switch="SUSPEND_REDIS"} 1
# HELP atum_upstream_calls_total Calls this console instance made to an upstream since it started (platform_database, redis, qstash_REGION).
# TYPE atum_upstream_calls_total counter
atum_upstream_calls_total{system="qstash_eu"} 9
atum_upstream_calls_total{system="redis"} 5
# HELP atum_metrics_source_up 1 when a source of these metrics could be read at this scrape; 0 when it failed or did not answer in time (its metrics are then left out).
# TYPE atum_metrics_source_up gauge
atum_metrics_source_up{source="connections"} 1
atum_metrics_source_up{source="kill_switches"} 1
atum_metrics_source_up{source="qstash"} 1
atum_metrics_source_up{source="redis_commands"} 1
atum_metrics_source_up{source="tenant_cache"} 1
`
	names := []string{"atum_system_state", "atum_connections_used", "atum_connections_planned", "atum_connections_usable",
		"atum_connections_plan_limit", "atum_pgbouncer_waiting_clients", "atum_tenant_cache_ratio",
		"atum_redis_commands_per_day_projected", "atum_redis_commands_per_day_budget", "atum_qstash_queue_lag",
		"atum_qstash_listing_failing", "atum_fly_machines", "atum_fly_crash_looping_machines", "atum_kill_switch_enabled",
		"atum_upstream_calls_total", "atum_metrics_source_up"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(""), "atum_qstash_listing_timestamp_seconds"); err == nil {
		t.Fatal("no listing timestamp exported for a listed region")
	}
	if n, err := testutil.GatherAndCount(registryOf(c), "atum_qstash_listing_failing"); err != nil || n != 1 {
		t.Fatalf("a region never listed must have no series: %d series, %v", n, err)
	}
	// The registry's own consistency checks (names, help, label sets).
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

func registryOf(c prometheus.Collector) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(c)
	return r
}

// TestSourcesFailAlone checks that a failing or hanging source is cut at
// the deadline, marked down and left out, and the others still answer.
func TestSourcesFailAlone(t *testing.T) {
	src := fakeSources()
	src.Deadline = 200 * time.Millisecond
	src.Switches = func(ctx context.Context) ([]switches.Switch, error) {
		<-ctx.Done() // the console's database hangs
		return nil, ctx.Err()
	}
	src.CacheCounters = func(context.Context) (rediscache.Counters, error) {
		return rediscache.Counters{}, errors.New("relation ops.heartbeat_history does not exist")
	}
	src.Connections = func(context.Context) (neon.Snapshot, error) {
		return neon.Snapshot{At: sampledAt, Err: "platform database unreachable"}, nil
	}
	c := newPlatform(src)
	start := time.Now()
	reg := registryOf(c)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("register took %s", took)
	}
	start = time.Now()
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("a scrape with a hanging source took %s; want about the 200ms deadline", took)
	}
	want := `
# HELP atum_metrics_source_up 1 when a source of these metrics could be read at this scrape; 0 when it failed or did not answer in time (its metrics are then left out).
# TYPE atum_metrics_source_up gauge
atum_metrics_source_up{source="connections"} 0
atum_metrics_source_up{source="kill_switches"} 0
atum_metrics_source_up{source="qstash"} 1
atum_metrics_source_up{source="redis_commands"} 1
atum_metrics_source_up{source="tenant_cache"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "atum_metrics_source_up"); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"atum_kill_switch_enabled", "atum_tenant_cache_ratio", "atum_connections_used", "atum_connections_usable"} {
		if n, _ := testutil.GatherAndCount(reg, gone); n != 0 {
			t.Errorf("%s exported from a source that failed", gone)
		}
	}
	// A failed platform reading still says when it was attempted, and
	// PgBouncer's figures are independent of it (none here).
	if n, _ := testutil.GatherAndCount(reg, "atum_connections_sample_timestamp_seconds"); n != 1 {
		t.Error("no sample timestamp for a failed reading")
	}
}

// TestNoStoredReadsWhilePaused checks that while sampling is paused only
// in-memory figures are exported: the console's database is not read.
func TestNoStoredReadsWhilePaused(t *testing.T) {
	src := fakeSources()
	read := 0
	src.Switches = func(context.Context) ([]switches.Switch, error) { read++; return nil, nil }
	src.Connections = func(context.Context) (neon.Snapshot, error) { read++; return neon.Snapshot{}, nil }
	src.Reading = func() bool { return false }
	reg := registryOf(newPlatform(src))
	if n, _ := testutil.GatherAndCount(reg, "atum_system_state", "atum_fly_machines", "atum_connections_planned"); n == 0 {
		t.Fatal("in-memory figures missing while paused")
	}
	if n, _ := testutil.GatherAndCount(reg, "atum_metrics_source_up", "atum_kill_switch_enabled"); n != 0 || read != 0 {
		t.Fatalf("stored sources read while paused: %d series, %d reads", n, read)
	}
}

// TestCacheFor checks that concurrent or repeated scrapes within CacheFor
// read the sources once.
func TestCacheFor(t *testing.T) {
	src := fakeSources()
	reads := 0
	src.Switches = func(context.Context) ([]switches.Switch, error) { reads++; return nil, nil }
	src.CacheFor = time.Hour
	reg := registryOf(newPlatform(src))
	for range 3 {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if reads != 1 {
		t.Fatalf("%d reads for 3 scrapes within CacheFor; want 1", reads)
	}
}

func TestObserve(t *testing.T) {
	m := New(Sources{})
	m.ObserveRequest("GET", "/queues/dlq/:id", 200, 30*time.Millisecond)
	m.ObserveRequest("GET", "/queues/dlq/:id", 204, 10*time.Millisecond)
	m.ObserveRequest("BREW", "", 404, time.Millisecond)
	m.ObserveProbe("redis", 2*time.Second, errors.New("connection refused"))
	m.ObserveProbe("redis", time.Second, nil)
	m.ObserveProbe("postgres", time.Millisecond, nil)
	if got := testutil.ToFloat64(m.failures.WithLabelValues("redis")); got != 1 {
		t.Fatalf("redis probe errors %v; want 1", got)
	}
	if got := testutil.ToFloat64(m.failures.WithLabelValues("postgres")); got != 0 {
		t.Fatalf("postgres probe errors %v; want 0", got)
	}
	n, err := testutil.GatherAndCount(m.Registry(), "atum_http_request_duration_seconds")
	if err != nil || n != 2 {
		t.Fatalf("%d request series (%v); want 2: one per route, method and status class", n, err)
	}
	if c := testutil.CollectAndCount(m.probes); c != 2 {
		t.Fatalf("%d probe series; want 2", c)
	}
	out := scrape(t, m.Handler(), "/metrics")
	for _, s := range []string{
		`atum_http_request_duration_seconds_count{method="GET",route="/queues/dlq/:id",status="2xx"} 2`,
		`atum_http_request_duration_seconds_count{method="OTHER",route="(unmatched)",status="4xx"} 1`,
		`atum_probe_duration_seconds_count{system="redis"} 2`,
		`atum_probe_errors_total{system="redis"} 1`,
		"go_goroutines ", "process_start_time_seconds ",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
}

// TestHandlerServesOnlyMetrics checks the metrics listener answers
// /metrics and nothing else.
func TestHandlerServesOnlyMetrics(t *testing.T) {
	ts := httptest.NewServer(New(Sources{}).Handler())
	defer ts.Close()
	for path, want := range map[string]int{"/metrics": 200, "/": 404, "/healthz": 404, "/login": 404, "/metrics/x": 404} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d; want %d", path, resp.StatusCode, want)
		}
	}
	resp, err := http.Post(ts.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", resp.StatusCode)
	}
}

func scrape(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	ts := httptest.NewServer(h)
	defer ts.Close()
	resp, err := http.Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

func TestAlertsFiring(t *testing.T) {
	src := fakeSources()
	src.AlertsFiring = func() (map[string]int, bool) { return map[string]int{"critical": 2}, true }
	want := `
# HELP atum_alerts_firing Alerts firing at the last evaluation this instance read, by severity (silenced ones included).
# TYPE atum_alerts_firing gauge
atum_alerts_firing{severity="critical"} 2
atum_alerts_firing{severity="warning"} 0
`
	if err := testutil.CollectAndCompare(newPlatform(src), strings.NewReader(want), "atum_alerts_firing"); err != nil {
		t.Fatal(err)
	}
	src.AlertsFiring = func() (map[string]int, bool) { return nil, false }
	if n, err := testutil.GatherAndCount(registryOf(newPlatform(src)), "atum_alerts_firing"); err != nil || n != 0 {
		t.Fatalf("before the first evaluation: %d series, %v", n, err)
	}
}
