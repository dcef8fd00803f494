package alerts

import (
	"context"
	"fmt"

	"github.com/atum/ops-console/internal/timeline"
)

// TimelineSource puts alert transitions and operators' actions on alerts
// on the incident timeline (pending ones are left out: they may never
// fire).
type TimelineSource struct{ Engine *Engine }

// Name names the source in the timeline's notes.
func (TimelineSource) Name() string { return "alerts" }

// System is the timeline's filter for alerts.
func (TimelineSource) System() string { return "alerts" }

// Events lists the alerts' events in the query's window.
func (s TimelineSource) Events(ctx context.Context, q timeline.Query) ([]timeline.Event, error) {
	if q.MarksOnly {
		return nil, nil
	}
	rows, err := s.Engine.Pool.Query(ctx, `
		SELECT ev.alert_id, ev.at, ev.kind, ev.actor, ev.note, a.severity, a.summary
		FROM ops.alert_events ev JOIN ops.alerts a ON a.id = ev.alert_id
		WHERE ev.at >= $1 AND ev.at < $2 AND ev.kind NOT IN ('pending', 'cleared')
		ORDER BY ev.at DESC, ev.id DESC LIMIT $3`, q.From, q.To, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("alerts: timeline: %w", err)
	}
	defer rows.Close()
	var out []timeline.Event
	for rows.Next() {
		var id int64
		var e timeline.Event
		var note, severity, summary string
		if err := rows.Scan(&id, &e.At, &e.Kind, &e.Who, &note, &severity, &summary); err != nil {
			return nil, fmt.Errorf("alerts: timeline: %w", err)
		}
		e.System, e.Href = "alerts", fmt.Sprintf("/alerts#alert-%d", id)
		e.What = fmt.Sprintf("%s alert %s: %s", severity, e.Kind, summary)
		if note != "" {
			e.What += " (" + note + ")"
		}
		if e.Who == "" {
			e.Who = "console"
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
