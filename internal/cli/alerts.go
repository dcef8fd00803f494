package cli

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/watch"
	"github.com/atum/ops-console/views"
)

// alertsBudget bounds one round of alert evaluation.
const alertsBudget = 5 * time.Second

// newAlertEngine sets how long each rule must hold before it fires: rules
// that already wait for evidence (a crash loop is three failing exits, a
// switch not applied has 15 s of grace) fire at once, the rest after a
// minute so that a single bad sample raises nothing.
func newAlertEngine(pool *pgxpool.Pool) *alerts.Engine {
	return &alerts.Engine{Pool: pool, DefaultFor: time.Minute, For: map[string]time.Duration{
		"fleet.crash-loop": 0, "switch.not_applied": 0, "switch.on": 0, "console.demo_operators": 0, "console.watch_off": 0,
		"system.unreachable": 30 * time.Second, "connections.waiting": 30 * time.Second,
	}}
}

// watchAlerts evaluates the alert rules every interval while the console
// watches (WATCH): the elected instance stores their lifecycle, and every
// instance keeps the open alerts in memory for its pages.
func (a *app) watchAlerts(ctx context.Context, every time.Duration) {
	for {
		if a.activity.Watching() {
			a.refreshAlerts(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		case <-a.alertKick:
		}
	}
}

// kickAlerts asks the alert loop for a round now.
func (a *app) kickAlerts() {
	select {
	case a.alertKick <- struct{}{}:
	default:
	}
}

// refreshAlerts runs one round: the rules' findings, their evaluation
// (where this instance is elected) and the open alerts read back.
func (a *app) refreshAlerts(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, alertsBudget)
	defer cancel()
	now := time.Now()
	err := a.evaluate(ctx, now)
	var open []alerts.Alert
	if err == nil {
		open, err = a.alertEngine.Open(ctx)
	}
	a.alertMu.Lock()
	defer a.alertMu.Unlock()
	if err != nil {
		if parent.Err() != nil {
			return
		}
		when := "never"
		if !a.alertAt.IsZero() {
			when = handlers.Ago(a.alertAt, now)
		}
		a.alertErr = fmt.Sprintf("Alerts could not be evaluated (%s); those shown are from %s", a.redact(err.Error()), when)
		return
	}
	a.alertCache, a.alertAt, a.alertErr = alertViews(open, now), now, ""
}

func (a *app) evaluate(ctx context.Context, now time.Time) error {
	_, _, err := a.alertEngine.EvaluateFunc(ctx, func(ctx context.Context) ([]alerts.Finding, error) {
		found := a.findings(ctx, now)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("the console's database did not answer within %s", alertsBudget)
		}
		var fs []alerts.Finding
		for _, f := range found {
			fs = append(fs, alerts.Finding{Rule: f.Rule, Subject: f.Subject, Group: f.Group, Severity: f.Level, Summary: f.Text, Href: f.Href})
		}
		return fs, nil
	}, now)
	return err
}

// findings evaluates every alert rule once.
func (a *app) findings(ctx context.Context, now time.Time) []views.Alert {
	out := handlers.ConnectionAlerts(ctx, a.sampler, a.budget())
	sw := handlers.SwitchAlerts(ctx, a.switches)
	out = append(out, sw...)
	out = append(out, handlers.CacheAlerts(ctx, a.pool, a.cfg.RedisDailyCommandBudget, now)...)
	if a.fleet != nil {
		if _, r, err := a.fleet.Report(ctx); err == nil {
			// SwitchAlerts raises switch.on exactly while SUSPEND_REDIS is on.
			suspended := slices.ContainsFunc(sw, func(al views.Alert) bool { return al.Rule == "switch.on" })
			out = append(out, handlers.FleetAlerts(r, suspended)...)
		}
	}
	for _, st := range a.monitor.Snapshot() {
		// The console's own database is shown live by the Overview: it
		// cannot be stored while it is down.
		if st.State == watch.Failing && st.Key != "postgres" {
			out = append(out, views.Alert{Level: "warning", Rule: "system.unreachable", Subject: st.Key, Href: st.Href,
				Text: fmt.Sprintf("%s unreachable (%s): %s", st.Name, handlers.LastAnswered(st.LastOK, now), st.Err)})
		}
	}
	if a.activity.Mode() == watch.Off {
		out = append(out, views.Alert{Level: "warning", Rule: "console.watch_off", Href: "/", Text: "WATCH=off: this console instance " +
			"samples nothing in the background; figures are what other instances stored, and nothing is noticed while nobody looks"})
	}
	if n := a.demoOperators.Load(); n > 0 {
		out = append(out, views.Alert{Level: "critical", Rule: "console.demo_operators", Href: "/operators", Text: fmt.Sprintf(
			"%d demo operator accounts exist in this %s database; they cannot sign in here, remove them", n, a.cfg.Environment)})
	}
	return out
}

// alertViews turns the open alerts into the Overview's list: firing ones,
// critical first, silenced ones last.
func alertViews(open []alerts.Alert, now time.Time) []views.Alert {
	var out, quiet []views.Alert
	for _, al := range open {
		if al.State != alerts.Firing {
			continue
		}
		v := handlers.AlertView(al, now)
		if v.Silenced != "" {
			quiet = append(quiet, v)
			continue
		}
		out = append(out, v)
	}
	return append(out, quiet...)
}

// alertsFiring counts the firing alerts of the last round by severity;
// ok is false before the first round was read.
func (a *app) alertsFiring() (map[string]int, bool) {
	a.alertMu.Lock()
	defer a.alertMu.Unlock()
	by := map[string]int{}
	for _, al := range a.alertCache {
		by[al.Level]++
	}
	return by, !a.alertAt.IsZero()
}

// alerts is the Overview's list of open alerts, from memory: pages never
// wait for the rules. While a round fails, the last list is shown with
// its age.
func (a *app) alerts(context.Context) []views.Alert {
	a.alertMu.Lock()
	defer a.alertMu.Unlock()
	out := append([]views.Alert(nil), a.alertCache...)
	if a.alertErr != "" {
		out = append(out, views.Alert{Level: "warning", Href: "/alerts", Text: a.alertErr})
	} else if a.alertAt.IsZero() {
		out = append(out, views.Alert{Level: "warning", Href: "/alerts", Text: "Alerts are not evaluated yet"})
	}
	return out
}
