package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/alerts/rules"
	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/watch"
)

func TestSwitchNotAppliedAfterGrace(t *testing.T) {
	now := time.Now()
	v := int64(7)
	s := switches.Switch{Name: switches.SuspendRedis, Enabled: true, Version: 7, ChangedBy: "ada", Reason: "crash loop"}
	live := []switches.Instance{{ID: "api-1", Suspended: true, Version: &v}, {ID: "api-2"}}
	s.ChangedAt = now.Add(-10 * time.Second)
	if got := rules.Switch(s, live, now); len(got) != 1 || got[0].Rule != "switch.on" {
		t.Fatalf("within the grace: %+v; want only switch.on", got)
	}
	s.ChangedAt = now.Add(-20 * time.Second)
	got := rules.Switch(s, live, now)
	if len(got) != 2 || got[1].Rule != "switch.not_applied" || got[1].Severity != alerts.Critical ||
		!strings.Contains(got[1].Summary, "1 of 2 live instances") || !strings.Contains(got[1].Summary, "api-2") {
		t.Fatalf("after the grace: %+v", got)
	}
	s.Enabled = false
	if got := rules.Switch(s, nil, now); len(got) != 0 {
		t.Fatalf("off, instances unknown: %+v", got)
	}
}

func TestFleetCrashLoopsGroupAndSuggestTheSwitch(t *testing.T) {
	r := fly.Report{Alerts: []fly.Alert{
		{Level: "critical", Kind: "crash-loop", Text: "worker-1 exited 3 times", Machine: "w1"},
		{Level: "critical", Kind: "crash-loop", Text: "worker-2 exited 3 times", Machine: "w2"},
		{Level: "critical", Kind: "environment", Text: "worker-3 runs without ENVIRONMENT", Machine: "w/3"},
		{Level: "warning", Kind: "drift", Text: "DB_POOL_SIZE differs"},
	}}
	got := rules.Fleet(r, false)
	if len(got) != 4 {
		t.Fatalf("%d findings", len(got))
	}
	for _, f := range got[:2] {
		if f.Group != "machines" || f.Href != rules.SwitchHref || !strings.HasSuffix(f.Summary, "consider turning SUSPEND_REDIS on") {
			t.Errorf("crash loop %+v", f)
		}
	}
	if got[2].Href != "/fleet/machines/w%2F3" || got[2].Group != "" || got[3].Href != "/fleet#drift" {
		t.Errorf("machine and drift links: %q %q", got[2].Href, got[3].Href)
	}
	if on := rules.Fleet(r, true); !strings.HasSuffix(on[0].Summary, "(SUSPEND_REDIS is already on)") {
		t.Errorf("with the switch on: %q", on[0].Summary)
	}
}

func TestCacheBudget(t *testing.T) {
	f := rediscache.Figures{PerDay: 1_200_000, Span: 30 * time.Minute}
	if got := rules.Cache(f, 1_000_000); len(got) != 1 || got[0].Severity != alerts.Critical || !strings.Contains(got[0].Summary, "1,200,000") {
		t.Fatalf("over budget: %+v", got)
	}
	f.PerDay = 850_000
	if got := rules.Cache(f, 1_000_000); len(got) != 1 || got[0].Severity != alerts.Warning {
		t.Fatalf("85 %%: %+v", got)
	}
	f.Span = 30 * time.Second
	f.PerDay = 5_000_000
	if got := rules.Cache(f, 1_000_000); len(got) != 0 {
		t.Fatalf("a projection from 30 s of samples alerted: %+v", got)
	}
}

func TestSystemsAndConsole(t *testing.T) {
	now := time.Now()
	got := rules.Systems([]watch.Status{
		{Key: "postgres", Name: "Console database", State: watch.Failing},
		{Key: "redis", Name: "Redis", State: watch.Failing, Err: "refused", Href: "/cache"},
		{Key: "qstash", Name: "QStash", State: watch.OK},
	}, now)
	if len(got) != 1 || got[0].Subject != "redis" || !strings.Contains(got[0].Summary, "not once since the console started") {
		t.Fatalf("systems: %+v", got)
	}
	if got := rules.Console(watch.Always, 0, "production"); len(got) != 0 {
		t.Fatalf("a healthy console: %+v", got)
	}
	got = rules.Console(watch.Off, 2, "production")
	if len(got) != 2 || got[0].Rule != "console.watch_off" || got[1].Severity != alerts.Critical {
		t.Fatalf("watch off and demo operators: %+v", got)
	}
}

