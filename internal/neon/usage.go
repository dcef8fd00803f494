package neon

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Limits are the connection limits read live from the server.
type Limits struct {
	MaxConnections    int
	SuperuserReserved int
	// Reserved is reserved_connections (PostgreSQL 16+; 0 before).
	Reserved int
	// Usable is what applications may use directly:
	// max_connections − superuser_reserved_connections − reserved_connections.
	Usable        int
	ServerVersion string
}

// ReadLimits reads max_connections and the reserved slots.
func ReadLimits(ctx context.Context, pool *pgxpool.Pool) (Limits, error) {
	var l Limits
	err := pool.QueryRow(ctx, `
		SELECT current_setting('max_connections')::int,
		       current_setting('superuser_reserved_connections')::int,
		       COALESCE(current_setting('reserved_connections', true), '0')::int,
		       current_setting('server_version')`).
		Scan(&l.MaxConnections, &l.SuperuserReserved, &l.Reserved, &l.ServerVersion)
	if err != nil {
		return l, fmt.Errorf("neon: read limits: %w", err)
	}
	l.Usable = l.MaxConnections - l.SuperuserReserved - l.Reserved
	return l, nil
}

// Source is one connection source: a platform process group on a machine
// (from application_name service:group:machine:pid), or any other
// application_name as it is.
type Source struct {
	// Name is "service:group" for platform connections, else the
	// application_name ("(unset)" when empty).
	Name       string
	Group      string
	Machines   int
	Processes  int
	Total      int
	Active     int
	Idle       int
	IdleInTx   int
	Waiting    int
	OldestXact time.Duration
}

// Backend is one client backend worth showing (long transaction, idle in
// transaction). Query is the start of its statement, literals masked
// (MaskQuery).
type Backend struct {
	PID         int
	Source      string
	User        string
	State       string
	WaitEvent   string
	XactAge     time.Duration
	StateAge    time.Duration
	Query       string
	Application string
}

// LockWait is a session waiting on a lock and the session blocking it.
type LockWait struct {
	Waiting      Backend
	Blocking     Backend
	WaitingFor   time.Duration
	BlockerState string
}

// Usage is the live use of connection slots, client backends only.
type Usage struct {
	At           time.Time
	Total        int
	ByState      map[string]int
	IdleInTx     int
	Waiting      int
	Sources      []Source
	LongestXacts []Backend
	IdleInTxList []Backend
	LockWaits    []LockWait
	// CanSeeAll is false when the role lacks pg_monitor (pg_read_all_stats):
	// then the states, queries and ages of other roles' sessions are hidden
	// and only counts by user are right.
	CanSeeAll bool
	Role      string
}

// AppName splits application_name service:group:machine:pid; ok is false
// for any other form.
func AppName(s string) (service, group, machine, pid string, ok bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 4 {
		return "", "", "", "", false
	}
	for _, p := range parts {
		if p == "" {
			return "", "", "", "", false
		}
	}
	return parts[0], parts[1], parts[2], parts[3], true
}

const backendColumns = `pid, COALESCE(NULLIF(application_name, ''), '(unset)'), COALESCE(usename, ''), COALESCE(state, '(hidden)'),
	COALESCE(wait_event_type || ':' || wait_event, ''),
	COALESCE(extract(epoch FROM now() - xact_start), 0), COALESCE(extract(epoch FROM now() - state_change), 0),
	COALESCE(left(query, 300), '')`

func scanBackend(row pgx.Row) (Backend, error) {
	var b Backend
	var xact, st float64
	err := row.Scan(&b.PID, &b.Application, &b.User, &b.State, &b.WaitEvent, &xact, &st, &b.Query)
	b.XactAge = time.Duration(xact * float64(time.Second))
	b.StateAge = time.Duration(st * float64(time.Second))
	b.Source = sourceName(b.Application)
	b.Query = MaskQuery(b.Query)
	return b, err
}

func sourceName(app string) string {
	if service, group, _, _, ok := AppName(app); ok {
		return service + ":" + group
	}
	return app
}

