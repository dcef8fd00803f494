package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
)

// TestQueryCounter checks that every statement sent under a counting
// context counts once (a query, an exec, each statement of a batch, a
// transaction's BEGIN and COMMIT) and that other contexts count nothing.
func TestQueryCounter(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, testenv.NewDatabase(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	counted, n := store.WithQueryCounter(ctx)
	_, other := store.WithQueryCounter(ctx)
	var one int
	if err := pool.QueryRow(counted, `SELECT 1`).Scan(&one); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(counted, `SELECT 2`); err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT 3`)
	b.Queue(`SELECT 4`)
	if err := pool.SendBatch(counted, b).Close(); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(counted, pool, func(tx pgx.Tx) error { _, err := tx.Exec(counted, `SELECT 5`); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT 6`); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 7 {
		t.Errorf("counted %d statements; want 7 (query, exec, 2 in a batch, begin, exec, commit)", got)
	}
	if got := other.Load(); got != 0 {
		t.Errorf("another context's counter counted %d; want 0", got)
	}
}
