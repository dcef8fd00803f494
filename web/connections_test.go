package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/auth"
)

func TestConnectionsPageShowsTheBudgetAndLiveUsage(t *testing.T) {
	h := newHarness(t)
	v := h.operator("viewer@atum.io", auth.Viewer)
	ctx := context.Background()

	// Before any sample: a clear message, not an error.
	if b := body(h.get(v, "/connections")); !strings.Contains(b, "the first sample is taken within seconds") {
		t.Fatal("no-sample state missing")
	}
	cfg := h.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "atum:api:m1:4242"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `BEGIN; SELECT '<script>alert(1)</script>'`); err != nil {
		t.Fatal(err)
	}
	if err := h.sampler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	page := body(h.get(v, "/connections"))
	for _, want := range []string{
		`data-testid="gauge-planned"`, `data-testid="gauge-live"`, `data-testid="budget-table"`, `data-testid="limits-table"`,
		"atum:api", "atum:api:m1:4242", // the source and the idle transaction
		">115<",                            // planned: 2×2×20 + 1×1×20 + 15
		"197 usable = 200 max_connections", // devstack: 200 − 3 superuser slots
		"The platform guide",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("connections page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Fatal("a session's query is rendered unescaped")
	}
	if strings.Contains(page, `data-testid="waiting-banner"`) {
		t.Error("waiting banner without PgBouncer")
	}
}

func TestWhatIfCalculator(t *testing.T) {
	h := newHarness(t)
	v := h.operator("viewer@atum.io", auth.Viewer)
	if err := h.sampler.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"whatif": {"1"}, "machines_api": {"10"}, "processes_api": {"2"}, "pool": {"15"}, "overflow": {"5"}}
	resp := h.get(v, "/connections?"+q.Encode())
	page := body(resp)
	// 10×2×20 + 1×1×20 + 15 = 435 against 197 usable: over by 238; the api
	// group breaks at machine (197−35)/40+1 = 5.
	if resp.StatusCode != 200 || !strings.Contains(page, `data-testid="whatif-result"`) || !strings.Contains(page, "435") || !strings.Contains(page, "238") {
		t.Fatalf("what-if result: %d", resp.StatusCode)
	}
	// With a compute size the limit follows Neon's formula: 2 CU → 839 − 3.
	q.Set("min_cu", "2")
	q.Set("max_cu", "2")
	if page := body(h.get(v, "/connections?"+q.Encode())); !strings.Contains(page, "max_connections 839") || !strings.Contains(page, "836") {
		t.Fatal("compute size not applied")
	}
	for _, bad := range []url.Values{
		{"whatif": {"1"}, "machines_api": {"-2"}},
		{"whatif": {"1"}, "machines_api": {"lots"}},
		{"whatif": {"1"}, "pool": {"99999999999999999999"}},
		{"whatif": {"1"}, "min_cu": {"0.25"}},
		{"whatif": {"1"}, "min_cu": {"4"}, "max_cu": {"2"}},
		{"whatif": {"1"}, "max_cu": {"<script>"}, "min_cu": {"1"}},
	} {
		resp := h.get(v, "/connections?"+bad.Encode())
		b := body(resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, `data-testid="whatif-errors"`) || strings.Contains(b, "<script>") {
			t.Errorf("what-if %v: %d", bad, resp.StatusCode)
		}
	}
}

func TestOverviewAlertsWhenThePlanBreaksTheBudget(t *testing.T) {
	h := newHarness(t)
	v := h.operator("viewer@atum.io", auth.Viewer)
	h.budget()
	h.plan.Groups[0].Machines = 10 // 10×2×20 + 20 + 15 = 435 > 197 usable
	if err := h.sampler.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	page := body(h.get(v, "/"))
	if !strings.Contains(page, "the budget breaks at machine 5 of group api (now 10)") {
		t.Fatal("overview does not say where the budget breaks")
	}
}

// TestViewersDoNotReadThePlatform: 50 concurrent viewers of the
// Connections page and the Overview cause no reading of the platform
// database; only the sampler reads it.
func TestViewersDoNotReadThePlatform(t *testing.T) {
	h := newHarness(t)
	v := h.operator("viewer@atum.io", auth.Viewer)
	if err := h.sampler.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := h.sampler.Reads()
	errs := make(chan int, 100)
	for i := range 100 {
		go func() {
			path := "/connections"
			if i%2 == 0 {
				path = "/"
			}
			resp := h.get(v, path)
			resp.Body.Close()
			errs <- resp.StatusCode
		}()
	}
	for range 100 {
		if code := <-errs; code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if after := h.sampler.Reads(); after != before {
		t.Fatalf("100 page views read the platform %d times", after-before)
	}
}
