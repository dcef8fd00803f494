package qstash

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/store"
)

// purgeLock is the base of the advisory lock that lets one runner at a
// time work on a purge (key: purgeLock + purge id).
const purgeLock = 0x7075726765000000 // "purge"

// MaxPreview bounds how many dead letters one purge may freeze.
const MaxPreview = 200000

// Purge states.
const (
	Previewed = "previewed"
	// AwaitingApproval: confirmed, waiting for a second operator.
	AwaitingApproval = "awaiting_approval"
	Running          = "running"
	Paused           = "paused"
	Done             = "done"
	Discarded        = "discarded"
	Undone           = "undone"
	// Rejected: a second operator (or the requester) turned it down.
	Rejected = "rejected"
	// Expired: nobody approved it in time.
	Expired = "expired"
)

// PurgeInfo is a bulk action (a purge or a retry) as stored.
type PurgeInfo struct {
	ID int64
	// Kind is KindPurge or KindRetry.
	Kind    string
	Region  string
	Filters map[string]string
	// Overrides are the headers a retry sends with every chunk.
	Overrides   map[string]string
	State       string
	Note        string
	Total       int
	Deleted     int
	Retried     int
	Gone        int
	Failed      int
	Republished int
	// APICalls counts the deletion's own API requests; UndoAPICalls
	// those of its undos.
	APICalls     int
	UndoAPICalls int
	Elapsed      time.Duration
	CreatedBy    string
	CreatedAt    time.Time
	Pending      int
	// ConfirmedBy is who confirmed it, RequestedByID their operator id
	// when an approval was asked for.
	ConfirmedBy   string
	RequestedByID int64
	// ApprovalExpires is when an unapproved request expires; ApprovedBy
	// and ApprovedAt who approved it and when; RejectedBy who rejected it.
	ApprovalExpires time.Time
	ApprovedBy      string
	ApprovedAt      time.Time
	RejectedBy      string
	// ArchivePruned is set once the message copies were dropped after
	// the archive's retention.
	ArchivePruned bool
}

// Target is the audit target of a bulk action: purge:<id> or retry:<id>.
func (pi PurgeInfo) Target() string { return Target(pi.Kind, pi.ID) }

// Target is the audit target of the bulk action id of kind.
func Target(kind string, id int64) string {
	if kind == KindRetry {
		return fmt.Sprintf("retry:%d", id)
	}
	return fmt.Sprintf("purge:%d", id)
}

// Action is the audit action verb of a bulk action of kind:
// dlq.purge.<verb> or dlq.bulk_retry.<verb>.
func Action(kind, verb string) string {
	if kind == KindRetry {
		return "dlq.bulk_retry." + verb
	}
	return "dlq.purge." + verb
}

// Purger previews, freezes, runs, resumes and undoes purges. Every delete
// names explicit ids from the frozen set, at most 100 per call; a purge
// survives crashes and 429 storms because its progress is in Postgres.
// Start runs a purge in the background and audits its result;
// ResumeInterrupted does the same, at start-up, for purges a crash left
// running.
type Purger struct {
	Pool    *pgxpool.Pool
	Clients map[string]*Client
	Log     *slog.Logger
	// Audit records the result of each run (nil: the audit log in Pool).
	Audit *audit.Log
	// MaxRateWaits bounds consecutive 429s on one chunk (or, in an undo,
	// on one message) before the purge pauses or the undo stops (either
	// can then be resumed); 0 means 30.
	MaxRateWaits int
	// DedupWindow is how long after an attempt an undo still sends a
	// message again with the same deduplication id; 0 means
	// DefaultDedupWindow.
	DedupWindow time.Duration
}

// ErrUnknownRegion says a region has no configured client.
var ErrUnknownRegion = errors.New("qstash: region not configured")

func (p *Purger) client(region string) (*Client, error) {
	c, ok := p.Clients[region]
	if !ok {
		return nil, ErrUnknownRegion
	}
	return c, nil
}

// Preview walks every page of the dead letters matching f and freezes the
// exact id set, with a copy of every message, as a new purge.
func (p *Purger) Preview(ctx context.Context, region string, f Filter, labels map[string]string, by string) (int64, error) {
	return p.PreviewKind(ctx, KindPurge, region, f, labels, by)
}

