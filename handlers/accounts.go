package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
		Result: audit.Success, Details: map[string]any{"hits": len(hits)}}); err != nil {
		return Unavailable("the console's database (audit log)", err)
	}
	m.Searched = true
	for _, hit := range hits {
		v := views.AccountHit{Kind: hit.Kind, Deleted: hit.Deleted, Exact: hit.Exact}
		if hit.Kind == "user" {
			v.Label, v.Detail, v.Href = hit.Email, "tenant "+hit.Tenant, "/accounts/users/"+hit.ID
		} else {
			v.Label, v.Detail, v.Href = hit.Slug, hit.Name, "/accounts/tenants/"+hit.ID
		}
		m.Hits = append(m.Hits, v)
	}
	return Render(c, http.StatusOK, views.AccountsPage(h.Page(c, "Accounts", "accounts"), m))
}

// User renders a user's account page with the diagnosis (audited).
func (h *Accounts) User(c echo.Context) error {
	a, err := h.Store.UserAccount(c.Request().Context(), c.Param("id"))
	return h.show(c, "user", a, err, "")
}

// Tenant renders a tenant's page (audited).
func (h *Accounts) Tenant(c echo.Context) error {
	a, err := h.Store.TenantAccount(c.Request().Context(), c.Param("id"))
	return h.show(c, "tenant", a, err, "")
}

func (h *Accounts) show(c echo.Context, kind string, a accounts.Account, err error, formErr string) error {
	target := kind + ":" + clip(c.Param("id"), 40)
	if errors.Is(err, accounts.ErrNotFound) {
		_ = h.Record(c, audit.Entry{Action: "account.view", Target: target, Result: audit.Failure,
			Details: map[string]any{"error": "not found"}})
		return echo.NewHTTPError(http.StatusNotFound, "no "+kind+" with id "+clip(c.Param("id"), 40)+" in this database")
	}
	if err != nil {
		_ = h.Record(c, audit.Entry{Action: "account.view", Target: target, Result: audit.Error,
			Details: map[string]any{"error": err.Error()}})
		return Unavailable("the platform database", err)
	}
	if formErr == "" {
		if err := h.Record(c, audit.Entry{Action: "account.view", Target: target, Result: audit.Success}); err != nil {
			return Unavailable("the console's database (audit log)", err)
		}
	}
	var fleet *accounts.Fleet
	if h.Fleet != nil {
		fleet = h.Fleet()
	}
	m := accountPage(kind, a, h.Store.Diagnose(c.Request().Context(), a, fleet))
	if s := CurrentSession(c); s != nil {
		m.CanSupport, m.CanAdmin = s.Account.Role.AtLeast(auth.Support), s.Account.Role.AtLeast(auth.Admin)
	}
	if m.CanSupport && m.TenantSlug != "" {
		m.QStashHref, m.QStashNote = tenantQStashLink(m.TenantSlug)
	}
	m.FormError = formErr
	if msg, ok := map[string]string{"invalidated": "Cache entry invalidated.", "gone": "There was no cache entry.",
		"protected": "Account protected.", "unprotected": "Protection removed."}[c.QueryParam("done")]; ok {
		m.Flash = msg
	}
	title := "Tenant"
	if a.User != nil {
		title = a.User.Email
	} else if a.Tenant != nil {
		title = "Tenant " + a.Tenant.Slug
	}
	status := http.StatusOK
	if formErr != "" {
		status = http.StatusBadRequest
	}
	return Render(c, status, views.AccountView(h.Page(c, title, "accounts"), m))
}

