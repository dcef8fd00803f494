package web_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/views"
	"github.com/atum/ops-console/web"
)

// visible is a page's text with whitespace collapsed.
func visible(t *testing.T, page string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(textOf(doc)), " ")
}

// TestPagesSayNoHeartbeatsYetOnce: with Fly running three machines and
// no platform heartbeat ever, the Fleet, Switches, Cache and account
// pages each say once that no platform instance reports heartbeats yet,
// linking the contract, and flag no machine as silent; the alerts hold
// one fleet.no_heartbeats_yet. After one heartbeat, the silent machines
// are flagged and alerted one by one again, and the note is gone.
func TestPagesSayNoHeartbeatsYetOnce(t *testing.T) {
	_, fleetOpt := withFleet(t)
	h := newHarness(t, fleetOpt, func(d *web.Deps) {
		d.AccountFleet = func() *accounts.Fleet {
			return &accounts.Fleet{Running: []string{"a1", "a2", "w1"}, WithoutEnvironment: []string{"w1"}, Expected: "production"}
		}
	})
	h.seedPlatform()
	_, user := h.customer("quiet")
	c := h.operator("support@atum.io", auth.Support)
	pages := []string{"/fleet", "/switches", "/cache", "/accounts/users/" + user}
	for _, path := range pages {
		page := body(h.get(c, path))
		text := visible(t, page)
		if n := strings.Count(text, store.NoHeartbeatsYet); n != 1 {
			t.Errorf("%s says %q %d times, want once:\n%s", path, store.NoHeartbeatsYet, n, text)
		}
		if !strings.Contains(page, `href="`+views.NoHeartbeatsYetHref+`"`) {
			t.Errorf("%s does not link the contract", path)
		}
		for _, silent := range []string{"NO HEARTBEAT", "sends no heartbeat", "running but silent", "No live platform instances"} {
			if strings.Contains(text, silent) {
				t.Errorf("%s says %q before any heartbeat", path, silent)
			}
		}
	}
	// The alert rules raise one finding, which the Fleet page's alerts
	// show (and which then says it there, in place of the note).
	if got := fleetAlerts(t, body(h.get(c, "/fleet"))); len(got["heartbeat"]) != 0 || len(got["none yet"]) != 1 {
		t.Errorf("fleet alerts before any heartbeat: %v", got)
	}
	if rb := visible(t, body(h.get(c, views.NoHeartbeatsYetHref))); !strings.Contains(rb, "Contracts with the platform") ||
		!strings.Contains(rb, "ops.instance_heartbeats") {
		t.Errorf("the contract's runbook:\n%s", rb)
	}

	if _, err := h.pool.Exec(context.Background(), `INSERT INTO ops.instance_heartbeats (instance_id, machine_id, process_group, boot_id,
		started_at, environment, database_identity, suspend_redis, suspend_redis_source) VALUES ('a1-1', 'a1', 'api', 'b1', now(), 'production', 'x', false, 'database')`); err != nil {
		t.Fatal(err)
	}
	// Pages share what they read for a second: wait for the heartbeat.
	var fleet string
	waitFor(t, func() bool {
		fleet = visible(t, body(h.get(c, "/fleet")))
		return strings.Count(fleet, "NO HEARTBEAT") == 2
	})
	if strings.Contains(fleet, store.NoHeartbeatsYet) || strings.Count(fleet, "is running but sends no heartbeat") != 2 {
		t.Errorf("/fleet after the first heartbeat:\n%s", fleet)
	}
	waitFor(t, func() bool { return strings.Contains(body(h.get(c, "/switches")), "a1-1") })
	for _, path := range pages[1:] {
		if text := visible(t, body(h.get(c, path))); strings.Contains(text, store.NoHeartbeatsYet) {
			t.Errorf("%s still says %q after the first heartbeat", path, store.NoHeartbeatsYet)
		}
	}
	account := diagnosisLines(t, body(h.get(c, "/accounts/users/"+user)), "diagnosis-platform-lines")
	if l := lineNamed(account, "Running machines without heartbeat"); l.verdict != accounts.Problem || !strings.Contains(l.detail, "a2, w1") {
		t.Errorf("the diagnosis after the first heartbeat: %+v", l)
	}
	if got := fleetAlerts(t, body(h.get(c, "/fleet"))); len(got["heartbeat"]) != 2 || len(got["none yet"]) != 0 {
		t.Errorf("fleet alerts after the first heartbeat: %v", got)
	}
}

// fleetAlerts sorts the page's open alerts about heartbeats: one per
// silent machine ("heartbeat") and no heartbeats yet ("none yet").
func fleetAlerts(t *testing.T, page string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, a := range elements(t, page, "alert") {
		text := strings.Join(strings.Fields(textOf(a)), " ")
		switch {
		case strings.Contains(text, "sends no heartbeat"):
			out["heartbeat"] = append(out["heartbeat"], text)
		case strings.Contains(text, "Fleet: "+store.NoHeartbeatsYet):
			out["none yet"] = append(out["none yet"], text)
		}
	}
	return out
}
