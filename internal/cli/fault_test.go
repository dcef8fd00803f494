//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/net/html"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/flydouble"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/internal/sim"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
	"github.com/atum/ops-console/web"
)

// The fault tests run the real console against real services, hang or
// stop one of them, and check what an operator sees: every page answers
// in time and names what is wrong, and the console recovers by itself
// once the service is back, without a restart.

// Limits the fault tests hold the console to (see "Time budgets" in the
// design notes).
const (
	// pageLimit is the most any page may take, whatever hangs.
	pageLimit = 1500 * time.Millisecond
	// loginFormLimit is the most the sign-in form may take: it never
	// touches the database.
	loginFormLimit = 500 * time.Millisecond
	// readyLimit is the most /readyz may take to say 503.
	readyLimit = 2500 * time.Millisecond
	// recoverWithin is how soon after a service is back every page must
	// be whole again.
	recoverWithin = 10 * time.Second
	// noticeWithin bounds how long the console may take to notice a
	// failure on its tiles: a probe waits up to 5 s for an answer, and a
	// failing system is re-checked with backoff.
	noticeWithin = 20 * time.Second
)

const (
	faultAdmin    = "admin@atum.io"
	faultPassword = "a long enough password"
	qstashToken   = "qstash-fault-token-5be1"
	flyFaultToken = "fo1_fault-token-77d0"
)

// startStack starts the services a fault test stops, on its own, so that
// hanging them disturbs no other test; they are stopped when the test
// ends.
func startStack(t *testing.T, opts devstack.Options) *devstack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := devstack.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A server the test ended itself is reported here; its log
		// tail is of no interest.
		if err := st.Stop(); err != nil {
			first, _, _ := strings.Cut(err.Error(), "\n")
			t.Logf("stopping the test's services: %s", first)
		}
	})
	return st
}

// faultConsole is a console served in-process for a fault test, with an
// admin signed in.
type faultConsole struct {
	t      *testing.T
	base   string
	admin  *http.Client
	stderr *syncBuffer
}

// startConsole prepares dbURL (schema ops, a small simulated platform,
// an admin) and serves the console on it with vars added to a
// configuration of short intervals; the console stops when the test ends.
func startConsole(t *testing.T, dbURL string, vars map[string]string) *faultConsole {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := store.Open(ctx, dbURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Seed(ctx, pool, sim.SeedOptions{Tenants: 5, Users: 20}); err != nil {
		t.Fatal(err)
	}
	if err := accounts.CreateIndexes(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewStore(pool).CreateOperator(ctx, faultAdmin, auth.Admin, faultPassword, false); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": dbURL, "LOG_LEVEL": "warn",
		"CHECK_INTERVAL": "1s", "SAMPLE_INTERVAL": "1s", "QSTASH_SAMPLE_INTERVAL": "1s", "FLY_SAMPLE_INTERVAL": "5s"}
	for k, v := range vars {
		all[k] = v
	}
	env, _, stderr := testEnv(all, "")
	base, stop := serveInBackground(t, env)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping the console: %v", err)
		}
	})
	fc := &faultConsole{t: t, base: base, stderr: stderr}
	fc.admin = fc.signIn(faultAdmin, faultPassword)
	return fc
}

// plainClient returns an HTTP client that keeps cookies and does not follow
// redirects, so that a lost session shows as a redirect, not as the
// sign-in form.
func plainClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn signs in and returns the signed-in client.
func (fc *faultConsole) signIn(email, password string) *http.Client {
	fc.t.Helper()
	c := plainClient()
	testenv.Eventually(fc.t, 15*time.Second, func() bool {
		resp, err := c.PostForm(fc.base+"/login", url.Values{"email": {email}, "password": {password}})
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		return resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/"
	}, "signing in as %s; log:\n%s", email, fc.stderr)
	return c
}

// answer is one answer of the console and how long it took.
type answer struct {
	path   string
	status int
	body   string
	took   time.Duration
	err    error
}

func (a answer) String() string {
	if a.err != nil {
		return fmt.Sprintf("GET %s: %v after %s", a.path, a.err, a.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("GET %s: %d in %s", a.path, a.status, a.took.Round(time.Millisecond))
}

// get fetches path with c and times it.
func (fc *faultConsole) get(c *http.Client, path string) answer {
	a := answer{path: path}
	start := time.Now()
	resp, err := c.Get(fc.base + path)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.body = resp.StatusCode, string(b)
	}
	a.took, a.err = time.Since(start), err
	return a
}

// getAll fetches every path at once, as several people would on a bad
// day, and returns the answers in the order of paths.
func (fc *faultConsole) getAll(c *http.Client, paths []string) []answer {
	out := make([]answer, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = fc.get(c, p)
		}()
	}
	wg.Wait()
	return out
}

