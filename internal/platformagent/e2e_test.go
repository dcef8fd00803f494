package platformagent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/net/html"

	"github.com/atum/ops-console/internal/cli"
	"github.com/atum/ops-console/internal/flydouble"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/testenv"
)

// The contract's bounds the end-to-end test holds the agent to.
const (
	// listenWithin: a flip reaches an instance that LISTENs.
	listenWithin = 2 * time.Second
	// pollWithin: a flip reaches an instance that only polls (every 15 s).
	pollWithin = 16 * time.Second
)

const (
	e2eAdmin    = "admin@atum.io"
	e2ePassword = "a long enough password"
	e2eFlyToken = "fo1_agent-e2e-token-4b1f"
	// The two agents: A listens, B only polls.
	instanceA, machineA = "api-listen-1", "e2e-listen"
	instanceB, machineB = "api-poll-1", "e2e-poll"
)

// TestAgentsEndToEnd serves the console on a migrated database and runs two
// agent processes (python -m atum_ops_agent) beside it, on two machines of
// the Fly double, as two platform processes would: both show on /switches,
// /cache and /fleet; a flip of SUSPEND_REDIS through the console reaches the
// listening one within 2 s and the polling one within 16 s, which then sends
// Redis nothing; the listening one, killed with SIGKILL, stops reporting and
// the console calls it stale once its heartbeat is older than 45 s, while the
// other stays live.
func TestAgentsEndToEnd(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	v := newVenv(t)
	dbURL := testenv.NewDatabase(t)
	ctx := context.Background()

	base := vars{"ENVIRONMENT": "staging", "DATABASE_URL": dbURL}
	if code, _, errOut := runCLI(base, "", "migrate"); code != 0 {
		t.Fatalf("migrate: %d\n%s", code, errOut)
	}
	if code, _, errOut := runCLI(base, e2ePassword+"\n", "user", "add", e2eAdmin, "admin"); code != 0 {
		t.Fatalf("user add: %d\n%s", code, errOut)
	}
	fd := flydouble.New(flydouble.Options{Token: e2eFlyToken, App: "atum", NoRateLimits: true})
	flyURL, err := fd.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fd.Close)
	for _, m := range []string{machineA, machineB} {
		fd.Put(flydouble.Machine{ID: m, Name: m, State: "started", Region: "fra", Group: "api", Release: "7",
			Digest: "sha256:e2e", Env: map[string]string{"ENVIRONMENT": "staging"}})
	}
	c := startConsole(t, vars{"ENVIRONMENT": "staging", "DATABASE_URL": dbURL, "LOG_LEVEL": "warn",
		"CHECK_INTERVAL": "1s", "SAMPLE_INTERVAL": "1s", "FLY_SAMPLE_INTERVAL": "5s", "WATCH": "always",
		"FLY_API_URL": flyURL, "FLY_API_TOKEN": e2eFlyToken, "ATUM_FLY_APP": "atum", "FLY_EXPECTED_ENVIRONMENT": "staging",
		"BUDGET_GROUPS": "api:machines=2,processes=1"})
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })

	a := startAgent(t, v, dbURL, instanceA, machineA, true)
	b := startAgent(t, v, dbURL, instanceB, machineB, false)
	for _, ag := range []*agentProc{a, b} {
		waitFor(t, 15*time.Second, func() bool {
			h, ok := readBeat(t, db, ag.instance)
			return ok && h.source == "database" && h.lookups() > 0
		}, func() string {
			return ag.instance + " never reported lookups from the database's switch; its log:\n" + ag.out.String()
		})
	}
	waitFor(t, 10*time.Second, func() bool {
		p := c.page("/switches")
		return strings.Contains(p, "OFF applied on 2 of 2 live instances") && len(instanceRows(p)) == 2
	}, func() string { return "/switches does not list both instances:\n" + text(c.page("/switches")) })

	// ON through the console: the listening agent within 2 s.
	version, flipped := c.flip(t, db, true)
	waitFor(t, 10*time.Second, func() bool { return a.applied(t, db, true, version) },
		func() string { return instanceA + " did not apply ON; its log:\n" + a.out.String() })
	if took := time.Since(flipped); took > listenWithin {
		t.Errorf("the listening agent applied the flip after %s, want within %s", took.Round(time.Millisecond), listenWithin)
	}
	t.Logf("LISTEN: ON applied and reported %s after the flip was sent", time.Since(flipped).Round(time.Millisecond))
	a.kill(t)
	lastA, _ := readBeat(t, db, instanceA)

	// The polling agent within 16 s, then sends Redis nothing.
	waitFor(t, 25*time.Second, func() bool { return b.applied(t, db, true, version) },
		func() string { return instanceB + " did not apply ON; its log:\n" + b.out.String() })
	if took := time.Since(flipped); took > pollWithin {
		t.Errorf("the polling agent applied the flip after %s, want within %s", took.Round(time.Millisecond), pollWithin)
	} else {
		t.Logf("polling: ON applied and reported %s after the flip was sent", took.Round(time.Millisecond))
	}
	if p := c.page("/switches"); !strings.Contains(p, "ON applied on 2 of 2 live instances") {
		t.Errorf("/switches after the flip:\n%s", text(p))
	}
	h1 := b.nextBeat(t, db)
	h2 := b.nextBeat(t, db)
	if h2.redisCommands != h1.redisCommands || h2.lookups() <= h1.lookups() || h2.misses <= h1.misses {
		t.Errorf("with SUSPEND_REDIS on, %s went from %+v to %+v: want lookups and misses growing, Redis commands flat", instanceB, h1, h2)
	}

	// /cache: both instances' counters, the polling one ON from the database.
	waitFor(t, 15*time.Second, func() bool {
		rows := cacheRows(c.page("/cache"))
		return rows[instanceA].lookups > 0 && rows[instanceB].lookups > 0 && strings.Contains(rows[instanceB].applied, "ON database")
	}, func() string { return "/cache lacks the agents' counters:\n" + text(c.page("/cache")) })
	if tenants := testIDs(c.page("/cache"), "tenant-row"); len(tenants) == 0 || !strings.Contains(tenants[0], "tenant-") {
		t.Errorf("/cache lists no top tenants by misses: %q", tenants)
	}
	// /fleet counts each machine's live heartbeat.
	waitFor(t, 15*time.Second, func() bool {
		p := c.page("/fleet")
		return strings.Contains(machineRow(p, machineA), "1 live ("+instanceA+")") &&
			strings.Contains(machineRow(p, machineB), "1 live ("+instanceB+")")
	}, func() string { return "/fleet does not count the agents' heartbeats:\n" + text(c.page("/fleet")) })

	// OFF again: the polling agent follows within 16 s and uses Redis again.
	version, flipped = c.flip(t, db, false)
	waitFor(t, 25*time.Second, func() bool { return b.applied(t, db, false, version) },
		func() string { return instanceB + " did not apply OFF; its log:\n" + b.out.String() })
	if took := time.Since(flipped); took > pollWithin {
		t.Errorf("the polling agent applied OFF after %s, want within %s", took.Round(time.Millisecond), pollWithin)
	}
	if h3, h4 := b.nextBeat(t, db), b.nextBeat(t, db); h4.redisCommands <= h3.redisCommands {
		t.Errorf("with SUSPEND_REDIS off again, %s sends Redis nothing: %+v then %+v", instanceB, h3, h4)
	}

	// The killed agent: its heartbeat stopped, and once 45 s old the
	// console no longer counts it as live.
	staleAt := lastA.reportedAt.Add(switches.LiveWithin)
	waitFor(t, time.Until(staleAt)+10*time.Second, func() bool {
		rows := instanceRows(c.page("/switches"))
		return len(rows) == 1 && strings.Contains(rows[0], instanceB)
	}, func() string { return "/switches still lists the killed instance:\n" + text(c.page("/switches")) })
	if early := time.Until(staleAt); early > time.Second {
		t.Errorf("the killed instance left /switches %s before its heartbeat was 45 s old", early)
	}
	if h, _ := readBeat(t, db, instanceA); !h.reportedAt.Equal(lastA.reportedAt) {
		t.Errorf("the killed agent's heartbeat moved: %s → %s", lastA.reportedAt, h.reportedAt)
	}
	if p := c.page("/switches"); !strings.Contains(p, "OFF applied on 1 of 1 live instances") {
		t.Errorf("/switches after the kill:\n%s", text(p))
	}
	waitFor(t, 10*time.Second, func() bool {
		rows := cacheRows(c.page("/cache"))
		return rows[instanceA].stale && !rows[instanceB].stale
	}, func() string {
		return "/cache does not mark only the killed instance stale:\n" + text(c.page("/cache"))
	})
	waitFor(t, 15*time.Second, func() bool {
		p := c.page("/fleet")
		return !strings.Contains(machineRow(p, machineA), "live") && strings.Contains(machineRow(p, machineB), "1 live")
	}, func() string { return "/fleet still counts the killed instance:\n" + text(c.page("/fleet")) })

	// SIGTERM: the agent ends cleanly after a last heartbeat.
	before, _ := readBeat(t, db, instanceB)
	if err := b.terminate(); err != nil {
		t.Errorf("%s on SIGTERM: %v; its log:\n%s", instanceB, err, b.out.String())
	}
	if after, _ := readBeat(t, db, instanceB); !after.reportedAt.After(before.reportedAt) {
		t.Errorf("no last heartbeat on SIGTERM")
	}
	t.Logf("end to end in %s", time.Since(begin).Round(time.Second))
}

