package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxPage is the most events one page of the audit screen shows.
const MaxPage = 100

// MaxExport is the most events one CSV export holds.
const MaxExport = 100000

// Filter selects audit events. Zero fields match everything.
type Filter struct {
	Operator string // substring of the operator's email
	Action   string // action prefix, e.g. "operator." or "login"
	Target   string // substring of the target
	Result   string // one of Results
	From     time.Time
	To       time.Time // exclusive
	Before   int64     // keyset cursor: events with id < Before
	Limit    int
}

// ParseFilter reads a Filter from query parameters (operator, action,
// target, result, from, to as YYYY-MM-DD in UTC, before). It returns a
// clear error for a malformed value.
func ParseFilter(q url.Values) (Filter, error) {
	f := Filter{
		Operator: strings.TrimSpace(q.Get("operator")),
		Action:   strings.TrimSpace(q.Get("action")),
		Target:   strings.TrimSpace(q.Get("target")),
		Result:   strings.TrimSpace(q.Get("result")),
		Limit:    MaxPage,
	}
	for name, v := range map[string]string{"operator": f.Operator, "action": f.Action, "target": f.Target} {
		if len(v) > 200 {
			return f, fmt.Errorf("filter %s is longer than 200 characters", name)
		}
	}
	if f.Result != "" && !slices.Contains(Results, f.Result) {
		return f, fmt.Errorf("result %q is not one of %s", f.Result, strings.Join(Results, ", "))
	}
	var err error
	if f.From, err = parseDay(q.Get("from"), "from"); err != nil {
		return f, err
	}
	if f.To, err = parseDay(q.Get("to"), "to"); err != nil {
		return f, err
	}
	if !f.To.IsZero() {
		f.To = f.To.AddDate(0, 0, 1) // "to" includes the whole day
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, errors.New("from must not be after to")
	}
	if s := strings.TrimSpace(q.Get("before")); s != "" {
		if f.Before, err = strconv.ParseInt(s, 10, 64); err != nil || f.Before <= 0 {
			return f, fmt.Errorf("before %q is not a positive event id", s)
		}
	}
	return f, nil
}

func parseDay(s, name string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not a date (YYYY-MM-DD)", name, s)
	}
	return t, nil
}

// Query returns f as query parameters (without the cursor), for links.
func (f Filter) Query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("operator", f.Operator)
	set("action", f.Action)
	set("target", f.Target)
	set("result", f.Result)
	if !f.From.IsZero() {
		q.Set("from", f.From.Format("2006-01-02"))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.AddDate(0, 0, -1).Format("2006-01-02"))
	}
	return q
}

// likeEscape escapes LIKE wildcards so filters match literally.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// List returns the newest events matching f, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Event, error) {
	limit := f.Limit
	if limit <= 0 || limit > MaxExport {
		limit = MaxPage
	}
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	rows, err := l.pool.Query(ctx, `
		SELECT `+eventColumns+`
		FROM ops.audit_events
		WHERE ($1 = '' OR operator ILIKE '%' || $1 || '%')
		  AND ($2 = '' OR action LIKE $2 || '%')
		  AND ($3 = '' OR target ILIKE '%' || $3 || '%')
		  AND ($4 = '' OR result = $4)
		  AND ($5::timestamptz IS NULL OR at >= $5)
		  AND ($6::timestamptz IS NULL OR at < $6)
		  AND ($7 = 0 OR id < $7)
		ORDER BY id DESC
		LIMIT $8`,
		likeEscape(f.Operator), likeEscape(f.Action), likeEscape(f.Target), f.Result, from, to, f.Before, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return scanEvents(rows, "list")
}

// WriteCSV writes events as CSV with a header row, every cell quoted and
// defused (see defuse), so that no spreadsheet in any locale runs a cell
// as a formula.
func WriteCSV(w io.Writer, events []Event) error {
	bw := bufio.NewWriter(w)
	writeCSVRow(bw, []string{"id", "time_utc", "operator", "role", "client_ip", "action", "target", "reason", "result", "request_id", "details"})
	for _, e := range events {
		writeCSVRow(bw, []string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339), e.Operator, e.Role, e.ClientIP,
			e.Action, e.Target, e.Reason, e.Result, e.RequestID, e.DetailsJSON})
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("audit: csv: %w", err)
	}
	return nil
}

// writeCSVRow writes one record with every cell defused and quoted (RFC
// 4180: quotes doubled, CRLF line ends). Write errors stay in w.
func writeCSVRow(w *bufio.Writer, rec []string) {
	for i, cell := range rec {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteByte('"')
		w.WriteString(strings.ReplaceAll(defuse(cell), `"`, `""`))
		w.WriteByte('"')
	}
	w.WriteString("\r\n")
}

// formulaChars start a formula in some spreadsheet (with their full-width
// forms, which some convert); cellSeps split a cell in some locale or
// importer.
const (
	formulaChars = "=+-@\uff1d\uff0b\uff0d\uff20"
	cellSeps     = ",;\t|\r\n"
)

// defuse returns cell as text no spreadsheet runs: when a formula
// character starts it or follows a separator (spaces aside), or it starts
// with a tab or carriage return, the cell is prefixed with a quote, and so
// is each formula character after a separator, since a spreadsheet in
// another locale may split the cell there.
func defuse(cell string) string {
	var b strings.Builder
	risky := strings.HasPrefix(cell, "\t") || strings.HasPrefix(cell, "\r")
	boundary := true // at the start, or after a separator and spaces
	for i := 0; i < len(cell); {
		r, n := utf8.DecodeRuneInString(cell[i:])
		if boundary && strings.ContainsRune(formulaChars, r) {
			risky = true
			if i > 0 {
				b.WriteByte('\'')
			}
		}
		b.WriteString(cell[i : i+n])
		boundary = strings.ContainsRune(cellSeps, r) || boundary && r == ' '
		i += n
	}
	if !risky {
		return cell
	}
	return "'" + b.String()
}
