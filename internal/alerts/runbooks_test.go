package alerts_test

import (
	"slices"
	"testing"

	"github.com/atum/ops-console/internal/alerts"
)

// consoleRules is every rule the console raises: the connection findings
// (internal/neon), the switch and cache producers, the fleet's kinds
// (internal/fly), the unreachable systems and the console's own checks.
var consoleRules = []string{
	"connections.sample_failed", "connections.live", "connections.planned", "connections.waiting",
	"connections.compute", "connections.no_pg_monitor",
	"switch.on", "switch.not_applied",
	"cache.redis_budget", "cache.redis_jump",
	"fleet.crash-loop", "fleet.environment", "fleet.drift", "fleet.image", "fleet.group",
	"fleet.heartbeat", "fleet.no_heartbeats_yet", "fleet.unknown-machine", "fleet.config", "fleet.wedged",
	"system.unreachable",
	"console.watch_off", "console.demo_operators",
	"queues.approval_waiting",
}

// Every rule the console can raise has a complete runbook.
func TestEveryRuleHasARunbook(t *testing.T) {
	for _, rule := range consoleRules {
		t.Run(rule, func(t *testing.T) {
			r, ok := alerts.RunbookFor(rule)
			if !ok {
				t.Fatalf("no runbook for %s", rule)
			}
			if r.Rule != rule || r.Title == "" || r.Meaning == "" || len(r.Causes) == 0 {
				t.Errorf("incomplete runbook: %+v", r)
			}
			for _, a := range []alerts.Alert{{Rule: rule}, {Rule: rule, Subject: "m1"}} {
				links := r.Actions(a)
				if len(links) == 0 || links[0].Href == "" || links[0].Label == "" || links[0].Href[0] != '/' {
					t.Errorf("actions of %+v: %+v", a, links)
				}
			}
		})
	}
	if got := alerts.Rules(); len(got) != len(consoleRules) {
		t.Errorf("Rules() = %v; the test's list has %d", got, len(consoleRules))
	}
	if _, ok := alerts.RunbookFor("nope"); ok {
		t.Error("a runbook for an unknown rule")
	}
}

// The first action is the safe one for the alert at hand.
func TestRunbookActions(t *testing.T) {
	cases := []struct {
		name  string
		alert alerts.Alert
		want  []string
	}{
		{"crash loop of one machine", alerts.Alert{Rule: "fleet.crash-loop", Subject: "group:machines", Members: []string{"e7842"}},
			[]string{"/switches#switch-SUSPEND_REDIS", "/fleet/machines/e7842"}},
		{"restart storm", alerts.Alert{Rule: "fleet.crash-loop", Subject: "group:machines",
			Members: []string{"restart storm: 5 machines are crash-looping"}}, []string{"/switches#switch-SUSPEND_REDIS", "/fleet"}},
		{"waiting clients", alerts.Alert{Rule: "connections.waiting"},
			[]string{"/connections?overflow=5&pool=15&whatif=1#whatif", "/connections"}},
		{"planned budget", alerts.Alert{Rule: "connections.planned"}, []string{"/connections?whatif=1#whatif"}},
		{"machine without ENVIRONMENT", alerts.Alert{Rule: "fleet.environment", Subject: "3d8d9<x>"},
			[]string{"/fleet/machines/3d8d9%3Cx%3E"}},
		{"wedged machine", alerts.Alert{Rule: "fleet.wedged", Subject: "91852"}, []string{"/fleet/machines/91852"}},
		{"no heartbeats yet", alerts.Alert{Rule: "fleet.no_heartbeats_yet"}, []string{"/fleet", "/switches"}},
		{"drift", alerts.Alert{Rule: "fleet.drift", Subject: "DB_POOL_SIZE differs within group api"}, []string{"/fleet#drift"}},
		{"redis budget", alerts.Alert{Rule: "cache.redis_budget"}, []string{"/cache", "/switches#switch-SUSPEND_REDIS"}},
		{"redis unreachable", alerts.Alert{Rule: "system.unreachable", Subject: "redis"}, []string{"/cache", "/switches#switch-SUSPEND_REDIS"}},
		{"qstash unreachable", alerts.Alert{Rule: "system.unreachable", Subject: "qstash"}, []string{"/queues"}},
		{"switch on", alerts.Alert{Rule: "switch.on", Subject: "SUSPEND_REDIS"}, []string{"/switches#switch-SUSPEND_REDIS"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := alerts.RunbookFor(c.alert.Rule)
			var got []string
			for _, l := range r.Actions(c.alert) {
				got = append(got, l.Href)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("actions = %v; want %v", got, c.want)
			}
		})
	}
}

// RunbookPath is the team's runbook when configured, else the console's.
func TestRunbookPath(t *testing.T) {
	t.Cleanup(func() { alerts.SetRunbookURLs(nil) })
	if got := alerts.RunbookPath("fleet.crash-loop"); got != "/alerts/runbooks/fleet.crash-loop" {
		t.Errorf("default path = %q", got)
	}
	alerts.SetRunbookURLs(map[string]string{"fleet.crash-loop": "https://wiki.atum.io/crash"})
	if got := alerts.RunbookPath("fleet.crash-loop"); got != "https://wiki.atum.io/crash" {
		t.Errorf("team path = %q", got)
	}
	if got := alerts.RunbookPath("cache.redis_jump"); got != "/alerts/runbooks/cache.redis_jump" {
		t.Errorf("path of a rule without a team URL = %q", got)
	}
}
