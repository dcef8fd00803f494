package fly_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/store"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func machine(id, group, state string, env map[string]string, es ...fly.Event) fly.Machine {
	return fly.Machine{ID: id, Name: id, State: state, Region: "fra", ImageRef: fly.ImageRef{Digest: "sha256:1111111111111111"},
		Config: &fly.Config{Image: "atum:1", Env: env, Metadata: map[string]string{"fly_process_group": group, "fly_release_version": "7"}},
		Events: es}
}

func prodEnv() map[string]string {
	return map[string]string{"ENVIRONMENT": "production", "DB_POOL_SIZE": "15", "DATABASE_MAX_OVERFLOW": "5", "SUSPEND_REDIS": "false"}
}

// exit is an exit event ago before now.
func exit(ago time.Duration, code int, requested, oom bool) fly.Event {
	req, _ := json.Marshal(map[string]any{"exit_event": map[string]any{"exit_code": code, "requested_stop": requested,
		"oom_killed": oom, "restarting": !requested}})
	return fly.Event{Type: "exit", Status: "stopped", Source: "flyd", Timestamp: now.Add(-ago).UnixMilli(), Request: req}
}

func start(ago time.Duration) fly.Event {
	return fly.Event{Type: "start", Status: "started", Source: "flyd", Timestamp: now.Add(-ago).UnixMilli()}
}

func kinds(r fly.Report) []string {
	var out []string
	for _, a := range r.Alerts {
		out = append(out, a.Level+":"+a.Kind+":"+a.Machine)
	}
	return out
}

func row(t *testing.T, r fly.Report, id string) fly.MachineRow {
	t.Helper()
	for _, g := range r.Groups {
		for _, m := range g.Machines {
			if m.ID == id {
				return m
			}
		}
	}
	t.Fatalf("machine %s not in the report", id)
	return fly.MachineRow{}
}

func TestCrashLoopFromEvents(t *testing.T) {
	opts := fly.Options{Now: now, ExpectedEnvironment: "production", Groups: []string{"api"}}
	cases := []struct {
		name      string
		state     string
		events    []fly.Event
		crash     bool
		gaveUp    bool
		failing   int
		restart1h int
	}{
		{"three failing exits in 10 min", "started",
			[]fly.Event{exit(9*time.Minute, 1, false, false), start(9*time.Minute - time.Second), exit(5*time.Minute, 1, false, false),
				start(5*time.Minute - time.Second), exit(time.Minute, 137, false, true), start(59 * time.Second)}, true, false, 3, 3},
		{"two failing exits", "started",
			[]fly.Event{exit(5*time.Minute, 1, false, false), exit(time.Minute, 1, false, false)}, false, false, 2, 2},
		{"three exits but one older than 10 min", "started",
			[]fly.Event{exit(11*time.Minute, 1, false, false), exit(5*time.Minute, 1, false, false), exit(time.Minute, 1, false, false)}, false, false, 2, 3},
		{"requested stops are not failures", "started",
			[]fly.Event{exit(5*time.Minute, 0, true, false), exit(3*time.Minute, 143, true, false), exit(time.Minute, 0, true, false)}, false, false, 0, 0},
		{"clean exits are not failures", "started",
			[]fly.Event{exit(5*time.Minute, 0, false, false), exit(3*time.Minute, 0, false, false), exit(time.Minute, 0, false, false)}, false, false, 0, 3},
		{"stopped after a failing exit: the policy gave up", "stopped",
			[]fly.Event{exit(40*time.Minute, 1, false, false)}, false, true, 0, 1},
		{"stopped on request", "stopped", []fly.Event{exit(40*time.Minute, 0, true, false)}, false, false, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := fly.Analyze([]fly.Machine{machine("m1", "api", c.state, prodEnv(), c.events...)}, nil, opts)
			m := row(t, r, "m1")
			if m.CrashLoop != c.crash || m.GaveUp != c.gaveUp || m.FailingExits10m != c.failing || m.Restarts1h != c.restart1h {
				t.Fatalf("crash %v gaveUp %v failing %d restarts/h %d; want %v %v %d %d",
					m.CrashLoop, m.GaveUp, m.FailingExits10m, m.Restarts1h, c.crash, c.gaveUp, c.failing, c.restart1h)
			}
			hasAlert := slices.Contains(kinds(r), "critical:crash-loop:m1")
			if hasAlert != (c.crash || c.gaveUp) {
				t.Fatalf("alerts %v", kinds(r))
			}
		})
	}
	// Last exit, OOM and last start come from the newest events, whatever
	// the order Fly lists them in.
	r := fly.Analyze([]fly.Machine{machine("m1", "api", "started", prodEnv(), start(time.Minute), exit(2*time.Minute, 137, false, true),
		exit(20*time.Minute, 1, false, false), start(30*time.Minute))}, nil, opts)
	m := row(t, r, "m1")
	if m.LastExitCode == nil || *m.LastExitCode != 137 || !m.LastExitOOM || m.OOM1h != 1 || !m.LastStart.Equal(now.Add(-time.Minute).Truncate(time.Millisecond)) {
		t.Fatalf("row %+v", m)
	}
}

