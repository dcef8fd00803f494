package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Errors of single sign-on admission; callers compare with errors.Is.
var (
	ErrNotInvited  = errors.New("this email has not been invited to the console")
	ErrSSOMismatch = errors.New("this operator is bound to another identity at the identity provider")
)

// claimInviter is what invited_by says for an operator created from a
// groups claim rather than by an admin.
const claimInviter = "groups claim"

// SSOIdentity is a person the identity provider vouched for, as the
// console needs it to admit them.
type SSOIdentity struct {
	Issuer  string
	Subject string
	Email   string
	// ClaimRole is the role the groups claim maps to; "" when no group
	// maps to a role.
	ClaimRole Role
	// ClaimConfigured says a groups claim is configured, so that for
	// operators created from it the claim is the source of truth.
	ClaimConfigured bool
}

// ssoRow is an operator as admission needs it.
type ssoRow struct {
	id            int64
	role          Role
	demo          bool
	disabled      bool
	roleFromClaim bool
	issuer        *string
	subject       *string
}

const ssoRowColumns = `id, role, is_demo, disabled_at IS NOT NULL, role_from_claim, sso_issuer, sso_subject`

func scanSSORow(row pgx.Row) (ssoRow, error) {
	var r ssoRow
	var role string
	err := row.Scan(&r.id, &role, &r.demo, &r.disabled, &r.roleFromClaim, &r.issuer, &r.subject)
	r.role = Role(role)
	return r, err
}

// AdmitSSO admits a single sign-on in one transaction. The operator is
// the one bound to (issuer, subject), else the one with this email, which
// is then bound to the identity; an email bound to another identity is
// refused with ErrSSOMismatch. Without such an operator, one is created
// when the groups claim maps to a role, and ErrNotInvited is returned
// otherwise. For an operator created from the claim the claim stays the
// source of truth while one is configured: its role follows ClaimRole,
// and ErrNotInvited is returned once no group maps to a role. Disabled
// operators get ErrDisabled, demo operators outside demo mode
// ErrDemoInProd. The email of an operator already bound is not changed.
func (s *Store) AdmitSSO(ctx context.Context, in SSOIdentity) (Account, error) {
	if in.Issuer == "" || in.Subject == "" {
		return Account{}, errors.New("auth: admit sso: issuer and subject are required")
	}
	email, err := ValidateEmail(in.Email)
	if err != nil {
		return Account{}, fmt.Errorf("auth: admit sso: %w", err)
	}
	if in.ClaimRole != "" && !in.ClaimRole.Valid() {
		return Account{}, fmt.Errorf("auth: admit sso: unknown claim role %q", in.ClaimRole)
	}
	var a Account
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, err := s.admit(ctx, tx, in, email)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE ops.operators SET last_login_at = now(), last_login_method = 'sso' WHERE id = $1`, id); err != nil {
			return err
		}
		a, err = scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM ops.operators o WHERE o.id = $1`, id))
		return err
	})
	switch {
	case err == nil:
		return a, nil
	case errors.Is(err, ErrNotInvited), errors.Is(err, ErrSSOMismatch), errors.Is(err, ErrDisabled), errors.Is(err, ErrDemoInProd):
		return Account{}, err
	default:
		return Account{}, fmt.Errorf("auth: admit sso: %w", err)
	}
}

// admit finds, binds or creates the operator for in and applies the
// claim's role; it returns the operator's id or why it is refused.
func (s *Store) admit(ctx context.Context, tx pgx.Tx, in SSOIdentity, email string) (int64, error) {
	r, err := scanSSORow(tx.QueryRow(ctx, `SELECT `+ssoRowColumns+` FROM ops.operators
		WHERE sso_issuer = $1 AND sso_subject = $2 FOR UPDATE`, in.Issuer, in.Subject))
	if errors.Is(err, pgx.ErrNoRows) {
		r, err = scanSSORow(tx.QueryRow(ctx, `SELECT `+ssoRowColumns+` FROM ops.operators
			WHERE email = $1 FOR UPDATE`, email))
		if errors.Is(err, pgx.ErrNoRows) {
			return s.createFromClaim(ctx, tx, in, email)
		}
		if err != nil {
			return 0, err
		}
		switch {
		case r.subject == nil:
			if _, err := tx.Exec(ctx, `UPDATE ops.operators SET sso_issuer = $2, sso_subject = $3, updated_at = now()
				WHERE id = $1`, r.id, in.Issuer, in.Subject); err != nil {
				return 0, err
			}
		case *r.issuer != in.Issuer || *r.subject != in.Subject:
			// Bound to someone else. (The same identity is found here only
			// when a concurrent sign-in bound it after the first lookup.)
			return 0, ErrSSOMismatch
		}
	} else if err != nil {
		return 0, err
	}
	switch {
	case r.disabled:
		return 0, ErrDisabled
	case r.demo && !s.AllowDemo:
		return 0, ErrDemoInProd
	}
	if r.roleFromClaim && in.ClaimConfigured {
		if in.ClaimRole == "" {
			return 0, ErrNotInvited
		}
		if in.ClaimRole != r.role {
			if _, err := tx.Exec(ctx, `UPDATE ops.operators SET role = $2, updated_at = now() WHERE id = $1`,
				r.id, string(in.ClaimRole)); err != nil {
				return 0, err
			}
		}
	}
	return r.id, nil
}

// createFromClaim creates an operator bound to in when the groups claim
// grants a role, and refuses with ErrNotInvited otherwise.
func (s *Store) createFromClaim(ctx context.Context, tx pgx.Tx, in SSOIdentity, email string) (int64, error) {
	if in.ClaimRole == "" {
		return 0, ErrNotInvited
	}
	var id int64
	err := tx.QueryRow(ctx, `
		INSERT INTO ops.operators (email, role, password_hash, role_from_claim, invited_by, sso_issuer, sso_subject)
		VALUES ($1, $2, '', true, $3, $4, $5) RETURNING id`,
		email, string(in.ClaimRole), claimInviter, in.Issuer, in.Subject).Scan(&id)
	return id, err
}

// InviteOperator adds an operator without a password, to sign in through
// single sign-on with this email. invitedBy names the admin who invited
// them. It fails with ErrEmailTaken when the email is already an
// operator's.
func (s *Store) InviteOperator(ctx context.Context, email string, role Role, invitedBy string) (Account, error) {
	e, err := ValidateEmail(email)
	if err != nil {
		return Account{}, err
	}
	if !role.Valid() {
		return Account{}, fmt.Errorf("unknown role %q", role)
	}
	a := Account{Email: e, Role: role}
	err = s.pool.QueryRow(ctx, `
		INSERT INTO ops.operators (email, role, password_hash, invited_by)
		VALUES ($1, $2, '', $3) RETURNING id, created_at`, e, string(role), invitedBy).Scan(&a.ID, &a.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Account{}, ErrEmailTaken
	}
	if err != nil {
		return Account{}, fmt.Errorf("auth: invite operator: %w", err)
	}
	return a, nil
}