// page fetches path as the admin and fails the test unless it answers 200
// within pageLimit.
func (fc *faultConsole) page(path string) answer {
	fc.t.Helper()
	return fc.expectOK(path, fc.t.Fatalf)
}

// check is page, but a failure does not end the test, so that the rest
// of a scenario still runs.
func (fc *faultConsole) check(path string) answer {
	fc.t.Helper()
	return fc.expectOK(path, fc.t.Errorf)
}

// expectOK fetches path as the admin and reports through fail unless it
// answers 200 within pageLimit.
func (fc *faultConsole) expectOK(path string, fail func(format string, args ...any)) answer {
	fc.t.Helper()
	a := fc.get(fc.admin, path)
	if a.err != nil || a.status != http.StatusOK || a.took >= pageLimit {
		fail("%s, want 200 within %s\n%.600s", a, pageLimit, text(a.body))
	}
	return a
}

// overview returns the Overview as the admin (200 within pageLimit).
func (fc *faultConsole) overview() string { return fc.page("/").body }

// waitReachable waits until the Overview shows every system of keys
// reachable.
func (fc *faultConsole) waitReachable(keys ...string) {
	fc.t.Helper()
	var overview string
	waitFor(fc.t, noticeWithin, func() bool {
		overview = fc.overview()
		for _, key := range keys {
			if state, _ := tile(overview, key); state != "reachable" {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("not every one of %v became reachable:\n%s", keys, text(overview)) })
}

// waitFor is testenv.Eventually with a failure message made when it
// fails, so that it can tell what the last look saw.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, msg func() string) time.Duration {
	t.Helper()
	took, ok := testenv.Poll(timeout, cond)
	if !ok {
		t.Fatalf("not within %s: %s", timeout, msg())
	}
	return took
}

// ready returns /readyz's status and answer.
func (fc *faultConsole) ready() (answer, handlers.ReadyJSON) {
	a := fc.get(plainClient(), "/readyz")
	var r handlers.ReadyJSON
	if a.err == nil {
		_ = json.Unmarshal([]byte(a.body), &r)
	}
	return a, r
}

// parseHTML parses a page; a page that is not HTML parses as an empty
// document.
func parseHTML(body string) *html.Node {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return &html.Node{Type: html.DocumentNode}
	}
	return doc
}

// byTestID returns the elements below n with data-testid id.
func byTestID(n *html.Node, id string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == "data-testid" && a.Val == id {
					out = append(out, n)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// nodeText is the visible text below n, whitespace collapsed.
func nodeText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// testID returns the text of the first element with data-testid id in
// body, and whether there is one.
func testID(body, id string) (string, bool) {
	nodes := byTestID(parseHTML(body), id)
	if len(nodes) == 0 {
		return "", false
	}
	return nodeText(nodes[0]), true
}

// tile returns the state label and error of system key's tile on the
// Overview.
func tile(overview, key string) (state, errText string) {
	tiles := byTestID(parseHTML(overview), "tile-"+key)
	if len(tiles) == 0 {
		return "", ""
	}
	if s := byTestID(tiles[0], "tile-state"); len(s) > 0 {
		state = nodeText(s[0])
	}
	if e := byTestID(tiles[0], "tile-error"); len(e) > 0 {
		errText = nodeText(e[0])
	}
	return state, errText
}

// cacheLine is the account page's "Tenant cache entry" section as text.
func cacheLine(account string) string {
	s := text(account)
	_, after, ok := strings.Cut(s, "Tenant cache entry")
	if !ok {
		return ""
	}
	before, _, _ := strings.Cut(after, "Protection")
	return before
}

// descendants returns every process below pid, found through the ppid
// field of /proc/<id>/stat: Postgres backends start sessions of their
// own, so their process group is not the postmaster's.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(id); ok {
			children[ppid] = append(children[ppid], id)
		}
	}
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// procStat reads a process's state letter and parent from /proc. The
// command name comes in parentheses and may hold spaces or parentheses
// itself, so the fields are read after the last ')'.
func procStat(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0], ppid, err == nil
}

