package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/config"
	"github.com/atum/ops-console/internal/devidp"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/faultproxy"
	"github.com/atum/ops-console/internal/flydouble"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Main(m, devstack.Options{Postgres: true, PgBouncer: true, Redis: true})
}

// syncBuffer is a bytes.Buffer safe for a server goroutine and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testEnv(vars map[string]string, stdin string) (Env, *syncBuffer, *syncBuffer) {
	var out, errb syncBuffer
	var environ []string
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	return Env{Getenv: func(k string) string { return vars[k] }, Environ: environ,
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Version: "test"}, &out, &errb
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestProductionRefusesUnsafeConfig(t *testing.T) {
	tests := []struct {
		vars    map[string]string
		wantVar string
	}{
		{map[string]string{"ENVIRONMENT": "production"}, "DATABASE_URL"},
		{map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": "sqlite:///atom_dev.db"}, "DATABASE_URL"},
		{map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": "postgres://u:pw@db.example.com/atum"}, "DATABASE_URL"},
		{map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": "postgres://u:pw@db.example.com/atum?sslmode=require", "DEMO_DIR": ".demo"}, "DEMO_DIR"},
		{map[string]string{"DATABASE_URL": "postgres://u:pw@db.example.com/atum?sslmode=require"}, "ENVIRONMENT"},
	}
	for _, tt := range tests {
		for _, cmd := range []string{"serve", "migrate", "check"} {
			env, _, stderr := testEnv(tt.vars, "")
			code := Run(context.Background(), []string{cmd}, env)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tt.wantVar) {
				t.Errorf("%s with %v: exit %d, stderr %q; want exit 2 and one line naming %s", cmd, tt.vars, code, stderr.String(), tt.wantVar)
			}
			if strings.Contains(stderr.String(), ":pw@") {
				t.Errorf("stderr leaks the password: %q", stderr.String())
			}
		}
	}
}

func TestUnknownCommandAndUsage(t *testing.T) {
	env, _, stderr := testEnv(nil, "")
	if code := Run(context.Background(), []string{"frobnicate"}, env); code != 2 || !strings.Contains(stderr.String(), "usage:") {
		t.Fatalf("exit %d, %q", code, stderr.String())
	}
	if code := Run(context.Background(), nil, env); code != 2 {
		t.Fatalf("no command: exit %d", code)
	}
}

func TestMigrateThenUserAdd(t *testing.T) {
	vars := map[string]string{"ENVIRONMENT": "staging", "DATABASE_URL": testenv.NewDatabase(t)}
	env, out, stderr := testEnv(vars, "")
	if code := Run(context.Background(), []string{"migrate"}, env); code != 0 || !strings.Contains(out.String(), "schema ops is at version") {
		t.Fatalf("migrate: exit %d, %s %s", code, out, stderr)
	}
	env, out, stderr = testEnv(vars, "a long enough password\n")
	if code := Run(context.Background(), []string{"user", "add", "Root@ATUM.io", "admin"}, env); code != 0 || !strings.Contains(out.String(), "root@atum.io (admin)") {
		t.Fatalf("user add: exit %d, %s %s", code, out, stderr)
	}
	for _, tc := range []struct {
		args  []string
		stdin string
	}{
		{[]string{"user", "add", "root@atum.io", "admin"}, "a long enough password\n"}, // duplicate
		{[]string{"user", "add", "x@atum.io", "superuser"}, "a long enough password\n"},
		{[]string{"user", "add", "x@atum.io", "viewer"}, "short\n"},
		{[]string{"user", "add", "x@atum.io", "viewer"}, ""},
	} {
		env, _, stderr := testEnv(vars, tc.stdin)
		if code := Run(context.Background(), tc.args, env); code != 1 || stderr.String() == "" {
			t.Errorf("%v: exit %d, %q", tc.args, code, stderr.String())
		}
	}
}

func TestCheckReportsEverySystem(t *testing.T) {
	st := testenv.Stack(t)
	dbURL := testenv.NewDatabase(t)
	base := map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": dbURL}
	env, _, _ := testEnv(base, "")
	if code := Run(context.Background(), []string{"migrate"}, env); code != 0 {
		t.Fatal("migrate failed")
	}
	// The platform tables are missing in a bare database: check fails.
	vars := map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": dbURL, "REDIS_URL": st.RedisURL(),
		"PGBOUNCER_ADMIN_URL": st.PgBouncerAdminURL()}
	env, out, _ := testEnv(vars, "")
	code := Run(context.Background(), []string{"check"}, env)
	if code != 1 || !strings.Contains(out.String(), "platform tables missing") || !strings.Contains(out.String(), "not configured") {
		t.Fatalf("check without platform tables: exit %d\n%s", code, out)
	}
	// With the platform seeded, every configured system answers.
	if err := seedPlatform(dbURL); err != nil {
		t.Fatal(err)
	}
	fd := flydouble.New(flydouble.Options{Token: "fo1_check", App: "atum"})
	flyURL, err := fd.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	fd.Put(flydouble.Machine{ID: "m1", State: "started", Group: "api"})
	vars["FLY_API_URL"], vars["FLY_API_TOKEN"], vars["ATUM_FLY_APP"] = flyURL, "fo1_check", "atum"
	env, out, _ = testEnv(vars, "")
	if code := Run(context.Background(), []string{"check"}, env); code != 0 {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
	for _, want := range []string{"ok    Console database", "ok    Redis", "ok    PgBouncer", "-     QStash", "system id",
		"ok    Fly machines       atum: 1 machines · 1 started"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	// An unreachable system fails the check, and tokens never print.
	vars["QSTASH_URL"], vars["QSTASH_TOKEN"] = "http://"+closedAddr(t), "qstash-secret-token"
	env, out, _ = testEnv(vars, "")
	start := time.Now()
	if code := Run(context.Background(), []string{"check"}, env); code != 1 || !strings.Contains(out.String(), "FAIL  QStash") {
		t.Fatalf("check with QStash down: exit %d\n%s", code, out)
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("check took %s with one system down", time.Since(start))
	}
	if strings.Contains(out.String(), "qstash-secret-token") {
		t.Fatal("check printed the QStash token")
	}
	// Each check lists the fleet itself, whatever a sampler stored.
	lists := 0
	for _, c := range fd.Calls() {
		if c.Action == "list" {
			lists++
		}
	}
	if lists != 2 {
		t.Errorf("two checks listed the fleet %d times", lists)
	}
}

func seedPlatform(dbURL string) error {
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"ENVIRONMENT": "demo", "DATABASE_URL": dbURL}[k]
	}, nil)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	return prepareDemo(context.Background(), cfg, Env{Stdout: &out, Getenv: func(string) string { return "" }})
}

