package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery is one notification of an alert to one target, as the outbox
// keeps it.
type Delivery struct {
	ID        int64
	AlertID   int64
	Rule      string
	Kind      string
	Target    string
	State     string
	Attempts  int
	LastError string
	CreatedAt time.Time
	NextAt    time.Time
	SentAt    *time.Time
}

// Deliveries lists the newest notifications, failed or retrying ones
// first.
func (e *Engine) Deliveries(ctx context.Context, limit int) ([]Delivery, error) {
	rows, err := e.Pool.Query(ctx, `
		SELECT n.id, n.alert_id, a.rule, n.kind, n.target, n.state, n.attempts, n.last_error, n.created_at, n.next_attempt_at, n.sent_at
		FROM ops.alert_notifications n JOIN ops.alerts a ON a.id = n.alert_id
		ORDER BY n.state IN ('pending', 'failed') AND n.last_error <> '' DESC, n.created_at DESC, n.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("alerts: deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		return d, r.Scan(&d.ID, &d.AlertID, &d.Rule, &d.Kind, &d.Target, &d.State, &d.Attempts, &d.LastError, &d.CreatedAt, &d.NextAt, &d.SentAt)
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: deliveries: %w", err)
	}
	return out, nil
}
