package store

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// queryCounterKey carries a request's query counter in a context.
type queryCounterKey struct{}

// WithQueryCounter returns ctx carrying a new counter of the statements
// sent to the database under it (and under contexts derived from it) by
// any pool OpenBounded returned: each query, exec, statement of a batch
// and copy counts one, BEGIN and COMMIT included, since each is a round
// trip. Statements run under other contexts (background work, results
// shared between requests) are not counted.
func WithQueryCounter(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, queryCounterKey{}, n), n
}

// countQuery adds one to ctx's query counter, if it carries one.
func countQuery(ctx context.Context) {
	if n, ok := ctx.Value(queryCounterKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}

// queryTracer counts statements in the context's query counter; without
// one it costs a context lookup per statement.
type queryTracer struct{}

var (
	_ pgx.QueryTracer    = queryTracer{}
	_ pgx.BatchTracer    = queryTracer{}
	_ pgx.CopyFromTracer = queryTracer{}
)

func (queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	countQuery(ctx)
	return ctx
}

func (queryTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (queryTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchQueryData) {
	countQuery(ctx)
}

func (queryTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (queryTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	countQuery(ctx)
	return ctx
}

func (queryTracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}
