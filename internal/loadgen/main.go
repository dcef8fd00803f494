// Command loadgen measures the built console the way the closing notes
// report it: time from `serve` to the first 200 on /healthz with every
// upstream down, resident memory at idle, and p50/p99 latency of the login
// page and the Overview under concurrent clients on loopback, the Redis
// commands and Fly API calls the console makes with 1 and 50 viewers, and
// the Fleet page's latency, and the resilience figures of a sign-in flood
// and of Postgres and Redis stalls (resilience.go), and every screen over
// 14 days of history against the stylesheet (history.go). It starts its own
// Postgres and Redis with internal/devstack and the Fly API double, and
// stops everything it started.
//
//	go run ./internal/loadgen -bin bin/atum-console
//	go run ./internal/loadgen -bin bin/atum-console -only resilience
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/store"
)

// options are the command line of loadgen.
type options struct {
	bin               string
	clients, requests int
	historyRequests   int
	phases            map[string]bool
	flood             int
	stall             time.Duration
	guardMiB          int
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/atum-console", "the console binary")
	flag.IntVar(&o.clients, "clients", 50, "concurrent clients")
	flag.IntVar(&o.requests, "requests", 4000, "requests per page")
	flag.IntVar(&o.historyRequests, "history-requests", 12000, "requests per screen in the history phase: enough that one "+
		"background round (every 15 s) landing in a screen's window cannot make its p99 alone")
	only := flag.String("only", "all", "phases to run, comma-separated: "+strings.Join(phaseNames, ", ")+
		"; resilience = flood,stalls; all = every phase")
	flag.IntVar(&o.flood, "flood", 500, "concurrent wrong sign-ins per flood")
	flag.DurationVar(&o.stall, "stall", 10*time.Second, "how long Postgres and then Redis are stalled")
	flag.IntVar(&o.guardMiB, "rss-guard", 0, "MiB of console resident memory at which a flood is ended by killing the console "+
		"(0: half the memory available at the start, at most 12 GiB)")
	flag.Parse()
	var err error
	if o.phases, err = parsePhases(*only); err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// phaseNames are the parts of the benchmark, in the order they run.
var phaseNames = []string{"start", "pages", "redis", "fly", "history", "flood", "stalls"}

// parsePhases turns the -only flag into the set of phases to run.
func parsePhases(only string) (map[string]bool, error) {
	set := map[string]bool{}
	for _, name := range strings.Split(only, ",") {
		switch name = strings.TrimSpace(name); {
		case name == "all":
			for _, n := range phaseNames {
				set[n] = true
			}
		case name == "resilience":
			set["flood"], set["stalls"] = true, true
		case slices.Contains(phaseNames, name):
			set[name] = true
		default:
			return nil, fmt.Errorf("-only: unknown phase %q (phases: %s, resilience, all)", name, strings.Join(phaseNames, ", "))
		}
	}
	return set, nil
}

// run runs the selected phases in order.
func run(o options) error {
	if o.phases["start"] {
		if err := coldStartPhase(o.bin); err != nil {
			return err
		}
	}
	if o.phases["pages"] {
		if err := pagesPhase(o.bin, o.clients, o.requests); err != nil {
			return err
		}
	}
	if o.phases["redis"] {
		if err := redisCost(o.bin); err != nil {
			return err
		}
	}
	if o.phases["fly"] {
		if err := flyCost(o.bin, o.clients, o.requests); err != nil {
			return err
		}
	}
	if o.phases["history"] {
		if err := historyPhase(o.bin, o.clients, o.historyRequests); err != nil {
			return err
		}
	}
	if o.phases["flood"] || o.phases["stalls"] {
		return resilience(o)
	}
	return nil
}

// coldStartPhase measures the time from serve to the first 200 on /healthz
// with every upstream down, and the resident memory at idle.
func coldStartPhase(bin string) error {
	closed := freeAddr()
	start, rss, err := coldStart(bin, map[string]string{
		"ENVIRONMENT": "development", "DATABASE_URL": "postgres://console@" + closed + "/atum",
		"REDIS_URL": "redis://" + freeAddr(), "QSTASH_URL": "http://" + freeAddr(), "QSTASH_TOKEN": "t",
		"FLY_API_URL": "http://" + freeAddr(), "FLY_API_TOKEN": "t", "FLY_APP_NAME": "atum",
	})
	if err != nil {
		return err
	}
	fmt.Printf("serve → first /healthz 200, every upstream down: %s\n", start.Round(100*time.Microsecond))
	fmt.Printf("resident memory at idle (10 s after start, upstreams down): %.1f MiB\n", float64(rss)/1024)
	return nil
}

// pagesPhase measures the login page and the Overview under clients
// concurrent clients, and the resident memory after that load.
func pagesPhase(bin string, clients, requests int) error {
	st, err := startStack(context.Background(), devstack.Options{Postgres: true})
	if err != nil {
		return err
	}
	defer st.Stop()
	cmd, base, cookie, err := serveSignedIn(bin, map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": st.PostgresURL()})
	if err != nil {
		return err
	}
	defer stopServe(cmd)
	for _, page := range []struct{ name, path, cookie string }{{"login page", "/login", ""}, {"overview", "/", cookie}} {
		lat, errs := hammer(base+page.path, page.cookie, clients, requests)
		if errs > 0 {
			return fmt.Errorf("%s: %d failed requests", page.name, errs)
		}
		fmt.Printf("%-10s %d requests, %d clients: p50 %s  p99 %s  max %s\n", page.name, len(lat), clients,
			pct(lat, 50), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	}
	rss, _ := residentKiB(cmd.Process.Pid)
	fmt.Printf("resident memory after the load: %.1f MiB\n", float64(rss)/1024)
	return nil
}

// redisCost runs the console against a real Redis with a 1 s sample
// interval and counts, from Redis's own INFO commandstats, the commands
// the console sends while 1 and then 50 viewers keep loading pages.
func redisCost(bin string) error {
	ctx := context.Background()
	st, err := startStack(ctx, devstack.Options{Postgres: true, Redis: true})
	if err != nil {
		return err
	}
	defer st.Stop()
	cmd, base, cookie, err := serveSignedIn(bin, map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": st.PostgresURL(),
		"REDIS_URL": st.RedisURL(), "SAMPLE_INTERVAL": "1s", "CHECK_INTERVAL": "1s"})
	if err != nil {
		return err
	}
	defer stopServe(cmd)
	admin := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(strings.TrimSuffix(st.RedisURL(), "/0"), "redis://")})
	defer admin.Close()
	const span = 20 * time.Second
	for _, viewers := range []int{1, 50} {
		if err := admin.ConfigResetStat(ctx).Err(); err != nil {
			return err
		}
		browse(base, cookie, viewers, span, "/", "/cache")
		stats, err := admin.Info(ctx, "commandstats").Result()
		if err != nil {
			return err
		}
		sent := 0
		for _, line := range strings.Split(stats, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
			if !ok || name == "cmdstat_config|resetstat" {
				continue
			}
			var n int
			fmt.Sscanf(rest, "%d", &n)
			sent += n
		}
		perInterval := float64(sent) / span.Seconds()
		fmt.Printf("Redis commands from the console, %2d viewers: %d in %s at a 1 s interval (%.2f per interval) = %.0f per hour at the default 15 s interval\n",
			viewers, sent, span, perInterval, perInterval*3600/15)
	}
	return nil
}