func TestDriftAndEnvironment(t *testing.T) {
	env := func(kv ...string) map[string]string {
		e := prodEnv()
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(e, kv[i])
			} else {
				e[kv[i]] = kv[i+1]
			}
		}
		return e
	}
	ms := []fly.Machine{
		machine("a1", "api", "started", env()),
		machine("a2", "api", "started", env("DB_POOL_SIZE", "30")),
		machine("w1", "worker", "started", env("DB_POOL_SIZE", "10", "DATABASE_MAX_OVERFLOW", "0")),
		machine("w2", "worker", "started", env("DB_POOL_SIZE", "10", "DATABASE_MAX_OVERFLOW", "0", "ENVIRONMENT", "-")),
		machine("c1", "cron", "started", env()),
	}
	ms[1].ImageRef.Digest = "sha256:2222222222222222"
	nc := machine("w3", "worker", "stopped", nil)
	nc.Config, nc.IncompleteConfig, nc.HostStatus = nil, &fly.Config{Metadata: map[string]string{"fly_process_group": "worker"}}, "unreachable"
	ms = append(ms, nc, machine("gone", "api", "destroyed", env("ENVIRONMENT", "-")))
	hb := []fly.Heartbeat{{Instance: "a1-1", Machine: "a1"}, {Instance: "a2-1", Machine: "a2"}, {Instance: "w1-1", Machine: "w1"},
		{Instance: "c1-1", Machine: "c1"}, {Instance: "ghost-1", Machine: "ghost"}}
	r := fly.Analyze(ms, nil, fly.Options{Now: now, ExpectedEnvironment: "production", Groups: []string{"api", "worker"}, Heartbeats: hb})

	got := kinds(r)
	for _, want := range []string{
		"critical:environment:w2",       // missing ENVIRONMENT
		"warning:config:w3",             // no config: cannot check
		"warning:image:",                // two images in api
		"warning:drift:",                // DB_POOL_SIZE within api
		"warning:group:",                // cron is not planned
		"warning:heartbeat:w2",          // running, no heartbeat
		"warning:unknown-machine:ghost", // heartbeat from a machine Fly does not know
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing alert %s in %v", want, got)
		}
	}
	if got[0] != "critical:environment:w2" {
		t.Errorf("critical alerts first: %v", got)
	}
	for _, a := range r.Alerts {
		if a.Kind == "environment" && !strings.Contains(a.Text, "may fall back to a local database") {
			t.Errorf("environment alert says %q", a.Text)
		}
		if a.Machine == "gone" {
			t.Errorf("a destroyed machine raised %q", a.Text)
		}
	}
	if c := r.Counts(); c["api"] != 2 || c["worker"] != 3 || c["cron"] != 1 {
		t.Errorf("counts %v", c)
	}
	pool := driftRow(t, r, "DB_POOL_SIZE")
	if !pool.InGroup || !pool.Across {
		t.Errorf("DB_POOL_SIZE drift %+v", pool)
	}
	if s := fmt.Sprint(pool.Values[0]); !strings.Contains(s, "15 [a1]") || !strings.Contains(s, "30 [a2]") {
		t.Errorf("api pool values %s", s)
	}
	// Worker: 10 on w1 and w2, w3 unknown: no drift within worker for it.
	if s := fmt.Sprint(pool.Values[1]); !strings.Contains(s, "10 [w1 w2]") || !strings.Contains(s, fly.Unknown+" [w3]") {
		t.Errorf("worker pool values %s", s)
	}
	if o := driftRow(t, r, "DATABASE_MAX_OVERFLOW"); o.InGroup || !o.Across {
		t.Errorf("overflow differs between groups only: %+v", o)
	}
	if e := driftRow(t, r, "ENVIRONMENT"); !e.InGroup {
		t.Errorf("ENVIRONMENT drift in worker: %+v", e)
	}
	if got := r.Running(); len(got) != 5 {
		t.Errorf("running %v", got)
	}
}