func when(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func accountPage(kind string, a accounts.Account, diag []accounts.Check) views.AccountPage {
	m := views.AccountPage{Kind: kind}
	if u := a.User; u != nil {
		m.ID, m.ProtectKind, m.ProtectID, m.Protected = u.ID, "user", u.ID, a.UserProtected
		del := ""
		if u.DeletedAt != nil {
			del = "problem"
		}
		m.User = []views.KV{{Label: "Id", Value: u.ID}, {Label: "Email as stored", Value: fmt.Sprintf("%q", u.Email)},
			{Label: "Email normalised", Value: strings.ToLower(strings.TrimSpace(u.Email))}, {Label: "Auth provider", Value: u.AuthProvider},
			{Label: "Created", Value: when(&u.CreatedAt)}, {Label: "Last login", Value: when(u.LastLoginAt)},
			{Label: "Soft-deleted", Value: when(u.DeletedAt), Flag: del}}
		for _, d := range a.Duplicates {
			m.Duplicates = append(m.Duplicates, views.AccountHit{Label: fmt.Sprintf("%q", d.Email), Detail: "tenant " + d.Tenant, Href: "/accounts/users/" + d.ID})
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
	for _, d := range diag {
		m.Diagnosis = append(m.Diagnosis, views.DiagnosisLine{Name: d.Name, Verdict: d.Verdict, Detail: d.Detail})
	}
	for _, e := range a.Audit {
		m.Audit = append(m.Audit, views.AuditRow{At: e.At.UTC().Format("2006-01-02 15:04:05Z"), Operator: e.Operator, Action: e.Action, Target: e.Target, Result: e.Result})
	}
	return m
}

// Invalidate deletes a tenant's cache entry (support and up; audited).
func (h *Accounts) Invalidate(c echo.Context) error {
	ctx := c.Request().Context()
	a, err := h.Store.TenantAccount(ctx, c.Param("id"))
	if err != nil {
		return h.show(c, "tenant", a, err, "")
	}
	target := "tenant:" + a.Tenant.ID + " " + a.Tenant.Slug
	if err := h.RecordIntent(c, audit.Entry{Action: "account.cache.invalidate", Target: target}, "invalidate this cache entry"); err != nil {
		return err
	}
	existed, err := h.Store.InvalidateCache(ctx, a.Tenant.Slug)
	e := audit.Entry{Action: "account.cache.invalidate", Target: target, Result: audit.Success,
		Details: map[string]any{"existed": existed}}
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
	return c.Redirect(http.StatusSeeOther, "/accounts/tenants/"+a.Tenant.ID+"?done="+done)
}

// Protection protects or unprotects a user or tenant (admins; reason
// required; audited).
func (h *Accounts) Protection(c echo.Context) error {
	kind := strings.TrimSuffix(c.Param("kind"), "s")
	id := c.Param("id")
	if (kind != "user" && kind != "tenant") || !accounts.IsUUID(id) {
		return echo.NewHTTPError(http.StatusNotFound, "no such account")
	}
	ctx := c.Request().Context()
	var a accounts.Account
	var err error
	if kind == "user" {
		a, err = h.Store.UserAccount(ctx, id)
	} else {
		a, err = h.Store.TenantAccount(ctx, id)
	}
	if err != nil {
		return h.show(c, kind, a, err, "")
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	protect := c.FormValue("protect") == "true"
	action, done := "account.unprotect", "unprotected"
	if protect {
		action, done = "account.protect", "protected"
	}
	if reason == "" || len(reason) > 500 {
		_ = h.Record(c, audit.Entry{Action: action, Target: kind + ":" + id, Result: audit.Failure,
			Details: map[string]any{"error": "no reason given, or one over 500 characters"}})
		return h.show(c, kind, a, nil, "Give a reason (up to 500 characters): it goes to the audit log.")
	}
	if err := h.RecordIntent(c, audit.Entry{Action: action, Target: kind + ":" + id, Reason: reason}, "change this account's protection"); err != nil {
		return err
	}
	if protect {
		err = h.Store.Protect(ctx, kind, id, reason, CurrentSession(c).Account.Email)
	} else {
		err = h.Store.Unprotect(ctx, kind, id)
	}
	e := audit.Entry{Action: action, Target: kind + ":" + id, Reason: reason, Result: audit.Success}
	if err != nil {
		e.Result, e.Details = audit.Error, map[string]any{"error": err.Error()}
	}
	if aerr := h.Record(c, e); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/accounts/"+kind+"s/"+id+"?done="+done)
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
