package neon

import (
	"strings"
	"testing"
	"time"
)

func platformPlan() Plan {
	return Plan{
		Groups: []Group{
			{Name: "api", Machines: 10, Processes: 2, PoolSize: 15, MaxOverflow: 5},
			{Name: "worker", Machines: 4, Processes: 1, PoolSize: 15, MaxOverflow: 5},
		},
		Engines: []Engine{{Name: "atum-console", Connections: 14}, {Name: "migrations", Connections: 1}},
	}
}

func TestPlanTotals(t *testing.T) {
	p := platformPlan()
	if got := p.Total(); got != 10*2*20+4*1*20+15 {
		t.Fatalf("Total = %d", got)
	}
	// The guide forgets processes per machine and the other engines.
	if got := p.GuideTotal(); got != 14*20 {
		t.Fatalf("GuideTotal = %d", got)
	}
	// Usable direct slots at 1 CU: 412. Others use 80 + 15 = 95, so the api
	// group (40 per machine) fits (412−95)/40 = 7 machines; the 8th breaks it.
	if got := p.BreaksAt(0, 412); got != 8 {
		t.Fatalf("BreaksAt = %d, want 8", got)
	}
	if got := p.BreaksAt(0, 50); got != 0 {
		t.Fatalf("BreaksAt with others already over = %d, want 0", got)
	}
	zero := Plan{Groups: []Group{{Name: "idle", Machines: 3, Processes: 0, PoolSize: 5}}}
	if got := zero.BreaksAt(0, 10); got != -1 {
		t.Fatalf("BreaksAt for a group without connections = %d", got)
	}
}

func TestParseGroupsAndEngines(t *testing.T) {
	gs, err := ParseGroups(" api:machines=3,processes=4 ; worker:machines=2,processes=1,pool=2,overflow=0", 15, 5)
	if err != nil || len(gs) != 2 || gs[0].Total() != 3*4*20 || gs[1].Total() != 4 || gs[0].MachinesFrom != "config" {
		t.Fatalf("ParseGroups = %+v, %v", gs, err)
	}
	for _, bad := range []string{"", "api", "api:processes=2", "api:machines=x", "api:machines=1001", "api:machines=1;api:machines=2",
		"api:machines=1,colour=red", "<b>:machines=1", "api:machines=1,processes=-1"} {
		if _, err := ParseGroups(bad, 15, 5); err == nil {
			t.Errorf("ParseGroups(%q) accepted", bad)
		}
	}
	es, err := ParseEngines("atum-console=14, cron=5")
	if err != nil || len(es) != 2 || es[1].Connections != 5 {
		t.Fatalf("ParseEngines = %+v, %v", es, err)
	}
	for _, bad := range []string{"cron", "cron=-1", "cron=many", "=4"} {
		if _, err := ParseEngines(bad); err == nil {
			t.Errorf("ParseEngines(%q) accepted", bad)
		}
	}
}

func TestComputeMaxConnections(t *testing.T) {
	// Neon's table and documented examples.
	tests := []struct {
		min, max float64
		want     int
	}{
		{0.25, 0.25, 104}, {0.5, 0.5, 209}, {1, 1, 419}, {2, 2, 839}, {4, 4, 1678}, {8, 8, 3357},
		{0.25, 2, 839}, {0.25, 4, 839}, {2, 8, 3357}, {10, 10, 4000}, {0.25, 0.25, 104},
	}
	for _, tt := range tests {
		if got := ComputeMaxConnections(tt.min, tt.max); got != tt.want {
			t.Errorf("ComputeMaxConnections(%g, %g) = %d, want %d", tt.min, tt.max, got, tt.want)
		}
	}
	if PerPoolLimit(419) != 377 || PerPoolLimit(104) != 93 {
		t.Error("PerPoolLimit does not match Neon's default_pool_size")
	}
}

func TestIsPooledAndAppName(t *testing.T) {
	if !IsPooled("ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech") || IsPooled("ep-cool-darkness-123456.us-east-2.aws.neon.tech") {
		t.Error("IsPooled misreads Neon hosts")
	}
	if s, g, m, p, ok := AppName("atum:api:e784079b:1234"); !ok || s != "atum" || g != "api" || m != "e784079b" || p != "1234" {
		t.Error("AppName misparses")
	}
	for _, bad := range []string{"pgbouncer", "atum:api:m1", "atum::m1:1", "a:b:c:d:e"} {
		if _, _, _, _, ok := AppName(bad); ok {
			t.Errorf("AppName(%q) ok", bad)
		}
	}
}

func TestAssess(t *testing.T) {
	b := Budget{Plan: platformPlan(), MinCU: 1, MaxCU: 1}
	ok := Snapshot{Limits: Limits{MaxConnections: 419, Usable: 412}, Usage: Usage{Total: 100, CanSeeAll: true, Role: "console"}}
	// 495 planned over 412 usable: critical, with the machine that breaks it.
	f := Assess(b, ok)
	if len(f) != 1 || f[0].Level != "critical" || !strings.Contains(f[0].Text, "breaks at machine 8 of group api (now 10)") {
		t.Fatalf("findings = %+v", f)
	}
	b.Plan.Groups[0].Machines = 6 // 240+80+15 = 335 = 81 %
	f = Assess(b, ok)
	if len(f) != 1 || f[0].Level != "warning" || !strings.Contains(f[0].Text, "it breaks at machine 8") {
		t.Fatalf("findings at 81 %% = %+v", f)
	}
	b.Plan.Groups[0].Machines = 2
	live := ok
	live.Usage.Total = 400
	live.Bouncer = &Bouncer{Waiting: 7, MaxWait: 3 * time.Second}
	live.Limits.MaxConnections = 209
	live.Usage.CanSeeAll = false
	f = Assess(b, live)
	text := ""
	for _, x := range f {
		text += x.Level + ": " + x.Text + "\n"
	}
	for _, want := range []string{"critical: Live connections at 97 %", "critical: 7 clients waiting", "gives max_connections 419, but the server says 209", "lacks pg_monitor"} {
		if !strings.Contains(text, want) {
			t.Errorf("findings lack %q:\n%s", want, text)
		}
	}
	// Through the pooler the plan counts against 10,000 client slots.
	b.Pooled = true
	b.Plan.Groups[0].Machines = 10
	if f := Assess(b, ok); len(f) != 0 {
		t.Fatalf("pooled findings = %+v", f)
	}
	if f := Assess(b, Snapshot{Err: "connection refused"}); len(f) != 1 || !strings.Contains(f[0].Text, "connection refused") {
		t.Fatalf("failed reading: %+v", f)
	}
}
