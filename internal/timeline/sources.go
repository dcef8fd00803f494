package timeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/fly"
)

// Standard returns the sources over the console's own database: the Fly
// fleet snapshot of app (every app when ""), kill-switch changes,
// dead-letter purges and the audit log's retries, protection and
// operator changes. A nil pool gives none.
func Standard(pool *pgxpool.Pool, app string) []Source {
	if pool == nil {
		return nil
	}
	return []Source{
		&FleetSource{Pool: pool, App: app},
		&SwitchSource{Pool: pool},
		&PurgeSource{Pool: pool},
		retrySource(pool),
		protectionSource(pool),
		operatorSource(pool),
	}
}

// FleetSource reads the machines' events from the stored fleet snapshot
// (ops.fleet_snapshots): launches and updates (releases), starts,
// restarts, exits and destroys. It never calls Fly.
type FleetSource struct {
	Pool *pgxpool.Pool
	App  string
}

// Name implements Source.
func (s *FleetSource) Name() string { return "Fly machine events" }

// System implements Source.
func (s *FleetSource) System() string { return Fly }

var (
	fleetTypes   = []string{"launch", "update", "start", "restart", "exit", "destroy"}
	releaseTypes = []string{"launch", "update"}
)

// Events implements Source. Each machine's latest launch or update is
// told with the release and image the machine runs now; earlier ones
// only as what they were, since the snapshot keeps no older image.
func (s *FleetSource) Events(ctx context.Context, q Query) ([]Event, error) {
	types := fleetTypes
	if q.MarksOnly {
		types = releaseTypes
	}
	rows, err := s.Pool.Query(ctx, `
		WITH machines AS (
			SELECT m.value AS m
			FROM ops.fleet_snapshots s,
				jsonb_array_elements(CASE jsonb_typeof(s.machines) WHEN 'array' THEN s.machines ELSE '[]'::jsonb END) m
			WHERE $1 = '' OR s.app = $1
		), events AS (
			SELECT m, e.value AS e,
				CASE jsonb_typeof(e.value->'timestamp') WHEN 'number' THEN (e.value->>'timestamp')::numeric END AS ts
			FROM machines,
				jsonb_array_elements(CASE jsonb_typeof(m->'events') WHEN 'array' THEN m->'events' ELSE '[]'::jsonb END) e
			WHERE e.value->>'type' = ANY($2)
		), ranked AS (
			SELECT m, e, ts,
				max(ts) FILTER (WHERE e->>'type' IN ('launch', 'update')) OVER (PARTITION BY m->>'id') AS last_release
			FROM events
		)
		SELECT COALESCE(m->>'id', ''), COALESCE(m->>'name', ''), m::text, e::text, ts::bigint, ts = last_release
		FROM ranked
		WHERE ts >= $3 AND ts < $4
		ORDER BY ts DESC
		LIMIT $5`, s.App, types, q.From.UnixMilli(), q.To.UnixMilli(), q.Limit)
	if err != nil {
		return nil, fmt.Errorf("fleet events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var id, name, machineJSON, eventJSON string
		var ts int64
		var latest *bool
		if err := r.Scan(&id, &name, &machineJSON, &eventJSON, &ts, &latest); err != nil {
			return Event{}, err
		}
		var m fly.Machine
		var e fly.Event
		// The machine is decoded for its group, release and image only;
		// a shape that does not decode still gives the event.
		_ = json.Unmarshal([]byte(machineJSON), &m)
		m.Events = nil
		_ = json.Unmarshal([]byte(eventJSON), &e)
		return fleetEvent(id, name, m, e, time.UnixMilli(ts), latest != nil && *latest), nil
	})
}

