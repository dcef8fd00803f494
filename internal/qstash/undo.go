package qstash

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/store"
)

// undoLock is the base of the advisory lock that lets one undo at a time
// work on a purge (key: undoLock + purge id).
const undoLock = 0x756e646f00000000 // "undo"

// DefaultDedupWindow is how long after an attempt an undo still sends a
// message again with the same deduplication id: QStash remembers an id
// for 10 minutes; a minute is kept in hand for clocks and slow calls.
const DefaultDedupWindow = 9 * time.Minute

// undoBatch is how many archived messages an undo reads at a time.
const undoBatch = 100

// maxTransient bounds the retries of one message after a 5xx or a broken
// connection (safe: the deduplication id makes a repeat harmless).
const maxTransient = 3

// maxFailures is how many failure reasons an UndoResult keeps.
const maxFailures = 5

// ErrBusy says another undo of the same purge is running.
var ErrBusy = errors.New("qstash: an undo of this purge is already running")

// UndoResult is what one Undo did.
type UndoResult struct {
	// Republished counts the messages this undo republished (QStash
	// accepted them); Deduplicated of them had reached QStash in an
	// earlier, unrecorded attempt, so nothing new was delivered.
	Republished  int
	Deduplicated int
	// AlreadyRepublished counts those an earlier undo had recorded: they
	// were not sent again.
	AlreadyRepublished int
	// Failed counts the messages QStash refused this time (Failures holds
	// the first few reasons); a later undo tries them again.
	Failed   int
	Failures []string
	// Uncertain counts messages an earlier attempt may have published
	// longer ago than QStash's deduplication window: sending them again
	// could deliver them twice, so they are left for a person to check.
	Uncertain int
	// Remaining counts the messages not republished yet for another reason
	// (the undo stopped): a later undo continues with them.
	Remaining int
	// APICalls counts this undo's own API requests.
	APICalls int
}

// String sums the result up in one sentence.
func (r UndoResult) String() string {
	s := fmt.Sprintf("%d republished", r.Republished)
	if r.Deduplicated > 0 {
		s += fmt.Sprintf(" (%d had already reached QStash)", r.Deduplicated)
	}
	s += fmt.Sprintf(", %d already republished before, %d failed, %d remaining", r.AlreadyRepublished, r.Failed, r.Remaining)
	if r.Uncertain > 0 {
		s += fmt.Sprintf(", %d uncertain (an earlier attempt may have published them before QStash's 10-minute deduplication window; check their destinations)",
			r.Uncertain)
	}
	if len(r.Failures) > 0 {
		s += "; first failures: " + strings.Join(r.Failures, "; ")
	}
	return s
}

// Details returns the result as audit details.
func (r UndoResult) Details() map[string]any {
	return map[string]any{"republished": r.Republished, "deduplicated": r.Deduplicated,
		"already_republished": r.AlreadyRepublished, "failed": r.Failed, "failures": r.Failures,
		"uncertain": r.Uncertain, "remaining": r.Remaining, "api_calls": r.APICalls}
}

// UndoStopped says an undo stopped before the end (rate limited past the
// bound, QStash unavailable, the context ended); a later Undo continues
// where it stopped. Reason is safe to show.
type UndoStopped struct {
	Reason string
	Err    error
}

// Error says why the undo stopped.
func (e *UndoStopped) Error() string { return "qstash: undo stopped: " + e.Reason }

// Unwrap returns the cause.
func (e *UndoStopped) Unwrap() error { return e.Err }

