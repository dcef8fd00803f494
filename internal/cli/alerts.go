package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/alerts/rules"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/views"
)

// alertsBudget bounds one round of alert evaluation.
const alertsBudget = 5 * time.Second

// newAlertEngine returns the engine with each rule's "for" duration.
func newAlertEngine(pool *pgxpool.Pool) *alerts.Engine {
	return &alerts.Engine{Pool: pool, DefaultFor: rules.DefaultFor, For: rules.For}
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
			when = human.Ago(a.alertAt, now)
		}
		a.alertErr = fmt.Sprintf("Alerts could not be evaluated (%s); those shown are from %s", a.redact(err.Error()), when)
		return
	}
	a.alertCache, a.alertAt, a.alertErr = handlers.FiringAlerts(open, now), now, ""
}

func (a *app) evaluate(ctx context.Context, now time.Time) error {
	_, _, err := a.alertEngine.EvaluateFunc(ctx, func(ctx context.Context) (alerts.Round, error) {
		r := a.rules.Round(ctx, now)
		if ctx.Err() != nil {
			return r, fmt.Errorf("the console's database did not answer within %s", alertsBudget)
		}
		return r, nil
	}, now)
	return err
}

// newRules wires every alert rule to what it reads.
func (a *app) newRules() *rules.Set {
	s := &rules.Set{Connections: a.sampler, Budget: a.budget, Switches: a.switches, RedisBudget: a.cfg.RedisDailyCommandBudget,
		Cache:   a.cacheFigures,
		Systems: a.monitor.Snapshot, WatchMode: a.activity.Mode(), DemoOperators: a.demoOperators.Load, Environment: a.cfg.Environment,
		Approvals: a.purger}
	if a.fleet != nil {
		s.Fleet = a.fleet
	}
	return s
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
