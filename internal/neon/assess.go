package neon

import (
	"fmt"
	"time"
)

// Bands of a limit: warning from 80 %, critical from 95 %.
const (
	WarnPercent     = 80
	CriticalPercent = 95
)

// Level grades a value against a limit: "ok", "warning" or "critical".
func Level(value, limit int) string {
	if limit <= 0 {
		return "ok"
	}
	switch pct := float64(value) * 100 / float64(limit); {
	case pct >= CriticalPercent:
		return "critical"
	case pct >= WarnPercent:
		return "warning"
	}
	return "ok"
}

// Finding is one thing an operator should know about the budget.
type Finding struct {
	// Rule names the check, e.g. "connections.waiting".
	Rule  string
	Level string // "warning" or "critical"
	Text  string
}

// Budget is the plan set against the limits that apply to it.
type Budget struct {
	Plan Plan
	// Pooled is true when the platform connects through Neon's pooler.
	Pooled bool
	// MinCU and MaxCU are the configured compute range (0 when unknown).
	MinCU, MaxCU float64
}

// PlanLimit is the limit the plan's client connections count against:
// the pooler's client limit when pooled, else the usable direct slots.
func (b Budget) PlanLimit(l Limits) (limit int, what string) {
	if b.Pooled {
		return PoolerClientLimit, "pooler client connections (max_client_conn)"
	}
	return l.Usable, "usable direct connections (max_connections − reserved)"
}

// Assess lists what is wrong or close to wrong in snap for budget b.
func Assess(b Budget, snap Snapshot) []Finding {
	var out []Finding
	add := func(rule, level, format string, a ...any) {
		out = append(out, Finding{Rule: "connections." + rule, Level: level, Text: fmt.Sprintf(format, a...)})
	}
	if snap.Err != "" {
		add("sample_failed", "warning", "The platform database could not be read at the last sample: %s", snap.Err)
		return out
	}
	l := snap.Limits
	if lvl := Level(snap.Usage.Total, l.Usable); lvl != "ok" && l.Usable > 0 {
		add("live", lvl, "Live connections at %.0f %% of the usable slots: %d of %d", pct(snap.Usage.Total, l.Usable), snap.Usage.Total, l.Usable)
	}
	limit, what := b.PlanLimit(l)
	planned := b.Plan.Total()
	if lvl := Level(planned, limit); lvl != "ok" && limit > 0 {
		msg := fmt.Sprintf("Planned budget %d is %.0f %% of the %d %s", planned, pct(planned, limit), limit, what)
		if len(b.Plan.Groups) > 0 {
			g := b.Plan.Groups[0]
			if at := b.Plan.BreaksAt(0, limit); at > 0 && planned > limit {
				msg += fmt.Sprintf(": the budget breaks at machine %d of group %s (now %d)", at, g.Name, g.Machines)
			} else if at > 0 {
				msg += fmt.Sprintf("; it breaks at machine %d of group %s (now %d)", at, g.Name, g.Machines)
			}
		}
		add("planned", lvl, "%s", msg)
	}
	if bo := snap.Bouncer; bo != nil && bo.Waiting > 0 {
		add("waiting", "critical", "%d clients waiting for a connection in PgBouncer; longest wait %s", bo.Waiting, bo.MaxWait.Round(time.Millisecond))
	}
	if b.MaxCU > 0 && l.MaxConnections > 0 {
		if want := ComputeMaxConnections(b.MinCU, b.MaxCU); want != l.MaxConnections {
			add("compute", "warning", "The configured compute size %g–%g CU gives max_connections %d, but the server says %d: the configuration or the compute changed",
				b.MinCU, b.MaxCU, want, l.MaxConnections)
		}
	}
	if !snap.Usage.CanSeeAll && snap.Usage.Role != "" {
		add("no_pg_monitor", "warning", "The console's role %s lacks pg_monitor: states, ages and queries of other roles' sessions are hidden", snap.Usage.Role)
	}
	return out
}

func pct(v, limit int) float64 { return float64(v) * 100 / float64(limit) }