// dedupSafe is what may appear in a deduplication id as is.
var dedupSafe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,96}$`)

// DedupID is the deduplication id of one archived message of a purge:
// "purge-<purge>-<dlqId>", or "purgex-<purge>-<hash>" when the dlqId has a
// character QStash may refuse in an id (it refuses ':') or is long.
func DedupID(purge int64, dlqID string) string {
	if dedupSafe.MatchString(dlqID) {
		return "purge-" + strconv.FormatInt(purge, 10) + "-" + dlqID
	}
	sum := sha256.Sum256([]byte(dlqID))
	return "purgex-" + strconv.FormatInt(purge, 10) + "-" + hex.EncodeToString(sum[:16])
}

// Undo republishes, exactly as they were, the archived messages the purge
// deleted, each with its own deduplication id, recording each message's
// outcome as it goes: running it again never delivers a message twice.
// A message QStash refuses is recorded as failed and skipped; 429s are
// waited out up to MaxRateWaits in a row. When that bound or ctx runs out,
// or QStash is unavailable, it stops with *UndoStopped and a later Undo
// continues with what is not republished yet, failed messages included.
// Messages of chunks in which some ids were already gone are never
// republished: the purge may not have deleted them.
func (p *Purger) Undo(ctx context.Context, id int64) (UndoResult, error) {
	var res UndoResult
	ran, err := store.Elect(ctx, p.Pool, int64(undoLock)+id, func(conn *pgxpool.Conn) error {
		var uerr error
		res, uerr = p.undo(ctx, conn, id)
		return uerr
	})
	if !ran {
		if err == nil {
			return res, ErrBusy
		}
		return res, fmt.Errorf("qstash: undo purge %d: %w", id, err)
	}
	return res, err
}

// undoItem is one archived message an undo republishes.
type undoItem struct {
	seq   int
	dlqID string
	msg   Message
	// inDoubt is set when an earlier attempt may have reached QStash;
	// ageMS is its age.
	inDoubt bool
	ageMS   int64
}

// undo works through a purge's messages; the caller holds the undo lock.
func (p *Purger) undo(ctx context.Context, conn *pgxpool.Conn, id int64) (UndoResult, error) {
	var res UndoResult
	pi, err := p.Get(ctx, id)
	if err != nil {
		return res, err
	}
	if pi.Kind != KindPurge || (pi.State != Done && pi.State != Undone) {
		return res, ErrWrongState
	}
	if pi.ArchivePruned {
		return res, ErrArchivePruned
	}
	c, err := p.client(pi.Region)
	if err != nil {
		return res, err
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM ops.dlq_purge_items WHERE purge_id = $1 AND state = 'republished'`, id).
		Scan(&res.AlreadyRepublished); err != nil {
		return res, fmt.Errorf("qstash: undo purge %d: %w", id, err)
	}
	cc := &CallCounter{}
	cctx := WithCallCounter(ctx, cc)
	var stop error
	last := -1
	for stop == nil {
		items, err := p.undoItems(ctx, conn, id, last)
		if err != nil {
			stop = &UndoStopped{Reason: "reading the archive failed", Err: err}
			break
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			last = it.seq
			if stop = p.undoOne(cctx, conn, c, id, it, &res); stop != nil {
				break
			}
		}
	}
	res.APICalls = int(cc.Calls())
	return res, errors.Join(stop, p.recordUndo(ctx, conn, id, &res))
}

// undoItems reads the next messages to republish after seq last.
func (p *Purger) undoItems(ctx context.Context, conn *pgxpool.Conn, id int64, last int) ([]undoItem, error) {
	rows, err := conn.Query(ctx, `
		SELECT seq, dlq_id, message, undo_attempted_at IS NOT NULL,
		       COALESCE((extract(epoch FROM now() - undo_attempted_at) * 1000)::bigint, 0)
		FROM ops.dlq_purge_items WHERE purge_id = $1 AND state = 'done' AND seq > $2
		ORDER BY seq LIMIT $3`, id, last, undoBatch)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (undoItem, error) {
		var it undoItem
		var doc []byte
		if err := r.Scan(&it.seq, &it.dlqID, &doc, &it.inDoubt, &it.ageMS); err != nil {
			return it, err
		}
		if err := json.Unmarshal(doc, &it.msg); err != nil {
			return it, fmt.Errorf("archived message %s: %w", it.dlqID, err)
		}
		return it, nil
	})
}

// undoOne republishes one message and records its outcome; it returns a
// non-nil error only when the undo must stop.
func (p *Purger) undoOne(ctx context.Context, conn *pgxpool.Conn, c *Client, id int64, it undoItem, res *UndoResult) error {
	if it.inDoubt && time.Duration(it.ageMS)*time.Millisecond > p.dedupWindow() {
		res.Uncertain++
		return nil
	}
	// An outcome is recorded even as ctx ends.
	rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	pub, err := RepublishOf(it.msg)
	if err == nil {
		pub.DeduplicationID = DedupID(id, it.dlqID)
		_, _, err = pub.request()
	}
	if err != nil {
		return p.undoFailed(rec, conn, id, it, err, res)
	}
	if _, err := conn.Exec(ctx, `UPDATE ops.dlq_purge_items SET undo_attempted_at = COALESCE(undo_attempted_at, now()),
		undo_attempts = undo_attempts + 1 WHERE purge_id = $1 AND dlq_id = $2`, id, it.dlqID); err != nil {
		return &UndoStopped{Reason: "recording an attempt failed", Err: err}
	}
	out, err := p.publishWaiting(ctx, c, pub)
	if err == nil {
		if _, err := conn.Exec(rec, `UPDATE ops.dlq_purge_items SET state = 'republished', undo_error = '', undo_message_id = $3,
			republished_at = now() WHERE purge_id = $1 AND dlq_id = $2`, id, it.dlqID, clipText(out.MessageID, 200)); err != nil {
			return &UndoStopped{Reason: "recording a republished message failed (undo again: it will not be delivered twice)", Err: err}
		}
		res.Republished++
		if out.Deduplicated {
			res.Deduplicated++
		}
		return nil
	}
	if refused(err) {
		return p.undoFailed(rec, conn, id, it, err, res)
	}
	if notAccepted(err) && !it.inDoubt {
		// QStash surely did not take this attempt: the message is not in
		// doubt (a later undo sends it whenever it runs).
		_, _ = conn.Exec(rec, `UPDATE ops.dlq_purge_items SET undo_attempted_at = NULL WHERE purge_id = $1 AND dlq_id = $2`, id, it.dlqID)
	}
	return &UndoStopped{Reason: fmt.Sprintf("message %s: %s", it.dlqID, reasonOf(err)), Err: err}
}