func TestServeRefusesOutOfDateSchema(t *testing.T) {
	vars := map[string]string{"ENVIRONMENT": "staging", "DATABASE_URL": testenv.NewDatabase(t), "PORT": freePort(t), "HOST": "127.0.0.1"}
	env, _, stderr := testEnv(vars, "")
	code := Run(context.Background(), []string{"serve"}, env)
	if code != 1 || !strings.Contains(stderr.String(), "atum-console migrate") {
		t.Fatalf("serve on an empty schema: exit %d, %q", code, stderr.String())
	}
}

// TestServeWithEveryUpstreamDown starts the console with its database and
// every other system unreachable: it serves /healthz at once, /readyz says
// 503, and once the database comes back it recovers by itself.
func TestServeWithEveryUpstreamDown(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	env, _, _ := testEnv(map[string]string{"ENVIRONMENT": "staging", "DATABASE_URL": dbURL}, "")
	if code := Run(context.Background(), []string{"migrate"}, env); code != 0 {
		t.Fatal("migrate failed")
	}
	u, _ := url.Parse(dbURL)
	proxy, err := faultproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.SetDown(true)
	u.Host = proxy.Addr()
	vars := map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": u.String(), "CHECK_INTERVAL": "1s",
		"REDIS_URL": "redis://" + closedAddr(t), "QSTASH_URL": "http://" + closedAddr(t), "QSTASH_TOKEN": "tok-secret",
		"FLY_API_URL": "http://" + closedAddr(t), "FLY_API_TOKEN": "fly-secret", "FLY_APP_NAME": "atum"}
	env, _, stderr := testEnv(vars, "")
	start := time.Now()
	base, stop := serveInBackground(t, env)
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for status("/healthz") != 200 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no /healthz within 10s; stderr:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("first /healthz 200 after %s with every upstream down", time.Since(start))
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the database down: %d", got)
	}
	if got := status("/login"); got != 200 {
		t.Fatalf("/login with the database down: %d", got)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/login", url.Values{"email": {"a@atum.io"}, "password": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "database is unreachable") {
		t.Fatalf("sign-in with the database down: %d", resp.StatusCode)
	}

	proxy.SetDown(false)
	deadline := time.Now().Add(20 * time.Second)
	for status("/readyz") != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("the console did not recover within 20s of the database coming back; stderr:\n%s", stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"tok-secret", "fly-secret"} {
		if strings.Contains(stderr.String(), secret) {
			t.Fatalf("a log line holds the secret %q", secret)
		}
	}
}

