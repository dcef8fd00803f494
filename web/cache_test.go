package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/sim"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/testenv"
)

// platform seeds a small platform into the harness database and starts
// simulated instances on it and the test Redis (flushed first).
func (h *harness) platform(lookupsPerSecond int, ids ...string) (*sim.Instances, *redis.Client) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := sim.Seed(ctx, h.pool, sim.SeedOptions{Tenants: 20, Users: 40}); err != nil {
		h.t.Fatal(err)
	}
	admin, err := rediscache.NewClient(testenv.Stack(h.t).RedisURL())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { admin.Close() })
	if err := admin.FlushAll(ctx).Err(); err != nil {
		h.t.Fatal(err)
	}
	var specs []sim.InstanceSpec
	for _, id := range ids {
		specs = append(specs, sim.InstanceSpec{ID: id, Machine: "m-" + id, Group: "api"})
	}
	dbURL := h.pool.Config().ConnString()
	insts, err := sim.StartInstances(ctx, sim.InstancesOptions{ConsoleURL: dbURL, PlatformURL: dbURL,
		RedisURL: testenv.Stack(h.t).RedisURL(), Instances: specs, DatabaseIdentity: "test",
		HeartbeatEvery: 200 * time.Millisecond, LookupsPerSecond: lookupsPerSecond})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(insts.Stop)
	return insts, admin
}

// TestCacheRatesEqualTheDrivenCounters drives known lookups through two
// simulated instances and reads the same rates on the page.
func TestCacheRatesEqualTheDrivenCounters(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	insts, _ := h.platform(0, "a", "b")
	for _, l := range []struct{ id, slug string }{
		{"a", "tenant-1"}, // miss to Postgres
		{"a", "tenant-1"}, // memory
		{"a", "tenant-2"}, // miss
		{"b", "tenant-1"}, // Redis
		{"b", "tenant-1"}, // memory
	} {
		if err := insts.Lookup(ctx, l.id, l.slug); err != nil {
			t.Fatal(err)
		}
	}
	if err := insts.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := insts.Counters("a"), insts.Counters("b")
	if a.MemoryHits+b.MemoryHits != 2 || a.RedisHits+b.RedisHits != 1 || a.Misses+b.Misses != 2 {
		t.Fatalf("driven counters: a %+v, b %+v", a, b)
	}
	v := h.operator("viewer@atum.io", auth.Viewer)
	page := body(h.get(v, "/cache"))
	rates := page[strings.Index(page, `data-testid="hit-rates"`):]
	rates = rates[:strings.Index(rates, "SUSPEND_REDIS")]
	// 5 lookups: 2 memory (40 %), 1 Redis (20 %), 2 to Postgres (40 %); 60 % served from cache.
	for _, want := range []string{"60.0%", "40.0%", "20.0%", "5 lookups"} {
		if strings.Count(rates, want) < 3 {
			t.Errorf("hit rates lack %q in one of the three windows", want)
		}
	}
	machines := page[strings.Index(page, `data-testid="machines-table"`):]
	// a: 1 of 3 from memory, 2 to Postgres (66.7 %); b: 2 of 2 from cache (100 %).
	if !strings.Contains(machines, "m-a") || !strings.Contains(machines, "66.7%") || !strings.Contains(machines, "100.0%") {
		t.Error("per-machine rates do not match the driven lookups")
	}
	if !strings.Contains(page, "tenant-1") || !strings.Contains(page, "tenant-2") {
		t.Error("top tenants by misses missing")
	}
}

