// Package audit writes and reads the console's append-only audit log
// (ops.audit_events): who did what, to which target, why, and how it went.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/secret"
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
	// Account names the platform account the event concerns (zero: none),
	// by exact identifiers the account page selects its events by.
	Account Account
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
	acct := e.Account.columns()
	_, err = q.Exec(ctx, `
		INSERT INTO ops.audit_events (operator_id, operator, role, client_ip, action, target, reason, result, request_id, details,
		                              account_user_id, account_tenant_id, account_email, account_slug)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::uuid, $12::uuid, $13, $14)`,
		opID, clip(e.Operator, 320), e.Role, clip(e.ClientIP, 64), e.Action, clip(e.Target, 500),
		clip(e.Reason, 2000), e.Result, clip(e.RequestID, 100), details, acct[0], acct[1], acct[2], acct[3])
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

// Redact returns a copy of details with the values of secret-looking keys
// replaced by Redacted, at any depth.
func Redact(details map[string]any) map[string]any {
	if details == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(details))
	for k, v := range details {
		if IsSecretKey(k) {
			out[k] = Redacted
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
// (password, token, database_url, *_KEY, …); such values are never shown
// or kept.
func IsSecretKey(k string) bool { return secret.IsName(k) }

// Redacted replaces a secret in the audit log.
const Redacted = "[redacted]"

// RedactValue returns a value someone typed or a system returned, named
// name (a filter, a parameter), ready to keep: all of it redacted when
// the name marks a secret or the value is a token, else each password in
// a URL, each secret-named parameter and each token-looking word in it.
func RedactValue(name, value string) string {
	return secret.Mask(name, value, func(string) string { return Redacted })
}

// RedactQuery encodes q as a query string with RedactValue applied to
// every value, keeping the redaction marks readable.
func RedactQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			r := strings.ReplaceAll(url.QueryEscape(RedactValue(k, v)), url.QueryEscape(Redacted), Redacted)
			parts = append(parts, url.QueryEscape(k)+"="+r)
		}
	}
	return strings.Join(parts, "&")
}

// RedactMap returns a copy of m with RedactValue applied to every value,
// for filters and labels kept in audit details.
func RedactMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = RedactValue(k, v)
	}
	return out
}
