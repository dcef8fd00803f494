package fly_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/flydouble"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

const token = "fo1_test-secret-token-4711"

// double starts a Fly API double for app "atum" with a small fleet: two
// api machines, one worker, and a worker whose host is unreachable.
func double(t *testing.T, o flydouble.Options) (*flydouble.Server, *fly.Client) {
	t.Helper()
	o.Token, o.App = token, "atum"
	d := flydouble.New(o)
	u, err := d.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	prod := map[string]string{"ENVIRONMENT": "production", "DB_POOL_SIZE": "15", "DATABASE_MAX_OVERFLOW": "5"}
	d.Put(flydouble.Machine{ID: "api1", Name: "api-1", State: "started", Region: "fra", Group: "api", Release: "42",
		Image: "registry.fly.io/atum:deployment-42", Digest: "sha256:aaaaaaaaaaaaaaaa", Env: prod, Concurrency: &[2]int{20, 25}})
	d.Put(flydouble.Machine{ID: "api2", Name: "api-2", State: "started", Region: "fra", Group: "api", Release: "42",
		Image: "registry.fly.io/atum:deployment-42", Digest: "sha256:aaaaaaaaaaaaaaaa", Env: prod, Concurrency: &[2]int{20, 25}})
	d.Put(flydouble.Machine{ID: "wrk1", Name: "worker-1", State: "started", Region: "ams", Group: "worker", Release: "42",
		Image: "registry.fly.io/atum:deployment-42", Digest: "sha256:aaaaaaaaaaaaaaaa", Env: prod})
	d.Put(flydouble.Machine{ID: "wrk2", Name: "worker-2", State: "stopped", Region: "ams", Group: "worker", NoConfig: true})
	d.SetSecrets("DATABASE_URL", "REDIS_URL")
	c, err := fly.NewClient(u, "atum", token, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

func TestClientReadsMachinesEventsAndSecretNames(t *testing.T) {
	d, c := double(t, flydouble.Options{})
	d.CrashLoop("api2", 4, time.Minute, 1, true)
	ms, err := c.Machines(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 4 {
		t.Fatalf("listed %d machines, want 4", len(ms))
	}
	byID := map[string]fly.Machine{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	if m := byID["api1"]; m.Group() != "api" || m.Release() != "42" || m.ImageRef.Digest != "sha256:aaaaaaaaaaaaaaaa" || m.Config.Env["ENVIRONMENT"] != "production" {
		t.Fatalf("api1 = %+v", m)
	}
	// A machine without config is tolerated: its group still comes from
	// the incomplete config.
	if m := byID["wrk2"]; m.Config != nil || m.Group() != "worker" || m.HostStatus != "unreachable" {
		t.Fatalf("wrk2 = %+v", m)
	}
	if n := len(byID["api2"].Events); n != 5 {
		t.Fatalf("the list carries %d events of api2, want the newest 5", n)
	}
	es, err := c.Events(context.Background(), "api2")
	if err != nil || len(es) != 8 {
		t.Fatalf("events = %d, %v; want 8", len(es), err)
	}
	exits := 0
	for _, e := range es {
		if x, _, ok := e.Exit(); ok {
			exits++
			if !x.Failing() || x.ExitCode != 1 || !x.OOMKilled {
				t.Fatalf("exit %+v", x)
			}
		}
	}
	if exits != 4 {
		t.Fatalf("read %d exits (both request shapes), want 4", exits)
	}
	m, err := c.Machine(context.Background(), "api1")
	if err != nil || m.ID != "api1" {
		t.Fatalf("get = %+v, %v", m, err)
	}
	sec, err := c.Secrets(context.Background())
	if err != nil || len(sec) != 2 || sec[0].Name != "DATABASE_URL" || sec[0].Digest == "" {
		t.Fatalf("secrets = %+v, %v", sec, err)
	}
	if bad := d.Dangerous(); len(bad) != 0 {
		t.Fatalf("dangerous calls: %+v", bad)
	}
}

func TestClientErrors(t *testing.T) {
	d, c := double(t, flydouble.Options{})
	ctx := context.Background()
	var fe *fly.Error
	if _, err := c.Machine(ctx, "nope"); !errors.As(err, &fe) || fe.Status != http.StatusNotFound || !strings.Contains(err.Error(), "machine not found") {
		t.Fatalf("unknown machine: %v", err)
	}
	if _, err := c.Machine(ctx, "../../secrets"); err == nil || len(d.Calls()) != 1 {
		t.Fatalf("a path in a machine id must be refused before any call: %v", err)
	}
	bad, _ := fly.NewClient(d.URL(), "atum", "fo1_wrong-token", time.Second)
	if _, err := bad.Machines(ctx); !errors.As(err, &fe) || fe.Status != http.StatusUnauthorized || strings.Contains(err.Error(), "fo1_wrong-token") {
		t.Fatalf("bad token: %v", err)
	}
	d.Force429(1)
	_, err := c.Machines(ctx)
	if d, limited := fly.IsRateLimited(err); !limited || d != time.Second {
		t.Fatalf("429: %v (retry after %s)", err, d)
	}
	// The client waits out Retry-After itself instead of sending again.
	n := len(d.Calls())
	start := time.Now()
	if _, err := c.Machines(ctx); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond || len(d.Calls()) != n+1 {
		t.Fatalf("after a 429 the next list went out after %s", waited)
	}
	d.SetLatency(3 * time.Second)
	if _, err := c.Machines(ctx); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("slow API: %v", err)
	}
	if _, err := fly.NewClient("http://x", "atum", " ", time.Second); err == nil {
		t.Fatal("an empty token must be refused")
	}
}

// TestClientHonoursRateLimits fires 8 concurrent lists and 8 gets of one
// machine: the double, which enforces Fly's documented limits, answers no
// 429, and the calls per second measured there stay within them.
func TestClientHonoursRateLimits(t *testing.T) {
	d, _ := double(t, flydouble.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c2, _ := fly.NewClient(d.URL(), "atum", token, 30*time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() { defer wg.Done(); c2.Machines(ctx) }()        //nolint:errcheck
		go func() { defer wg.Done(); c2.Machine(ctx, "api1") }() //nolint:errcheck
	}
	wg.Wait()
	calls := d.Calls()
	perSecond := map[string]map[int64]int{}
	for _, cl := range calls {
		if cl.Status == http.StatusTooManyRequests {
			t.Fatalf("the double answered 429 to %s %s", cl.Action, cl.Path)
		}
		if perSecond[cl.Action] == nil {
			perSecond[cl.Action] = map[int64]int{}
		}
		perSecond[cl.Action][cl.At.Unix()]++
	}
	first := calls[0].At
	last := calls[len(calls)-1].At
	lists := 0
	for _, cl := range calls {
		if cl.Action == "list" {
			lists++
		}
	}
	span := last.Sub(first).Seconds()
	t.Logf("8 lists and 8 gets in %.2f s; lists per wall-clock second: %v, gets: %v", span, perSecond["list"], perSecond["get"])
	if lists != 8 || span < 5.5 {
		t.Fatalf("8 lists (burst 2, then 0.9/s) must take at least 6 s, took %.2f s", span)
	}
	for s, n := range perSecond["list"] {
		if n > 3 {
			t.Fatalf("%d lists in second %d", n, s)
		}
	}
}
