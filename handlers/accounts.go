package handlers

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// Accounts is the support lookup: search, account page with diagnosis,
// cache invalidation and protection.
type Accounts struct {
	*Base
	Store *accounts.Store
	// ReasonRequired makes a reason (ticket) mandatory for lookups.
	ReasonRequired bool
	// Fleet returns what the Fly fleet tells the diagnosis, nil when
	// unknown.
	Fleet func() *accounts.Fleet
}

// Search renders the search form and, with q, its results (audited).
func (h *Accounts) Search(c echo.Context) error {
	m := views.Accounts{Query: c.QueryParam("q"), Reason: strings.TrimSpace(c.QueryParam("reason")), NeedReason: h.ReasonRequired}
	q := strings.TrimSpace(m.Query)
	if q == "" {
		return Render(c, http.StatusOK, views.AccountsPage(h.Page(c, "Accounts", "accounts"), m))
	}
	target := "query:" + clip(audit.RedactValue("q", q), 200)
	if len(q) > accounts.MaxQueryBytes {
		_ = h.Record(c, audit.Entry{Action: "account.search", Target: target, Result: audit.Failure,
			Details: map[string]any{"error": "query too long", "bytes": len(q)}})
		m.Error = fmt.Sprintf("The search is %d bytes long; at most %d are accepted.", len(q), accounts.MaxQueryBytes)
		return Render(c, http.StatusBadRequest, views.AccountsPage(h.Page(c, "Accounts", "accounts"), m))
	}
	if h.ReasonRequired && m.Reason == "" {
		_ = h.Record(c, audit.Entry{Action: "account.search", Target: target, Result: audit.Failure,
			Details: map[string]any{"error": "no reason given"}})
		m.Error = "Give a reason (the ticket) for this lookup: it goes to the audit log."
		return Render(c, http.StatusBadRequest, views.AccountsPage(h.Page(c, "Accounts", "accounts"), m))
	}
	hits, err := h.Store.Search(c.Request().Context(), q, 50)
	if err != nil {
		_ = h.Record(c, audit.Entry{Action: "account.search", Target: target, Reason: m.Reason, Result: audit.Error,
			Details: map[string]any{"error": err.Error()}})
		return Unavailable("the platform database", err)
	}
	if err := h.Record(c, audit.Entry{Action: "account.search", Target: target, Reason: m.Reason,
		Result: audit.Success, Details: map[string]any{"hits": len(hits)}, Account: searchRef(hits)}); err != nil {
		return Unavailable("the console's database (audit log)", err)
	}
	m.Searched = true
	for _, hit := range hits {
		m.Hits = append(m.Hits, searchHit(hit))
	}
	for i := range m.Hits { // the account pages are not asked the reason again
		m.Hits[i].Href, m.Hits[i].TenantHref = views.WithReason(m.Hits[i].Href, m.Reason), views.WithReason(m.Hits[i].TenantHref, m.Reason)
	}
	return Render(c, http.StatusOK, views.AccountsPage(h.Page(c, "Accounts", "accounts"), m))
}

// searchHit is one row of the search results: the account with its
// state and warnings, its tenant's state, workspaces and last sign-in.
func searchHit(hit accounts.Hit) views.AccountHit {
	v := views.AccountHit{Kind: hit.Kind, Deleted: hit.Deleted, Exact: hit.Exact, Match: hit.Match, Lookalike: hit.Lookalike,
		Workspaces: capped(hit.Workspaces), TenantFlags: tenantFlags(hit)}
	if hit.TenantID != "" && hit.TenantStatus != "" {
		v.TenantHref = "/accounts/tenants/" + hit.TenantID
	}
	if hit.Kind == "tenant" {
		v.Label, v.Detail, v.Href, v.Tenant, v.Users = hit.Slug, hit.Name, "/accounts/tenants/"+hit.ID, hit.Name, capped(hit.Users)
		v.TenantHref, v.LastLogin = "", "—"
		return v
	}
	v.Label, v.Detail, v.Href, v.Tenant = visibleEmail(hit.Email), "tenant "+hit.Tenant, "/accounts/users/"+hit.ID, hit.Tenant
	v.Warnings, v.LastLogin = accounts.EmailWarnings(hit.Email), "never"
	if hit.LastLogin != nil {
		v.LastLogin = when(hit.LastLogin)
	}
	return v
}

// duplicateHit is one of the account's twins: the address quoted, its
// tenant and that tenant's state, and whether it only looks alike.
func duplicateHit(d accounts.Hit) views.AccountHit {
	detail := "tenant " + d.Tenant
	if flags := tenantFlags(d); len(flags) > 0 {
		detail += " (" + strings.Join(flags, ", ") + ")"
	}
	if d.Lookalike {
		detail += " — a lookalike: " + strings.Join(accounts.EmailWarnings(d.Email), "; ")
	}
	return views.AccountHit{Label: fmt.Sprintf("%q", d.Email), Detail: detail, Href: "/accounts/users/" + d.ID, Lookalike: d.Lookalike}
}

