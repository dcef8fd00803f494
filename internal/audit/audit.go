// Package audit writes and reads the console's append-only audit log
// (ops.audit_events): who did what, to which target, why, and how it went.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Results an event can record.
const (
	Success = "success"
	Failure = "failure"
	Denied  = "denied"
	Error   = "error"
	// Intent is written before a destructive action starts; its outcome
	// follows as a second event.
	Intent = "intent"
)

// Results lists every result value, for filters.
var Results = []string{Success, Failure, Denied, Error, Intent}

// Entry is one audit event to record.
type Entry struct {
	OperatorID int64
	Operator   string
	Role       string
	ClientIP   string
	Action     string
	Target     string
	Reason     string
	Result     string
	RequestID  string
	// Details is stored as JSON after secrets are redacted.
	Details map[string]any
}

// Event is a recorded audit event.
type Event struct {
	Entry
	ID int64
	At time.Time
	// DetailsJSON is the stored JSON text of Details.
	DetailsJSON string
}

// Log appends to and reads the audit log.
type Log struct {
	pool *pgxpool.Pool
}

// New returns a Log over the console's own database.
func New(pool *pgxpool.Pool) *Log { return &Log{pool: pool} }

// Execer runs a statement: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Record appends e. Secrets in Details are redacted first.
func (l *Log) Record(ctx context.Context, e Entry) error { return RecordIn(ctx, l.pool, e) }

// RecordIn appends e through q, so that an action and its audit event
// commit or fail together in one transaction.
func RecordIn(ctx context.Context, q Execer, e Entry) error {
	if e.Action == "" || e.Result == "" {
		return fmt.Errorf("audit: action and result are required")
	}
	details, err := json.Marshal(Redact(e.Details))
	if err != nil {
		return fmt.Errorf("audit: details: %w", err)
	}
	var opID *int64
	if e.OperatorID != 0 {
		opID = &e.OperatorID
	}
	_, err = q.Exec(ctx, `
		INSERT INTO ops.audit_events (operator_id, operator, role, client_ip, action, target, reason, result, request_id, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		opID, clip(e.Operator, 320), e.Role, clip(e.ClientIP, 64), e.Action, clip(e.Target, 500),
		clip(e.Reason, 2000), e.Result, clip(e.RequestID, 100), details)
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// secretWords mark detail keys whose values are never stored.
var secretWords = []string{"password", "passwd", "token", "secret", "authorization", "cookie", "api_key", "apikey", "credential", "database_url", "dsn", "signing_key", "private_key"}

// Redact returns a copy of details with the values of secret-looking keys
// replaced by "[redacted]", at any depth.
func Redact(details map[string]any) map[string]any {
	if details == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(details))
	for k, v := range details {
		if IsSecretKey(k) {
			out[k] = "[redacted]"
			continue
		}
		out[k] = redactValue(v)
	}
	return out
}

func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return Redact(x)
	case []any:
		y := make([]any, len(x))
		for i := range x {
			y[i] = redactValue(x[i])
		}
		return y
	default:
		return v
	}
}

// IsSecretKey reports whether a key's name marks a secret value
// (password, token, database_url, …); such values are never shown or kept.
func IsSecretKey(k string) bool {
	lk := strings.ToLower(k)
	for _, w := range secretWords {
		if strings.Contains(lk, w) {
			return true
		}
	}
	return false
}
