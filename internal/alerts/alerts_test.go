package alerts_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/testenv"
	"github.com/atum/ops-console/internal/timeline"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

func newEngine(t *testing.T) *alerts.Engine {
	pool, _ := testenv.MigratedPool(t)
	return &alerts.Engine{Pool: pool, DefaultFor: time.Minute, For: map[string]time.Duration{"fleet.crash_loop": 0}}
}

func evaluate(t *testing.T, e *alerts.Engine, now time.Time, fs ...alerts.Finding) []alerts.Transition {
	t.Helper()
	ts, ran, err := e.Evaluate(context.Background(), fs, now)
	if err != nil || !ran {
		t.Fatalf("evaluate: ran %v, %v", ran, err)
	}
	return ts
}

func open(t *testing.T, e *alerts.Engine) []alerts.Alert {
	t.Helper()
	as, err := e.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// pending → firing after the rule's "for" → resolved when it stops
// holding; a flap shorter than "for" never fires.
func TestLifecycle(t *testing.T) {
	e := newEngine(t)
	t0 := time.Now().Truncate(time.Second)
	waiting := alerts.Finding{Rule: "connections.waiting", Severity: alerts.Critical, Summary: "3 clients waiting", Href: "/connections"}
	if ts := evaluate(t, e, t0, waiting); len(ts) != 0 {
		t.Fatalf("a new finding fired at once: %+v", ts)
	}
	if as := open(t, e); len(as) != 1 || as[0].State != alerts.Pending {
		t.Fatalf("after the first sight: %+v", as)
	}
	waiting.Summary = "5 clients waiting"
	if ts := evaluate(t, e, t0.Add(30*time.Second), waiting); len(ts) != 0 {
		t.Fatalf("fired before its for: %+v", ts)
	}
	ts := evaluate(t, e, t0.Add(time.Minute), waiting)
	if len(ts) != 1 || ts[0].From != alerts.Pending || ts[0].To != alerts.Firing || ts[0].Alert.Summary != "5 clients waiting" {
		t.Fatalf("after its for: %+v", ts)
	}
	if ts := evaluate(t, e, t0.Add(90*time.Second), waiting); len(ts) != 0 {
		t.Fatalf("a firing alert fired again: %+v", ts)
	}
	ts = evaluate(t, e, t0.Add(2*time.Minute))
	if len(ts) != 1 || ts[0].To != alerts.Resolved {
		t.Fatalf("resolve: %+v", ts)
	}
	if as := open(t, e); len(as) != 0 {
		t.Fatalf("open after resolve: %+v", as)
	}
	// A flap: seen once, gone before its for. Cleared, never fired.
	if ts := evaluate(t, e, t0.Add(3*time.Minute), waiting); len(ts) != 0 {
		t.Fatal(ts)
	}
	if ts := evaluate(t, e, t0.Add(3*time.Minute+15*time.Second)); len(ts) != 0 {
		t.Fatalf("a pending alert that cleared was notified: %+v", ts)
	}
	res, err := e.Resolved(context.Background(), 10)
	if err != nil || len(res) != 2 || res[1].FiredAt == nil || res[0].FiredAt != nil {
		t.Fatalf("history: %+v %v", res, err)
	}
	hist, err := e.History(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, h := range hist {
		kinds = append(kinds, h.Kind)
	}
	if got := strings.Join(kinds, ","); got != "cleared,pending,resolved,firing,pending" {
		t.Fatalf("events newest first: %s", got)
	}
}

// A rule with for 0 fires at once; instances breaking one rule are one
// alert that lists them.
func TestGroupingAndImmediateRules(t *testing.T) {
	e := newEngine(t)
	now := time.Now()
	var fs []alerts.Finding
	for _, m := range []string{"m8", "m1", "m3"} {
		fs = append(fs, alerts.Finding{Rule: "fleet.crash_loop", Subject: m, Group: "crash", Severity: alerts.Critical,
			Summary: "machine " + m + " is crash-looping", Href: "/fleet"})
	}
	ts := evaluate(t, e, now, fs...)
	if len(ts) != 1 || ts[0].To != alerts.Firing || strings.Join(ts[0].Alert.Members, ",") != "m1,m3,m8" ||
		!strings.Contains(ts[0].Alert.Summary, "and 2 more: m1, m3, m8") {
		t.Fatalf("grouped immediate alert: %+v", ts)
	}
	// One machine recovers: still one alert, now of two.
	if ts := evaluate(t, e, now.Add(time.Second), fs[:2]...); len(ts) != 0 {
		t.Fatalf("a smaller group re-fired: %+v", ts)
	}
	if as := open(t, e); len(as) != 1 || len(as[0].Members) != 2 {
		t.Fatalf("after one recovered: %+v", as)
	}
}

func TestAcknowledgeAndSilence(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	evaluate(t, e, time.Now(), alerts.Finding{Rule: "fleet.crash_loop", Subject: "m1", Severity: alerts.Critical, Summary: "loop"})
	a := open(t, e)[0]
	if err := e.Acknowledge(ctx, a.ID, "op@atum.io", "looking at it"); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	if err := e.Silence(ctx, a.ID, until, "op@atum.io", "deploy in progress"); err != nil {
		t.Fatal(err)
	}
	a = open(t, e)[0]
	if a.AckedBy != "op@atum.io" || a.AckNote != "looking at it" || !a.Silenced(time.Now()) || a.SilenceReason != "deploy in progress" {
		t.Fatalf("after ack and silence: %+v", a)
	}
	if err := e.Unsilence(ctx, a.ID, "op@atum.io"); err != nil || open(t, e)[0].Silenced(time.Now()) {
		t.Fatalf("unsilence: %v", err)
	}
	if err := e.Acknowledge(ctx, 999999, "op@atum.io", "x"); !errors.Is(err, alerts.ErrNotOpen) {
		t.Fatalf("ack of an unknown alert: %v", err)
	}
}

// Fired, acknowledged and resolved alerts are on the incident timeline;
// pending ones are not.
func TestTimelineSource(t *testing.T) {
	e := newEngine(t)
	now := time.Now()
	evaluate(t, e, now, alerts.Finding{Rule: "fleet.crash_loop", Subject: "m1", Severity: alerts.Critical, Summary: "loop"},
		alerts.Finding{Rule: "connections.live", Severity: alerts.Warning, Summary: "still pending"})
	if err := e.Acknowledge(context.Background(), open(t, e)[0].ID, "op@atum.io", "on it"); err != nil {
		t.Fatal(err)
	}
	evs, err := alerts.TimelineSource{Engine: e}.Events(context.Background(),
		timeline.Query{From: now.Add(-time.Minute), To: time.Now().Add(time.Minute), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Kind+" by "+ev.Who)
		if strings.Contains(ev.What, "still pending") {
			t.Errorf("a pending alert is on the timeline: %+v", ev)
		}
	}
	if strings.Join(got, "; ") != "acknowledged by op@atum.io; firing by console" {
		t.Fatalf("timeline events: %v", got)
	}
}

// Prune deletes alerts resolved before the retention with their events,
// and keeps open alerts and recent history.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	e := &alerts.Engine{Pool: pool}
	old := time.Now().Add(-100 * 24 * time.Hour)
	f := alerts.Finding{Rule: "cache.redis_budget", Severity: alerts.Warning, Summary: "over"}
	for _, at := range []time.Time{old, old.Add(time.Minute)} { // fires, then resolves 100 days ago
		fs := []alerts.Finding{f}
		if at != old {
			fs = nil
		}
		if _, _, err := e.Evaluate(ctx, fs, at); err != nil {
			t.Fatal(err)
		}
	}
	open := alerts.Finding{Rule: "switch.on", Subject: "SUSPEND_REDIS", Severity: alerts.Warning, Summary: "on"}
	if _, _, err := e.Evaluate(ctx, []alerts.Finding{open}, time.Now()); err != nil {
		t.Fatal(err)
	}
	n, err := alerts.Prune(ctx, pool, 90*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v); want the one resolved 100 days ago", n, err)
	}
	var alertsLeft, eventsOfOld int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM ops.alerts), (SELECT count(*) FROM ops.alert_events e
		WHERE NOT EXISTS (SELECT 1 FROM ops.alerts a WHERE a.id = e.alert_id))`).Scan(&alertsLeft, &eventsOfOld); err != nil {
		t.Fatal(err)
	}
	if alertsLeft != 1 || eventsOfOld != 0 {
		t.Fatalf("%d alerts left, %d orphaned events", alertsLeft, eventsOfOld)
	}
}

// A rule whose source could not be read keeps its open alert as it is;
// the next round that reads it again resolves it if it no longer holds.
func TestUnknownRulesKeepTheirAlerts(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	e := &alerts.Engine{Pool: pool}
	now := time.Now()
	crash := alerts.Finding{Rule: "fleet.crash-loop", Subject: "w1", Severity: alerts.Critical, Summary: "crash loop"}
	budget := alerts.Finding{Rule: "cache.redis_budget", Severity: alerts.Warning, Summary: "near the budget"}
	if _, _, err := e.Evaluate(ctx, []alerts.Finding{crash, budget}, now); err != nil {
		t.Fatal(err)
	}
	ts, _, err := e.EvaluateFunc(ctx, func(context.Context) (alerts.Round, error) {
		return alerts.Round{Unknown: []string{"fleet."}}, nil
	}, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].Alert.Rule != "cache.redis_budget" || ts[0].To != alerts.Resolved {
		t.Fatalf("transitions %+v; want only the budget alert resolved", ts)
	}
	open, err := e.Open(ctx)
	if err != nil || len(open) != 1 || open[0].Rule != "fleet.crash-loop" || open[0].State != alerts.Firing {
		t.Fatalf("open %+v (%v); want the crash loop still firing", open, err)
	}
	if ts, _, _ := e.Evaluate(ctx, nil, now.Add(2*time.Minute)); len(ts) != 1 || ts[0].Alert.Rule != "fleet.crash-loop" {
		t.Fatalf("read again and gone: %+v", ts)
	}
}
