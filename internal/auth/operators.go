package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors the store returns; callers compare with errors.Is.
var (
	ErrNotFound       = errors.New("operator not found")
	ErrEmailTaken     = errors.New("an operator with this email already exists")
	ErrLastAdmin      = errors.New("this would leave no active admin")
	ErrBadCredentials = errors.New("wrong email or password")
	ErrDisabled       = errors.New("operator is disabled")
	ErrDemoInProd     = errors.New("demo operators cannot sign in outside demo mode")
	ErrNoSession      = errors.New("no valid session")
)

// Store keeps operators, sessions and login attempts in schema ops.
type Store struct {
	pool *pgxpool.Pool
	gate *Gate
	// AllowDemo lets demo operators sign in; true only in demo mode.
	AllowDemo bool
}

// NewStore returns a Store over the console's own database, hashing
// passwords under a gate sized to the machine.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, gate: NewGate()} }

// Account is an operator account as the console shows it.
type Account struct {
	ID             int64
	Email          string
	Role           Role
	IsDemo         bool
	Disabled       bool
	CreatedAt      time.Time
	LastLoginAt    *time.Time
	ActiveSessions int
}

// NormalizeEmail trims and lower-cases an email address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidateEmail normalises email and checks that it is one plain address.
func ValidateEmail(email string) (string, error) {
	e := NormalizeEmail(email)
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", fmt.Errorf("%q is not a valid email address", email)
	}
	return e, nil
}

// CreateOperator adds an operator. Passwords shorter than
// MinPasswordLength are refused unless demo is true.
func (s *Store) CreateOperator(ctx context.Context, email string, role Role, password string, demo bool) (Account, error) {
	e, err := ValidateEmail(email)
	if err != nil {
		return Account{}, err
	}
	if !role.Valid() {
		return Account{}, fmt.Errorf("unknown role %q", role)
	}
	if !demo && len([]rune(password)) < MinPasswordLength {
		return Account{}, fmt.Errorf("password must be at least %d characters", MinPasswordLength)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return Account{}, err
	}
	a := Account{Email: e, Role: role, IsDemo: demo}
	err = s.pool.QueryRow(ctx, `
		INSERT INTO ops.operators (email, role, password_hash, is_demo)
		VALUES ($1, $2, $3, $4) RETURNING id, created_at`, e, string(role), hash, demo).Scan(&a.ID, &a.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Account{}, ErrEmailTaken
	}
	if err != nil {
		return Account{}, fmt.Errorf("auth: create operator: %w", err)
	}
	return a, nil
}

const accountColumns = `o.id, o.email, o.role, o.is_demo, o.disabled_at IS NOT NULL, o.created_at, o.last_login_at,
	(SELECT count(*) FROM ops.sessions s WHERE s.operator_id = o.id AND s.ended_at IS NULL AND s.expires_at > now())`

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	var role string
	err := row.Scan(&a.ID, &a.Email, &role, &a.IsDemo, &a.Disabled, &a.CreatedAt, &a.LastLoginAt, &a.ActiveSessions)
	a.Role = Role(role)
	return a, err
}

// Operators lists every operator, by email.
func (s *Store) Operators(ctx context.Context) ([]Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountColumns+` FROM ops.operators o ORDER BY o.email`)
	if err != nil {
		return nil, fmt.Errorf("auth: list operators: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("auth: list operators: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Operator returns one operator by id.
func (s *Store) Operator(ctx context.Context, id int64) (Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM ops.operators o WHERE o.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("auth: operator %d: %w", id, err)
	}
	return a, nil
}

// SetRole changes an operator's role and returns the role it had. It
// refuses to demote the last active admin.
func (s *Store) SetRole(ctx context.Context, id int64, role Role) (Role, error) {
	if !role.Valid() {
		return "", fmt.Errorf("unknown role %q", role)
	}
	var before Role
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var old string
		err := tx.QueryRow(ctx, `SELECT role FROM ops.operators WHERE id = $1 FOR UPDATE`, id).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		before = Role(old)
		if before == Admin && role != Admin {
			if err := requireOtherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE ops.operators SET role = $2, updated_at = now() WHERE id = $1`, id, string(role))
		return err
	})
	if err != nil {
		return "", wrap("set role", err)
	}
	return before, nil
}

// SetDisabled disables or enables an operator. Disabling ends all of the
// operator's sessions and refuses to disable the last active admin.
func (s *Store) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var role string
		err := tx.QueryRow(ctx, `SELECT role FROM ops.operators WHERE id = $1 FOR UPDATE`, id).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !disabled {
			_, err = tx.Exec(ctx, `UPDATE ops.operators SET disabled_at = NULL, updated_at = now() WHERE id = $1`, id)
			return err
		}
		if Role(role) == Admin {
			if err := requireOtherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err = tx.Exec(ctx, `UPDATE ops.operators SET disabled_at = COALESCE(disabled_at, now()), updated_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE ops.sessions SET ended_at = now() WHERE operator_id = $1 AND ended_at IS NULL`, id)
		return err
	})
	return wrap("set disabled", err)
}

// requireOtherAdmin fails unless an active admin other than id exists. The
// admin rows are locked so that two concurrent demotions cannot both pass.
func requireOtherAdmin(ctx context.Context, tx pgx.Tx, id int64) error {
	rows, err := tx.Query(ctx, `SELECT id FROM ops.operators WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1 FOR UPDATE`, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

func wrap(op string, err error) error {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrLastAdmin) {
		return err
	}
	return fmt.Errorf("auth: %s: %w", op, err)
}