// serveInBackground runs serve with env's configuration on a loopback
// port; stop ends it and returns what serve returned.
func serveInBackground(t *testing.T, env Env) (base string, stop func() error) {
	t.Helper()
	cfg, err := config.Load(env.Getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, env, serveOptions{listener: ln}) }()
	return "http://" + ln.Addr().String(), func() error {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("serve returned %w", err)
			}
			return nil
		case <-time.After(25 * time.Second):
			return errors.New("serve did not stop")
		}
	}
}

func freePort(t *testing.T) string {
	_, port, _ := net.SplitHostPort(closedAddr(t))
	return port
}

// TestDemoRunsTwice runs the demo as `make demo` does, signs in as a demo
// operator, stops it and runs it again in the same folder.
func TestDemoRunsTwice(t *testing.T) {
	dir, err := os.MkdirTemp("", "atum-demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user must reach it
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		port := freePort(t)
		env, out, stderr := testEnv(map[string]string{"DEMO_DIR": dir, "PORT": port, "DEMO_USERS": "20000",
			"METRICS_ADDR": "127.0.0.1:" + freePort(t)}, "")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() { done <- Run(ctx, []string{"demo"}, env) }()
		base := "http://127.0.0.1:" + port
		deadline := time.Now().Add(90 * time.Second)
		for {
			resp, err := http.Get(base + "/healthz")
			if err == nil {
				resp.Body.Close()
				break
			}
			select {
			case code := <-done:
				t.Fatalf("run %d: demo exited %d\n%s\n%s", run, code, out, stderr)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: demo not serving after 90s\n%s\n%s", run, out, stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, want := range []string{"http://localhost:" + port, "admin@demo.local", "viewer@demo.local", "20100 users", "Sign in with demo SSO"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("run %d: demo output lacks %q:\n%s", run, want, out)
			}
		}
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.PostForm(base+"/login", url.Values{"email": {"admin@demo.local"}, "password": {"demo"}})
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), "DEMO DATA") || !strings.Contains(string(page), `data-testid="tile-redis"`) {
			t.Fatalf("run %d: overview after demo login: %d\n%s", run, resp.StatusCode, page)
		}
		if run == 1 {
			demoSSO(t, "http://localhost:"+port)
		}
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("run %d: demo exited %d after stop:\n%s", run, code, stderr)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("run %d: demo did not stop", run)
		}
	}
}

func TestDemoRefusesProduction(t *testing.T) {
	env, _, stderr := testEnv(map[string]string{"ENVIRONMENT": "production"}, "")
	if code := Run(context.Background(), []string{"demo"}, env); code != 1 || !strings.Contains(stderr.String(), "refuses") {
		t.Fatalf("demo in production: exit %d %q", code, stderr.String())
	}
	// Demo data can only be written in demo mode.
	cfg := &config.Config{Environment: config.Production, DatabaseURL: "postgres://x@127.0.0.1:1/x"}
	if err := prepareDemo(context.Background(), cfg, Env{}); err == nil {
		t.Fatal("prepareDemo ran outside demo mode")
	}
}

// demoSSO signs in through the demo's own OpenID provider, as the
// on-call engineer its groups claim admits as an operator.
func demoSSO(t *testing.T, base string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login/sso?next=%2Ffleet")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q, _, err := devidp.NewAgent(base+"/login/sso/callback").SignIn(context.Background(), resp.Header.Get("Location"), "u-oncall")
	if err != nil {
		t.Fatalf("demo SSO at the provider: %v", err)
	}
	resp, err = c.Get(base + "/login/sso/callback?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/fleet" {
		t.Fatalf("demo SSO callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = c.Get(base + "/fleet")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "oncall@demo.local") || !strings.Contains(string(page), `data-testid="user-role">operator<`) {
		t.Fatalf("after demo SSO /fleet: %d", resp.StatusCode)
	}
}
