package web_test

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/flydouble"
	"github.com/atum/ops-console/web"
)

// TestConnectionsShowQueriesToOperatorsOnlyAndMasked: a platform session
// idles in a transaction after a statement with an email and a token
// inlined. A viewer sees the session but not its statement; an operator
// sees the statement with its literals masked.
func TestConnectionsShowQueriesToOperatorsOnlyAndMasked(t *testing.T) {
	h := newHarness(t)
	viewer := h.operator("viewer@atum.io", auth.Viewer)
	support := h.operator("support@atum.io", auth.Support)
	op := h.operator("op@atum.io", auth.Operator)
	ctx := context.Background()
	cfg := h.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "atum:api:m1:5151"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `BEGIN; SELECT 'alice@example.com' AS email, E'Xk29vQpL7mZr4\'TnB8' AS token, 987654 AS n`); err != nil {
		t.Fatal(err)
	}
	if err := h.sampler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		client *http.Client
		shown  bool
	}{{"viewer", viewer, false}, {"support", support, false}, {"operator", op, true}} {
		t.Run(tt.name, func(t *testing.T) {
			page := body(h.get(tt.client, "/connections"))
			if !strings.Contains(page, "atum:api:m1:5151") {
				t.Fatal("the idle session is not listed")
			}
			for _, secret := range []string{"alice@example.com", "Xk29vQpL7mZr4", "987654"} {
				if strings.Contains(page, secret) {
					t.Errorf("the page shows %q", secret)
				}
			}
			if got := strings.Contains(page, "AS email"); got != tt.shown {
				t.Errorf("statement text shown = %v, want %v", got, tt.shown)
			}
			if got := strings.Contains(page, `data-testid="query-hidden"`); got == tt.shown {
				t.Errorf("hidden-statement note shown = %v", got)
			}
			if tt.shown && !strings.Contains(page, "SELECT &#39;?&#39; AS email, &#39;?&#39; AS token, ? AS n") {
				t.Error("the operator does not see the masked statement")
			}
		})
	}
}

// intentRefusingAudit is the console's audit log whose intent events fail
// to be written while refuse is set, as when the database stops answering
// between two requests.
type intentRefusingAudit struct {
	inner interface {
		handlers.Auditor
		handlers.AuditReader
	}
	refuse atomic.Bool
}

func (a *intentRefusingAudit) Record(ctx context.Context, e audit.Entry) error {
	if a.refuse.Load() && e.Result == audit.Intent {
		return errors.New("audit: record: connection refused")
	}
	return a.inner.Record(ctx, e)
}

func (a *intentRefusingAudit) List(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	return a.inner.List(ctx, f)
}

