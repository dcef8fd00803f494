package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/alerts/rules"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/testenv"
	"github.com/atum/ops-console/internal/watch"
	"github.com/atum/ops-console/views"
	"github.com/atum/ops-console/web"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true, Redis: true}) }

const password = "a long test password"

// harness is a console on a real, migrated Postgres behind httptest.
type harness struct {
	t        *testing.T
	pool     *pgxpool.Pool
	store    *auth.Store
	audit    *audit.Log
	server   *web.Server
	ts       *httptest.Server
	ready    error
	schema   error
	sampler  *neon.Sampler
	plan     neon.Plan
	switches *switches.Store
	redis    *rediscache.Sampler
	qs       *qstashdouble.Server
	qsURL    string
	purger   *qstash.Purger
	queues   *qstash.Sampler
}

// budget is the harness's plan: api 2 machines × 2 processes × (15 + 5)
// and worker 1 × 1 × 20, plus 15 for other engines: 115.
func (h *harness) budget() neon.Budget {
	if h.plan.Groups == nil {
		h.plan = neon.Plan{
			Groups: []neon.Group{{Name: "api", Machines: 2, Processes: 2, PoolSize: 15, MaxOverflow: 5, MachinesFrom: "config"},
				{Name: "worker", Machines: 1, Processes: 1, PoolSize: 15, MaxOverflow: 5, MachinesFrom: "config"}},
			Engines: []neon.Engine{{Name: "atum-console", Connections: 14}, {Name: "migrations", Connections: 1}},
		}
	}
	return neon.Budget{Plan: h.plan}
}

type option func(*web.Deps)

func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	pool, dbURL := testenv.MigratedPool(t)
	h := &harness{t: t, pool: pool, store: auth.NewStore(pool), audit: audit.New(pool)}
	var logw io.Writer = io.Discard
	if os.Getenv("WEB_TEST_LOG") != "" {
		logw = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	mon := watch.New(time.Second, func(s string) string { return s }, log,
		watch.Check{Key: "postgres", Name: "Console database", Href: "/", Probe: func(ctx context.Context) (string, error) {
			return "PostgreSQL 15", pool.Ping(ctx)
		}},
		watch.Check{Key: "redis", Name: "Redis", Href: "/cache", Probe: func(context.Context) (string, error) {
			return "", errors.New("dial tcp 127.0.0.1:1: connect: connection refused <script>x</script>")
		}},
		watch.Check{Key: "qstash", Name: "QStash", Href: "/queues"},
	)
	mon.Refresh()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go mon.Run(ctx)
	h.sampler = neon.NewSampler()
	h.sampler.Console, h.sampler.Platform, h.sampler.Interval, h.sampler.Keep = pool, pool, time.Second, time.Hour
	h.sampler.Planned = func() int { return h.budget().Plan.Total() }
	h.sampler.Log = log
	rc, err := rediscache.NewClient(testenv.Stack(t).RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	h.switches = switches.NewStore(pool)
	h.redis = &rediscache.Sampler{Console: pool, Client: rc, Interval: time.Second,
		Suspended: func(ctx context.Context) (bool, error) {
			s, err := h.switches.Get(ctx, switches.SuspendRedis)
			return s.Enabled, err
		}}
	h.qs = qstashdouble.New(qstashdouble.Options{Token: "test-token", RetryDelay: 10 * time.Millisecond, MaxRetries: 1})
	qURL, err := h.qs.Start("127.0.0.1:0")
	h.qsURL = qURL
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.qs.Close() })
	qc, err := qstash.NewClient("eu", qURL, "test-token", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*qstash.Client{"eu": qc}
	h.purger = &qstash.Purger{Pool: pool, Clients: clients, Log: log}
	h.queues = &qstash.Sampler{Pool: pool, Clients: clients, Interval: time.Second}
	d := web.Deps{
		Env: "staging", Version: "test", Log: log, Sessions: h.store, Audit: h.audit, Systems: mon,
		Identity: func() views.DBIdentity {
			return views.DBIdentity{Host: "127.0.0.1", Database: "atum", User: "postgres", ServerVersion: "15.18", SystemID: "7311"}
		},
		Ready:       func(context.Context) error { return h.ready },
		SchemaErr:   func() error { return h.schema },
		SessionIdle: 30 * time.Minute, SessionMax: 12 * time.Hour,
		Access:      web.Access{PasswordLogin: true, StepUpWindow: 10 * time.Minute, TOTPIssuer: "ATUM Ops Console (test)"},
		Connections: h.sampler, Budget: h.budget, PlatformHost: "127.0.0.1", ConsoleHost: "127.0.0.1",
		Console: pool, CacheFigures: newFreshFigures(pool), Switches: h.switches, Redis: h.redis, RedisConfigured: true, RedisBudget: 1000,
		Accounts: &accounts.Store{Platform: pool, Console: pool, Redis: rc, PlatformURL: dbURL, Environment: "staging"},
		QStash:   clients, QStashRegions: []string{"eu"}, QStashSampler: h.queues, Purger: h.purger, Background: ctx,
	}
	if d.Alerts == nil {
		d.Alerts = h.evaluate(pool, &d)
	}
	for _, o := range opts {
		o(&d)
	}
	h.server = web.New(d)
	h.ts = httptest.NewServer(h.server.Echo)
	t.Cleanup(h.ts.Close)
	waitFor(t, func() bool { st, _ := mon.Get("postgres"); return st.State == watch.OK })
	return h
}

