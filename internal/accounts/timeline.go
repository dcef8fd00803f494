package accounts

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/atum/ops-console/internal/audit"
)

// Sources of timeline entries.
const (
	// SourcePlatform is what the platform's tables record: creation,
	// last sign-in and soft deletion of the user, tenant and workspaces.
	SourcePlatform = "platform"
	// SourceConsole is the console's audit log about the account.
	SourceConsole = "console"
	// SourceProtection is the history of the account's protection.
	SourceProtection = "protection"
)

// TimelineEntry is one line of an account's timeline.
type TimelineEntry struct {
	At     time.Time
	Source string
	// What says what happened, for the console's page; plain text that
	// may hold untrusted values (workspace names, reasons).
	What string
	// Who is the operator who acted; "" for what the platform recorded.
	Who string
	// Result is the audit result of a console event, "" otherwise.
	Result string
	// View marks a read of the account (a page opened, a search).
	View bool
	// Ticket is the line's redacted text for the ticket summary: no
	// operator, no reason, no names; "" for a view (counted apart).
	Ticket string
}

// Timeline is what happened to the account, oldest first: what the
// platform records (the user's and tenant's creation, the user's last
// sign-in — the platform keeps only the last one — and soft deletions,
// the listed workspaces' creation and deletion), the history of its
// protection, and the console's audit events about it (its newest
// AuditActions actions and AuditViews views; intents and the successful
// protection changes, which the history tells, left out). Events at the
// same time keep that order.
func Timeline(a Account) []TimelineEntry {
	var out []TimelineEntry
	add := func(at time.Time, source, what, ticket string) {
		out = append(out, TimelineEntry{At: at, Source: source, What: what, Ticket: ticket})
	}
	if u := a.User; u != nil {
		add(u.CreatedAt, SourcePlatform, "user created (signs in with "+u.AuthProvider+")", "user created ("+u.AuthProvider+")")
		if u.LastLoginAt != nil {
			add(*u.LastLoginAt, SourcePlatform, "user's last sign-in (users.last_login_at)", "user's last sign-in")
		}
		if u.DeletedAt != nil {
			add(*u.DeletedAt, SourcePlatform, "user soft-deleted", "user soft-deleted")
		}
	}
	if t := a.Tenant; t != nil {
		add(t.CreatedAt, SourcePlatform, "tenant "+t.Slug+" created", "tenant created")
		if t.DeletedAt != nil {
			add(*t.DeletedAt, SourcePlatform, "tenant "+t.Slug+" soft-deleted", "tenant soft-deleted")
		}
	}
	for _, w := range a.Workspaces {
		add(w.CreatedAt, SourcePlatform, "workspace "+w.Name+" created", "workspace "+w.ID+" created")
		if w.DeletedAt != nil {
			add(*w.DeletedAt, SourcePlatform, "workspace "+w.Name+" soft-deleted", "workspace "+w.ID+" soft-deleted")
		}
	}
	for _, h := range a.History {
		out = append(out, protectionEntry(h))
	}
	for _, e := range a.Audit {
		if entry, ok := auditEntry(a, e); ok {
			out = append(out, entry)
		}
	}
	slices.SortStableFunc(out, func(x, y TimelineEntry) int { return x.At.Compare(y.At) })
	return out
}

func protectionEntry(h ProtectionChange) TimelineEntry {
	e := TimelineEntry{At: h.At, Source: SourceProtection, Who: h.By}
	switch h.Change {
	case ChangeReason:
		e.What = fmt.Sprintf("%s protection's reason changed from %q to %q", h.Kind, h.OldReason, h.Reason)
		e.Ticket = h.Kind + " protection's reason changed"
	case ChangeUnprotect:
		e.What = fmt.Sprintf("%s unprotected: %s (it was protected: %s)", h.Kind, h.Reason, h.OldReason)
		e.Ticket = h.Kind + " unprotected"
	default:
		e.What = h.Kind + " protected: " + h.Reason
		e.Ticket = h.Kind + " protected"
	}
	return e
}