type vars map[string]string

// cliEnv is a cli.Env over vars, with stdin.
func cliEnv(v vars, stdin string) (cli.Env, *syncBuffer, *syncBuffer) {
	var out, errb syncBuffer
	var environ []string
	for k, val := range v {
		environ = append(environ, k+"="+val)
	}
	return cli.Env{Getenv: func(k string) string { return v[k] }, Environ: environ, Stdin: strings.NewReader(stdin),
		Stdout: &out, Stderr: &errb, Version: "test"}, &out, &errb
}

// runCLI runs the console's command line as `atum-console args…` would.
func runCLI(v vars, stdin string, args ...string) (int, string, string) {
	env, out, errb := cliEnv(v, stdin)
	code := cli.Run(context.Background(), args, env)
	return code, out.String(), errb.String()
}

// console is the console served in-process on a loopback port, with an
// admin signed in.
type console struct {
	t      *testing.T
	base   string
	client *http.Client
}

// startConsole serves the console with v until the test ends.
func startConsole(t *testing.T, v vars) *console {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	v["HOST"], v["PORT"] = "127.0.0.1", strconv.Itoa(port)
	env, _, stderr := cliEnv(v, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- cli.Run(ctx, []string{"serve"}, env) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, stderr)
			}
		case <-time.After(25 * time.Second):
			t.Error("serve did not stop")
		}
	})
	jar, _ := cookiejar.New(nil)
	c := &console{t: t, base: "http://" + ln.Addr().String(), client: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	waitFor(t, 20*time.Second, func() bool {
		resp, err := c.client.PostForm(c.base+"/login", url.Values{"email": {e2eAdmin}, "password": {e2ePassword}})
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		return resp.Request.URL.Path == "/"
	}, func() string { return "cannot sign in; the console's log:\n" + stderr.String() })
	return c
}