// freshFigures folds the heartbeats and computes the cache figures on
// each read, as the elected console instance does every interval.
type freshFigures struct {
	roller *rediscache.Roller
	snaps  *rediscache.Snapshots
}

func newFreshFigures(pool *pgxpool.Pool) freshFigures {
	snaps := &rediscache.Snapshots{Pool: pool}
	return freshFigures{roller: &rediscache.Roller{Pool: pool, Interval: time.Minute, Snapshots: snaps}, snaps: snaps}
}

// Latest folds, computes and returns the figures.
func (f freshFigures) Latest(ctx context.Context) (rediscache.Figures, error) {
	if err := f.roller.Tick(ctx, true); err != nil {
		return rediscache.Figures{}, err
	}
	return f.snaps.Latest(ctx)
}

// evaluate returns the open alerts as a console gets them, but fresh on
// each page: a round of every rule (each firing at once), then the stored
// open alerts, or why they could not be read.
func (h *harness) evaluate(pool *pgxpool.Pool, d *web.Deps) func(context.Context) []views.Alert {
	engine := &alerts.Engine{Pool: pool}
	set := &rules.Set{Connections: h.sampler, Budget: h.budget, Switches: h.switches, RedisBudget: 1000, Cache: d.CacheFigures}
	return func(ctx context.Context) []views.Alert {
		if d.Fleet != nil {
			set.Fleet = d.Fleet
		}
		now := time.Now()
		_, _, err := engine.EvaluateFunc(ctx, func(ctx context.Context) (alerts.Round, error) { return set.Round(ctx, now), nil }, now)
		var open []alerts.Alert
		if err == nil {
			open, err = engine.Open(ctx)
		}
		if err != nil {
			// As the console says it when its database does not answer.
			return []views.Alert{{Level: "warning", Href: "/alerts", Text: "Alerts could not be evaluated: " + err.Error()}}
		}
		return handlers.FiringAlerts(open, now)
	}
}

// waitFor waits until cond holds; it fails the test after 20 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, cond, "condition not met")
}

// client returns an HTTP client with a cookie jar that does not follow
// redirects.
func (h *harness) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// clientFrom is a client whose connections come from the loopback
// address local (e.g. 127.0.0.2), as a proxy's or another peer's would.
func (h *harness) clientFrom(local string) *http.Client {
	c := h.client()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

// proxyAddr is where the tests' "Fly proxy" connects from.
const proxyAddr = "127.0.0.2"

// behindFly trusts Fly-Client-IP from proxyAddr only.
func behindFly(d *web.Deps) {
	d.TrustFlyClientIP = true
	d.ProxyCIDRs = []netip.Prefix{netip.MustParsePrefix(proxyAddr + "/32")}
}

// operator creates an operator with role and returns a signed-in client.
func (h *harness) operator(email string, role auth.Role) *http.Client {
	h.t.Helper()
	if _, err := h.store.CreateOperator(context.Background(), email, role, password, false); err != nil {
		h.t.Fatal(err)
	}
	c := h.client()
	resp := h.post(c, "/login", url.Values{"email": {email}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("login as %s: %d %s", email, resp.StatusCode, body(resp))
	}
	return c
}

func (h *harness) get(c *http.Client, path string, hdr ...string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.ts.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func (h *harness) post(c *http.Client, path string, form url.Values, hdr ...string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func body(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// events returns the audit events with action, newest first.
func (h *harness) events(action string) []audit.Event {
	h.t.Helper()
	ev, err := h.audit.List(context.Background(), audit.Filter{Action: action, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []audit.Event
	for _, e := range ev {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}