// TestFlipStopsRedisTraffic flips SUSPEND_REDIS through the console: the
// simulated instances apply it well within 15 s, the console shows the
// propagation, and Redis then receives no command from them.
func TestFlipStopsRedisTraffic(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	insts, admin := h.platform(40, "a", "b", "c")
	op := h.operator("op@atum.io", auth.Operator)
	// Some traffic with Redis first.
	testenv.Eventually(t, 20*time.Second, func() bool {
		return insts.Counters("a").RedisHits+insts.Counters("b").RedisHits+insts.Counters("c").RedisHits > 0
	}, "no Redis traffic before the flip")
	sw, _ := h.switches.Get(ctx, switches.SuspendRedis)
	start := time.Now()
	if resp := h.post(op, "/switches/SUSPEND_REDIS", toggleForm("true", sw.Version, "12M reads a day", switches.SuspendRedis)); resp.StatusCode != 303 {
		t.Fatalf("toggle: %d", resp.StatusCode)
	}
	waitFor(t, func() bool {
		return insts.Counters("a").Suspended && insts.Counters("b").Suspended && insts.Counters("c").Suspended
	})
	t.Logf("all instances applied SUSPEND_REDIS %s after the flip", time.Since(start).Round(time.Millisecond))
	if time.Since(start) > 15*time.Second {
		t.Fatalf("propagation took %s", time.Since(start))
	}
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// Watch Redis for at least 2 s, and until instance a has looked up
	// tenants without it.
	quiet := time.Now()
	before := insts.Counters("a").Misses + insts.Counters("a").MemoryHits
	testenv.Eventually(t, 20*time.Second, func() bool {
		return time.Since(quiet) >= 2*time.Second && insts.Counters("a").Misses+insts.Counters("a").MemoryHits > before
	}, "lookups stopped instead of bypassing Redis")
	stats, err := admin.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(stats, "\n") {
		if strings.HasPrefix(line, "cmdstat_") && !strings.HasPrefix(line, "cmdstat_config") && !strings.HasPrefix(line, "cmdstat_info") {
			t.Fatalf("Redis received commands while SUSPEND_REDIS was on: %s", line)
		}
	}
	waitFor(t, func() bool {
		return strings.Contains(body(h.get(op, "/switches")), "ON applied on 3 of 3 live instances")
	})
}

// TestBrowserOperatorFlipsAndWatchesPropagation: in headless Chromium an
// operator turns SUSPEND_REDIS on with a reason and sees every instance
// apply it.
func TestBrowserOperatorFlipsAndWatchesPropagation(t *testing.T) {
	h := newHarness(t)
	insts, _ := h.platform(10, "a", "b")
	if _, err := h.store.CreateOperator(context.Background(), "op@atum.io", auth.Operator, password, false); err != nil {
		t.Fatal(err)
	}
	ctx, problems := browser(t)
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(h.ts.URL + "/login?next=/switches"),
		chromedp.WaitVisible(`input[name="email"]`),
		chromedp.SendKeys(`input[name="email"]`, "op@atum.io"),
		chromedp.SendKeys(`input[name="password"]`, password),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`[data-testid="toggle-form"]`),
		chromedp.SendKeys(`textarea[name="reason"]`, "crash loop: 12M Redis reads"),
		chromedp.SendKeys(`input[name="confirm"]`, "SUSPEND_REDIS"),
		chromedp.Submit(`input[name="confirm"]`),
		chromedp.WaitVisible(`[data-testid="propagation"]`),
	}
	for _, s := range steps {
		if _, err := chromedp.Run(ctx, s); err != nil {
			t.Fatalf("flip step: %v", err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		text, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="propagation"]`))
		if err == nil && strings.Contains(text, "ON applied on 2 of 2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("propagation never complete in the browser: %q (%v)", text, err)
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := chromedp.Run(ctx, chromedp.Reload()); err != nil {
			t.Fatal(err)
		}
	}
	if !insts.Counters("a").Suspended || !insts.Counters("b").Suspended {
		t.Fatal("instances did not apply the switch")
	}
	hist, err := chromedp.Run(ctx, chromedp.Text(`#switch-SUSPEND_REDIS`))
	if err != nil || !strings.Contains(hist, "crash loop: 12M Redis reads") {
		t.Fatalf("history in the page = %q (%v)", hist, err)
	}
	if p := problems(); len(p) > 0 {
		t.Fatalf("the page raised errors: %v", p)
	}
}