// freeze hangs a server completely: SIGSTOP to pid and every process
// below it, so connections are accepted by the kernel and never answered.
// The returned thaw resumes them all (SIGCONT); it also runs when the
// test ends, whatever happened.
func freeze(t *testing.T, pid int) (thaw func()) {
	t.Helper()
	stopped := map[int]bool{}
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			for _, id := range descendants(pid) {
				stopped[id] = true
			}
			for id := range stopped {
				_ = syscall.Kill(id, syscall.SIGCONT)
			}
		})
	}
	t.Cleanup(thaw)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %d: %v", pid, err)
	}
	stopped[pid] = true
	// The parent is stopped first, so it forks no more; a child forked
	// just before shows up on a later pass.
	for pass := 0; pass < 5; pass++ {
		fresh := 0
		for _, id := range descendants(pid) {
			if !stopped[id] {
				_ = syscall.Kill(id, syscall.SIGSTOP)
				stopped[id], fresh = true, fresh+1
			}
		}
		if fresh == 0 {
			break
		}
	}
	// A backend that was exiting when its parent stopped stays a zombie
	// (Z) until the parent runs again to reap it: it runs no more either.
	testenv.Eventually(t, 5*time.Second, func() bool {
		for id := range stopped {
			if st, _, ok := procStat(id); ok && st != "T" && st != "Z" && st != "X" {
				return false
			}
		}
		return true
	}, "the processes of pid %d did not stop", pid)
	return thaw
}

// sampledFresh matches a summary that presents figures as a fresh sample.
var sampledFresh = regexp.MustCompile(`sampled (just now|\d+s ago)`)

// TestFaultConsoleDatabaseStalled hangs the console's own Postgres (the
// postmaster and every backend) for about 4 s: every screen still answers
// within 1.5 s, either from memory with the degraded banner or with a 503
// that names the database; the sign-in form answers at once, /healthz
// stays 200 and /readyz says 503 in time. Once Postgres runs again every
// screen is whole within 10 s, without a restart.
func TestFaultConsoleDatabaseStalled(t *testing.T) {
	st := startStack(t, devstack.Options{Postgres: true, Redis: true})
	qs := qstashdouble.New(qstashdouble.Options{Token: qstashToken})
	qsURL, err := qs.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qs.Close() })
	qs.AddDLQ(qstashdouble.DLQMessage{URL: "https://api.atum.example/hooks/billing", ResponseStatus: 500})
	fd := newFlyDouble(t, "127.0.0.1:0")
	dbURL := st.PostgresURL()
	fc := startConsole(t, dbURL, map[string]string{"REDIS_URL": st.RedisURL(),
		"QSTASH_URL": qsURL, "QSTASH_TOKEN": qstashToken,
		"FLY_API_URL": fd.URL(), "FLY_API_TOKEN": flyFaultToken, "ATUM_FLY_APP": "atum"})
	userID := firstUser(t, dbURL)
	screens := []string{"/", "/connections", "/cache", "/switches", "/queues", "/fleet", "/accounts?q=x",
		"/accounts/users/" + userID, "/audit", "/operators"}

	// Every screen is whole before the fault, and every system answers.
	fc.waitReachable("postgres", "platform", "redis", "qstash", "fly")
	for _, a := range fc.getAll(fc.admin, screens) {
		if a.err != nil || a.status != http.StatusOK || strings.Contains(a.body, `data-testid="degraded"`) {
			t.Fatalf("before the fault: %s\n%.400s", a, text(a.body))
		}
	}

	pid := st.PIDs()["postgres"]
	stalled := time.Now()
	thaw := freeze(t, pid)
	t.Logf("Postgres (postmaster %d and %d children) stopped", pid, len(descendants(pid)))
	// A session checked within web.SessionFresh opens pages unchecked:
	// the rounds start once every session needs its check.
	time.Sleep(web.SessionFresh)
	// First the pool's open connections hang; once the deadlines have cut
	// them, new connections hang on connect. Each round is a bad day's
	// worth of people at once.
	for round := 1; round <= 2; round++ {
		checkStalledDatabase(t, fc, screens, round)
	}
	time.Sleep(time.Until(stalled.Add(4 * time.Second))) // the stall itself
	thaw()
	t.Logf("Postgres resumed after %s", time.Since(stalled).Round(time.Millisecond))

	resumed := time.Now()
	var last []answer
	waitFor(t, recoverWithin, func() bool {
		last = fc.getAll(fc.admin, screens)
		for _, a := range last {
			if a.err != nil || a.status != http.StatusOK || strings.Contains(a.body, `data-testid="degraded"`) {
				return false
			}
		}
		r, _ := fc.ready()
		return r.status == http.StatusOK
	}, func() string {
		return fmt.Sprintf("the console did not recover without a restart; last answers: %v\nlog:\n%s", last, fc.stderr)
	})
	t.Logf("every screen whole again %s after Postgres resumed", time.Since(resumed).Round(time.Millisecond))
	for _, a := range last {
		if a.took >= pageLimit {
			t.Errorf("after recovery: %s", a)
		}
	}
}

