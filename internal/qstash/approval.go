package qstash

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/audit"
)

// ApprovalPolicy says which bulk actions need a second operator: those of
// the listed kinds with more than Above messages (Above 0: every one).
// The zero policy asks for none.
type ApprovalPolicy struct {
	// Kinds are the bulk actions it covers (KindPurge, KindRetry).
	Kinds []string
	// Above is the message count above which approval is needed.
	Above int
	// Expiry is how long a request waits for approval.
	Expiry time.Duration
}

// Needs reports whether a bulk action of kind over count messages needs
// a second operator.
func (a ApprovalPolicy) Needs(kind string, count int) bool {
	if a.Expiry <= 0 {
		return false
	}
	for _, k := range a.Kinds {
		if k == kind {
			return count > a.Above
		}
	}
	return false
}

// Describe says the policy in words, for pages and the README's examples.
func (a ApprovalPolicy) Describe() string {
	if a.Expiry <= 0 || len(a.Kinds) == 0 {
		return "no bulk action needs a second operator"
	}
	plural := map[string]string{KindPurge: "purges", KindRetry: "bulk retries"}
	var kinds []string
	for _, k := range a.Kinds {
		kinds = append(kinds, plural[k])
	}
	what := strings.Join(kinds, " and ")
	if a.Above == 0 {
		return fmt.Sprintf("all %s need a second operator's approval within %s", what, shortDuration(a.Expiry))
	}
	return fmt.Sprintf("%s of more than %d messages need a second operator's approval within %s", what, a.Above, shortDuration(a.Expiry))
}

// shortDuration is d without its zero parts: 1h, 15m, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Errors of an approval.
var (
	// ErrOwnRequest: nobody approves their own request.
	ErrOwnRequest = errors.New("qstash: nobody approves their own request")
	// ErrExpired: the request waited longer than the policy allows.
	ErrExpired = errors.New("qstash: the request expired before anyone approved it")
)

// ConfirmOptions are what a confirmation adds to a previewed action.
type ConfirmOptions struct {
	// Overrides are the headers a retry sends with every chunk
	// (ParseOverrides); a purge takes none.
	Overrides http.Header
	// Approval, when positive, makes the confirmation a request that
	// waits that long for another operator's approval.
	Approval time.Duration
}

// Confirm moves a previewed purge to running; the caller then calls Run.
// The confirmation and its audit event commit together.
func (p *Purger) Confirm(ctx context.Context, id int64, e audit.Entry) error {
	_, err := p.ConfirmWith(ctx, id, e, ConfirmOptions{})
	return err
}

// ConfirmWith confirms a previewed action with o and returns its new
// state: Running (the caller then starts it) or, when o asks for an
// approval, AwaitingApproval. The confirmation and its audit event e
// commit together; e's operator is the requester an approval refuses.
func (p *Purger) ConfirmWith(ctx context.Context, id int64, e audit.Entry, o ConfirmOptions) (string, error) {
	overrides := map[string]string{}
	for k := range o.Overrides {
		overrides[k] = o.Overrides.Get(k)
	}
	doc, _ := json.Marshal(overrides)
	state := Running
	if o.Approval > 0 {
		state = AwaitingApproval
	}
	var opID *int64
	if e.OperatorID != 0 {
		opID = &e.OperatorID
	}
	err := pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE ops.dlq_purges SET state = $2, confirmed_by = $3, confirmed_at = now(), requested_by_id = $4,
			overrides = $5, approval_expires_at = CASE WHEN $6::bigint > 0 THEN now() + $6::bigint * interval '1 millisecond' END
			WHERE id = $1 AND state = 'previewed'`, id, state, e.Operator, opID, doc, o.Approval.Milliseconds())
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrWrongState
		}
		return audit.RecordIn(ctx, tx, e)
	})
	return state, err
}

// Approve lets a request for approval run, as the operator of e (whose
// intent is audited in the same transaction); the caller then starts it.
// It refuses the requester (ErrOwnRequest), a request past its expiry
// (ErrExpired) and anything not awaiting approval (ErrWrongState).
func (p *Purger) Approve(ctx context.Context, id int64, e audit.Entry) error {
	if err := p.ExpireRequests(ctx); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		var state, by string
		var byID *int64
		var expired bool
		err := tx.QueryRow(ctx, `SELECT state, COALESCE(confirmed_by, ''), requested_by_id, approval_expires_at <= now()
			FROM ops.dlq_purges WHERE id = $1 FOR UPDATE`, id).Scan(&state, &by, &byID, &expired)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		case state == Expired || (state == AwaitingApproval && expired):
			return ErrExpired
		case state != AwaitingApproval:
			return ErrWrongState
		case (byID != nil && *byID == e.OperatorID) || strings.EqualFold(by, e.Operator):
			return ErrOwnRequest
		}
		if _, err := tx.Exec(ctx, `UPDATE ops.dlq_purges SET state = 'running', approved_by = $2, approved_at = now() WHERE id = $1`,
			id, e.Operator); err != nil {
			return err
		}
		return audit.RecordIn(ctx, tx, e)
	})
}

// Reject turns down a request for approval (another operator rejects it,
// or its requester withdraws it) with e audited in the same transaction.
func (p *Purger) Reject(ctx context.Context, id int64, e audit.Entry) error {
	return pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE ops.dlq_purges SET state = 'rejected', rejected_by = $2, note = $3, finished_at = now()
			WHERE id = $1 AND state = 'awaiting_approval'`, id, e.Operator, clipText(e.Reason, maxReason))
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrWrongState
		}
		return audit.RecordIn(ctx, tx, e)
	})
}

// ExpireRequests expires the requests for approval past their expiry and
// audits each (as its requester, result failure), in one transaction.
func (p *Purger) ExpireRequests(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE ops.dlq_purges SET state = 'expired', note = $1, finished_at = now()
			WHERE state = 'awaiting_approval' AND approval_expires_at <= now()
			RETURNING id, kind, COALESCE(confirmed_by, ''), COALESCE(requested_by_id, 0), total`, expiredNote)
		if err != nil {
			return err
		}
		var events []audit.Entry
		for rows.Next() {
			var id, opID int64
			var kind, by string
			var total int
			if err := rows.Scan(&id, &kind, &by, &opID, &total); err != nil {
				return err
			}
			events = append(events, audit.Entry{OperatorID: opID, Operator: by, Action: Action(kind, "expire"), Target: Target(kind, id),
				Result: audit.Failure, Details: map[string]any{"error": expiredNote, "count": total}})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range events {
			if err := audit.RecordIn(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("qstash: expire requests: %w", err)
	}
	return nil
}

// expiredNote is the note of a request nobody approved in time.
const expiredNote = "no other operator approved it in time"

// Awaiting lists the requests waiting for a second operator, oldest first
// (a read only: those past their expiry are left out).
func (p *Purger) Awaiting(ctx context.Context) ([]PurgeInfo, error) {
	return p.list(ctx, `SELECT id FROM ops.dlq_purges WHERE state = 'awaiting_approval' AND approval_expires_at > now()
		ORDER BY id LIMIT 50`)
}

// Requests expires (and audits) the requests past their expiry, then
// lists those still waiting: the alert round calls it, so that expiry is
// recorded whether or not anyone opens the request.
func (p *Purger) Requests(ctx context.Context) ([]PurgeInfo, error) {
	if err := p.ExpireRequests(ctx); err != nil {
		return nil, err
	}
	return p.Awaiting(ctx)
}