func fleetEvent(id, name string, m fly.Machine, e fly.Event, at time.Time, latestRelease bool) Event {
	who := "machine " + id
	if name != "" && name != id {
		who = "machine " + name + " (" + id + ")"
	}
	if g := m.Group(); g != "" {
		who = g + " " + who
	}
	ev := Event{At: at, System: Fly, Who: "fly", Href: "/fleet/machines/" + url.PathEscape(id)}
	if id == "" {
		ev.Href = "/fleet"
	}
	switch e.Type {
	case "launch", "update":
		ev.Kind, ev.Mark = KindRelease, true
		verb := "launched"
		if e.Type == "update" {
			verb = "updated"
		}
		ev.What = who + " " + verb
		if latestRelease {
			ev.What += releaseText(m)
		}
	case "start", "restart":
		ev.Kind, ev.What = KindStart, who+" "+e.Type+"ed"
	case "destroy":
		ev.Kind, ev.What = KindExit, who+" destroyed"
	default:
		ev.Kind, ev.What = KindExit, who+" exited"+exitText(e)
	}
	return ev
}

// releaseText names the release and image a machine runs now.
func releaseText(m fly.Machine) string {
	var parts []string
	if r := m.Release(); r != "" {
		parts = append(parts, "release "+r)
	}
	img := m.ImageRef.Repository
	if m.ImageRef.Tag != "" {
		img += ":" + m.ImageRef.Tag
	}
	if d := fly.ShortDigest(m.ImageRef.Digest); d != "" {
		img = strings.TrimSpace(img + " (" + d + ")")
	}
	if img != "" {
		parts = append(parts, "image "+img)
	}
	if len(parts) == 0 {
		return ""
	}
	return ": now on " + strings.Join(parts, ", ")
}

func exitText(e fly.Event) string {
	x, restarts, ok := e.Exit()
	if !ok {
		return ""
	}
	var parts []string
	switch {
	case x.OOMKilled:
		parts = append(parts, "out of memory")
	case x.RequestedStop:
		parts = append(parts, "stop requested")
	default:
		parts = append(parts, fmt.Sprintf("code %d", x.ExitCode))
	}
	if x.Restarting {
		parts = append(parts, fmt.Sprintf("restarting (restart %d)", restarts))
	}
	return ": " + strings.Join(parts, ", ")
}

// SwitchSource reads kill-switch changes (ops.kill_switch_changes) and the
// automatic reverts that took effect since.
type SwitchSource struct{ Pool *pgxpool.Pool }

// Name implements Source.
func (s *SwitchSource) Name() string { return "kill-switch changes" }

// System implements Source.
func (s *SwitchSource) System() string { return Switches }