// startStack starts real services with opts, migrates schema ops and
// creates the load test's operator as a viewer.
func startStack(ctx context.Context, opts devstack.Options) (*devstack.Stack, error) {
	return startStackAs(ctx, opts, auth.Viewer)
}

// startStackAs is startStack with the load test's operator in role.
func startStackAs(ctx context.Context, opts devstack.Options, role auth.Role) (*devstack.Stack, error) {
	st, err := devstack.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	pool, err := store.Open(ctx, st.PostgresURL(), 2)
	if err == nil {
		if _, err = store.Migrate(ctx, pool); err == nil {
			_, err = auth.NewStore(pool).CreateOperator(ctx, loadEmail, role, loadPassword, false)
		}
		pool.Close()
	}
	if err != nil {
		st.Stop()
		return nil, err
	}
	return st, nil
}

// serveSignedIn starts serve on a free loopback port with env, waits for
// /healthz and signs the load test's operator in.
func serveSignedIn(bin string, env map[string]string) (cmd *exec.Cmd, base, cookie string, err error) {
	addr := freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	env["HOST"], env["PORT"] = "127.0.0.1", port
	if env["LOG_LEVEL"] == "" {
		env["LOG_LEVEL"] = "error"
	}
	if cmd, err = startServe(bin, env); err != nil {
		return nil, "", "", err
	}
	base = "http://" + addr
	if _, err = waitHealthy(base, 10*time.Second); err == nil {
		cookie, err = signIn(base)
	}
	if err != nil {
		stopServe(cmd)
		return nil, "", "", err
	}
	return cmd, base, cookie, nil
}

