package qstash

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultArchiveRetention is how long the full copies of a finished
// purge's (or retry's) messages are kept: long enough to undo a purge
// found wrong weeks later, short enough that customer data in bodies does
// not stay in the console's database for good.
const DefaultArchiveRetention = 30 * 24 * time.Hour

// ErrArchivePruned says a purge's message copies were dropped after the
// archive's retention, so it can no longer be undone.
var ErrArchivePruned = errors.New("qstash: the purge's archive was pruned after its retention; it can no longer be undone")

// PruneArchive drops the message copies (bodies, headers) of bulk actions
// that ended more than keep ago, keeping each frozen id, its outcome and
// the action's counts; previews never confirmed within keep are discarded
// the same way. It returns how many message copies it dropped.
func (p *Purger) PruneArchive(ctx context.Context, keep time.Duration) (int, error) {
	if keep <= 0 {
		return 0, fmt.Errorf("qstash: archive retention must be positive, not %s", keep)
	}
	tag, err := p.Pool.Exec(ctx, `
		WITH old AS (
		    UPDATE ops.dlq_purges SET archive_pruned_at = now(),
		           state = CASE WHEN state = 'previewed' THEN 'discarded' ELSE state END,
		           note = CASE WHEN state = 'previewed' THEN 'discarded: a preview older than the archive retention' ELSE note END,
		           finished_at = COALESCE(finished_at, now())
		    WHERE archive_pruned_at IS NULL AND (
		          (state IN ('done', 'undone', 'discarded', 'rejected', 'expired') AND COALESCE(finished_at, created_at) < now() - $1::interval)
		       OR (state = 'previewed' AND created_at < now() - $1::interval))
		    RETURNING id)
		UPDATE ops.dlq_purge_items i SET message = jsonb_build_object('dlqId', i.dlq_id)
		FROM old WHERE i.purge_id = old.id`, keep.String())
	if err != nil {
		return 0, fmt.Errorf("qstash: prune archive: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
