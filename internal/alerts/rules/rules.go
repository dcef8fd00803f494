// Package rules holds every alert rule of the console. Each rule turns
// what the samplers stored into findings for the alert engine
// (internal/alerts); the elected console instance evaluates them after
// each round of samples, never on a page view. Pages show the stored
// alerts the rules raised.
package rules

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/internal/watch"
)

// SwitchHref is the SUSPEND_REDIS switch on the Switches screen.
const SwitchHref = "/switches#switch-" + switches.SuspendRedis

// For is how long each rule must hold before it fires:
//   - at once: rules that already wait for evidence (a crash loop is three
//     failing exits, a switch not applied has 15 s of grace), facts of
//     configuration (a machine without ENVIRONMENT=production, demo
//     accounts), which no later sample makes false by itself, and a
//     request waiting for a second operator;
//   - 30 s: a system unreachable, clients waiting for a connection;
//   - 10 min: machines on different images or settings within a group,
//     which is what a rolling deploy looks like while it runs;
//   - DefaultFor for the rest, so that a single bad sample raises nothing.
var For = map[string]time.Duration{
	"fleet.crash-loop": 0, "fleet.environment": 0, "fleet.config": 0,
	"switch.not_applied": 0, "switch.on": 0, "console.demo_operators": 0, "console.watch_off": 0, "queues.approval_waiting": 0,
	"system.unreachable": 30 * time.Second, "connections.waiting": 30 * time.Second,
	"fleet.image": 10 * time.Minute, "fleet.drift": 10 * time.Minute,
}

// DefaultFor is how long rules not listed in For must hold.
const DefaultFor = time.Minute

// notAppliedGrace is how long live instances have to apply a switch
// change before it is an alert.
const notAppliedGrace = 15 * time.Second

// Connections raises the connection budget's findings on the latest
// snapshot (see neon.Assess).
func Connections(snap neon.Snapshot, b neon.Budget) []alerts.Finding {
	var out []alerts.Finding
	for _, f := range neon.Assess(b, snap) {
		out = append(out, alerts.Finding{Rule: f.Rule, Severity: f.Level, Summary: f.Text, Href: "/connections"})
	}
	return out
}