// page fetches path as the admin; anything but 200 fails the test.
func (c *console) page(path string) string {
	c.t.Helper()
	resp, err := c.client.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %d\n%.600s", path, resp.StatusCode, text(string(b)))
	}
	return string(b)
}

var toggleVersion = regexp.MustCompile(`action="/switches/SUSPEND_REDIS"[\s\S]*?name="version" value="(\d+)"`)

// flip turns SUSPEND_REDIS on or off through its form, as an operator
// would, and returns the switch's new version and when the form was sent.
func (c *console) flip(t *testing.T, db *pgx.Conn, on bool) (int64, time.Time) {
	t.Helper()
	m := toggleVersion.FindStringSubmatch(c.page("/switches"))
	if m == nil {
		t.Fatal("no toggle form for SUSPEND_REDIS on /switches")
	}
	sent := time.Now()
	resp, err := c.client.PostForm(c.base+"/switches/SUSPEND_REDIS", url.Values{"enabled": {strconv.FormatBool(on)},
		"version": {m[1]}, "reason": {"agent end-to-end test"}, "confirm": {"SUSPEND_REDIS"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/switches" {
		t.Fatalf("flipping SUSPEND_REDIS: %d at %s\n%.400s", resp.StatusCode, resp.Request.URL, text(string(b)))
	}
	var version int64
	var enabled bool
	err = db.QueryRow(context.Background(), `SELECT enabled, version FROM ops.kill_switch_state WHERE name = 'SUSPEND_REDIS'`).
		Scan(&enabled, &version)
	if err != nil || enabled != on {
		t.Fatalf("after the flip the switch is %v (%v)", enabled, err)
	}
	return version, sent
}

// agentProc is a running `python -m atum_ops_agent`.
type agentProc struct {
	instance string
	cmd      *exec.Cmd
	out      *syncBuffer
	done     chan error
	exited   bool  // done was received
	waitErr  error // what Wait returned
	killed   bool
	lastSeen time.Time // reported_at of the last heartbeat nextBeat returned
}

// startAgent starts an agent process for instance on machine of group
// api, with simulated lookups and heartbeats every 2 s (the switch is
// polled every 15 s, as in production); listen false polls only.
func startAgent(t *testing.T, v *Venv, dbURL, instance, machine string, listen bool) *agentProc {
	t.Helper()
	cmd := exec.Command(v.Python(), "-m", "atum_ops_agent")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1",
		"DATABASE_URL=" + dbURL, "FLY_MACHINE_ID=" + machine, "FLY_PROCESS_GROUP=api", "ENVIRONMENT=staging",
		"ATUM_INSTANCE_ID=" + instance, "ATUM_AGENT_INTERVAL=2", "ATUM_AGENT_TRAFFIC=50",
		"ATUM_AGENT_LISTEN=" + strconv.FormatBool(listen)}
	p := &agentProc{instance: instance, cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := p.terminate(); err != nil {
			t.Logf("%s: %v", instance, err)
		}
	})
	return p
}