// PreviewKind is Preview for a bulk action of kind (KindPurge or
// KindRetry).
func (p *Purger) PreviewKind(ctx context.Context, kind, region string, f Filter, labels map[string]string, by string) (int64, error) {
	if kind != KindPurge && kind != KindRetry {
		return 0, fmt.Errorf("qstash: unknown bulk action %q", clipID(kind))
	}
	c, err := p.client(region)
	if err != nil {
		return 0, err
	}
	var msgs []Message
	seen := map[string]bool{}
	cursor := ""
	for {
		page, err := c.ListDLQ(ctx, f, cursor, MaxPage)
		if d, limited := IsRateLimited(err); limited {
			if err := sleep(ctx, d); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		for _, m := range page.Messages {
			if CheckID(m.DLQID) != nil || seen[m.DLQID] {
				continue
			}
			seen[m.DLQID] = true
			msgs = append(msgs, m)
		}
		if len(msgs) > MaxPreview {
			return 0, fmt.Errorf("qstash: more than %d dead letters match; narrow the filters", MaxPreview)
		}
		if page.Cursor == "" {
			break
		}
		cursor = page.Cursor
	}
	filters, _ := json.Marshal(labels)
	var id int64
	err = pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO ops.dlq_purges (kind, region, filters, state, total, created_by) VALUES ($1, $2, $3, 'previewed', $4, $5) RETURNING id`,
			kind, region, filters, len(msgs), by).Scan(&id); err != nil {
			return err
		}
		rows := make([][]any, 0, len(msgs))
		for i, m := range msgs {
			doc, err := json.Marshal(m)
			if err != nil {
				return err
			}
			rows = append(rows, []any{id, i, m.DLQID, doc})
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"ops", "dlq_purge_items"}, []string{"purge_id", "seq", "dlq_id", "message"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("qstash: freeze purge: %w", err)
	}
	return id, nil
}

// Get returns a purge with its pending count. A request for approval
// past its expiry reads as expired; ExpireRequests records it so (in the
// background, and before an approval).
func (p *Purger) Get(ctx context.Context, id int64) (PurgeInfo, error) {
	return p.get(ctx, id)
}

// get reads a purge as it is stored.
func (p *Purger) get(ctx context.Context, id int64) (PurgeInfo, error) {
	var pi PurgeInfo
	var filters, overrides []byte
	var elapsed int64
	var confirmedBy, approvedBy, rejectedBy *string
	var requestedByID *int64
	var expires, approvedAt, pruned *time.Time
	err := p.Pool.QueryRow(ctx, `
		SELECT id, kind, region, filters, overrides, state, note, total, deleted, retried, gone, failed, republished, api_calls, undo_api_calls,
		       elapsed_ms, created_by, created_at, confirmed_by, requested_by_id, approval_expires_at, approved_by, approved_at, rejected_by,
		       archive_pruned_at,
		       (SELECT count(*) FROM ops.dlq_purge_items i WHERE i.purge_id = p.id AND i.state IN ('frozen', 'sent'))
		FROM ops.dlq_purges p WHERE id = $1`, id).
		Scan(&pi.ID, &pi.Kind, &pi.Region, &filters, &overrides, &pi.State, &pi.Note, &pi.Total, &pi.Deleted, &pi.Retried, &pi.Gone,
			&pi.Failed, &pi.Republished, &pi.APICalls, &pi.UndoAPICalls, &elapsed, &pi.CreatedBy, &pi.CreatedAt, &confirmedBy,
			&requestedByID, &expires, &approvedBy, &approvedAt, &rejectedBy, &pruned, &pi.Pending)
	if errors.Is(err, pgx.ErrNoRows) {
		return pi, ErrNotFound
	}
	if err != nil {
		return pi, fmt.Errorf("qstash: purge %d: %w", id, err)
	}
	pi.Elapsed = time.Duration(elapsed) * time.Millisecond
	_ = json.Unmarshal(filters, &pi.Filters)
	_ = json.Unmarshal(overrides, &pi.Overrides)
	pi.ConfirmedBy, pi.ApprovedBy, pi.RejectedBy = deref(confirmedBy), deref(approvedBy), deref(rejectedBy)
	if requestedByID != nil {
		pi.RequestedByID = *requestedByID
	}
	if expires != nil {
		pi.ApprovalExpires = *expires
	}
	if approvedAt != nil {
		pi.ApprovedAt = *approvedAt
	}
	pi.ArchivePruned = pruned != nil
	if pi.State == AwaitingApproval && !pi.ApprovalExpires.After(time.Now()) {
		pi.State, pi.Note = Expired, expiredNote
	}
	return pi, nil
}

// deref is *v, or T's zero value for nil.
func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}

// Recent lists the latest purges and retries.
func (p *Purger) Recent(ctx context.Context, n int) ([]PurgeInfo, error) {
	return p.list(ctx, `SELECT id FROM ops.dlq_purges ORDER BY id DESC LIMIT $1`, n)
}

// list returns the purges whose ids query selects.
func (p *Purger) list(ctx context.Context, query string, args ...any) ([]PurgeInfo, error) {
	rows, err := p.Pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("qstash: purges: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	var out []PurgeInfo
	for _, id := range ids {
		pi, err := p.get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, pi)
	}
	return out, nil
}

// Sample returns the first n frozen messages of a purge.
func (p *Purger) Sample(ctx context.Context, id int64, n int) ([]Message, error) {
	rows, err := p.Pool.Query(ctx, `SELECT message FROM ops.dlq_purge_items WHERE purge_id = $1 ORDER BY seq LIMIT $2`, id, n)
	if err != nil {
		return nil, fmt.Errorf("qstash: sample: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) {
		var m Message
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return m, err
		}
		return m, json.Unmarshal(doc, &m)
	})
}

// ErrWrongState says the purge is not in a state that allows the action.
var ErrWrongState = errors.New("qstash: the purge is not in a state that allows this")

// Discard drops a previewed purge without deleting anything.
func (p *Purger) Discard(ctx context.Context, id int64) error {
	tag, err := p.Pool.Exec(ctx, `UPDATE ops.dlq_purges SET state = 'discarded', finished_at = now() WHERE id = $1 AND state = 'previewed'`, id)
	if err != nil {
		return fmt.Errorf("qstash: discard: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return ErrWrongState
	}
	return nil
}

// Resume marks a paused purge running again; the caller then calls Run.
func (p *Purger) Resume(ctx context.Context, id int64) error {
	tag, err := p.Pool.Exec(ctx, `UPDATE ops.dlq_purges SET state = 'running', note = 'resumed' WHERE id = $1 AND state IN ('paused', 'running')`, id)
	if err != nil {
		return fmt.Errorf("qstash: resume: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return ErrWrongState
	}
	return nil
}

// Run deletes the purge's frozen ids that are not done yet, in chunks of
// at most 100 explicit ids, recording each chunk's outcome before the
// next. It waits out 429s (Burst-RateLimit-Reset) and pauses the purge
// after MaxRateWaits in a row or on another error. Only one runner works
// on a purge at a time; a second call returns at once.
func (p *Purger) Run(ctx context.Context, id int64) error {
	_, err := p.elect(ctx, id)
	return err
}

// elect runs the purge if no other runner has it, and says whether it did.
func (p *Purger) elect(ctx context.Context, id int64) (bool, error) {
	ran, err := store.Elect(ctx, p.Pool, int64(purgeLock)+id, func(conn *pgxpool.Conn) error { return p.run(ctx, conn, id) })
	if err != nil && !ran {
		return false, fmt.Errorf("qstash: run purge: %w", err)
	}
	return ran, err
}

// run works through a purge's chunks; the caller holds the purge's lock.
func (p *Purger) run(ctx context.Context, conn *pgxpool.Conn, id int64) error {
	pi, err := p.get(ctx, id)
	if err != nil {
		return err
	}
	if pi.State != Running {
		return ErrWrongState
	}
	c, err := p.client(pi.Region)
	if err != nil {
		return err
	}
	overrides := http.Header{}
	for k, v := range pi.Overrides {
		overrides.Set(k, v)
	}
	maxWaits := p.maxRateWaits()
	for {
		ids, err := p.nextChunk(ctx, conn, id)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			_, err := conn.Exec(ctx, `UPDATE ops.dlq_purges SET state = 'done', note = '', finished_at = now() WHERE id = $1`, id)
			return err
		}
		// The chunk's own calls: not those others make with the same
		// Client meanwhile (the queue sampler, pages, other purges).
		start, cc := time.Now(), &CallCounter{}
		cctx := WithCallCounter(ctx, cc)
		var res chunkResult
		if pi.Kind == KindRetry {
			res, err = p.retryChunk(cctx, c, ids, overrides, maxWaits)
		} else {
			res, err = p.deleteChunk(cctx, c, ids, maxWaits)
		}
		if rerr := p.record(ctx, conn, id, res, cc.Calls(), time.Since(start).Milliseconds()); rerr != nil {
			return errors.Join(err, rerr)
		}
		if err != nil {
			_, uerr := conn.Exec(ctx, `UPDATE ops.dlq_purges SET state = 'paused', note = $2 WHERE id = $1`, id, "paused: "+reasonOf(err))
			return errors.Join(err, uerr)
		}
	}
}

// chunkResult is what one chunk of a run did: each id's outcome (ids
// without one are sent again on resume) and the counts.
type chunkResult struct {
	items                          map[string]itemOutcome
	deleted, retried, gone, failed int
}

// record writes a chunk's outcomes (items and counts), its calls and its
// time in one transaction.
func (p *Purger) record(ctx context.Context, conn *pgxpool.Conn, id int64, res chunkResult, calls, ms int64) error {
	byState := map[itemOutcome][]string{}
	for dlqID, o := range res.items {
		byState[o] = append(byState[o], dlqID)
	}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for o, ids := range byState {
			if _, err := tx.Exec(ctx, `UPDATE ops.dlq_purge_items SET state = $3, new_message_id = $4, error = $5
				WHERE purge_id = $1 AND dlq_id = ANY($2)`, id, ids, o.state, o.messageID, o.err); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE ops.dlq_purges SET deleted = deleted + $2, gone = gone + $3, retried = retried + $4,
			failed = failed + $5, api_calls = api_calls + $6, elapsed_ms = elapsed_ms + $7, note = '' WHERE id = $1`,
			id, res.deleted, res.gone, res.retried, res.failed, calls, ms)
		return err
	})
	if err != nil {
		return fmt.Errorf("qstash: record chunk: %w", err)
	}
	return nil
}

