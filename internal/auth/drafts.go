package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DraftTTL is how long a form kept for a step-up can be offered again.
const DraftTTL = 15 * time.Minute

// ErrNoDraft says a kept form is unknown, expired or another session's.
var ErrNoDraft = errors.New("the form kept for you has expired or belongs to another session; fill it in again")

// Draft is a form refused for want of a fresh sign-in, kept as typed so
// that it can be offered again once the operator proved who they are.
type Draft struct {
	ID string
	// Action is the path the form posts to; ReturnTo the page it was on.
	Action   string
	ReturnTo string
	// Label says what the form does ("confirm purge #12").
	Label     string
	Fields    []Field
	CreatedAt time.Time
}

// Field is one form field as typed.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SaveDraft keeps d for the session of token for DraftTTL and returns
// the id it is named by.
func (s *Store) SaveDraft(ctx context.Context, token string, d Draft) (string, error) {
	id, err := randomToken()
	if err != nil {
		return "", err
	}
	fields, err := json.Marshal(d.Fields)
	if err != nil {
		return "", fmt.Errorf("auth: keep form: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO ops.step_up_drafts (id, session_hash, action, return_to, label, fields, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval)`,
		id, hashToken(token), d.Action, d.ReturnTo, d.Label, fields, DraftTTL.String()); err != nil {
		return "", fmt.Errorf("auth: keep form: %w", err)
	}
	return id, nil
}

// Draft returns the form kept as id for the session of token.
func (s *Store) Draft(ctx context.Context, token, id string) (Draft, error) {
	if id == "" || len(id) > 100 {
		return Draft{}, ErrNoDraft
	}
	d := Draft{ID: id}
	var fields []byte
	err := s.pool.QueryRow(ctx, `SELECT action, return_to, label, fields, created_at FROM ops.step_up_drafts
		WHERE id = $1 AND session_hash = $2 AND expires_at > now()`, id, hashToken(token)).
		Scan(&d.Action, &d.ReturnTo, &d.Label, &fields, &d.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Draft{}, ErrNoDraft
	}
	if err != nil {
		return Draft{}, fmt.Errorf("auth: kept form: %w", err)
	}
	if err := json.Unmarshal(fields, &d.Fields); err != nil {
		return Draft{}, fmt.Errorf("auth: kept form: %w", err)
	}
	return d, nil
}

// accessKeep is how long what sign-in and step-up keep for minutes (SSO
// flows, challenges, ceremonies, kept forms, password links) stays after
// it was used or expired: long enough to tell a replay from an unknown
// value, short enough that a flood of started sign-ins cannot pile up.
const accessKeep = time.Hour

// pruneAccess deletes kept forms, password links, SSO sign-ins in flight,
// sign-in challenges and passkey ceremonies used or expired more than
// accessKeep ago.
func (s *Store) pruneAccess(ctx context.Context) error {
	for _, q := range []string{
		`DELETE FROM ops.step_up_drafts WHERE expires_at < now() - $1::interval`,
		`DELETE FROM ops.password_resets WHERE COALESCE(used_at, expires_at) < now() - $1::interval`,
		`DELETE FROM ops.oidc_logins WHERE COALESCE(used_at, expires_at) < now() - $1::interval`,
		`DELETE FROM ops.login_challenges WHERE COALESCE(used_at, expires_at) < now() - $1::interval`,
		`DELETE FROM ops.webauthn_ceremonies WHERE COALESCE(used_at, expires_at) < now() - $1::interval`,
	} {
		if _, err := s.pool.Exec(ctx, q, accessKeep.String()); err != nil {
			return fmt.Errorf("auth: prune: %w", err)
		}
	}
	return nil
}
