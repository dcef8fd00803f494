package neon

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// BouncerPool is one row of PgBouncer's SHOW POOLS.
type BouncerPool struct {
	Database  string
	User      string
	ClActive  int64
	ClWaiting int64
	SvActive  int64
	SvIdle    int64
	SvUsed    int64
	// MaxWait is how long the oldest waiting client has waited.
	MaxWait  time.Duration
	PoolMode string
}

// BouncerStats is one row of SHOW STATS (per database, since start).
type BouncerStats struct {
	Database       string
	TotalXactCount int64
	TotalWaitTime  time.Duration
	AvgWaitTime    time.Duration
	AvgXactTime    time.Duration
}

// Bouncer is what a self-hosted PgBouncer's admin console says.
type Bouncer struct {
	At    time.Time
	Pools []BouncerPool
	Stats []BouncerStats
	// Waiting is Σ cl_waiting: clients waiting for a server connection.
	Waiting int64
	// MaxWait is the longest wait over all pools.
	MaxWait time.Duration
}

// ReadPgBouncer runs SHOW POOLS and SHOW STATS on one connection over the
// simple query protocol (the admin console has no prepared statements, and
// a pool's health pings would break it). Columns are read by name, so a
// PgBouncer that adds or reorders columns still reads right.
func ReadPgBouncer(ctx context.Context, adminURL string) (Bouncer, error) {
	b := Bouncer{At: time.Now()}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return b, fmt.Errorf("pgbouncer: cannot parse PGBOUNCER_ADMIN_URL")
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return b, fmt.Errorf("pgbouncer: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	pools, err := showRows(ctx, conn, "SHOW POOLS")
	if err != nil {
		return b, err
	}
	for _, r := range pools {
		p := BouncerPool{Database: r.str("database"), User: r.str("user"), ClActive: r.int("cl_active"),
			ClWaiting: r.int("cl_waiting"), SvActive: r.int("sv_active"), SvIdle: r.int("sv_idle"), SvUsed: r.int("sv_used"),
			MaxWait:  time.Duration(r.int("maxwait"))*time.Second + time.Duration(r.int("maxwait_us"))*time.Microsecond,
			PoolMode: r.str("pool_mode")}
		b.Pools = append(b.Pools, p)
		b.Waiting += p.ClWaiting
		b.MaxWait = max(b.MaxWait, p.MaxWait)
	}
	stats, err := showRows(ctx, conn, "SHOW STATS")
	if err != nil {
		return b, err
	}
	for _, r := range stats {
		b.Stats = append(b.Stats, BouncerStats{Database: r.str("database"), TotalXactCount: r.int("total_xact_count"),
			TotalWaitTime: time.Duration(r.int("total_wait_time")) * time.Microsecond,
			AvgWaitTime:   time.Duration(r.int("avg_wait_time")) * time.Microsecond,
			AvgXactTime:   time.Duration(r.int("avg_xact_time")) * time.Microsecond})
	}
	return b, nil
}

// row is one admin-console row keyed by column name.
type row map[string]any

func (r row) str(k string) string {
	if v, ok := r[k]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

func (r row) int(k string) int64 {
	switch v := r[k].(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case int16:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

func showRows(ctx context.Context, conn *pgx.Conn, sql string) ([]row, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: %s: %w", sql, err)
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	var out []row
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("pgbouncer: %s: %w", sql, err)
		}
		r := row{}
		for i, f := range fields {
			r[f.Name] = vals[i]
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
