package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/switches"
)

func toggleForm(enabled string, version int64, reason, confirm string) url.Values {
	return url.Values{"enabled": {enabled}, "version": {itoa(version)}, "reason": {reason}, "confirm": {confirm}, "revert_after": {""}}
}

func TestKillSwitchToggleIsAuditedAndPublished(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	op := h.operator("op@atum.io", auth.Operator)

	// Listen as a platform instance would.
	listener, err := pgx.ConnectConfig(ctx, h.pool.Config().ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN "+switches.Channel); err != nil {
		t.Fatal(err)
	}

	before, _ := h.switches.Get(ctx, switches.SuspendRedis)
	for _, bad := range []struct {
		form url.Values
		want string
	}{
		{toggleForm("true", before.Version, "", switches.SuspendRedis), "Give a reason"},
		{toggleForm("true", before.Version, "crash loop", "suspend_redis"), "Type the switch"},
		{toggleForm("maybe", before.Version, "crash loop", switches.SuspendRedis), "on or off"},
		{toggleForm("true", 0, "crash loop", switches.SuspendRedis), "version"},
	} {
		resp := h.post(op, "/switches/SUSPEND_REDIS", bad.form)
		if b := body(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, bad.want) {
			t.Errorf("%v: %d, want 400 with %q", bad.form, resp.StatusCode, bad.want)
		}
	}
	form := toggleForm("true", before.Version, "crash loop hammers Redis <b>now</b>", switches.SuspendRedis)
	form.Set("revert_after", "1h")
	resp := h.post(op, "/switches/SUSPEND_REDIS", form)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/switches") {
		t.Fatalf("toggle: %d %s", resp.StatusCode, body(resp))
	}
	after, _ := h.switches.Get(ctx, switches.SuspendRedis)
	if !after.Enabled || after.Version != before.Version+1 || after.ChangedBy != "op@atum.io" || after.RevertAt == nil {
		t.Fatalf("switch after = %+v", after)
	}
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := listener.WaitForNotification(nctx)
	if err != nil || n.Payload != "SUSPEND_REDIS:"+itoa(after.Version) {
		t.Fatalf("notification = %+v, %v", n, err)
	}
	ev := h.events("killswitch.set")
	var ok *audit.Event
	for i := range ev {
		if ev[i].Result == audit.Success {
			ok = &ev[i]
		}
	}
	if ok == nil || !strings.Contains(ok.DetailsJSON, `"before": "OFF"`) || !strings.Contains(ok.DetailsJSON, `"after": "ON"`) ||
		ok.Reason != "crash loop hammers Redis <b>now</b>" || ok.Operator != "op@atum.io" {
		t.Fatalf("audit = %+v", ev)
	}
	if len(ev) != 5 { // four refused forms and the change
		t.Fatalf("%d killswitch.set events, want 5", len(ev))
	}
	page := body(h.get(op, "/switches"))
	if !strings.Contains(page, "crash loop hammers Redis &lt;b&gt;now&lt;/b&gt;") || !strings.Contains(page, "reverts automatically") {
		t.Fatal("switches page lacks the escaped reason or the revert time")
	}
	if ov := body(h.get(op, "/")); !strings.Contains(ov, "SUSPEND_REDIS is ON") {
		t.Fatal("overview does not say SUSPEND_REDIS is on")
	}
}

// TestTwoOperatorsAtOnce: both saw version v; one wins, the other is told
// and changes nothing; both are audited.
func TestTwoOperatorsAtOnce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	alice := h.operator("alice@atum.io", auth.Operator)
	bob := h.operator("bob@atum.io", auth.Admin)
	v, _ := h.switches.Get(ctx, switches.SuspendRedis)
	first := h.post(alice, "/switches/SUSPEND_REDIS", toggleForm("true", v.Version, "alice: Redis bill", switches.SuspendRedis))
	second := h.post(bob, "/switches/SUSPEND_REDIS", toggleForm("true", v.Version, "bob: same incident", switches.SuspendRedis))
	if first.StatusCode != http.StatusSeeOther {
		t.Fatalf("first: %d", first.StatusCode)
	}
	b := body(second)
	if second.StatusCode != http.StatusConflict || !strings.Contains(b, "was changed by alice@atum.io") || !strings.Contains(b, "Nothing was changed") {
		t.Fatalf("second: %d", second.StatusCode)
	}
	now, _ := h.switches.Get(ctx, switches.SuspendRedis)
	if now.Version != v.Version+1 || now.Reason != "alice: Redis bill" {
		t.Fatalf("switch = %+v", now)
	}
	ev := h.events("killswitch.set")
	if len(ev) != 2 || ev[0].Operator != "bob@atum.io" || ev[0].Result != audit.Failure || !strings.Contains(ev[0].DetailsJSON, `"conflict": true`) ||
		ev[1].Operator != "alice@atum.io" || ev[1].Result != audit.Success {
		t.Fatalf("audit = %+v", ev)
	}
}