// nextChunk marks the next (at most 100) ids as sent and returns them.
// Ids left "sent" by a crash come first: deleting them again is safe (a
// delete by id is idempotent; what is gone counts as gone).
func (p *Purger) nextChunk(ctx context.Context, conn *pgxpool.Conn, id int64) ([]string, error) {
	rows, err := conn.Query(ctx, `
		UPDATE ops.dlq_purge_items SET state = 'sent'
		WHERE purge_id = $1 AND dlq_id IN (
		    SELECT dlq_id FROM ops.dlq_purge_items WHERE purge_id = $1 AND state IN ('sent', 'frozen')
		    ORDER BY state = 'frozen', seq LIMIT $2)
		RETURNING dlq_id`, id, MaxPage)
	if err != nil {
		return nil, fmt.Errorf("qstash: next chunk: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// deleteChunk deletes a chunk of frozen ids by explicit id, waiting out
// 429s up to maxWaits in a row. QStash says how many it deleted, not
// which: when some were already gone, every id of the chunk is "mixed"
// (undo skips those rather than deliver a message twice).
func (p *Purger) deleteChunk(ctx context.Context, c *Client, ids []string, maxWaits int) (chunkResult, error) {
	var n int
	err := patient(ctx, maxWaits, func() error {
		var err error
		n, err = c.DeleteDLQByIDs(ctx, ids)
		return err
	})
	if err != nil {
		return chunkResult{}, err
	}
	res := chunkResult{items: make(map[string]itemOutcome, len(ids)), deleted: n, gone: len(ids) - n}
	state := "done"
	if n < len(ids) {
		state = "mixed"
	}
	for _, id := range ids {
		res.items[id] = itemOutcome{state: state}
	}
	return res, nil
}

// Interrupted lists purges left running (by a crash or a restart).
func (p *Purger) Interrupted(ctx context.Context) ([]int64, error) {
	rows, err := p.Pool.Query(ctx, `SELECT id FROM ops.dlq_purges WHERE state = 'running' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("qstash: interrupted purges: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
