package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// pruneBatch bounds the alerts one prune statement deletes, so that
// pruning never holds long locks.
const pruneBatch = 500

// Prune deletes alerts resolved more than keep ago, with their events and
// notifications, in small batches; and the repeats of still-open alerts
// older than keep, except the newest notification per alert and target
// (a later resolution is sent only where a firing was). It returns how
// many alerts it deleted.
func Prune(ctx context.Context, pool *pgxpool.Pool, keep time.Duration) (int64, error) {
	var total int64
	for {
		tag, err := pool.Exec(ctx, `
			WITH old AS (SELECT id FROM ops.alerts WHERE state = 'resolved' AND resolved_at < now() - $1 * interval '1 second'
			             ORDER BY resolved_at LIMIT $2),
			     n AS (DELETE FROM ops.alert_notifications WHERE alert_id IN (SELECT id FROM old)),
			     e AS (DELETE FROM ops.alert_events WHERE alert_id IN (SELECT id FROM old))
			DELETE FROM ops.alerts WHERE id IN (SELECT id FROM old)`, keep.Seconds(), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("alerts: prune: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			break
		}
	}
	_, err := pool.Exec(ctx, `
		DELETE FROM ops.alert_notifications n
		WHERE n.kind = 'repeat' AND n.state <> 'pending' AND n.created_at < now() - $1 * interval '1 second'
		  AND EXISTS (SELECT 1 FROM ops.alert_notifications m
		              WHERE m.alert_id = n.alert_id AND m.target = n.target AND m.created_at > n.created_at)`, keep.Seconds())
	if err != nil {
		return total, fmt.Errorf("alerts: prune repeats: %w", err)
	}
	return total, nil
}