// auditEntry describes an audit event of the account, or false for one
// the timeline leaves out.
func auditEntry(a Account, ev AuditEvent) (TimelineEntry, bool) {
	if ev.Result == audit.Intent ||
		(ev.Result == audit.Success && (ev.Action == "account.protect" || ev.Action == "account.unprotect")) {
		return TimelineEntry{}, false
	}
	e := TimelineEntry{At: ev.At, Source: SourceConsole, Who: ev.Operator, Result: ev.Result, View: slices.Contains(ViewActions, ev.Action)}
	what := ev.Action
	switch ev.Action {
	case "account.view":
		what = "account page opened"
	case "account.search":
		what = "found by an account search"
	case "qstash.tenant.view":
		what = "tenant's QStash messages opened"
	case "account.cache.invalidate":
		what = "tenant cache entry invalidated"
		if ev.Result == audit.Success && ev.Details["existed"] == false {
			what = "tenant cache invalidation: there was no entry"
		}
		if ev.Details["override"] == true {
			what += " (protection overridden by an admin)"
		}
	case "account.protect":
		what = "protection refused"
	case "account.unprotect":
		what = "removal of the protection refused"
	}
	if ev.Result != audit.Success {
		what += " — " + ev.Result
	}
	if s := subject(a, ev.Account); s != "" {
		what = s + ": " + what
	}
	e.What, e.Ticket = what, what
	if ev.Result != audit.Success {
		if msg, ok := ev.Details["error"].(string); ok && msg != "" {
			e.What += ": " + msg
		}
	}
	if e.View {
		e.Ticket = ""
	}
	return e, true
}

// subject names the account an event is about when it is not the page's
// own (a tenant page's user, a user's case twin), else "".
func subject(a Account, r audit.Account) string {
	if r.UserID == "" || (a.User != nil && strings.EqualFold(r.UserID, a.User.ID)) {
		return ""
	}
	if a.User != nil {
		return "case twin " + r.UserID
	}
	return "user " + r.UserID
}

// Summary is the account's summary for a support ticket, as plain text:
// its ids and states, the diagnosis's likely cause, and the timeline's
// lines (views counted, not listed). It holds no operator, no reason, no
// secret and no cached value, and every email in it is masked
// (r***@brennan.ca).
func Summary(a Account, timeline []TimelineEntry, likely string, now time.Time) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("Account summary from the ATUM ops console, %s", utcMinute(now))
	if u := a.User; u != nil {
		line("User %s", u.ID)
		line("  email: %s", MaskEmail(u.Email))
		line("  created %s, last sign-in %s, soft-deleted %s", utcMinute(u.CreatedAt), utcMinuteOr(u.LastLoginAt, "never"), utcMinuteOr(u.DeletedAt, "no"))
		line("  protected: %s", yesNo(a.UserProtected))
		if n := len(a.Duplicates); n > 0 {
			line("  other users with the same email in another case or with spaces: %d", n)
		}
	}
	switch t := a.Tenant; {
	case t != nil:
		line("Tenant %s (slug %s)", t.ID, t.Slug)
		line("  plan %s, status %s, soft-deleted %s", t.Plan, t.Status, utcMinuteOr(t.DeletedAt, "no"))
		line("  workspaces: %d live of %d; active users: %d", a.LiveWorkspaces, a.TotalWorkspaces, a.TenantUsers)
		line("  cache entry: %s", cacheText(a.Cache))
		line("  protected: %s", yesNo(a.TenantProtected))
	case a.User != nil:
		line("Tenant %s: missing from the platform database", a.User.TenantID)
	}
	if likely != "" {
		line("Likely cause: %s", likely)
	}
	views := 0
	var lines []string
	for _, e := range timeline {
		if e.Ticket == "" {
			if e.View {
				views++
			}
			continue
		}
		lines = append(lines, "  "+utcMinute(e.At)+"  "+e.Ticket)
	}
	line("Timeline (UTC, oldest first; console views and searches not listed: %d):", views)
	if len(lines) == 0 {
		line("  nothing recorded")
	}
	for _, l := range lines {
		line("%s", l)
	}
	return MaskEmails(b.String())
}

func cacheText(c CacheEntry) string {
	switch {
	case c.Err != "":
		return "not checked"
	case !c.Checked:
		return "not checked"
	case !c.Present:
		return "not cached"
	case !c.Matches:
		return "stale (" + c.Mismatch + ")"
	}
	return "cached, matches the database"
}

func utcMinute(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") }

func utcMinuteOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return utcMinute(*t)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// MaskEmail masks an email for a ticket: its first character, "***" and
// its domain (r***@brennan.ca); something without "@" is all masked.
func MaskEmail(email string) string {
	email = NormalizeEmail(email)
	local, domain, ok := strings.Cut(email, "@")
	if !ok {
		return "***"
	}
	first := ""
	if r := []rune(local); len(r) > 0 {
		first = string(r[0])
	}
	return first + "***@" + domain
}

var emailRE = regexp.MustCompile(`[^\s@"'<>()\[\],;:]+@[^\s@"'<>()\[\],;:]+`)

// MaskEmails masks every email in text (see MaskEmail).
func MaskEmails(text string) string {
	return emailRE.ReplaceAllStringFunc(text, MaskEmail)
}
