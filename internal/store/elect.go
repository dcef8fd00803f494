package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// unlockTimeout bounds releasing an election lock.
const unlockTimeout = 2 * time.Second

// Elect runs fn on one connection of pool while this console instance
// holds the session advisory lock key, so that among several instances
// only one does the work at a time. The lock is taken outside any
// transaction (the console never sits idle in one) and released when fn
// returns, whatever the context. When another instance holds the lock, fn
// does not run and ran is false.
func Elect(ctx context.Context, pool *pgxpool.Pool, key int64, fn func(conn *pgxpool.Conn) error) (ran bool, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return false, Console(err)
	}
	defer conn.Release()
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ran); err != nil || !ran {
		return false, Console(err)
	}
	defer func() {
		// A database that hangs now must not hold this goroutine: a
		// connection that fails the unlock is closed, which releases it.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			_ = conn.Conn().Close(uctx)
		}
	}()
	return true, fn(conn)
}
