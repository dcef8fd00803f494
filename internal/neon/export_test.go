package neon

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// HistoryAt is History as if it ran at now.
func (s *Sampler) HistoryAt(ctx context.Context, now, from time.Time, points int) ([]Sample, error) {
	return s.history(ctx, now, from, points)
}

// StoreSnapshot stores snap as Take does, in its own transaction.
func (s *Sampler) StoreSnapshot(ctx context.Context, snap *Snapshot) error {
	return pgx.BeginFunc(ctx, s.Console, func(tx pgx.Tx) error { return s.store(ctx, tx, snap) })
}