func driftRow(t *testing.T, r fly.Report, key string) fly.DriftRow {
	t.Helper()
	for _, d := range r.Drift {
		if d.Key == key {
			return d
		}
	}
	t.Fatalf("no drift row %s", key)
	return fly.DriftRow{}
}

func TestEnvironmentSecretDowngradesTheAlert(t *testing.T) {
	ms := []fly.Machine{machine("a1", "api", "started", map[string]string{"DB_POOL_SIZE": "15"})}
	opts := fly.Options{Now: now, ExpectedEnvironment: "production"}
	if got := kinds(fly.Analyze(ms, nil, opts)); !slices.Contains(got, "critical:environment:a1") {
		t.Fatalf("without the secret: %v", got)
	}
	got := kinds(fly.Analyze(ms, []fly.Secret{{Name: "ENVIRONMENT"}}, opts))
	if slices.Contains(got, "critical:environment:a1") || !slices.Contains(got, "warning:environment:a1") {
		t.Fatalf("with an ENVIRONMENT secret: %v", got)
	}
}

func TestHeartbeatGrace(t *testing.T) {
	ms := []fly.Machine{machine("a1", "api", "started", prodEnv(), start(10*time.Second))}
	opts := fly.Options{Now: now, ExpectedEnvironment: "production", HeartbeatGrace: time.Minute, Heartbeats: []fly.Heartbeat{}}
	if got := kinds(fly.Analyze(ms, nil, opts)); len(got) != 0 {
		t.Fatalf("a machine started 10 s ago has a minute to report: %v", got)
	}
	opts.Now = now.Add(2 * time.Minute)
	if got := kinds(fly.Analyze(ms, nil, opts)); !slices.Contains(got, "warning:heartbeat:a1") {
		t.Fatalf("silent after 2 min: %v", got)
	}
}

func TestManyCrashLoopsMakeOneAlert(t *testing.T) {
	var ms []fly.Machine
	for i := range 6 {
		ms = append(ms, machine(fmt.Sprintf("m%d", i), "api", "started", prodEnv(),
			exit(3*time.Minute, 1, false, false), exit(2*time.Minute, 1, false, false), exit(time.Minute, 1, false, false)))
	}
	r := fly.Analyze(ms, nil, fly.Options{Now: now, ExpectedEnvironment: "production"})
	if len(r.Alerts) != 1 || !strings.HasPrefix(r.Alerts[0].Text, "restart storm: 6 machines") || r.Groups[0].CrashLoops != 6 {
		t.Fatalf("alerts %v", kinds(r))
	}
}

