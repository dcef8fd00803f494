package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/config"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/internal/sim"
	"github.com/atum/ops-console/internal/store"
)

// demoOperators are created in demo mode only, each with password "demo".
var demoOperators = []struct {
	email string
	role  auth.Role
}{
	{"admin@demo.local", auth.Admin},
	{"operator@demo.local", auth.Operator},
	{"support@demo.local", auth.Support},
	{"viewer@demo.local", auth.Viewer},
}

// demo starts real Postgres, PgBouncer and Redis under DEMO_DIR (default
// .demo), migrates, seeds the simulated platform and the demo operators,
// and serves on 127.0.0.1:PORT until interrupted.
func demo(ctx context.Context, env Env) error {
	if e := env.Getenv("ENVIRONMENT"); e != "" && e != config.Demo {
		return fmt.Errorf("demo refuses to run with ENVIRONMENT=%s: it seeds fake data and demo logins", e)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	dir := env.Getenv("DEMO_DIR")
	if dir == "" {
		dir = ".demo"
	}
	fmt.Fprintf(env.Stdout, "starting Postgres, PgBouncer and Redis in %s ...\n", dir)
	opts := devstack.Options{Dir: dir, Postgres: true, PgBouncer: true, Redis: true}
	st, err := devstack.Start(ctx, opts)
	if errors.Is(err, devstack.ErrDirUnreachable) && env.Getenv("DEMO_DIR") == "" {
		// As root in a checkout the postgres user cannot enter (e.g. under
		// /root): a temporary directory, removed on exit, works everywhere.
		fmt.Fprintf(env.Stdout, "%s is not reachable by the postgres user; using a temporary directory instead\n", dir)
		opts.Dir = ""
		st, err = devstack.Start(ctx, opts)
	}
	if err != nil {
		return err
	}
	defer st.Stop()

	// QStash cannot run locally: the demo uses the in-repo double, with a
	// backlog of dead letters from "the last bad deploy".
	qd := qstashdouble.New(qstashdouble.Options{Token: "demo-qstash-token", ReadOnlyToken: "demo-qstash-readonly-token",
		RateLimit: 100, RetryDelay: 200 * time.Millisecond})
	qURL, err := qd.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer qd.Close()
	seedDeadLetters(qd, 300)
	seedSchedules(qd)
	// Fly cannot run locally either: the Fly API double lists the
	// simulated platform's machines.
	fd, flyURL, err := startDemoFleet(ctx)
	if err != nil {
		return err
	}
	defer fd.Close()

	port := env.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	// A local webhook receiver gets the alert notifications, signed.
	receiver, err := startDemoReceiver()
	if err != nil {
		return err
	}
	defer receiver.close()
	idp, err := startDemoIdP(port)
	if err != nil {
		return err
	}
	defer idp.Close()
	vars := map[string]string{
		"ENVIRONMENT": config.Demo, "DATABASE_URL": st.PostgresURL(), "REDIS_URL": st.RedisURL(),
		"PGBOUNCER_ADMIN_URL": st.PgBouncerAdminURL(), "HOST": "127.0.0.1", "PORT": port,
		"LOG_LEVEL": env.Getenv("LOG_LEVEL"), "CHECK_INTERVAL": env.Getenv("CHECK_INTERVAL"),
		"QSTASH_URL": qURL, "QSTASH_TOKEN": "demo-qstash-token", "QSTASH_READONLY_TOKEN": "demo-qstash-readonly-token",
		"FLY_API_URL": flyURL, "FLY_API_TOKEN": demoFlyToken, "ATUM_FLY_APP": demoFlyApp, "FLY_SAMPLE_INTERVAL": "5s",
		// The plan matches the simulated fleet below.
		"BUDGET_GROUPS":        "api:machines=3,processes=2,pool=3,overflow=2;worker:machines=2,processes=1,pool=2,overflow=1",
		"BUDGET_OTHER_ENGINES": "atum-console=14,migrations=1,batch=30",
		// The simulated fleet makes about 2M Redis commands a day.
		"REDIS_DAILY_COMMAND_BUDGET": "5000000",
		"METRICS_ADDR":               cmp.Or(env.Getenv("METRICS_ADDR"), "127.0.0.1:9091"),
		"ALERT_WEBHOOK_URL":          receiver.url + "/hook",
		"ALERT_WEBHOOK_SECRET":       receiver.secret,
		"CONSOLE_URL":                "http://localhost:" + port, // a name, not an IP: passkeys need one
		// "Sign in with demo SSO" uses the local OpenID provider.
		"OIDC_ISSUER": idp.Issuer(), "OIDC_CLIENT_ID": demoOIDCClient, "OIDC_CLIENT_SECRET": demoOIDCSecret,
		"OIDC_ALLOWED_DOMAINS": "demo.local", "OIDC_ROLE_CLAIM": "groups", "OIDC_ROLE_MAP": "demo-oncall=operator,demo-staff=viewer",
		"OIDC_PROVIDER_NAME": "demo SSO",
		"STEP_UP_WINDOW":     env.Getenv("STEP_UP_WINDOW"), "MFA_REQUIRED_ROLES": env.Getenv("MFA_REQUIRED_ROLES"),
		// A purge or retry of every seeded dead letter needs a second
		// operator; one of a single queue does not.
		"APPROVAL_ACTIONS": env.Getenv("APPROVAL_ACTIONS"), "APPROVAL_ABOVE": cmp.Or(env.Getenv("APPROVAL_ABOVE"), "100"),
		"APPROVAL_EXPIRY": env.Getenv("APPROVAL_EXPIRY"),
	}
	cfg, err := config.Load(func(k string) string { return vars[k] }, nil)
	if err != nil {
		return err
	}
	if err := prepareDemo(ctx, cfg, env); err != nil {
		return err
	}
	// The simulated fleet holds real pooled connections through PgBouncer:
	// some idle in a transaction, a lock wait, and more busy clients than
	// PgBouncer's pool has server connections, so clients wait.
	fleet, err := sim.StartConnections(ctx, sim.ConnectionsOptions{URL: st.PgBouncerURL(),
		Groups: []sim.SimGroup{{Name: "api", Machines: 3, Processes: 2, Pool: 3, Overflow: 2},
			{Name: "worker", Machines: 2, Processes: 1, Pool: 2, Overflow: 1}},
		IdleInTx: 2, LockWait: true, Busy: 30})
	if err != nil {
		return err
	}
	defer fleet.Stop()
	// The same fleet's instances serve tenant lookups through memory,
	// Redis and Postgres, follow SUSPEND_REDIS and report heartbeats. One
	// worker has SUSPEND_REDIS=true in its environment.
	var specs []sim.InstanceSpec
	for m := 1; m <= 3; m++ {
		for p := 1; p <= 2; p++ {
			specs = append(specs, sim.InstanceSpec{ID: fmt.Sprintf("api-%d-%d", m, p), Machine: fmt.Sprintf("m-api-%d", m), Group: "api"})
		}
	}
	specs = append(specs, sim.InstanceSpec{ID: "worker-1-1", Machine: "m-worker-1", Group: "worker"},
		sim.InstanceSpec{ID: "worker-2-1", Machine: "m-worker-2", Group: "worker", EnvSuspend: true},
		// A machine of an old app, unknown to Fly's listing of this one,
		// still writes to this database.
		sim.InstanceSpec{ID: "legacy-1-1", Machine: "m-legacy-1", Group: "api"})
	instances, err := sim.StartInstances(ctx, sim.InstancesOptions{ConsoleURL: st.PostgresURL(), PlatformURL: st.PostgresURL(),
		RedisURL: st.RedisURL(), Instances: specs, Environment: config.Demo, DatabaseIdentity: "127.0.0.1/atum",
		LookupsPerSecond: 5})
	if err != nil {
		return err
	}
	defer instances.Stop()
	deliveries, err := sim.StartDeliveries(ctx, sim.DeliveriesOptions{QStashURL: qURL, Token: "demo-qstash-token", Every: 3 * time.Second})
	if err != nil {
		return err
	}
	defer deliveries.Stop()
	fmt.Fprintf(env.Stdout, "\nATUM Ops Console (DEMO DATA) on http://localhost:%s (open it by this name: single sign-on and passkeys are bound to it)\n", port)
	fmt.Fprintf(env.Stdout, "Prometheus metrics on http://%s/metrics\n", cfg.MetricsAddr)
	fmt.Fprintf(env.Stdout, "alert notifications (signed webhook) received on %s/\n", receiver.url)
	fmt.Fprintln(env.Stdout, "sign in with password \"demo\" as one of:")
	for _, o := range demoOperators {
		fmt.Fprintf(env.Stdout, "  %-22s %s\n", o.email, o.role)
	}
	fmt.Fprintf(env.Stdout, "or \"Sign in with demo SSO\" (a local OpenID provider on %s) as one of them, or as:\n", idp.Issuer())
	for _, u := range demoIdPExtras {
		fmt.Fprintf(env.Stdout, "  %-22s %s\n", u.user.Email, u.note)
	}
	fmt.Fprintln(env.Stdout, "press Ctrl-C to stop")
	err = serve(ctx, cfg, env, serveOptions{})
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// seedDeadLetters puts n dead letters into the QStash double, as a failed
// deploy leaves them: several queues, destinations, statuses and labels,
// some with hostile or binary bodies.
func seedDeadLetters(qd *qstashdouble.Server, n int) {
	now := time.Now()
	kinds := []struct {
		queue, path, label, body string
		status                   int
	}{
		{"billing", "/invoice", "deploy-2026-04-09", `{"invoice":"INV-%d","tenant":"tenant-%d"}`, 500},
		{"emails", "/email", "welcome", `{"to":"user%d@tenant-%d.example","template":"welcome"}`, 503},
		{"webhooks", "/hook", "partner", `{"event":"workspace.created","id":%d,"tenant":"tenant-%d","x":"<script>alert(1)</script>"}`, 502},
	}
	for i := range n {
		k := kinds[i%len(kinds)]
		// The platform's contract: the tenant's label and forwarded
		// header; the partner webhooks carry only the header.
		tenant := fmt.Sprintf("tenant-%d", 1+i%20)
		labels := []string{k.label, qstash.TenantLabelPrefix + tenant}
		if k.queue == "webhooks" {
			labels = labels[:1]
		}
		qd.AddDLQ(qstashdouble.DLQMessage{
			URL: "https://api.atum.example" + k.path, Method: "POST", QueueName: k.queue, Labels: labels,
			Header: map[string][]string{"Content-Type": {"application/json"}, qstash.TenantHeader: {tenant}},
			Body:   fmt.Sprintf(k.body, i, 1+i%20), MaxRetries: 3, CreatedAt: now.Add(-time.Duration(n-i) * time.Minute).UnixMilli(),
			ResponseStatus: k.status, ResponseHeader: map[string][]string{"Content-Type": {"text/html"}},
			ResponseBody: "<html><body>Internal Server Error <img src=x onerror=alert(2)></body></html>",
		})
	}
}

// prepareDemo migrates, seeds the platform and creates the demo operators.
func prepareDemo(ctx context.Context, cfg *config.Config, env Env) error {
	if cfg.Environment != config.Demo {
		return errors.New("demo data is written only in demo mode")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	pool, err := store.Open(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := store.Migrate(ctx, pool); err != nil {
		return err
	}
	size := sim.DefaultSeed
	// DEMO_USERS=1000000 seeds the lookup benchmark's size: a tenant per
	// ten users (100,000 tenants).
	if n, err := strconv.Atoi(env.Getenv("DEMO_USERS")); err == nil && n >= size.Tenants {
		size.Users = n
		size.Tenants = max(size.Tenants, n/10)
	}
	counts, err := sim.Seed(ctx, pool, size)
	if err != nil {
		return err
	}
	if err := accounts.CreateIndexes(ctx, pool); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "seeded %d tenants, %d users (%d emails shared by case twins), %d workspaces\n",
		counts.Tenants, counts.Users, counts.DuplicateEmails, counts.Workspaces)
	store := auth.NewStore(pool)
	for _, o := range demoOperators {
		if _, err := store.CreateOperator(ctx, o.email, o.role, "demo", true); err != nil {
			return fmt.Errorf("demo operator %s: %w", o.email, err)
		}
	}
	return nil
}