// visibleEmail shows an address as it is when it is plain printable
// ASCII, else quoted with its invisible characters escaped.
func visibleEmail(email string) string {
	if q := strconv.Quote(email); q[1:len(q)-1] != email || !isPrintableASCII(email) {
		return q
	}
	return email
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// tenantFlags is what is wrong with a hit's tenant.
func tenantFlags(hit accounts.Hit) []string {
	var out []string
	switch {
	case hit.TenantStatus == "":
		return []string{"tenant missing"}
	case hit.TenantDeleted:
		out = append(out, "soft-deleted")
	}
	if hit.TenantStatus != "active" {
		out = append(out, hit.TenantStatus)
	}
	return out
}

// capped words a count that stops at accounts.CountCap+1.
func capped(n int) string {
	if n > accounts.CountCap {
		return fmt.Sprintf("more than %d", accounts.CountCap)
	}
	return strconv.Itoa(n)
}

// User renders a user's account page with the diagnosis (audited; with
// ReasonRequired, only once a reason is given).
func (h *Accounts) User(c echo.Context) error {
	if done, err := h.askReason(c, h.ReasonRequired, "this user's account page"); done {
		return err
	}
	a, err := h.Store.UserAccount(c.Request().Context(), c.Param("id"))
	return h.show(c, "user", a, err)
}

// Tenant renders a tenant's page (audited; with ReasonRequired, only once
// a reason is given).
func (h *Accounts) Tenant(c echo.Context) error {
	if done, err := h.askReason(c, h.ReasonRequired, "this tenant's account page"); done {
		return err
	}
	a, err := h.Store.TenantAccount(c.Request().Context(), c.Param("id"))
	return h.show(c, "tenant", a, err)
}

// show audits the view of an account (with its reason and the account's
// identifiers) and renders its page.
func (h *Accounts) show(c echo.Context, kind string, a accounts.Account, err error) error {
	target := kind + ":" + clip(c.Param("id"), 40)
	e := audit.Entry{Action: "account.view", Target: target, Reason: lookupReason(c), Result: audit.Success, Account: a.Ref()}
	if errors.Is(err, accounts.ErrNotFound) {
		e.Result, e.Account, e.Details = audit.Failure, idRef(kind, c.Param("id")), map[string]any{"error": "not found"}
		_ = h.Record(c, e)
		return echo.NewHTTPError(http.StatusNotFound, "no "+kind+" with id "+clip(c.Param("id"), 40)+" in this database")
	}
	if err != nil {
		e.Result, e.Account, e.Details = audit.Error, idRef(kind, c.Param("id")), map[string]any{"error": err.Error()}
		_ = h.Record(c, e)
		return Unavailable("the platform database", err)
	}
	if err := h.Record(c, e); err != nil {
		return Unavailable("the console's database (audit log)", err)
	}
	return h.render(c, kind, a, http.StatusOK, "")
}

// render renders an account's page; formErr (with status) says why an
// action on it was refused.
func (h *Accounts) render(c echo.Context, kind string, a accounts.Account, status int, formErr string) error {
	var fleet *accounts.Fleet
	if h.Fleet != nil {
		fleet = h.Fleet()
	}
	diag := h.Store.Diagnose(c.Request().Context(), a, fleet)
	m := accountPage(kind, a, diag)
	m.LookupReason, m.NeedReason, m.TenantProtected = lookupReason(c), h.ReasonRequired, a.TenantProtected
	m.Trail = trailView(kind, a, diag.Likely, time.Now())
	if s := CurrentSession(c); s != nil {
		m.CanSupport, m.CanAdmin = s.Account.Role.AtLeast(auth.Support), s.Account.Role.AtLeast(auth.Admin)
	}
	if m.CanSupport && m.TenantSlug != "" {
		m.QStashHref, m.QStashNote = tenantQStashLink(m.TenantSlug)
	}
	m.FormError = formErr
	if msg, ok := map[string]string{"invalidated": "Cache entry invalidated.", "gone": "There was no cache entry.",
		"protected": "Account protected.", "unprotected": "Protection removed.",
		"changed": "Protection reason changed; the old one is kept in the history."}[c.QueryParam("done")]; ok {
		m.Flash = msg
	}
	title := "Tenant"
	if a.User != nil {
		title = a.User.Email
	} else if a.Tenant != nil {
		title = "Tenant " + a.Tenant.Slug
	}
	return Render(c, status, views.AccountView(h.Page(c, title, "accounts"), m))
}

func when(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func accountPage(kind string, a accounts.Account, diag accounts.Diagnosis) views.AccountPage {
	m := views.AccountPage{Kind: kind}
	if u := a.User; u != nil {
		m.ID, m.ProtectKind, m.ProtectID, m.Protected = u.ID, "user", u.ID, a.UserProtected
		del := ""
		if u.DeletedAt != nil {
			del = "problem"
		}
		m.User = []views.KV{{Label: "Id", Value: u.ID}, {Label: "Email as stored", Value: fmt.Sprintf("%q", u.Email)},
			{Label: "Email normalised", Value: accounts.NormalizeEmail(u.Email)}, {Label: "Auth provider", Value: u.AuthProvider},
			{Label: "Created", Value: when(&u.CreatedAt)}, {Label: "Last login", Value: when(u.LastLoginAt)},
			{Label: "Soft-deleted", Value: when(u.DeletedAt), Flag: del}}
		if w := accounts.EmailWarnings(u.Email); len(w) > 0 {
			m.User = append(m.User[:3], append([]views.KV{{Label: "Email warnings", Value: strings.Join(w, "; "), Flag: "warning"}}, m.User[3:]...)...)
		}
		for _, d := range a.Duplicates {
			m.Duplicates = append(m.Duplicates, duplicateHit(d))
		}
	}
	if t := a.Tenant; t != nil {
		m.TenantID, m.TenantSlug = t.ID, t.Slug
		if a.User == nil {
			m.ID, m.ProtectKind, m.ProtectID, m.Protected = t.ID, "tenant", t.ID, a.TenantProtected
		}
		del := ""
		if t.DeletedAt != nil {
			del = "problem"
		}
		m.Tenant = []views.KV{{Label: "Id", Value: t.ID}, {Label: "Slug", Value: t.Slug}, {Label: "Name", Value: t.Name},
			{Label: "Plan", Value: t.Plan}, {Label: "Status", Value: t.Status}, {Label: "Soft-deleted", Value: when(t.DeletedAt), Flag: del},
			{Label: "Active users", Value: fmt.Sprint(a.TenantUsers)}, {Label: "Protected", Value: fmt.Sprint(a.TenantProtected)}}
		m.Workspaces = []views.KV{{Label: "Workspaces", Value: fmt.Sprint(a.TotalWorkspaces)},
			{Label: "Live", Value: fmt.Sprint(a.LiveWorkspaces)}, {Label: "Soft-deleted", Value: fmt.Sprint(a.TotalWorkspaces - a.LiveWorkspaces)}}
		for _, w := range a.Workspaces {
			m.WorkspaceRows = append(m.WorkspaceRows, views.AccountWorkspace{ID: w.ID, Name: w.Name, Created: when(&w.CreatedAt), Deleted: when(w.DeletedAt)})
		}
		m.WorkspacesNote = fmt.Sprintf("the newest %d of %d", len(a.Workspaces), a.TotalWorkspaces)
		ce := a.Cache
		m.Cache = []views.KV{{Label: "Key", Value: accounts.CacheKey(t.Slug)}, {Label: "Present", Value: fmt.Sprint(ce.Present)}}
		if ce.Present {
			flag := ""
			if !ce.Matches {
				flag = "problem"
			}
			m.Cache = append(m.Cache, ttlKV(ce.TTL),
				views.KV{Label: "Matches the database", Value: fmt.Sprint(ce.Matches) + " " + ce.Mismatch, Flag: flag})
		}
		if ce.Err != "" {
			m.Cache = append(m.Cache, views.KV{Label: "Error", Value: ce.Err, Flag: "warning"})
		}
	} else {
		m.Tenant = []views.KV{{Label: "Tenant", Value: "missing from this database", Flag: "problem"}}
	}
	m.Diagnosis = diagnosisView(diag)
	for _, e := range a.Audit {
		m.Audit = append(m.Audit, views.AuditRow{At: e.At.UTC().Format("2006-01-02 15:04:05Z"), Operator: e.Operator, Action: e.Action,
			Target: e.Target, Reason: e.Reason, Result: e.Result})
	}
	return m
}

// diagnosisView maps the diagnosis: the likely cause, the account's
// findings and, apart, the platform-wide conditions.
func diagnosisView(d accounts.Diagnosis) views.AccountDiagnosis {
	v := views.AccountDiagnosis{Likely: d.Likely, Found: d.Likely != accounts.NothingFound}
	line := func(c accounts.Check) views.DiagnosisLine {
		return views.DiagnosisLine{Name: c.Name, Verdict: c.Verdict, Detail: c.Detail, NoHeartbeatsYet: c.NoHeartbeatsYet}
	}
	for _, c := range d.Account {
		v.Account = append(v.Account, line(c))
	}
	for _, c := range d.Platform {
		v.Platform = append(v.Platform, line(c))
		if c.Verdict == accounts.Problem {
			v.PlatformProblems++
		}
	}
	return v
}

// Invalidate deletes a tenant's cache entry (support and up; audited). A
// protected tenant's entry is refused, audited as denied, unless an admin
// overrides the protection (override=1) with a reason.
func (h *Accounts) Invalidate(c echo.Context) error {
	const action = "account.cache.invalidate"
	a, err := h.load(c, action, "tenant", c.Param("id"))
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	override := a.TenantProtected && c.FormValue("override") == "1"
	e := audit.Entry{Action: action, Target: "tenant:" + a.Tenant.ID + " " + a.Tenant.Slug, Reason: clip(reason, maxLookupReason),
		Account: a.TenantRef(), Details: map[string]any{"override": override}}
	if result, msg := invalidateRefusal(a, CurrentSession(c).Account.Role, reason, override, h.ReasonRequired); msg != "" {
		return h.refuse(c, "tenant", a, e, result, msg)
	}
	if err := h.RecordIntent(c, e, "invalidate this cache entry"); err != nil {
		return err
	}
	existed, err := h.Store.InvalidateCache(c.Request().Context(), a.Tenant.Slug)
	e.Result, e.Details["existed"] = audit.Success, existed
	if err != nil {
		e.Result, e.Details["error"] = audit.Error, err.Error()
	}
	if aerr := h.Record(c, e); aerr != nil {
		return aerr
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, "Redis did not answer: "+err.Error())
	}
	done := "invalidated"
	if !existed {
		done = "gone"
	}
	return c.Redirect(http.StatusSeeOther, backTo("tenant", a.Tenant.ID, done, cmp.Or(lookupReason(c), e.Reason)))
}

// Protection protects, protects again with another reason (the old one
// stays in the history) or unprotects a user or tenant (admins; reason
// required). Every outcome is audited under account.protect or
// account.unprotect.
func (h *Accounts) Protection(c echo.Context) error {
	kind, id, protect := strings.TrimSuffix(c.Param("kind"), "s"), c.Param("id"), c.FormValue("protect")
	if (kind != "user" && kind != "tenant") || !accounts.IsUUID(id) {
		return echo.NewHTTPError(http.StatusNotFound, "no such account")
	}
	action, ok := map[string]string{"true": "account.protect", "false": "account.unprotect"}[protect]
	if !ok {
		return echo.NewHTTPError(http.StatusBadRequest, "protect must be true or false")
	}
	a, err := h.load(c, action, kind, id)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	e := audit.Entry{Action: action, Target: kind + ":" + id, Reason: reason, Account: a.Ref()}
	protected := map[string]bool{"user": a.UserProtected, "tenant": a.TenantProtected}[kind]
	switch {
	case reason == "" || len(reason) > 500:
		return h.refuse(c, kind, a, e, audit.Failure, "Give a reason (up to 500 characters): it goes to the audit log.")
	case protect == "false" && !protected:
		return h.refuse(c, kind, a, e, audit.Failure, "This "+kind+" is not protected: there is no protection to remove.")
	}
	if err := h.RecordIntent(c, e, "change this account's protection"); err != nil {
		return err
	}
	ch, err := h.Store.SetProtection(c.Request().Context(), kind, id, protect == "true", reason, CurrentSession(c).Account.Email)
	if errors.Is(err, accounts.ErrNotProtected) { // removed meanwhile
		return h.refuse(c, kind, a, e, audit.Failure, "This "+kind+" is not protected: there is no protection to remove.")
	}
	e.Result, e.Details = audit.Success, map[string]any{"change": ch.Change, "previous_reason": ch.OldReason, "previous_by": ch.OldBy}
	if err != nil {
		e.Result, e.Details["error"] = audit.Error, err.Error()
	}
	if aerr := h.Record(c, e); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	done := map[string]string{accounts.ChangeProtect: "protected", accounts.ChangeReason: "changed", accounts.ChangeUnprotect: "unprotected"}[ch.Change]
	return c.Redirect(http.StatusSeeOther, backTo(kind, id, done, lookupReason(c)))
}

// tenantQStashLink is the link to a tenant's QStash messages, or why
// there is none: a slug the platform's QStash label cannot carry.
func tenantQStashLink(slug string) (href, note string) {
	if qstash.CheckTenantSlug(slug) != nil {
		return "", "This tenant's slug cannot be a QStash label, so its QStash messages cannot be looked up by it."
	}
	return "/queues/tenant/" + url.PathEscape(slug), ""
}

// ttlKV is a cache entry's expiry; a key without expiry is a warning.
func ttlKV(ttl time.Duration) views.KV {
	kv := views.KV{Label: "Expiry", Value: accounts.ExpiryText(ttl)}
	if ttl == -1 {
		kv.Flag = "warning"
	}
	return kv
}