// checkStalledDatabase fetches every screen, the sign-in form and the
// health checks at once while the console's database hangs, and checks
// each answer.
func checkStalledDatabase(t *testing.T, fc *faultConsole, screens []string, round int) {
	t.Helper()
	anon := plainClient()
	var wg sync.WaitGroup
	var login, healthz, readyz, signIn answer
	var ready handlers.ReadyJSON
	wg.Add(4)
	go func() { defer wg.Done(); login = fc.get(anon, "/login") }()
	go func() { defer wg.Done(); healthz = fc.get(anon, "/healthz") }()
	go func() { defer wg.Done(); readyz, ready = fc.ready() }()
	go func() {
		defer wg.Done()
		start := time.Now()
		resp, err := plainClient().PostForm(fc.base+"/login", url.Values{"email": {faultAdmin}, "password": {faultPassword}})
		signIn = answer{path: "/login (POST)", err: err, took: time.Since(start)}
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			signIn.status, signIn.body = resp.StatusCode, string(b)
		}
	}()
	pages := fc.getAll(fc.admin, screens)
	wg.Wait()

	for _, a := range pages {
		switch {
		case a.err != nil || a.took >= pageLimit:
			t.Errorf("round %d: %s; want an answer within %s", round, a, pageLimit)
		case a.status == http.StatusOK:
			if !strings.Contains(a.body, `data-testid="degraded"`) {
				t.Errorf("round %d: %s without the degraded banner", round, a)
			}
		case a.status == http.StatusServiceUnavailable:
			if msg, _ := testID(a.body, "error-message"); !strings.Contains(strings.ToLower(msg), "database") {
				t.Errorf("round %d: %s does not name the database: %q", round, a, msg)
			}
		default:
			t.Errorf("round %d: %s; want 200 (degraded) or 503\n%.400s", round, a, text(a.body))
		}
		t.Logf("round %d: %s", round, a)
	}
	if login.err != nil || login.status != http.StatusOK || login.took >= loginFormLimit ||
		!strings.Contains(login.body, `data-testid="login-form"`) {
		t.Errorf("round %d: sign-in form without a session: %s; want 200 with the form within %s", round, login, loginFormLimit)
	}
	if healthz.err != nil || healthz.status != http.StatusOK || healthz.took >= pageLimit {
		t.Errorf("round %d: %s; want 200", round, healthz)
	}
	if readyz.err != nil || readyz.status != http.StatusServiceUnavailable || readyz.took >= readyLimit ||
		ready.Systems["postgres"].State != "error" {
		t.Errorf("round %d: %s (%+v); want 503 with postgres failing within %s", round, readyz, ready.Systems["postgres"], readyLimit)
	}
	// Signing in needs the database: a clear refusal in time.
	if signIn.err != nil || signIn.status != http.StatusServiceUnavailable || signIn.took >= pageLimit ||
		!strings.Contains(strings.ToLower(text(signIn.body)), "database") {
		t.Errorf("round %d: sign-in: %s; want a 503 naming the database within %s\n%.300s", round, signIn, pageLimit, text(signIn.body))
	}
	t.Logf("round %d: %s, %s, %s, %s", round, login, healthz, readyz, signIn)
}

// firstUser returns a user's id from the simulated platform.
func firstUser(t *testing.T, dbURL string) string {
	t.Helper()
	id, _ := userAndSlug(t, dbURL)
	return id
}

// userAndSlug returns a live user's id and the slug of its tenant.
func userAndSlug(t *testing.T, dbURL string) (id, slug string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(ctx, `SELECT u.id::text, t.slug FROM users u JOIN tenants t ON t.id = u.tenant_id
		WHERE u.deleted_at IS NULL AND t.deleted_at IS NULL ORDER BY u.id LIMIT 1`).Scan(&id, &slug)
	if err != nil {
		t.Fatal(err)
	}
	return id, slug
}