// TestApprovalsWaiting: each request waiting for a second operator is one
// warning naming it, its size, its requester and its expiry, linked to it.
func TestApprovalsWaiting(t *testing.T) {
	now := time.Now()
	got := rules.Approvals([]qstash.PurgeInfo{
		{ID: 12, Kind: qstash.KindPurge, Region: "eu", Total: 5000, ConfirmedBy: "alice@atum.io", ApprovalExpires: now.Add(42 * time.Minute)},
		{ID: 13, Kind: qstash.KindRetry, Region: "us", Total: 1200, ConfirmedBy: "bob@atum.io", ApprovalExpires: now.Add(time.Hour)},
	}, now)
	if len(got) != 2 || got[0].Rule != "queues.approval_waiting" || got[0].Subject != "purge:12" || got[1].Subject != "retry:13" ||
		got[0].Href != "/queues/purges/12" || got[0].Severity != alerts.Warning {
		t.Fatalf("findings = %+v", got)
	}
	for _, want := range []string{"Purge #12", "5,000", "alice@atum.io", "in 42m"} {
		if !strings.Contains(got[0].Summary, want) {
			t.Errorf("summary %q lacks %q", got[0].Summary, want)
		}
	}
	if len(rules.Approvals(nil, now)) != 0 {
		t.Error("findings without requests")
	}
	rb, _ := alerts.RunbookFor("queues.approval_waiting")
	if l := rb.Actions(alerts.Alert{Subject: "retry:13"}); len(l) != 1 || l[0].Href != "/queues/purges/13" {
		t.Errorf("runbook link = %+v", l)
	}
}

// TestFleetNoHeartbeatsYet: until the platform's first heartbeat ever, the
// running machines raise one platform-wide warning whose identity does
// not change with their number; after it, one fleet.heartbeat per silent
// machine, linking to it.
func TestFleetNoHeartbeatsYet(t *testing.T) {
	now := time.Now()
	ms := []fly.Machine{
		{ID: "a1", State: "started", Config: &fly.Config{Env: map[string]string{"ENVIRONMENT": "production"}, Metadata: map[string]string{"fly_process_group": "api"}}},
		{ID: "a2", State: "started", Config: &fly.Config{Env: map[string]string{"ENVIRONMENT": "production"}, Metadata: map[string]string{"fly_process_group": "api"}}},
	}
	o := fly.Options{Now: now, ExpectedEnvironment: "production", Heartbeats: []fly.Heartbeat{}, NoHeartbeatsYet: true}
	got := rules.Fleet(fly.Analyze(ms, nil, o), false)
	if len(got) != 1 || got[0].Rule != "fleet.no_heartbeats_yet" || got[0].Severity != alerts.Warning || got[0].Subject != "" ||
		got[0].Href != "/alerts/runbooks/fleet.no_heartbeats_yet" || !strings.Contains(got[0].Summary, "no platform instance reports heartbeats yet (see the contract)") {
		t.Fatalf("never heard: %+v", got)
	}
	more := fly.Analyze(append(ms, fly.Machine{ID: "a3", State: "started", Config: ms[0].Config}), nil, o)
	if f := rules.Fleet(more, false); len(f) != 1 || f[0].Subject != got[0].Subject {
		t.Fatalf("a third machine changed the alert's identity: %+v", f)
	}
	if _, ok := alerts.RunbookFor("fleet.no_heartbeats_yet"); !ok {
		t.Error("no runbook for fleet.no_heartbeats_yet")
	}
	o.NoHeartbeatsYet = false
	o.Heartbeats = []fly.Heartbeat{{Instance: "a1-1", Machine: "a1"}}
	got = rules.Fleet(fly.Analyze(ms, nil, o), false)
	if len(got) != 1 || got[0].Rule != "fleet.heartbeat" || got[0].Subject != "a2" || got[0].Href != "/fleet/machines/a2" {
		t.Fatalf("after the first heartbeat: %+v", got)
	}
}