// ReadUsage reads pg_stat_activity: totals, states, sources, the oldest
// transactions, idle-in-transaction sessions and lock waits. The
// console's own backend is left out.
func ReadUsage(ctx context.Context, pool *pgxpool.Pool) (Usage, error) {
	u := Usage{At: time.Now(), ByState: map[string]int{}}
	err := pool.QueryRow(ctx, `SELECT current_user,
		pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)`).
		Scan(&u.Role, &u.CanSeeAll)
	if err != nil {
		return u, fmt.Errorf("neon: read role: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT `+backendColumns+`
		FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`)
	if err != nil {
		return u, fmt.Errorf("neon: read pg_stat_activity: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Backend, error) { return scanBackend(r) })
	if err != nil {
		return u, fmt.Errorf("neon: read pg_stat_activity: %w", err)
	}
	u.aggregate(all)
	if u.LockWaits, err = readLockWaits(ctx, pool); err != nil {
		return u, err
	}
	return u, nil
}

// aggregate fills the totals, sources and lists from all backends.
func (u *Usage) aggregate(all []Backend) {
	src := map[string]*Source{}
	machines := map[string]map[string]bool{}
	procs := map[string]map[string]bool{}
	for _, b := range all {
		u.Total++
		u.ByState[b.State]++
		s := src[b.Source]
		if s == nil {
			s = &Source{Name: b.Source}
			if _, group, _, _, ok := AppName(b.Application); ok {
				s.Group = group
			}
			src[b.Source] = s
			machines[b.Source], procs[b.Source] = map[string]bool{}, map[string]bool{}
		}
		s.Total++
		if _, _, machine, pid, ok := AppName(b.Application); ok {
			machines[b.Source][machine] = true
			procs[b.Source][machine+":"+pid] = true
		}
		switch {
		case b.State == "active":
			s.Active++
		case b.State == "idle":
			s.Idle++
		case strings.HasPrefix(b.State, "idle in transaction"):
			s.IdleInTx++
			u.IdleInTx++
			u.IdleInTxList = append(u.IdleInTxList, b)
		}
		if strings.HasPrefix(b.WaitEvent, "Lock:") {
			s.Waiting++
			u.Waiting++
		}
		if b.XactAge > s.OldestXact {
			s.OldestXact = b.XactAge
		}
		if b.XactAge > 0 {
			u.LongestXacts = append(u.LongestXacts, b)
		}
	}
	for name, s := range src {
		s.Machines, s.Processes = len(machines[name]), len(procs[name])
		u.Sources = append(u.Sources, *s)
	}
	sort.Slice(u.Sources, func(i, j int) bool {
		if u.Sources[i].Total != u.Sources[j].Total {
			return u.Sources[i].Total > u.Sources[j].Total
		}
		return u.Sources[i].Name < u.Sources[j].Name
	})
	byAge := func(l []Backend) {
		sort.Slice(l, func(i, j int) bool { return l[i].XactAge > l[j].XactAge })
	}
	byAge(u.LongestXacts)
	byAge(u.IdleInTxList)
	u.LongestXacts = u.LongestXacts[:min(10, len(u.LongestXacts))]
	u.IdleInTxList = u.IdleInTxList[:min(20, len(u.IdleInTxList))]
}

func readLockWaits(ctx context.Context, pool *pgxpool.Pool) ([]LockWait, error) {
	rows, err := pool.Query(ctx, `
		SELECT w.pid, COALESCE(NULLIF(w.application_name, ''), '(unset)'), COALESCE(w.usename, ''), COALESCE(w.state, ''),
		       COALESCE(w.wait_event_type || ':' || w.wait_event, ''),
		       COALESCE(extract(epoch FROM now() - w.xact_start), 0), COALESCE(extract(epoch FROM now() - w.query_start), 0),
		       COALESCE(left(w.query, 300), ''),
		       b.pid, COALESCE(NULLIF(b.application_name, ''), '(unset)'), COALESCE(b.usename, ''), COALESCE(b.state, ''),
		       COALESCE(b.wait_event_type || ':' || b.wait_event, ''),
		       COALESCE(extract(epoch FROM now() - b.xact_start), 0), COALESCE(extract(epoch FROM now() - b.state_change), 0),
		       COALESCE(left(b.query, 300), '')
		FROM pg_stat_activity w
		JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid) ON true
		JOIN pg_stat_activity b ON b.pid = bp.pid
		WHERE w.backend_type = 'client backend'
		ORDER BY w.query_start NULLS LAST
		LIMIT 50`)
	if err != nil {
		return nil, fmt.Errorf("neon: read lock waits: %w", err)
	}
	defer rows.Close()
	var out []LockWait
	for rows.Next() {
		var lw LockWait
		var wx, wq, bx, bs float64
		w, b := &lw.Waiting, &lw.Blocking
		if err := rows.Scan(&w.PID, &w.Application, &w.User, &w.State, &w.WaitEvent, &wx, &wq, &w.Query,
			&b.PID, &b.Application, &b.User, &b.State, &b.WaitEvent, &bx, &bs, &b.Query); err != nil {
			return nil, fmt.Errorf("neon: read lock waits: %w", err)
		}
		w.XactAge, lw.WaitingFor = secs(wx), secs(wq)
		b.XactAge, b.StateAge = secs(bx), secs(bs)
		w.Source, b.Source = sourceName(w.Application), sourceName(b.Application)
		w.Query, b.Query = MaskQuery(w.Query), MaskQuery(b.Query)
		lw.BlockerState = b.State
		out = append(out, lw)
	}
	return out, rows.Err()
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// MaskQuery returns a statement's text with its literals masked, so that
// a value a client-side driver inlined (an email, a token) never shows:
// quoted strings ('…' with ” inside, E'…' with backslash escapes, B'…',
// X'…', N'…', U&'…') and dollar-quoted ones ($$…$$, $tag$…$tag$) become
// '?', numbers ?. A literal cut off by the end of the text (pg_stat_activity
// keeps only the start of long statements) is masked to the end.
// Comments, free text where a quote proves nothing, are masked whole.
// Keywords, identifiers, quoted identifiers, operators and parameters ($1)
// stay. The text is read as PostgreSQL reads it with
// standard_conforming_strings on, its default.
func MaskQuery(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case strings.HasPrefix(q[i:], "--"):
			i = lineCommentEnd(q, i)
			b.WriteString("-- …")
		case strings.HasPrefix(q[i:], "/*"):
			i = blockCommentEnd(q, i)
			b.WriteString("/* … */")
		case c == '\'':
			i = quotedEnd(q, i+1, false)
			b.WriteString("'?'")
		case c == '"':
			end := quotedIdentEnd(q, i+1)
			b.WriteString(q[i:end])
			i = end
		case c == '$':
			if end, ok := dollarQuotedEnd(q, i); ok {
				b.WriteString("'?'")
				i = end
				continue
			}
			end := i + 1
			for end < len(q) && isDigit(q[end]) {
				end++
			}
			b.WriteString(q[i:end]) // a parameter, $1
			i = end
		case isDigit(c) || c == '.' && i+1 < len(q) && isDigit(q[i+1]):
			i = numberEnd(q, i)
			b.WriteByte('?')
		case isIdentStart(c):
			end := i
			for end < len(q) && isIdentChar(q[end]) {
				end++
			}
			if start, escapes, ok := prefixedString(q, q[i:end], end); ok {
				i = quotedEnd(q, start, escapes)
				b.WriteString("'?'")
				continue
			}
			b.WriteString(q[i:end])
			i = end
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// prefixedString reports whether word, ending at end, prefixes a string
// constant (E'…', B'…', X'…', N'…', U&'…'): where its text starts and
// whether backslashes escape in it.
func prefixedString(q, word string, end int) (start int, escapes, ok bool) {
	switch strings.ToLower(word) {
	case "e", "b", "x", "n":
		if end < len(q) && q[end] == '\'' {
			return end + 1, strings.EqualFold(word, "e"), true
		}
	case "u":
		if strings.HasPrefix(q[end:], "&'") {
			return end + 2, false, true
		}
	}
	return 0, false, false
}

// lineCommentEnd returns the index of the line break ending the -- comment
// at i, or the end of the text.
func lineCommentEnd(q string, i int) int {
	if k := strings.IndexAny(q[i:], "\r\n"); k >= 0 {
		return i + k
	}
	return len(q)
}

// blockCommentEnd returns the index after the /* comment */ at i, which
// may nest, or the end of the text.
func blockCommentEnd(q string, i int) int {
	depth := 0
	for i < len(q)-1 {
		switch q[i : i+2] {
		case "/*":
			depth, i = depth+1, i+2
		case "*/":
			depth, i = depth-1, i+2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(q)
}

// quotedEnd returns the index after the quote closing a string whose text
// starts at i: ” is a quote inside, and so is \' when escapes is set.
func quotedEnd(q string, i int, escapes bool) int {
	for i < len(q) {
		switch {
		case escapes && q[i] == '\\':
			i += 2
		case q[i] == '\'' && i+1 < len(q) && q[i+1] == '\'':
			i += 2
		case q[i] == '\'':
			return i + 1
		default:
			i++
		}
	}
	return len(q)
}

// quotedIdentEnd returns the index after the quote closing a quoted
// identifier whose name starts at i ("" is a quote inside).
func quotedIdentEnd(q string, i int) int {
	for i < len(q) {
		if q[i] == '"' {
			if i+1 < len(q) && q[i+1] == '"' {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(q)
}

// dollarQuotedEnd returns the index after a dollar-quoted string starting
// at i ($$…$$ or $tag$…$tag$); ok is false when no tag starts there.
func dollarQuotedEnd(q string, i int) (int, bool) {
	j := i + 1
	if j < len(q) && isIdentStart(q[j]) {
		for j < len(q) && isIdentChar(q[j]) && q[j] != '$' {
			j++
		}
	}
	if j >= len(q) || q[j] != '$' {
		return 0, false
	}
	delim := q[i : j+1]
	if k := strings.Index(q[j+1:], delim); k >= 0 {
		return j + 1 + k + len(delim), true
	}
	return len(q), true
}

// numberEnd returns the index after the numeric constant starting at i:
// digits, a fraction, an exponent with its sign, 0x/0o/0b forms and _
// separators.
func numberEnd(q string, i int) int {
	j := i
	for j < len(q) {
		switch c := q[j]; {
		case isIdentChar(c) && c != '$' || c == '.':
			j++
		case (c == '+' || c == '-') && (q[j-1] == 'e' || q[j-1] == 'E') && !strings.HasPrefix(strings.ToLower(q[i:]), "0x"):
			j++
		default:
			return j
		}
	}
	return j
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isIdentStart reports whether c may start an identifier (any byte of a
// multi-byte character may).
func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }
