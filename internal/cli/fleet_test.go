package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/flydouble"
	"github.com/atum/ops-console/internal/testenv"
)

const flyToken = "fo1_e2e-secret-fly-token-93c1"

// TestFleetEndToEnd serves the console against the Fly API double: the
// connection budget takes its machine counts from Fly, the Overview
// raises the crash loop (linking to SUSPEND_REDIS) and the missing
// ENVIRONMENT, the account diagnosis names the silent machine, and the
// token appears in no page and no log line, even when Fly's answers echo
// it back.
func TestFleetEndToEnd(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	env, _, _ := testEnv(map[string]string{"ENVIRONMENT": "staging", "DATABASE_URL": dbURL}, "")
	if code := Run(context.Background(), []string{"migrate"}, env); code != 0 {
		t.Fatal("migrate failed")
	}
	if err := seedPlatform(dbURL); err != nil {
		t.Fatal(err)
	}
	fd := flydouble.New(flydouble.Options{Token: flyToken, App: "atum", Latency: 5 * time.Millisecond, EchoAuthorization: true})
	flyURL, err := fd.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	// The api machines run a larger pool than the console's DB_POOL_SIZE
	// (15): the budget takes the machines' value.
	prod := map[string]string{"ENVIRONMENT": "production", "DB_POOL_SIZE": "20", "DATABASE_MAX_OVERFLOW": "5"}
	for _, id := range []string{"api1", "api2", "api3"} {
		fd.Put(flydouble.Machine{ID: id, Name: id, State: "started", Region: "fra", Group: "api", Release: "9", Digest: "sha256:abc", Env: prod})
	}
	fd.Put(flydouble.Machine{ID: "wrk1", Name: "wrk1", State: "started", Region: "fra", Group: "worker", Release: "9", Digest: "sha256:abc",
		Env: map[string]string{"DB_POOL_SIZE": "10", "DATABASE_MAX_OVERFLOW": "0", "API_TOKEN": "must-stay-hidden"}})
	fd.CrashLoop("api3", 3, time.Minute, 1, false)
	beat(t, dbURL, "api1-1", "api1")
	beat(t, dbURL, "ghost-1", "ghost")

	vars := map[string]string{"ENVIRONMENT": "staging", "DATABASE_URL": dbURL, "CHECK_INTERVAL": "1s", "LOG_LEVEL": "debug",
		"FLY_API_URL": flyURL, "FLY_API_TOKEN": flyToken, "ATUM_FLY_APP": "atum", "FLY_SAMPLE_INTERVAL": "5s",
		"BUDGET_GROUPS": "api:machines=1,processes=2;worker:machines=1,processes=1,pool=10,overflow=0", "BUDGET_OTHER_ENGINES": "atum-console=14"}
	env, _, _ = testEnv(vars, "a long enough password\n")
	if code := Run(context.Background(), []string{"user", "add", "ops@atum.io", "support"}, env); code != 0 {
		t.Fatal("user add failed")
	}
	env, _, stderr := testEnv(vars, "")
	base, stop := serveInBackground(t, env)
	defer stop() //nolint:errcheck
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.PostForm(base+"/login", url.Values{"email": {"ops@atum.io"}, "password": {"a long enough password"}})
		if err == nil {
			resp.Body.Close()
			if resp.Request.URL.Path == "/" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("could not sign in; stderr:\n%s", stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The first listing runs once someone uses the console.
	var fleet string
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, fleet = get("/fleet")
		if strings.Contains(fleet, "CRASH LOOP") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/fleet never showed the crash loop:\n%s", text(fleet))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The configuration findings fire at once, the alert rules running
	// after each sample; the ghost's heartbeats are listed at once and
	// become an alert after a minute.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(fleet, "may fall back to a local database") &&
		time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		_, fleet = get("/fleet")
	}
	for _, want := range []string{"api1", "wrk1", "runs without ENVIRONMENT=production", "may fall back to a local database",
		"Last report ghost-1 ghost", "NO HEARTBEAT"} {
		if !strings.Contains(text(fleet), want) {
			t.Errorf("/fleet lacks %q", want)
		}
	}
	// Overview alerts are computed at most every 5 s.
	crashAlert := regexp.MustCompile(`href="/switches#switch-SUSPEND_REDIS"[^>]*>Fleet: crash loop: machine api3`)
	var overview string
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, overview = get("/"); crashAlert.MatchString(overview) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !crashAlert.MatchString(overview) {
		t.Errorf("the Overview has no crash-loop alert linking to the switch:\n%s", text(overview))
	}
	// Budget: api 3 machines × 2 × (20 + 5) + worker 1 × 1 × (10 + 0) +
	// 14 = 174 (the plan said api 1 × 2 × (15 + 5): 64).
	var conns string
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, conns = get("/connections"); !strings.Contains(conns, "not sampled yet") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(text(conns), "Planned total 174") || !strings.Contains(text(conns), "3 fly BUDGET_GROUPS says 1") ||
		!strings.Contains(text(conns), "20 BUDGET_GROUPS says 15") {
		t.Errorf("/connections does not plan with Fly's counts:\n%s", text(conns))
	}
	status, machine := get("/fleet/machines/wrk1")
	if status != 200 || strings.Contains(machine, "must-stay-hidden") || !strings.Contains(machine, "API_TOKEN") {
		t.Errorf("machine page: %d, secret-looking env value shown or name missing", status)
	}
	if status, _ := get("/fleet/machines/nope"); status != http.StatusNotFound {
		t.Errorf("unknown machine: %d", status)
	}
	var userID string
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `SELECT id::text FROM users ORDER BY id LIMIT 1`).Scan(&userID); err != nil {
		t.Fatal(err)
	}
	_, account := get("/accounts/users/" + userID)
	if !strings.Contains(text(account), "running but silent") || !strings.Contains(text(account), "api2") ||
		!strings.Contains(text(account), "running without ENVIRONMENT=production: wrk1") {
		t.Errorf("the diagnosis does not name the silent machines:\n%s", text(account))
	}

	// Fly's errors may echo the token: it is scrubbed from tiles and logs.
	fd.SetLatency(0)
	fd.Force429(1000)
	// One more listing, answered 429, shows on the tile and the fleet page.
	var fleetAfter string
	testenv.Poll(30*time.Second, func() bool {
		_, overview = get("/")
		_, fleetAfter = get("/fleet")
		return strings.Contains(overview, "HTTP 429") && strings.Contains(fleetAfter, "Authorization: Bearer xxxxx")
	})
	pages := overview + fleet + fleetAfter + conns + machine + account
	if strings.Contains(pages, flyToken) || strings.Contains(stderr.String(), flyToken) {
		t.Fatal("the Fly token appears in a page or a log line")
	}
	if !strings.Contains(overview, "HTTP 429") || !strings.Contains(fleetAfter, "Authorization: Bearer xxxxx") {
		t.Errorf("the Fly tile does not show the 429:\n%s", text(overview))
	}
	if bad := fd.Dangerous(); len(bad) != 0 {
		t.Fatalf("the console sent %+v", bad)
	}
}

// beat writes a platform heartbeat from instance on machine.
func beat(t *testing.T, dbURL, instance, machine string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `INSERT INTO ops.instance_heartbeats (instance_id, machine_id, process_group, boot_id,
		started_at, environment, database_identity, suspend_redis, suspend_redis_source) VALUES ($1, $2, 'api', 'b1', now(), 'staging', 'x', false, 'database')`,
		instance, machine)
	if err != nil {
		t.Fatal(err)
	}
}

var tags = regexp.MustCompile(`(?s)<[^>]*>`)

// text is a page's visible text with whitespace collapsed.
func text(page string) string {
	return strings.Join(strings.Fields(tags.ReplaceAllString(page, " ")), " ")
}
