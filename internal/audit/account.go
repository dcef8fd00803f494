package audit

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Account names the platform account an event concerns by exact
// identifiers, kept in their own columns of ops.audit_events (never
// matched by a substring). An event about a user names the user's id and
// email and its tenant's id and slug; one about a tenant names the tenant
// only. Empty fields are stored as NULL; an id that is not a UUID is not
// stored.
type Account struct {
	UserID   string
	TenantID string
	// Email is the account's normalised email: callers normalise it
	// (accounts.NormalizeEmail), so that twins share it.
	Email string
	Slug  string
}

// IsZero reports whether a names no account.
func (a Account) IsZero() bool { return a == Account{} }

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// columns returns the values of account_user_id, account_tenant_id,
// account_email and account_slug: nil where empty or malformed.
func (a Account) columns() [4]any {
	var out [4]any
	if uuidRE.MatchString(a.UserID) {
		out[0] = strings.ToLower(a.UserID)
	}
	if uuidRE.MatchString(a.TenantID) {
		out[1] = strings.ToLower(a.TenantID)
	}
	if e := strings.TrimSpace(a.Email); e != "" {
		out[2] = clip(e, 320)
	}
	if s := strings.TrimSpace(a.Slug); s != "" {
		out[3] = clip(s, 200)
	}
	return out
}

// eventColumns are the columns scanEvents reads, in its order.
const eventColumns = `id, at, COALESCE(operator_id, 0), operator, role, client_ip, action, target, reason, result, request_id, details::text,
	COALESCE(account_user_id::text, ''), COALESCE(account_tenant_id::text, ''), COALESCE(account_email, ''), COALESCE(account_slug, '')`

func scanEvents(rows pgx.Rows, what string) ([]Event, error) {
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.ID, &e.At, &e.OperatorID, &e.Operator, &e.Role, &e.ClientIP, &e.Action,
			&e.Target, &e.Reason, &e.Result, &e.RequestID, &e.DetailsJSON,
			&e.Account.UserID, &e.Account.TenantID, &e.Account.Email, &e.Account.Slug); err != nil {
			return nil, fmt.Errorf("audit: %s: %w", what, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: %s: %w", what, err)
	}
	return out, nil
}

// AccountQuery selects the events about one account (see ForAccount).
type AccountQuery struct {
	// Account is the account: with a UserID a user's (with its email and
	// its tenant's id and slug), else a tenant's (id and slug).
	Account Account
	// Actions keeps only these actions (none: every action); Except drops
	// these.
	Actions []string
	Except  []string
	// Limit is the most events returned (default and maximum MaxPage).
	Limit int
}

// ForAccount returns the newest events about an account, newest first,
// by exact identifiers only. For a user: the events naming the user's id
// or its normalised email, and those naming its tenant (id or slug) but
// no user. For a tenant: every event naming its id or slug, its users'
// included. Events recorded before the account columns existed are found
// by their exact target ("user:<id>", "tenant:<id>", "tenant:<id> <slug>",
// "tenant:<slug>") among the account actions.
func (l *Log) ForAccount(ctx context.Context, q AccountQuery) ([]Event, error) {
	limit := q.Limit
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	a := q.Account
	col := a.columns()
	userPage := col[0] != nil
	var legacy []string
	if userPage {
		legacy = append(legacy, "user:"+col[0].(string))
	}
	if col[1] != nil {
		legacy = append(legacy, "tenant:"+col[1].(string))
		if col[3] != nil {
			legacy = append(legacy, "tenant:"+col[1].(string)+" "+col[3].(string))
		}
	}
	if col[3] != nil {
		legacy = append(legacy, "tenant:"+col[3].(string))
	}
	// One bounded index scan per identifier, so that a busy account or
	// tenant never makes the page scan the log.
	const keep = `(cardinality($6::text[]) = 0 OR action = ANY($6)) AND NOT (action = ANY($7))`
	const tenantOnly = `($8 OR (account_user_id IS NULL AND account_email IS NULL))`
	rows, err := l.pool.Query(ctx, `
		SELECT `+eventColumns+` FROM ops.audit_events WHERE id IN (
			(SELECT id FROM ops.audit_events WHERE account_user_id = $1::uuid AND `+keep+` ORDER BY id DESC LIMIT $9)
			UNION
			(SELECT id FROM ops.audit_events WHERE account_email = $3 AND `+keep+` ORDER BY id DESC LIMIT $9)
			UNION
			(SELECT id FROM ops.audit_events WHERE account_tenant_id = $2::uuid AND `+tenantOnly+` AND `+keep+` ORDER BY id DESC LIMIT $9)
			UNION
			(SELECT id FROM ops.audit_events WHERE account_slug = $4 AND `+tenantOnly+` AND `+keep+` ORDER BY id DESC LIMIT $9)
			UNION
			(SELECT id FROM ops.audit_events WHERE target = ANY($5::text[])
			   AND account_user_id IS NULL AND account_tenant_id IS NULL AND account_email IS NULL AND account_slug IS NULL
			   AND (action LIKE 'account.%' OR action = 'qstash.tenant.view') AND `+keep+` ORDER BY id DESC LIMIT $9))
		ORDER BY id DESC LIMIT $9`,
		col[0], col[1], col[2], col[3], legacy, nonNil(q.Actions), nonNil(q.Except), !userPage, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: account events: %w", err)
	}
	return scanEvents(rows, "account events")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