// wait waits up to timeout for the process to end (then waitErr is what
// Wait returned) and reports whether it did.
func (p *agentProc) wait(timeout time.Duration) bool {
	if !p.exited {
		select {
		case p.waitErr = <-p.done:
			p.exited = true
		case <-time.After(timeout):
		}
	}
	return p.exited
}

// kill ends the agent with SIGKILL, as a crash or an OOM kill would.
func (p *agentProc) kill(t *testing.T) {
	t.Helper()
	p.killed = true
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if !p.wait(10 * time.Second) {
		t.Fatal("the agent did not die of SIGKILL")
	}
}

// terminate sends SIGTERM and waits up to 10 s for a clean exit (nil for
// an agent already killed).
func (p *agentProc) terminate() error {
	if p.exited {
		if p.killed {
			return nil
		}
		return p.waitErr
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if !p.wait(10 * time.Second) {
		_ = p.cmd.Process.Kill()
		p.wait(5 * time.Second)
		return errors.New("did not stop within 10 s of SIGTERM")
	}
	return p.waitErr
}

// applied reports whether the agent's heartbeat says it applied state on
// at version (or later), read from the database.
func (p *agentProc) applied(t *testing.T, db *pgx.Conn, on bool, version int64) bool {
	h, ok := readBeat(t, db, p.instance)
	return ok && h.suspended == on && h.source == "database" && h.version >= version
}

// nextBeat waits for a heartbeat newer than the last one seen.
func (p *agentProc) nextBeat(t *testing.T, db *pgx.Conn) beat {
	t.Helper()
	var h beat
	waitFor(t, 10*time.Second, func() bool {
		var ok bool
		h, ok = readBeat(t, db, p.instance)
		return ok && h.reportedAt.After(p.lastSeen)
	}, func() string { return p.instance + " sent no new heartbeat; its log:\n" + p.out.String() })
	p.lastSeen = h.reportedAt
	return h
}

// beat is a heartbeat row, as far as the test reads it.
type beat struct {
	suspended                                    bool
	source                                       string
	version                                      int64
	reportedAt                                   time.Time
	memoryHits, redisHits, misses, redisCommands int64
}

func (h beat) lookups() int64 { return h.memoryHits + h.redisHits + h.misses }

func readBeat(t *testing.T, db *pgx.Conn, instance string) (beat, bool) {
	t.Helper()
	var h beat
	var version *int64
	err := db.QueryRow(context.Background(), `SELECT suspend_redis, suspend_redis_source, switch_version, reported_at,
		cache_memory_hits, cache_redis_hits, cache_misses, redis_commands FROM ops.instance_heartbeats WHERE instance_id = $1`,
		instance).Scan(&h.suspended, &h.source, &version, &h.reportedAt, &h.memoryHits, &h.redisHits, &h.misses, &h.redisCommands)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, false
	}
	if err != nil {
		t.Fatal(err)
	}
	if version != nil {
		h.version = *version
	}
	return h, true
}