// Switch raises SUSPEND_REDIS being on, and a change not applied by every
// live instance after a grace of 15 s.
func Switch(s switches.Switch, live []switches.Instance, now time.Time) []alerts.Finding {
	var out []alerts.Finding
	href := "/switches#switch-" + s.Name
	if s.Enabled {
		out = append(out, alerts.Finding{Severity: alerts.Warning, Rule: "switch.on", Subject: s.Name, Href: href, Summary: fmt.Sprintf(
			"%s is ON since %s (by %s: %s): the platform bypasses Redis", s.Name, human.Ago(s.ChangedAt, now), s.ChangedBy, s.Reason)})
	}
	if live == nil {
		return out
	}
	if p := switches.Propagate(s, live); len(p.Pending) > 0 && now.Sub(s.ChangedAt) > notAppliedGrace {
		out = append(out, alerts.Finding{Severity: alerts.Critical, Rule: "switch.not_applied", Subject: s.Name, Href: href, Summary: fmt.Sprintf(
			"%s %s is not applied on %d of %d live instances after %s: %s", s.Name, onOff(s.Enabled), len(p.Pending), p.Live,
			human.Ago(s.ChangedAt, now), strings.Join(p.Pending, ", "))})
	}
	return out
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

// Cache raises Redis commands projected over (critical) or near (80 %,
// warning) the daily budget, and instances whose Redis commands jumped
// against their baseline: their own last hour, or for a new boot the
// median of their process group or of the fleet, never zero. Instances
// that jumped group into one alert.
func Cache(f rediscache.Figures, budget int64) []alerts.Finding {
	var out []alerts.Finding
	// A projection from less than a minute of samples is too noisy to alert on.
	if perDay, span := f.PerDay, f.Span; span >= time.Minute && budget > 0 {
		switch pct := float64(perDay) * 100 / float64(budget); {
		case pct > 100:
			out = append(out, alerts.Finding{Severity: alerts.Critical, Rule: "cache.redis_budget", Href: "/cache", Summary: fmt.Sprintf(
				"Redis commands projected at %s per day, over the budget of %s (%.0f %%): consider SUSPEND_REDIS",
				human.Thousands(perDay), human.Thousands(budget), pct)})
		case pct >= 80:
			out = append(out, alerts.Finding{Severity: alerts.Warning, Rule: "cache.redis_budget", Href: "/cache", Summary: fmt.Sprintf(
				"Redis commands projected at %s per day, %.0f %% of the budget of %s", human.Thousands(perDay), pct, human.Thousands(budget))})
		}
	}
	groups := f.Groups()
	for id, r := range f.Recent {
		if base, against, jumped := f.JumpOf(id, groups); jumped {
			out = append(out, alerts.Finding{Severity: alerts.Warning, Rule: "cache.redis_jump", Subject: id, Group: "instances", Href: "/cache",
				Summary: fmt.Sprintf("Redis commands from instance %s jumped to %.0f per minute (%.0f per minute: %s)", id, r, base, against)})
		}
	}
	return out
}

// Fleet raises the fleet report's findings: crash loops (grouped, linking
// to the SUSPEND_REDIS switch, which they suggest unless suspended says it
// is on already), drift, and each machine's findings linking to it. Until
// the platform's first heartbeat ever, its running machines raise one
// fleet.no_heartbeats_yet, not one fleet.heartbeat each (fly.Report).
func Fleet(r fly.Report, suspended bool) []alerts.Finding {
	var out []alerts.Finding
	for _, a := range r.Alerts {
		out = append(out, FleetFinding(a, suspended))
	}
	return out
}

// FleetFinding is one fleet report finding as an alert finding.
func FleetFinding(a fly.Alert, suspended bool) alerts.Finding {
	f := alerts.Finding{Severity: a.Level, Summary: "Fleet: " + a.Text, Href: "/fleet", Rule: "fleet." + a.Kind, Subject: cmp.Or(a.Machine, a.Text)}
	if a.Kind == "crash-loop" {
		f.Group = "machines"
	}
	switch {
	case a.Kind == "crash-loop" && suspended:
		f.Href, f.Summary = SwitchHref, f.Summary+" (SUSPEND_REDIS is already on)"
	case a.Kind == "crash-loop":
		f.Href, f.Summary = SwitchHref, f.Summary+"; consider turning SUSPEND_REDIS on"
	case a.Kind == "drift":
		f.Href = "/fleet#drift"
	case a.Kind == "unknown-machine":
		f.Href = "/fleet#unknown-heartbeats"
	case a.Kind == "no_heartbeats_yet":
		// About the whole platform: one alert whatever the machines,
		// whose "see the contract" leads to the runbook stating it.
		f.Subject, f.Href = "", "/alerts/runbooks/fleet.no_heartbeats_yet"
	case a.Machine != "":
		f.Href = "/fleet/machines/" + url.PathEscape(a.Machine)
	}
	return f
}

// Systems raises every watched system that fails, except the console's
// own database: it cannot store an alert about itself, so the Overview
// shows it live.
func Systems(statuses []watch.Status, now time.Time) []alerts.Finding {
	var out []alerts.Finding
	for _, st := range statuses {
		if st.State == watch.Failing && st.Key != "postgres" {
			out = append(out, alerts.Finding{Severity: alerts.Warning, Rule: "system.unreachable", Subject: st.Key, Href: st.Href,
				Summary: fmt.Sprintf("%s unreachable (%s): %s", st.Name, human.LastAnswered(st.LastOK, now), st.Err)})
		}
	}
	return out
}

// Console raises the console's own misconfigurations: an instance that
// never watches (WATCH=off), and demo operator accounts in a database
// that is not the demo's.
func Console(watchMode string, demoOperators int64, environment string) []alerts.Finding {
	var out []alerts.Finding
	if watchMode == watch.Off {
		out = append(out, alerts.Finding{Severity: alerts.Warning, Rule: "console.watch_off", Href: "/", Summary: "WATCH=off: this console instance " +
			"samples nothing in the background; figures are what other instances stored, and nothing is noticed while nobody looks"})
	}
	if demoOperators > 0 {
		out = append(out, alerts.Finding{Severity: alerts.Critical, Rule: "console.demo_operators", Href: "/operators", Summary: fmt.Sprintf(
			"%d demo operator accounts exist in this %s database; they cannot sign in here, remove them", demoOperators, environment)})
	}
	return out
}

// Approvals raises, for each purge or bulk retry waiting for a second
// operator, a warning that reaches the operators who are not looking.
func Approvals(waiting []qstash.PurgeInfo, now time.Time) []alerts.Finding {
	var out []alerts.Finding
	for _, p := range waiting {
		kind := "Purge"
		if p.Kind == qstash.KindRetry {
			kind = "Retry"
		}
		out = append(out, alerts.Finding{Severity: alerts.Warning, Rule: "queues.approval_waiting", Subject: p.Target(),
			Href: fmt.Sprintf("/queues/purges/%d", p.ID), Summary: fmt.Sprintf(
				"%s #%d of %s dead letters in %s, asked by %s, waits for another operator's approval (expires %s)",
				kind, p.ID, human.Thousands(int64(p.Total)), p.Region, p.ConfirmedBy, human.Until(p.ApprovalExpires, now))})
	}
	return out
}

// ApprovalSource lists the purges and retries waiting for approval
// (expiring those past their time).
type ApprovalSource interface {
	Requests(ctx context.Context) ([]qstash.PurgeInfo, error)
}

// ConnectionSource gives the latest connection snapshot.
type ConnectionSource interface {
	Latest(ctx context.Context) (neon.Snapshot, error)
}

// SwitchSource gives the switches and the live instances.
type SwitchSource interface {
	Get(ctx context.Context, name string) (switches.Switch, error)
	LiveInstances(ctx context.Context) ([]switches.Instance, error)
}

// CacheSource gives the latest cache figures.
type CacheSource interface {
	Latest(ctx context.Context) (rediscache.Figures, error)
}

// staleFigures is the age past which the cache figures are too old to
// fire or resolve anything: their rollups stopped.
const staleFigures = 5 * time.Minute

// FleetSource gives the fleet report.
type FleetSource interface {
	Report(ctx context.Context) (fly.Snapshot, fly.Report, error)
}

// Set is every rule with what it reads. A source left nil is a system
// the console does not watch; its rules raise nothing.
type Set struct {
	Connections ConnectionSource
	Budget      func() neon.Budget
	Switches    SwitchSource
	Cache       CacheSource
	RedisBudget int64
	Fleet       FleetSource
	Systems     func() []watch.Status
	WatchMode   string
	// DemoOperators counts demo operator accounts (0 in the demo itself).
	DemoOperators func() int64
	Environment   string
	// Approvals lists the requests waiting for a second operator.
	Approvals ApprovalSource
}

// Round evaluates every rule once at now. A source that cannot be read
// raises nothing and marks its rules unknown, so that their open alerts
// stay as they are (its system's unreachable alert says why); a system
// never sampled yet raises nothing.
func (s *Set) Round(ctx context.Context, now time.Time) alerts.Round {
	var r alerts.Round
	add := func(fs []alerts.Finding) { r.Findings = append(r.Findings, fs...) }
	if s.Connections != nil && s.Budget != nil {
		snap, err := s.Connections.Latest(ctx)
		switch {
		case err == nil:
			add(Connections(snap, s.Budget()))
		case !errors.Is(err, neon.ErrNoSnapshot):
			r.Unknown = append(r.Unknown, "connections.")
		}
	}
	suspended := false
	if s.Switches != nil {
		sw, err := s.Switches.Get(ctx, switches.SuspendRedis)
		if err != nil {
			r.Unknown = append(r.Unknown, "switch.")
		} else {
			suspended = sw.Enabled
			live, err := s.Switches.LiveInstances(ctx)
			if err != nil {
				r.Unknown = append(r.Unknown, "switch.not_applied")
			}
			add(Switch(sw, live, now))
		}
	}
	if s.Cache != nil {
		f, err := s.Cache.Latest(ctx)
		switch {
		case err == nil && now.Sub(f.At) <= staleFigures:
			add(Cache(f, s.RedisBudget))
		case err == nil || !errors.Is(err, rediscache.ErrNoFigures):
			r.Unknown = append(r.Unknown, "cache.")
		}
	}
	if s.Fleet != nil {
		_, rep, err := s.Fleet.Report(ctx)
		switch {
		case err == nil:
			add(Fleet(rep, suspended))
		case !fly.IsNoSnapshot(err):
			r.Unknown = append(r.Unknown, "fleet.")
		}
	}
	if s.Systems != nil {
		add(Systems(s.Systems(), now))
	}
	if s.Approvals != nil {
		waiting, err := s.Approvals.Requests(ctx)
		if err != nil {
			r.Unknown = append(r.Unknown, "queues.approval_waiting")
		} else {
			add(Approvals(waiting, now))
		}
	}
	var demo int64
	if s.DemoOperators != nil {
		demo = s.DemoOperators()
	}
	add(Console(s.WatchMode, demo, s.Environment))
	return r
}
