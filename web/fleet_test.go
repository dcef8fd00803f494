package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/flydouble"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/web"
)

const hostileFly = `<img src=x onerror=alert(1)><script>alert(2)</script>"'`

// withFleet serves the Fleet screen from a Fly API double with two api
// machines (one crash-looping, one whose env holds hostile values) and a
// worker without ENVIRONMENT, listed once.
func withFleet(t *testing.T) (*flydouble.Server, func(*web.Deps)) {
	t.Helper()
	fd := flydouble.New(flydouble.Options{Token: "fo1_web", App: "atum"})
	u, err := fd.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fd.Close)
	prod := map[string]string{"ENVIRONMENT": "production", "DB_POOL_SIZE": "15"}
	fd.Put(flydouble.Machine{ID: "a1", Name: "api-1", State: "started", Region: "fra", Group: "api", Digest: "sha256:aa", Env: prod})
	fd.Put(flydouble.Machine{ID: "a2", Name: hostileFly, State: "started", Region: "fra", Group: "api", Digest: "sha256:aa",
		Env: map[string]string{"ENVIRONMENT": "production", "DB_POOL_SIZE": hostileFly}})
	fd.Put(flydouble.Machine{ID: "w1", Name: "worker-1", State: "started", Region: "fra", Group: "worker", Digest: "sha256:aa",
		Env: map[string]string{"DB_POOL_SIZE": "10"}})
	fd.CrashLoop("a1", 3, time.Minute, 137, true)
	c, err := fly.NewClient(u, "atum", "fo1_web", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return fd, func(d *web.Deps) {
		f := &fly.Fleet{Sampler: &fly.Sampler{Pool: d.Console, Client: c, Interval: time.Minute}, Console: d.Console,
			HeartbeatWithin: time.Minute, Options: fly.Options{ExpectedEnvironment: "production", Groups: []string{"api", "worker"}}}
		if _, err := f.Sampler.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		d.Fleet, d.FlyApp = f, "atum"
	}
}

func TestFleetPageShowsMachinesAndFindings(t *testing.T) {
	fd, opt := withFleet(t)
	h := newHarness(t, opt)
	c := h.operator("viewer@atum.io", auth.Viewer)
	resp := h.get(c, "/fleet")
	page := body(resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/fleet: %d", resp.StatusCode)
	}
	for _, want := range []string{`data-machine="a1"`, `data-machine="w1"`, "CRASH LOOP", "last exit; 3 in 1 h",
		"runs without ENVIRONMENT=production (ENVIRONMENT is unset)", `data-key="DB_POOL_SIZE"`, "differs within group api",
		`href="/switches#switch-SUSPEND_REDIS"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/fleet lacks %q", want)
		}
	}
	if strings.Contains(page, "<img src=x") || strings.Contains(page, "<script>alert") {
		t.Fatal("a machine's name or env value reached the page unescaped")
	}
	if !strings.Contains(page, "consider turning SUSPEND_REDIS on") {
		t.Error("the crash loop does not suggest SUSPEND_REDIS")
	}
	sw, err := h.switches.Get(context.Background(), switches.SuspendRedis)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.switches.Set(context.Background(), switches.Change{Name: switches.SuspendRedis, Enabled: true, Reason: "crash loop",
		Version: sw.Version, Actor: audit.Entry{Operator: "op@atum.io"}}); err != nil {
		t.Fatal(err)
	}
	if p := body(h.get(c, "/fleet")); !strings.Contains(p, "(SUSPEND_REDIS is already on)") || strings.Contains(p, "consider turning") {
		t.Error("with SUSPEND_REDIS on, the crash loop still suggests turning it on")
	}
	resp = h.get(c, "/fleet/machines/a1")
	if p := body(resp); resp.StatusCode != http.StatusOK || strings.Count(p, `data-testid="fleet-event"`) != 6 || !strings.Contains(p, "code 137, OOM killed") {
		t.Fatalf("machine page: %d", resp.StatusCode)
	}
	if resp := h.get(c, "/fleet/machines/"+url.PathEscape("<b>nope")); resp.StatusCode != http.StatusNotFound || strings.Contains(body(resp), "<b>nope") {
		t.Fatalf("unknown machine: %d", resp.StatusCode)
	}
	if bad := fd.Dangerous(); len(bad) != 0 {
		t.Fatalf("dangerous calls %+v", bad)
	}
}

func TestFleetNotConfigured(t *testing.T) {
	h := newHarness(t)
	c := h.operator("viewer@atum.io", auth.Viewer)
	resp := h.get(c, "/fleet")
	if p := body(resp); resp.StatusCode != http.StatusOK || !strings.Contains(p, "FLY_API_TOKEN") {
		t.Fatalf("/fleet without Fly: %d", resp.StatusCode)
	}
	if resp := h.get(c, "/fleet/machines/a1"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("machine page without Fly: %d", resp.StatusCode)
	}
}

// TestBrowserHostileFleetStaysInert opens /fleet and a hostile machine in
// Chromium: no dialog, no injected element, no CSP violation.
func TestBrowserHostileFleetStaysInert(t *testing.T) {
	_, opt := withFleet(t)
	h := newHarness(t, opt)
	if _, err := h.store.CreateOperator(context.Background(), "v@atum.io", auth.Viewer, password, false); err != nil {
		t.Fatal(err)
	}
	ctx, inert := inertBrowser(t, h, "v@atum.io", "/fleet", `[data-testid="fleet-drift"]`)
	inert()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(h.ts.URL+"/fleet/machines/a2")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible(`[data-testid="fleet-events"]`)); err != nil {
		t.Fatal(err)
	}
	inert()
	heading, err := chromedp.Run(ctx, chromedp.Text(`h1`))
	if err != nil || !strings.Contains(heading, "<img src=x") {
		t.Fatalf("the hostile name is not shown as text: %q (%v)", heading, err)
	}
}

// TestFleetNeverListed: a fleet Fly never answered for is an error, not an
// empty fleet with "no machines" alerts.
func TestFleetNeverListed(t *testing.T) {
	fd, _ := withFleet(t)
	c, err := fly.NewClient(fd.URL(), "atum", "fo1_revoked", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(d *web.Deps) {
		f := &fly.Fleet{Sampler: &fly.Sampler{Pool: d.Console, Client: c, Interval: time.Minute}, Console: d.Console,
			Options: fly.Options{ExpectedEnvironment: "production", Groups: []string{"api"}}}
		if _, err := f.Sampler.Tick(context.Background()); err == nil {
			t.Fatal("a revoked token must fail")
		}
		d.Fleet, d.FlyApp = f, "atum"
	})
	resp := h.get(h.operator("v@atum.io", auth.Viewer), "/fleet")
	p := body(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(p, "Fly could not be listed: fly: list machines: HTTP 401") ||
		strings.Contains(p, "Fly lists no machines") || strings.Contains(p, "fo1_revoked") {
		t.Fatalf("/fleet after a 401: %d\n%s", resp.StatusCode, p)
	}
}