// waitFor waits until cond holds and returns how long that took; after
// timeout it fails the test with msg().
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, msg func() string) time.Duration {
	t.Helper()
	took, ok := testenv.Poll(timeout, cond)
	if !ok {
		t.Fatalf("not within %s: %s", timeout, msg())
	}
	return took
}

// cacheRow is one instance's row on /cache.
type cacheRow struct {
	lookups int64
	applied string
	stale   bool
}

// cacheRows reads /cache's table of instances by instance id.
func cacheRows(page string) map[string]cacheRow {
	out := map[string]cacheRow{}
	for _, tr := range byTestID(parseHTML(page), "machine-row") {
		var cells []string
		for td := tr.FirstChild; td != nil; td = td.NextSibling {
			if td.Type == html.ElementNode && td.Data == "td" {
				cells = append(cells, nodeText(td))
			}
		}
		if len(cells) < 12 {
			continue
		}
		n, _ := strconv.ParseInt(strings.ReplaceAll(cells[3], ",", ""), 10, 64)
		out[cells[0]] = cacheRow{lookups: n, applied: cells[10], stale: strings.Contains(cells[11], "(stale)")}
	}
	return out
}

// instanceRows is the text of each live instance's row on /switches.
func instanceRows(page string) []string { return testIDs(page, "switch-instance") }

// machineRow is the text of machine id's row on /fleet.
func machineRow(page, id string) string {
	for _, tr := range byTestID(parseHTML(page), "fleet-machine") {
		for _, a := range tr.Attr {
			if a.Key == "data-machine" && a.Val == id {
				return nodeText(tr)
			}
		}
	}
	return ""
}

// testIDs is the text of every element with data-testid id.
func testIDs(page, id string) []string {
	var out []string
	for _, n := range byTestID(parseHTML(page), id) {
		out = append(out, nodeText(n))
	}
	return out
}

func parseHTML(page string) *html.Node {
	doc, err := html.Parse(strings.NewReader(page))
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

var tags = regexp.MustCompile(`(?s)<[^>]*>`)

// text is a page's visible text with whitespace collapsed.
func text(page string) string {
	return strings.Join(strings.Fields(tags.ReplaceAllString(page, " ")), " ")
}

// syncBuffer is a bytes.Buffer safe for a process's output and a test.
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