func TestWedgedMachine(t *testing.T) {
	stuck := machine("s1", "api", "starting", prodEnv())
	stuck.UpdatedAt = now.Add(-6 * time.Minute).Format(time.RFC3339)
	updating := machine("u1", "api", "updating", prodEnv())
	updating.UpdatedAt = now.Add(-6 * time.Minute).Format(time.RFC3339)
	fresh := machine("s2", "api", "starting", prodEnv(), start(time.Minute))
	fresh.UpdatedAt = now.Add(-time.Hour).Format(time.RFC3339) // its newest event is a minute old
	r := fly.Analyze([]fly.Machine{stuck, updating, fresh}, nil, fly.Options{Now: now, ExpectedEnvironment: "production"})
	if got := kinds(r); !slices.Equal(got, []string{"warning:wedged:s1"}) {
		t.Fatalf("alerts %v: only s1 is stuck (updating may take 10 min, s2 changed a minute ago)", got)
	}
}

// TestNoHeartbeatsYetIsOneFinding: until the platform's first heartbeat
// ever, the running machines past their grace make one no_heartbeats_yet
// finding, not one heartbeat finding each; once one came, the silent
// machines are flagged one by one again.
func TestNoHeartbeatsYetIsOneFinding(t *testing.T) {
	ms := []fly.Machine{machine("a1", "api", "started", prodEnv(), start(time.Hour)),
		machine("a2", "api", "started", prodEnv(), start(time.Hour)), machine("w1", "worker", "started", prodEnv(), start(time.Hour)),
		machine("w2", "worker", "stopped", prodEnv())}
	opts := fly.Options{Now: now, ExpectedEnvironment: "production", HeartbeatGrace: time.Minute,
		Heartbeats: []fly.Heartbeat{}, NoHeartbeatsYet: true}
	r := fly.Analyze(ms, nil, opts)
	if got := kinds(r); !slices.Equal(got, []string{"warning:no_heartbeats_yet:"}) || !r.NoHeartbeatsYet {
		t.Fatalf("never heard: alerts %v, NoHeartbeatsYet %v; want one no_heartbeats_yet", got, r.NoHeartbeatsYet)
	}
	if text := r.Alerts[0].Text; !strings.HasPrefix(text, store.NoHeartbeatsYet) || !strings.Contains(text, "3 running machines") {
		t.Errorf("finding says %q", text)
	}
	// A machine still within its grace is not silent: nothing to say yet.
	fresh := []fly.Machine{machine("a1", "api", "started", prodEnv(), start(10*time.Second))}
	if got := kinds(fly.Analyze(fresh, nil, opts)); len(got) != 0 {
		t.Errorf("a machine started 10 s ago: %v", got)
	}
	// Heartbeats not known (their query failed): no cross-check at all.
	unknown := opts
	unknown.Heartbeats = nil
	if got := kinds(fly.Analyze(ms, nil, unknown)); len(got) != 0 {
		t.Errorf("heartbeats unknown: %v", got)
	}
	// After the first heartbeat ever: a1 reports, a2 and w1 are silent.
	opts.NoHeartbeatsYet = false
	opts.Heartbeats = []fly.Heartbeat{{Instance: "a1-1", Machine: "a1", ReportedAt: now}}
	r = fly.Analyze(ms, nil, opts)
	if got := kinds(r); !slices.Equal(got, []string{"warning:heartbeat:a2", "warning:heartbeat:w1"}) || r.NoHeartbeatsYet {
		t.Fatalf("after a heartbeat: alerts %v, NoHeartbeatsYet %v", got, r.NoHeartbeatsYet)
	}
	// A stale flag with live heartbeats changes nothing.
	opts.NoHeartbeatsYet = true
	if got := kinds(fly.Analyze(ms, nil, opts)); !slices.Equal(got, []string{"warning:heartbeat:a2", "warning:heartbeat:w1"}) {
		t.Fatalf("live heartbeats with NoHeartbeatsYet: %v", got)
	}
}