func TestViewerAndCrossOriginCannotToggle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	viewer := h.operator("viewer@atum.io", auth.Viewer)
	op := h.operator("op@atum.io", auth.Operator)
	v, _ := h.switches.Get(ctx, switches.SuspendRedis)
	form := toggleForm("true", v.Version, "x", switches.SuspendRedis)
	if resp := h.post(viewer, "/switches/SUSPEND_REDIS", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer: %d", resp.StatusCode)
	}
	if ev := h.events("authz.denied"); len(ev) != 1 || ev[0].Operator != "viewer@atum.io" || !strings.Contains(ev[0].Target, "/switches/:name") {
		t.Fatalf("denial audit = %+v", ev)
	}
	if resp := h.post(op, "/switches/SUSPEND_REDIS", form, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site: %d", resp.StatusCode)
	}
	if resp := h.post(op, "/switches/SUSPEND_REDIS", form, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin: %d", resp.StatusCode)
	}
	if now, _ := h.switches.Get(ctx, switches.SuspendRedis); now.Version != v.Version || now.Enabled {
		t.Fatalf("switch changed: %+v", now)
	}
	// The viewer sees the switch but no form.
	if page := body(h.get(viewer, "/switches")); strings.Contains(page, `data-testid="toggle-form"`) || !strings.Contains(page, "SUSPEND_REDIS") {
		t.Fatal("viewer's switches page")
	}
}

// TestToggleIsAllOrNothing: when Postgres fails in the middle of a change
// (here: the history insert), the switch and its history are left as they
// were, the attempt is audited as an error, and the operator gets a clear
// 503.
func TestToggleIsAllOrNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	op := h.operator("op@atum.io", auth.Operator)
	if _, err := h.pool.Exec(ctx, `
		CREATE FUNCTION ops.fail_history() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
		CREATE TRIGGER fail_history BEFORE INSERT ON ops.kill_switch_changes FOR EACH ROW EXECUTE FUNCTION ops.fail_history();`); err != nil {
		t.Fatal(err)
	}
	v, _ := h.switches.Get(ctx, switches.SuspendRedis)
	resp := h.post(op, "/switches/SUSPEND_REDIS", toggleForm("true", v.Version, "incident", switches.SuspendRedis))
	if b := body(resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "was NOT changed") {
		t.Fatalf("toggle with a failing database: %d", resp.StatusCode)
	}
	if now, _ := h.switches.Get(ctx, switches.SuspendRedis); now.Version != v.Version || now.Enabled {
		t.Fatalf("half-written switch: %+v", now)
	}
	if ev := h.events("killswitch.set"); len(ev) != 1 || ev[0].Result != audit.Error || !strings.Contains(ev[0].DetailsJSON, "disk full") {
		t.Fatalf("want only the failed attempt audited: %+v", ev)
	}
}

// TestRedisDownKeepsLastValuesAndTheSwitchWorks: with Redis unreachable the
// Cache page shows the last INFO figures with their age, and the switch
// (Postgres only) still toggles.
func TestRedisDownKeepsLastValuesAndTheSwitchWorks(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	op := h.operator("op@atum.io", auth.Operator)
	if _, err := h.redis.Tick(ctx, true); err != nil {
		t.Fatal(err)
	}
	dead, err := rediscache.NewClient("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	h.redis.Client = dead
	if _, err := h.redis.Tick(ctx, true); err == nil {
		t.Fatal("INFO on a closed port succeeded")
	}
	page := body(h.get(op, "/cache"))
	if !strings.Contains(page, `data-testid="redis-server"`) || !strings.Contains(page, "Total commands") || strings.Contains(page, "not sampled yet") {
		t.Fatal("cache page lost the last Redis figures")
	}
	v, _ := h.switches.Get(ctx, switches.SuspendRedis)
	if resp := h.post(op, "/switches/SUSPEND_REDIS", toggleForm("true", v.Version, "Redis is down", switches.SuspendRedis)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("toggle with Redis down: %d", resp.StatusCode)
	}
	// While suspended the console sends Redis nothing; an operator can
	// still probe on purpose, and a failed probe is audited.
	if _, err := h.redis.Tick(ctx, false); err != rediscache.ErrPaused {
		t.Fatalf("tick while suspended: %v", err)
	}
	if resp := h.post(op, "/cache/probe", nil); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("probe with Redis down: %d", resp.StatusCode)
	}
	if ev := h.events("redis.probe"); len(ev) != 1 || ev[0].Result != audit.Error {
		t.Fatalf("probe audit = %+v", ev)
	}
}
