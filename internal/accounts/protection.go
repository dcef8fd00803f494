package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Protection is an account's entry on the protected list.
type Protection struct {
	Reason string
	By     string
	At     time.Time
}

// Changes of an account's protection, as kept in the history.
const (
	// ChangeProtect protected an account that was not protected.
	ChangeProtect = "protect"
	// ChangeReason protected a protected account again with another
	// reason; the change keeps the old one.
	ChangeReason = "change"
	// ChangeUnprotect removed the protection.
	ChangeUnprotect = "unprotect"
)

// ProtectionChange is one change of an account's protection
// (ops.protected_account_history).
type ProtectionChange struct {
	At     time.Time
	Kind   string // "user" or "tenant"
	ID     string
	Change string // ChangeProtect, ChangeReason or ChangeUnprotect
	// Reason is the new reason (for ChangeUnprotect, why it was removed);
	// OldReason and OldBy are the protection it replaced or removed.
	Reason    string
	OldReason string
	OldBy     string
	By        string
}

// ErrNotProtected says an account to unprotect is not protected.
var ErrNotProtected = errors.New("the account is not protected")

// historyLimit is how many protection changes an account page lists.
const historyLimit = 50

// SetProtection protects (protect) or unprotects an account for reason,
// by an operator, and keeps the change in the history, in one
// transaction: protecting a protected account changes its reason (the
// change keeps the old one, nothing is overwritten silently), and
// unprotecting one that is not protected is ErrNotProtected. Concurrent
// changes of one account are serialised.
func (s *Store) SetProtection(ctx context.Context, kind, id string, protect bool, reason, by string) (ProtectionChange, error) {
	ch := ProtectionChange{Kind: kind, ID: id, Reason: reason, By: by, Change: ChangeProtect}
	if (kind != "user" && kind != "tenant") || !IsUUID(id) || reason == "" {
		return ch, fmt.Errorf("accounts: protection: a user or tenant id and a reason are required")
	}
	err := pgx.BeginFunc(ctx, s.Console, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('ops.protected_accounts'), hashtext($1 || ':' || lower($2)))`, kind, id); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT reason, set_by FROM ops.protected_accounts WHERE kind = $1 AND id = $2::uuid`, kind, id).
			Scan(&ch.OldReason, &ch.OldBy)
		was := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		switch {
		case !protect && !was:
			return ErrNotProtected
		case !protect:
			ch.Change = ChangeUnprotect
			_, err = tx.Exec(ctx, `DELETE FROM ops.protected_accounts WHERE kind = $1 AND id = $2::uuid`, kind, id)
		default:
			if was {
				ch.Change = ChangeReason
			}
			_, err = tx.Exec(ctx, `INSERT INTO ops.protected_accounts (kind, id, reason, set_by) VALUES ($1, $2::uuid, $3, $4)
				ON CONFLICT (kind, id) DO UPDATE SET reason = EXCLUDED.reason, set_by = EXCLUDED.set_by, set_at = now()`, kind, id, reason, by)
		}
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO ops.protected_account_history (kind, account_id, change, reason, old_reason, old_by, changed_by)
			VALUES ($1, $2::uuid, $3, $4, $5, $6, $7) RETURNING at`, kind, id, ch.Change, reason, ch.OldReason, ch.OldBy, by).Scan(&ch.At)
	})
	if errors.Is(err, ErrNotProtected) {
		return ch, err
	}
	if err != nil {
		return ch, fmt.Errorf("accounts: protection: %w", err)
	}
	return ch, nil
}

// protection returns the account's protection, nil when none.
func (s *Store) protection(ctx context.Context, kind, id string) (*Protection, error) {
	var p Protection
	err := s.Console.QueryRow(ctx, `SELECT reason, set_by, set_at FROM ops.protected_accounts WHERE kind = $1 AND id = $2::uuid`, kind, id).
		Scan(&p.Reason, &p.By, &p.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: protected: %w", err)
	}
	return &p, nil
}

// history returns the newest protection changes of the accounts given as
// kind, id pairs, newest first.
func (s *Store) history(ctx context.Context, pairs []string) ([]ProtectionChange, error) {
	var kinds, ids []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if IsUUID(pairs[i+1]) {
			kinds, ids = append(kinds, pairs[i]), append(ids, pairs[i+1])
		}
	}
	rows, err := s.Console.Query(ctx, `
		SELECT h.at, h.kind, h.account_id::text, h.change, h.reason, h.old_reason, h.old_by, h.changed_by
		FROM unnest($1::text[], $2::uuid[]) AS a(kind, id)
		CROSS JOIN LATERAL (SELECT * FROM ops.protected_account_history h
		                    WHERE h.kind = a.kind AND h.account_id = a.id ORDER BY h.id DESC LIMIT $3) h
		ORDER BY h.id DESC`, kinds, ids, historyLimit)
	if err != nil {
		return nil, fmt.Errorf("accounts: protection history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProtectionChange, error) {
		var c ProtectionChange
		err := r.Scan(&c.At, &c.Kind, &c.ID, &c.Change, &c.Reason, &c.OldReason, &c.OldBy, &c.By)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: protection history: %w", err)
	}
	return out, nil
}