// Events implements Source.
func (s *SwitchSource) Events(ctx context.Context, q Query) ([]Event, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT at, name, enabled, reason, changed_by, revert_at, false
		FROM ops.kill_switch_changes WHERE at >= $1 AND at < $2
		UNION ALL
		SELECT c.revert_at, c.name, NOT c.enabled, '', '', NULL, true
		FROM ops.kill_switch_changes c
		WHERE c.revert_at >= $1 AND c.revert_at < $2 AND c.revert_at <= now()
		  AND NOT EXISTS (SELECT 1 FROM ops.kill_switch_changes n
		                  WHERE n.name = c.name AND n.version > c.version AND n.at <= c.revert_at)
		ORDER BY 1 DESC
		LIMIT $3`, q.From, q.To, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("kill-switch changes: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var name, reason, by string
		var enabled, auto bool
		var revertAt *time.Time
		if err := r.Scan(&e.At, &name, &enabled, &reason, &by, &revertAt, &auto); err != nil {
			return e, err
		}
		e.System, e.Kind, e.Mark, e.Who = Switches, KindSwitch, true, by
		e.Href = "/switches#switch-" + url.PathEscape(name)
		if auto {
			e.What, e.Who = name+" reverted by itself to "+onOff(enabled), "console (automatic revert)"
			return e, nil
		}
		e.What = name + " turned " + onOff(enabled)
		if reason != "" {
			e.What += ": " + reason
		}
		if revertAt != nil {
			e.What += " (to revert by itself at " + revertAt.UTC().Format("2006-01-02 15:04Z") + ")"
		}
		return e, nil
	})
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

// PurgeSource reads dead-letter purges (ops.dlq_purges): previewed,
// confirmed, and finished or discarded.
type PurgeSource struct{ Pool *pgxpool.Pool }

// Name implements Source.
func (s *PurgeSource) Name() string { return "dead-letter purges" }

// System implements Source.
func (s *PurgeSource) System() string { return Queues }

// Events implements Source. A preview is no chart marker, so MarksOnly
// leaves previews out.
func (s *PurgeSource) Events(ctx context.Context, q Query) ([]Event, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT created_at, 'previewed', id, region, state, total, deleted, gone, failed, created_by
		FROM ops.dlq_purges WHERE NOT $4 AND created_at >= $1 AND created_at < $2
		UNION ALL
		SELECT confirmed_at, 'confirmed', id, region, state, total, deleted, gone, failed, COALESCE(confirmed_by, '')
		FROM ops.dlq_purges WHERE confirmed_at >= $1 AND confirmed_at < $2
		UNION ALL
		SELECT finished_at, 'finished', id, region, state, total, deleted, gone, failed, COALESCE(confirmed_by, created_by)
		FROM ops.dlq_purges WHERE finished_at >= $1 AND finished_at < $2
		ORDER BY 1 DESC, 3 DESC
		LIMIT $3`, q.From, q.To, q.Limit, q.MarksOnly)
	if err != nil {
		return nil, fmt.Errorf("purges: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var step, region, state string
		var id int64
		var total, deleted, gone, failed int
		if err := r.Scan(&e.At, &step, &id, &region, &state, &total, &deleted, &gone, &failed, &e.Who); err != nil {
			return e, err
		}
		e.System, e.Kind, e.Href = Queues, KindPurge, fmt.Sprintf("/queues/purges/%d", id)
		p := fmt.Sprintf("purge #%d", id)
		switch {
		case step == "previewed":
			e.What = fmt.Sprintf("%s previewed: %d dead letter(s) frozen in %s", p, total, region)
		case step == "confirmed":
			e.What, e.Mark = fmt.Sprintf("%s confirmed: deleting %d dead letter(s) in %s", p, total, region), true
		case state == "discarded":
			e.What = p + " discarded: nothing deleted"
		default:
			e.What, e.Mark = fmt.Sprintf("%s finished in %s: %d deleted, %d already gone, %d failed", p, region, deleted, gone, failed), true
			if state == "undone" {
				e.What += " (undone since)"
			}
		}
		return e, nil
	})
}

// AuditSource reads some actions of the audit log (ops.audit_events) and
// tells each with Describe.
type AuditSource struct {
	Pool *pgxpool.Pool
	// Label and Sys are the source's Name and System.
	Label, Sys string
	// Actions and Results select the events.
	Actions, Results []string
	// Describe turns an audit row into an event (At, System and Who are
	// filled in); ok false skips the row.
	Describe func(r AuditRow) (e Event, ok bool)
}

// AuditRow is the part of an audit event a source tells.
type AuditRow struct {
	At       time.Time
	Operator string
	Action   string
	Target   string
	Reason   string
	Result   string
	Details  map[string]any
}

// Name implements Source.
func (s *AuditSource) Name() string { return s.Label }

// System implements Source.
func (s *AuditSource) System() string { return s.Sys }

// Events implements Source.
func (s *AuditSource) Events(ctx context.Context, q Query) ([]Event, error) {
	if q.MarksOnly {
		return nil, nil
	}
	rows, err := s.Pool.Query(ctx, `
		SELECT at, operator, action, target, reason, result, details::text
		FROM ops.audit_events
		WHERE at >= $1 AND at < $2 AND action = ANY($3) AND result = ANY($4)
		ORDER BY at DESC, id DESC
		LIMIT $5`, q.From, q.To, s.Actions, s.Results, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Label, err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditRow, error) {
		var a AuditRow
		var details string
		if err := r.Scan(&a.At, &a.Operator, &a.Action, &a.Target, &a.Reason, &a.Result, &details); err != nil {
			return a, err
		}
		_ = json.Unmarshal([]byte(details), &a.Details)
		return a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Label, err)
	}
	out := make([]Event, 0, len(all))
	for _, a := range all {
		e, ok := s.Describe(a)
		if !ok {
			continue
		}
		e.At, e.System, e.Who = a.At, s.Sys, a.Operator
		out = append(out, e)
	}
	return out, nil
}