// browse has viewers load paths in turn, five times a second each, for
// span.
func browse(base, cookie string, viewers int, span time.Duration, paths ...string) {
	deadline := time.Now().Add(span)
	var wg sync.WaitGroup
	for range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for time.Now().Before(deadline) {
				for _, path := range paths {
					req, _ := http.NewRequest(http.MethodGet, base+path, nil)
					req.Header.Set("Cookie", cookie)
					if resp, err := c.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

// coldStart starts serve with env, measures the time to the first 200 on
// /healthz, waits 10 s and reads the process's resident memory.
func coldStart(bin string, env map[string]string) (time.Duration, int, error) {
	addr := freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	env["HOST"], env["PORT"], env["LOG_LEVEL"] = "127.0.0.1", port, "error"
	t0 := time.Now()
	cmd, err := startServe(bin, env)
	if err != nil {
		return 0, 0, err
	}
	defer stopServe(cmd)
	if _, err := waitHealthy("http://"+addr, 10*time.Second); err != nil {
		return 0, 0, err
	}
	d := time.Since(t0)
	time.Sleep(10 * time.Second)
	rss, err := residentKiB(cmd.Process.Pid)
	return d, rss, err
}

// The load test's operator.
const (
	loadEmail    = "load@atum.io"
	loadPassword = "load test password"
)

func startServe(bin string, env map[string]string) (*exec.Cmd, error) {
	return startServeTo(bin, env, os.Stderr)
}

// startServeTo starts serve with env and its standard error going to
// stderr.
func startServeTo(bin string, env map[string]string, stderr io.Writer) (*exec.Cmd, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	return cmd, cmd.Start()
}

func stopServe(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(25 * time.Second):
		_ = cmd.Process.Kill()
	}
}

func waitHealthy(base string, limit time.Duration) (time.Duration, error) {
	t0 := time.Now()
	c := &http.Client{Timeout: time.Second}
	for time.Since(t0) < limit {
		if resp, err := c.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(t0), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("no 200 on %s/healthz within %s", base, limit)
}

func signIn(base string) (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/login", url.Values{"email": {loadEmail}, "password": {loadPassword}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if strings.HasSuffix(ck.Name, "atum_session") {
			return ck.Name + "=" + ck.Value, nil
		}
	}
	return "", fmt.Errorf("sign-in answered %d without a session cookie", resp.StatusCode)
}

// hammer sends n GETs to target from clients goroutines and returns the
// sorted latencies and the number of failures (anything but a 200).
func hammer(target, cookie string, clients, n int) ([]time.Duration, int) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				req, _ := http.NewRequest(http.MethodGet, target, nil)
				if cookie != "" {
					req.Header.Set("Cookie", cookie)
				}
				t0 := time.Now()
				resp, err := c.Do(req)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(t0)
				mu.Lock()
				if ok {
					lat = append(lat, d)
				} else {
					errs++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, errs
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i, len(sorted))-1)].Round(time.Microsecond)
}

// residentKiB reads the resident memory (VmRSS) of process pid.
func residentKiB(pid int) (int, error) { return statusKiB(pid, "VmRSS") }

// statusKiB reads a memory figure in KiB, such as VmRSS or VmHWM, from
// /proc/PID/status.
func statusKiB(pid int, field string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			var kib int
			_, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kib)
			return kib, err
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", field, pid)
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