// undoFailed records that QStash refused a message (or that it cannot be
// sent as archived). A message no attempt may have published before is
// no longer in doubt.
func (p *Purger) undoFailed(ctx context.Context, conn *pgxpool.Conn, id int64, it undoItem, cause error, res *UndoResult) error {
	reason := reasonOf(cause)
	if _, err := conn.Exec(ctx, `UPDATE ops.dlq_purge_items SET undo_error = $3,
		undo_attempted_at = CASE WHEN $4 THEN undo_attempted_at END WHERE purge_id = $1 AND dlq_id = $2`,
		id, it.dlqID, reason, it.inDoubt); err != nil {
		return &UndoStopped{Reason: "recording a failed message failed", Err: err}
	}
	res.Failed++
	if len(res.Failures) < maxFailures {
		res.Failures = append(res.Failures, it.dlqID+": "+reason)
	}
	return nil
}

// publishWaiting publishes pub, waiting out up to MaxRateWaits 429s in a
// row and retrying a 5xx or a broken connection up to maxTransient times
// (the deduplication id makes a repeat harmless).
func (p *Purger) publishWaiting(ctx context.Context, c *Client, pub Publish) (Published, error) {
	waits, transient := 0, 0
	for {
		out, err := c.Publish(ctx, pub)
		if err == nil || ctx.Err() != nil || refused(err) {
			return out, err
		}
		d, limited := IsRateLimited(err)
		switch {
		case limited && waits < p.maxRateWaits():
			waits++
		case !limited && retryable(err) && transient < maxTransient:
			transient++
			d = time.Duration(100<<transient) * time.Millisecond
		case limited:
			return out, fmt.Errorf("still rate limited after %d waits: %w", waits, err)
		default:
			return out, err
		}
		if err := sleep(ctx, d); err != nil {
			return out, err
		}
	}
}

// refused reports whether QStash refused this message for good (a 4xx but
// 401, 403, 408 and 429, which say nothing about the message), or it
// cannot be sent as archived.
func refused(err error) bool {
	if errors.Is(err, ErrUnpublishable) {
		return true
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 {
		return false
	}
	switch ae.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return true
}

// retryable reports whether a failed call may succeed if sent again: a
// 5xx, a 408 or no answer at all.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusRequestTimeout
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// notAccepted reports whether QStash answered err with a status that
// says it did not take the message (any 4xx).
func notAccepted(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500
}

// recordUndo records the purge's figures after an undo: how many of its
// messages are republished, the undo's calls, and "undone" once nothing
// is left to republish (else a note of what is).
func (p *Purger) recordUndo(ctx context.Context, conn *pgxpool.Conn, id int64, res *UndoResult) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var left int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM ops.dlq_purge_items WHERE purge_id = $1 AND state = 'done'`, id).Scan(&left); err != nil {
		return fmt.Errorf("qstash: undo purge %d: %w", id, err)
	}
	res.Remaining = max(left-res.Failed-res.Uncertain, 0)
	note := ""
	if left > 0 {
		note = clipText("undo: "+res.String(), 1000)
	}
	_, err := conn.Exec(ctx, `UPDATE ops.dlq_purges SET
		republished = (SELECT count(*) FROM ops.dlq_purge_items WHERE purge_id = $1 AND state = 'republished'),
		undo_api_calls = undo_api_calls + $2, note = $3,
		state = CASE WHEN $4 THEN 'undone' ELSE state END
		WHERE id = $1`, id, res.APICalls, note, left == 0)
	if err != nil {
		return fmt.Errorf("qstash: undo purge %d: %w", id, err)
	}
	return nil
}

func (p *Purger) dedupWindow() time.Duration {
	if p.DedupWindow > 0 {
		return p.DedupWindow
	}
	return DefaultDedupWindow
}

func (p *Purger) maxRateWaits() int {
	if p.MaxRateWaits > 0 {
		return p.MaxRateWaits
	}
	return 30
}
