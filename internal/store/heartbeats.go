package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NoHeartbeatsYet is what the console says, once, instead of one "silent
// machine" line per running machine while no platform instance has ever
// reported a heartbeat to this database: the platform has not adopted
// the heartbeat contract (README, "Contracts with the platform", 5) yet.
const NoHeartbeatsYet = "no platform instance reports heartbeats yet (see the contract)"

// RowQuerier runs a query that returns one row (a pool, a connection or
// a transaction).
type RowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// FirstHeartbeat returns when a platform instance first reported a
// heartbeat to this database, or the zero time when none ever did. It
// reads ops.first_heartbeat, which a trigger sets on the first row ever
// inserted into ops.instance_heartbeats and nothing prunes (migration
// 020); a heartbeat row without it (inserted with triggers disabled, as a
// restore may) counts too. One primary-key read and, only when that finds
// nothing, one over the heartbeat rows.
func FirstHeartbeat(ctx context.Context, db RowQuerier) (time.Time, error) {
	var at *time.Time
	err := db.QueryRow(ctx, `SELECT COALESCE((SELECT at FROM ops.first_heartbeat),
		(SELECT min(reported_at) FROM ops.instance_heartbeats))`).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: first heartbeat: %w", err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}
