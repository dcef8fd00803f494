package handlers

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// UpstreamBudget bounds one upstream call (QStash, Redis, Fly) made while
// a page waits, leaving the rest of the page's budget to the console's
// own database.
const UpstreamBudget = 800 * time.Millisecond

// UnavailableError says a system a page needs did not answer, or not
// within the page's time budget. The error page names the system.
type UnavailableError struct {
	// System is named in the message, e.g. "the console's database".
	System string
	Err    error
}

func (e *UnavailableError) Error() string { return e.System + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Unavailable wraps err as system being unavailable.
func Unavailable(system string, err error) error {
	return &UnavailableError{System: system, Err: err}
}

// IsUnreachable reports whether err means an upstream did not answer (a
// deadline, a refused or broken connection) rather than answered with an
// error of its own.
func IsUnreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	var oe *net.OpError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || pgconn.Timeout(err) ||
		errors.Is(err, puddle.ErrClosedPool) || errors.As(err, &ce) || errors.As(err, &ne) || errors.As(err, &oe)
}

// IsBadInput reports whether err is Postgres refusing a value (SQLSTATE
// class 22, data exception: bad bytes, out of range, malformed literal).
func IsBadInput(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "22"
}