// TestActionsAreRefusedWithoutTheirIntent: when the intent cannot be
// written, operator changes, retries and a purge discard are refused with
// a 503 naming the console's database, and nothing changes.
func TestActionsAreRefusedWithoutTheirIntent(t *testing.T) {
	refusing := &intentRefusingAudit{}
	h := newHarness(t, func(d *web.Deps) { refusing.inner = d.Audit; d.Audit = refusing })
	admin := h.operator("admin@atum.io", auth.Admin)
	op := h.operator("op@atum.io", auth.Operator)
	ctx := context.Background()
	target, err := h.store.CreateOperator(ctx, "target@atum.io", auth.Viewer, password, false)
	if err != nil {
		t.Fatal(err)
	}
	ids := h.deadLetters(2, "billing")
	resp := h.post(op, "/queues/purges", url.Values{"region": {"eu"}, "queue": {"billing"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("preview: %d %s", resp.StatusCode, body(resp))
	}
	purge := resp.Header.Get("Location")
	h.qs.ResetRequests()
	refusing.refuse.Store(true)

	id := itoa(target.ID)
	for _, tt := range []struct {
		name   string
		client *http.Client
		path   string
		form   url.Values
	}{
		{"create operator", admin, "/operators", url.Values{"email": {"new@atum.io"}, "role": {"viewer"}, "password": {password}}},
		{"change role", admin, "/operators/" + id + "/role", url.Values{"role": {"admin"}}},
		{"disable", admin, "/operators/" + id + "/disable", nil},
		{"end sessions", admin, "/operators/" + id + "/sessions/end", nil},
		{"retry one", op, "/queues/dlq/" + ids[0] + "/retry", url.Values{"region": {"eu"}}},
		{"retry selected", op, "/queues/dlq/retry", url.Values{"region": {"eu"}, "ids": ids}},
		{"discard purge", op, purge + "/discard", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.post(tt.client, tt.path, tt.form)
			b := body(resp)
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "console&#39;s database") || !strings.Contains(b, "nothing was done") {
				t.Errorf("%s: %d, want 503 naming the console's database:\n%s", tt.path, resp.StatusCode, b)
			}
		})
	}
	after, err := h.store.Operator(ctx, target.ID)
	if err != nil || after.Role != auth.Viewer || after.Disabled {
		t.Errorf("the refused changes changed the operator: %+v %v", after, err)
	}
	ops, err := h.store.Operators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		if o.Email == "new@atum.io" {
			t.Error("a refused creation added the operator")
		}
	}
	if reqs := h.qs.Requests(); len(reqs) != 0 {
		t.Errorf("a refused retry reached QStash: %+v", reqs)
	}
	if h.qs.DLQCount() != 2 {
		t.Errorf("dead letters = %d, want 2", h.qs.DLQCount())
	}
	if page := body(h.get(op, purge)); !strings.Contains(page, `data-testid="confirm-form"`) {
		t.Error("the refused discard discarded the purge")
	}
	for _, action := range []string{"operator.create", "operator.role", "operator.disable", "operator.sessions.end", "dlq.retry", "dlq.purge.discard"} {
		if ev := h.events(action); len(ev) != 0 {
			t.Errorf("%s: a refused action recorded %+v", action, ev)
		}
	}

	// With the audit log back, the same change records its intent first.
	refusing.refuse.Store(false)
	if resp := h.post(admin, "/operators/"+id+"/disable", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	if ev := h.events("operator.disable"); len(ev) != 2 || ev[1].Result != audit.Intent || ev[0].Result != audit.Success {
		t.Errorf("disable audit = %+v", ev)
	}
	if resp := h.post(op, purge+"/discard", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("discard: %d", resp.StatusCode)
	}
	if ev := h.events("dlq.purge.discard"); len(ev) != 2 || ev[1].Result != audit.Intent || ev[0].Result != audit.Success {
		t.Errorf("discard audit = %+v", ev)
	}
}

// TestAuditExportIsSafeAndRedactsFilters: a formula typed into the sign-in
// email reaches the CSV quoted and defused for every separator, and a
// token typed into a filter is not kept in the export's own audit event.
func TestAuditExportIsSafeAndRedactsFilters(t *testing.T) {
	h := newHarness(t)
	op := h.operator("ops@atum.io", auth.Operator)
	evil := `x;=cmd|' /C calc'!A0`
	if err := h.audit.Record(context.Background(), audit.Entry{Operator: evil, Action: "login", Target: "operator:" + evil,
		Result: audit.Failure}); err != nil {
		t.Fatal(err)
	}
	token := "ghp_aBcDeFgHiJkLmNoPqRsTuV"
	resp := h.get(op, "/audit.csv?action=login&target="+url.QueryEscape(token))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %d", resp.StatusCode)
	}
	body(resp)
	resp = h.get(op, "/audit.csv?action=login&result=failure")
	raw := body(resp)
	if strings.Contains(raw, ";=cmd") || strings.Contains(raw, ",x;") {
		t.Errorf("the formula reached the CSV as it was:\n%s", raw)
	}
	recs, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("CSV: %v %q", err, recs)
	}
	if recs[1][2] != `'x;'=cmd|' /C calc'!A0` {
		t.Errorf("operator cell = %q", recs[1][2])
	}
	ev := h.events("audit.export")
	if len(ev) != 2 {
		t.Fatalf("export events = %+v", ev)
	}
	if d := ev[1].DetailsJSON; strings.Contains(d, token) || !strings.Contains(d, "target=[redacted]") || !strings.Contains(d, "action=login") {
		t.Errorf("export details = %s", d)
	}
}