// newFlyDouble serves the Fly API double with two started machines on
// addr; it is closed when the test ends.
func newFlyDouble(t *testing.T, addr string) *flydouble.Server {
	t.Helper()
	fd := flydouble.New(flydouble.Options{Token: flyFaultToken, App: "atum", NoRateLimits: true})
	if _, err := fd.Start(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fd.Close)
	env := map[string]string{"ENVIRONMENT": "production", "DB_POOL_SIZE": "15", "DATABASE_MAX_OVERFLOW": "5"}
	for _, m := range []flydouble.Machine{{ID: "api1", Name: "api1", Group: "api"}, {ID: "wrk1", Name: "wrk1", Group: "worker"}} {
		m.State, m.Region, m.Release, m.Digest, m.Env = "started", "fra", "9", "sha256:abc", env
		fd.Put(m)
	}
	return fd
}

// commandCalls returns how many GET and TTL commands Redis has run.
func commandCalls(t *testing.T, rc *redis.Client) (get, ttl int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := rc.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := func(cmd string) int64 {
		m := regexp.MustCompile(`(?m)^cmdstat_` + cmd + `:calls=(\d+)`).FindStringSubmatch(info)
		if m == nil {
			return 0
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	return calls("get"), calls("ttl")
}

// TestFaultRedisStalled hangs Redis: the account page still answers in
// time (its cache line says Redis was not checked or did not answer), as
// do /cache and the other screens; once the Redis tile fails, /cache says
// Redis is unreachable with the last figures; everything recovers when
// Redis runs again. With SUSPEND_REDIS on, an account page sends Redis
// no GET and no TTL.
func TestFaultRedisStalled(t *testing.T) {
	st := startStack(t, devstack.Options{Redis: true})
	dbURL := testenv.NewDatabase(t)
	fc := startConsole(t, dbURL, map[string]string{"REDIS_URL": st.RedisURL()})
	userID, slug := userAndSlug(t, dbURL)
	account := "/accounts/users/" + userID

	opt, err := redis.ParseURL(st.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	t.Cleanup(func() { rc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A cache entry, so that a look at it takes a GET and a TTL.
	if err := rc.Set(ctx, "tenant:"+slug, `{"id":"x","slug":"`+slug+`"}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}

	fc.waitReachable("postgres", "redis")
	testenv.Eventually(t, noticeWithin, func() bool {
		sampled, _ := testID(fc.page("/cache").body, "redis-sampled")
		return strings.HasPrefix(sampled, "sampled ")
	}, "/cache never showed Redis figures")
	getBefore, ttlBefore := commandCalls(t, rc)
	if line := cacheLine(fc.page(account).body); !strings.Contains(line, "Present true") {
		t.Fatalf("the account page did not read the cache entry: %q", line)
	}
	if get, ttl := commandCalls(t, rc); get <= getBefore || ttl <= ttlBefore {
		t.Fatalf("opening the account page sent GET %d→%d, TTL %d→%d; want both to grow", getBefore, get, ttlBefore, ttl)
	}

	thaw := freeze(t, st.PIDs()["redis"])
	stalled := time.Now()
	// At once, before the console knows: the page's own deadline.
	a := fc.page(account)
	if line := cacheLine(a.body); !strings.Contains(line, "did not answer") && !strings.Contains(line, "not checked") {
		t.Errorf("account page with Redis hanging: cache line %q", line)
	}
	t.Logf("Redis hanging: %s", a)
	for _, path := range []string{"/", "/cache", "/connections", "/switches", "/audit", "/accounts?q=x"} {
		fc.page(path)
	}
	// Once the tile fails: the account page does not even ask, and /cache
	// says Redis is unreachable and that its figures are the last ones.
	testenv.Eventually(t, noticeWithin, func() bool {
		state, _ := tile(fc.overview(), "redis")
		return state == "error"
	}, "the Redis tile did not fail while Redis hung")
	t.Logf("Redis tile failing %s after the stall began", time.Since(stalled).Round(time.Millisecond))
	cache := fc.page("/cache").body
	if msg, ok := testID(cache, "redis-error"); !ok || !strings.Contains(msg, "Redis is unreachable") {
		t.Errorf("/cache with the Redis tile failing: redis-error %q", msg)
	}
	if sampled, _ := testID(cache, "redis-sampled"); !strings.HasPrefix(sampled, "not sampled") || !strings.Contains(sampled, "last ones") {
		t.Errorf("/cache does not mark its Redis figures as the last ones: %q", sampled)
	}
	if reads, _ := testID(cache, "reads-redis"); !strings.Contains(reads, "error") {
		t.Errorf("/cache's strip does not show Redis failing: %q", reads)
	}
	if line := cacheLine(fc.page(account).body); !strings.Contains(line, "not checked: Redis is unreachable") {
		t.Errorf("account page with the Redis tile failing: cache line %q", line)
	}
	for _, path := range []string{"/", "/connections", "/switches", "/audit"} {
		fc.page(path)
	}

	thaw()
	resumed := time.Now()
	testenv.Eventually(t, recoverWithin, func() bool {
		state, _ := tile(fc.overview(), "redis")
		_, failing := testID(fc.page("/cache").body, "redis-error")
		return state == "reachable" && !failing && strings.Contains(cacheLine(fc.page(account).body), "Present true")
	}, "the console did not recover from the Redis stall")
	t.Logf("Redis whole again %s after it resumed", time.Since(resumed).Round(time.Millisecond))

	// SUSPEND_REDIS on, through the console as an operator would.
	fc.setSwitch(t, "SUSPEND_REDIS", true)
	getBefore, ttlBefore = commandCalls(t, rc)
	for range 3 {
		if line := cacheLine(fc.page(account).body); !strings.Contains(line, "not checked: Redis is suspended") {
			t.Errorf("account page with SUSPEND_REDIS on: cache line %q", line)
		}
	}
	if get, ttl := commandCalls(t, rc); get != getBefore || ttl != ttlBefore {
		t.Errorf("with SUSPEND_REDIS on, account pages sent GET %d→%d, TTL %d→%d", getBefore, get, ttlBefore, ttl)
	}
}

// setSwitch turns a kill switch on or off through its form, as the admin.
func (fc *faultConsole) setSwitch(t *testing.T, name string, on bool) {
	t.Helper()
	page := fc.page("/switches").body
	m := regexp.MustCompile(`action="/switches/` + name + `"[\s\S]*?name="version" value="(\d+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no toggle form for %s on /switches", name)
	}
	resp, err := fc.admin.PostForm(fc.base+"/switches/"+name, url.Values{"enabled": {strconv.FormatBool(on)},
		"version": {m[1]}, "reason": {"fault test"}, "confirm": {name}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("setting %s: %d\n%.400s", name, resp.StatusCode, text(string(b)))
	}
}

// TestFaultPgBouncerGone hangs PgBouncer, then stops it: /connections
// answers in time and shows the PgBouncer error, and the Overview's
// PgBouncer tile says error; after the hang the console recovers by
// itself.
func TestFaultPgBouncerGone(t *testing.T) {
	st := startStack(t, devstack.Options{Postgres: true, PgBouncer: true})
	fc := startConsole(t, st.PostgresURL(), map[string]string{"PGBOUNCER_ADMIN_URL": st.PgBouncerAdminURL()})
	fc.waitReachable("postgres", "pgbouncer")
	testenv.Eventually(t, noticeWithin, func() bool {
		_, ok := testID(fc.page("/connections").body, "bouncer-ok")
		return ok
	}, "/connections never read PgBouncer")

	bouncerFails := func(phase string) {
		t.Helper()
		var conns, overview string
		took := waitFor(t, noticeWithin, func() bool {
			conns, overview = fc.page("/connections").body, fc.overview()
			_, shown := testID(conns, "bouncer-error")
			state, _ := tile(overview, "pgbouncer")
			return shown && state == "error"
		}, func() string {
			state, tileErr := tile(overview, "pgbouncer")
			return fmt.Sprintf("%s: /connections and the Overview did not show PgBouncer failing: tile %s %q\n%s", phase, state, tileErr, text(conns))
		})
		t.Logf("%s: PgBouncer shown failing after %s", phase, took.Round(time.Millisecond))
		if reads, _ := testID(conns, "reads-pgbouncer"); !strings.Contains(reads, "error") {
			t.Errorf("%s: the strip on /connections does not show PgBouncer failing: %q", phase, reads)
		}
		for _, path := range []string{"/", "/connections", "/switches", "/cache"} {
			fc.page(path)
		}
	}
	thaw := freeze(t, st.PIDs()["pgbouncer"])
	bouncerFails("hung")
	thaw()
	took := testenv.Eventually(t, recoverWithin, func() bool {
		_, ok := testID(fc.page("/connections").body, "bouncer-ok")
		state, _ := tile(fc.overview(), "pgbouncer")
		return ok && state == "reachable"
	}, "the console did not recover once PgBouncer ran again")
	t.Logf("PgBouncer whole again %s after it resumed", took.Round(time.Millisecond))

	// Gone: the process ends and its port refuses connections. devstack
	// cannot start a stopped server again, so recovery from this is not
	// checked here (the hang above covers it).
	pid := st.PIDs()["pgbouncer"]
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, _, alive := procStat(pid)
		return !alive
	}, "PgBouncer did not exit")
	bouncerFails("gone")
}

// staysFailing waits for system key's first failed check, then follows
// it over n consecutive checks (told apart by /readyz's checked_at): each
// must say error, without flipping back in between. look runs at every
// step, to check the pages meanwhile.
func (fc *faultConsole) staysFailing(key string, n int, look func()) {
	fc.t.Helper()
	took := testenv.Eventually(fc.t, noticeWithin, func() bool {
		_, r := fc.ready()
		return r.Systems[key].State == "error"
	}, "%s never failed", key)
	fc.t.Logf("%s failing after %s", key, took.Round(time.Millisecond))
	checks := map[string]bool{}
	testenv.Eventually(fc.t, noticeWithin, func() bool {
		_, r := fc.ready()
		s := r.Systems[key]
		if s.State != "error" {
			fc.t.Fatalf("%s flipped to %q after %d failed checks while still down", key, s.State, len(checks))
		}
		checks[s.CheckedAt] = true
		look()
		return len(checks) >= n
	}, "%s: fewer than %d checks", key, n)
}

// TestFaultQStash makes the QStash double slow (beyond the page's
// budget), rate-limited (429) and then closed: /queues answers in time
// and shows the error, the QStash tile stays failing over consecutive
// checks while QStash does, the page never presents a failed listing as
// a fresh sample, and everything recovers once QStash answers again.
func TestFaultQStash(t *testing.T) {
	t.Parallel()
	qs := qstashdouble.New(qstashdouble.Options{Token: qstashToken})
	qsURL, err := qs.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qs.Close() })
	qs.AddDLQ(qstashdouble.DLQMessage{URL: "https://api.atum.example/hooks/billing", ResponseStatus: 500})
	fc := startConsole(t, testenv.NewDatabase(t), map[string]string{"QSTASH_URL": qsURL, "QSTASH_TOKEN": qstashToken})

	// whole checks that /queues lists the queues and dead letters afresh.
	whole := func() bool {
		p := fc.page("/queues").body
		_, qerr := testID(p, "queues-error")
		_, derr := testID(p, "dlq-error")
		summary, _ := testID(p, "queues-summary")
		state, _ := tile(fc.overview(), "qstash")
		return !qerr && !derr && sampledFresh.MatchString(summary) && len(byTestID(parseHTML(p), "dlq-row")) == 1 && state == "reachable"
	}
	testenv.Eventually(t, noticeWithin, whole, "/queues never listed QStash")
	// failing checks /queues while QStash fails, once its tile does: the
	// error is shown, with want in it, and no "sampled …" of a failed
	// listing.
	failing := func(want string) func() {
		return func() {
			p := fc.page("/queues").body
			msg, ok := testID(p, "queues-error")
			if !ok || !strings.Contains(msg, want) {
				t.Errorf("/queues with the QStash tile failing: queues-error %q, want it to say %q", msg, want)
			}
			if summary, _ := testID(p, "queues-summary"); sampledFresh.MatchString(summary) {
				t.Errorf("/queues presents a failed listing as a sample: %q", summary)
			}
			if reads, _ := testID(p, "reads-qstash"); !strings.Contains(reads, "error") {
				t.Errorf("the strip on /queues does not show QStash failing: %q", reads)
			}
		}
	}

	// Slow: the dead letters are listed while the page waits, which gives
	// up at its deadline and says so. A listing that answers in the end is
	// kept for 5 s, so the look goes on until the viewer after that, who
	// must not wait for QStash beyond the page's budget either.
	qs.SetLatency(2 * time.Second)
	if _, ok := testenv.Poll(10*time.Second, func() bool {
		a := fc.check("/queues")
		_, derr := testID(a.body, "dlq-error")
		return a.status == http.StatusOK && derr
	}); !ok {
		t.Errorf("/queues never showed the slow dead-letter listing failing within 10s")
	}
	qs.SetLatency(0)
	testenv.Eventually(t, recoverWithin, whole, "/queues did not recover once QStash was fast again")

	// Rate-limited.
	qs.FailNext(1<<30, http.StatusTooManyRequests)
	fc.staysFailing("qstash", 3, failing("429"))
	qs.FailNext(0, 0)
	took := testenv.Eventually(t, recoverWithin, whole, "/queues did not recover after the 429s")
	t.Logf("QStash whole again %s after the 429s ended", took.Round(time.Millisecond))

	// Down, then back on the same address.
	addr := strings.TrimPrefix(qsURL, "http://")
	qs.Close()
	fc.staysFailing("qstash", 3, failing("connection refused"))
	back := qstashdouble.New(qstashdouble.Options{Token: qstashToken})
	if _, err := back.Start(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	back.AddDLQ(qstashdouble.DLQMessage{URL: "https://api.atum.example/hooks/billing", ResponseStatus: 500})
	took = testenv.Eventually(t, recoverWithin, whole, "/queues did not recover once QStash was back")
	t.Logf("QStash whole again %s after it came back", took.Round(time.Millisecond))
}

// TestFaultFly makes the Fly API double slow (beyond the client's
// timeout), rate-limited (429) and then closed: /fleet answers in time
// throughout and shows the error, the Overview's Fly tile says error, and
// both recover once Fly answers again.
func TestFaultFly(t *testing.T) {
	t.Parallel()
	fd := newFlyDouble(t, "127.0.0.1:0")
	fc := startConsole(t, testenv.NewDatabase(t), map[string]string{"FLY_API_URL": fd.URL(), "FLY_API_TOKEN": flyFaultToken,
		"ATUM_FLY_APP": "atum"})

	// whole checks that /fleet shows a fresh listing of both machines.
	whole := func() bool {
		p := fc.page("/fleet").body
		_, failed := testID(p, "fleet-error")
		listed, _ := testID(p, "fleet-listed")
		state, _ := tile(fc.overview(), "fly")
		return !failed && strings.Contains(listed, "listed ") && len(byTestID(parseHTML(p), "fleet-machine")) == 2 && state == "reachable"
	}
	testenv.Eventually(t, noticeWithin, whole, "/fleet never listed the fleet")
	// fails waits until /fleet and the Fly tile show the error, with want
	// in it; every page meanwhile answers in time.
	fails := func(phase, want string) {
		t.Helper()
		var fleet, msg, state, tileErr string
		took := waitFor(t, noticeWithin, func() bool {
			fleet = fc.page("/fleet").body
			state, tileErr = tile(fc.overview(), "fly")
			msg, _ = testID(fleet, "fleet-error")
			return state == "error" && strings.Contains(msg, want) && strings.Contains(tileErr, want)
		}, func() string {
			return fmt.Sprintf("%s: /fleet and the Fly tile did not show the error %q\nfleet-error: %q\ntile: %s %q",
				phase, want, msg, state, tileErr)
		})
		t.Logf("%s: shown after %s", phase, took.Round(time.Millisecond))
		if reads, _ := testID(fleet, "reads-fly"); !strings.Contains(reads, "error") {
			t.Errorf("%s: the strip on /fleet does not show Fly failing: %q", phase, reads)
		}
		if len(byTestID(parseHTML(fleet), "fleet-machine")) != 2 {
			t.Errorf("%s: /fleet no longer shows the last good listing", phase)
		}
	}
	recovers := func(phase string, within time.Duration) {
		t.Helper()
		took := testenv.Eventually(t, within, whole, "%s: /fleet did not recover", phase)
		t.Logf("%s: whole again after %s", phase, took.Round(time.Millisecond))
	}

	// Slow: a listing waits up to the client's 10 s; pages never wait for
	// it. A listing sent just before Fly became fast again still waits out
	// those 10 s before the next one is sent.
	fd.SetLatency(12 * time.Second)
	fails("slow", "timed out")
	fd.SetLatency(0)
	recovers("slow", recoverWithin+10*time.Second)

	fd.Force429(1 << 30)
	fails("429", "429")
	fd.Force429(0)
	recovers("429", recoverWithin)

	// Down, then back on the same address.
	addr := strings.TrimPrefix(fd.URL(), "http://")
	fd.Close()
	fails("down", "connection refused")
	newFlyDouble(t, addr)
	recovers("down", recoverWithin)
}