// auditLink is the audit log filtered to one action and target on the
// event's day.
func auditLink(a AuditRow) string {
	day := a.At.UTC().Format("2006-01-02")
	q := url.Values{"action": {a.Action}, "target": {a.Target}, "from": {day}, "to": {day}}
	return "/audit?" + q.Encode()
}

func retrySource(pool *pgxpool.Pool) *AuditSource {
	return &AuditSource{Pool: pool, Label: "dead-letter retries and undos", Sys: Queues,
		Actions: []string{"dlq.retry", "dlq.purge.undo"}, Results: []string{"success", "error"},
		Describe: func(a AuditRow) (Event, bool) {
			if a.Action == "dlq.purge.undo" {
				id := strings.TrimPrefix(a.Target, "purge:")
				return Event{Kind: KindPurge, Mark: false, Href: "/queues/purges/" + url.PathEscape(id),
					What: fmt.Sprintf("purge #%s undone: %d message(s) republished", id, count(a.Details["republished"]))}, true
			}
			region := strings.TrimPrefix(a.Target, "qstash:")
			what := fmt.Sprintf("%d dead letter(s) retried in %s", count(a.Details["retried"]), region)
			if g, f := count(a.Details["gone"]), count(a.Details["failed"]); g > 0 || f > 0 {
				what += fmt.Sprintf(" (%d already gone, %d failed)", g, f)
			}
			return Event{Kind: KindRetry, What: what, Href: auditLink(a)}, true
		}}
}

func protectionSource(pool *pgxpool.Pool) *AuditSource {
	return &AuditSource{Pool: pool, Label: "account protection changes", Sys: Accounts,
		Actions: []string{"account.protect", "account.unprotect"}, Results: []string{"success"},
		Describe: func(a AuditRow) (Event, bool) {
			kind, id, _ := strings.Cut(a.Target, ":")
			verb := "protected"
			if a.Action == "account.unprotect" {
				verb = "unprotected"
			}
			e := Event{Kind: KindProtection, What: kind + " " + id + " " + verb, Href: auditLink(a)}
			if kind == "user" || kind == "tenant" {
				e.Href = "/accounts/" + kind + "s/" + url.PathEscape(id)
			}
			if a.Reason != "" {
				e.What += ": " + a.Reason
			}
			return e, true
		}}
}

var operatorVerbs = map[string]string{
	"operator.create":       "created",
	"operator.role":         "role changed",
	"operator.disable":      "disabled",
	"operator.enable":       "enabled",
	"operator.sessions.end": "sessions ended",
}

func operatorSource(pool *pgxpool.Pool) *AuditSource {
	actions := []string{"login.throttle.clear"}
	for a := range operatorVerbs {
		actions = append(actions, a)
	}
	return &AuditSource{Pool: pool, Label: "operator changes and throttle clears", Sys: Operators,
		Actions: actions, Results: []string{"success"},
		Describe: func(a AuditRow) (Event, bool) {
			e := Event{Kind: KindOperator, Href: auditLink(a)}
			if a.Action == "login.throttle.clear" {
				e.Kind, e.What = KindThrottle, "sign-in throttle cleared: "+strings.TrimPrefix(a.Target, "throttle:")
				return e, true
			}
			e.What = "operator " + strings.TrimPrefix(a.Target, "operator:") + " " + operatorVerbs[a.Action]
			if a.Action == "operator.role" {
				if before, after := fmt.Sprint(a.Details["before"]), fmt.Sprint(a.Details["after"]); a.Details["after"] != nil {
					e.What += " from " + before + " to " + after
				}
			}
			if a.Action == "operator.create" && a.Details["role"] != nil {
				e.What += " as " + fmt.Sprint(a.Details["role"])
			}
			return e, true
		}}
}

// count reads a count from audit details: a number, a list or a map.
func count(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case []any:
		return len(x)
	case map[string]any:
		return len(x)
	}
	return 0
}