// TestPurgeFiltersAreRedacted: a token typed into the URL filter of a
// purge preview is kept neither in the audit log nor on the purge's page.
func TestPurgeFiltersAreRedacted(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	viewer := h.operator("viewer@atum.io", auth.Viewer)
	h.deadLetters(1, "billing")
	filter := "https://api.atum.example/hook?token=s3cr3t-t0ken&x=1"
	resp := h.post(op, "/queues/purges", url.Values{"region": {"eu"}, "url": {filter}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("preview: %d %s", resp.StatusCode, body(resp))
	}
	page := body(h.get(viewer, resp.Header.Get("Location")))
	if strings.Contains(page, "s3cr3t-t0ken") || !strings.Contains(page, "token=[redacted]") {
		t.Error("the purge page shows the token typed into its filter")
	}
	ev := h.events("dlq.purge.preview")
	if len(ev) != 1 || strings.Contains(ev[0].DetailsJSON, "s3cr3t-t0ken") || !strings.Contains(ev[0].DetailsJSON, "api.atum.example/hook") {
		t.Errorf("preview audit = %+v", ev)
	}
}

// TestFleetMasksSecretValues: config.env values are masked by value as
// well as by name, on the machine page and in the drift table, and two
// machines with different passwords still show as different.
func TestFleetMasksSecretValues(t *testing.T) {
	fd := flydouble.New(flydouble.Options{Token: "fo1_web", App: "atum"})
	u, err := fd.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fd.Close)
	env := func(pass string) map[string]string {
		return map[string]string{"ENVIRONMENT": "production", "DB_POOL_SIZE": "15", "REDIS_URL": "rediss://:" + pass + "@cache.example:6379",
			"SENTRY_KEY": "plain-" + pass, "UPSTREAM": "Bearer " + pass}
	}
	fd.Put(flydouble.Machine{ID: "a1", Name: "api-1", State: "started", Region: "fra", Group: "api", Digest: "sha256:aa", Env: env("first-pw")})
	fd.Put(flydouble.Machine{ID: "a2", Name: "api-2", State: "started", Region: "fra", Group: "api", Digest: "sha256:aa", Env: env("second-pw")})
	c, err := fly.NewClient(u, "atum", "fo1_web", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(d *web.Deps) {
		f := &fly.Fleet{Sampler: &fly.Sampler{Pool: d.Console, Client: c, Interval: time.Minute}, Console: d.Console,
			HeartbeatWithin: time.Minute, Options: fly.Options{ExpectedEnvironment: "production", Groups: []string{"api"},
				Keys: slices.Concat(fly.DriftKeys, []string{"REDIS_URL", "SENTRY_KEY"})}}
		if _, err := f.Sampler.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		d.Fleet, d.FlyApp = f, "atum"
	})
	v := h.operator("viewer@atum.io", auth.Viewer)
	fleet := body(h.get(v, "/fleet"))
	machine := body(h.get(v, "/fleet/machines/a1"))
	for name, page := range map[string]string{"/fleet": fleet, "/fleet/machines/a1": machine} {
		for _, secret := range []string{"first-pw", "second-pw"} {
			if strings.Contains(page, secret) {
				t.Errorf("%s shows %q", name, secret)
			}
		}
		if !strings.Contains(page, "rediss://:[hidden #") || !strings.Contains(page, "@cache.example:6379") {
			t.Errorf("%s does not keep the URL around its hidden password", name)
		}
	}
	if !strings.Contains(fleet, `data-key="REDIS_URL"`) || !strings.Contains(fleet, "differs within group api") {
		t.Error("the drift table does not show the two passwords as different")
	}
}
