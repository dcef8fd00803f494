package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/views"
)

// maxLookupReason is the longest reason (ticket) accepted for a lookup.
const maxLookupReason = 300

// askReason asks for the reason (ticket) of an account view when one is
// required and ?reason= is missing: it renders a small form that opens
// the page again with it, and records nothing (nothing was read). A
// reason over maxLookupReason is a 400. done says the response is
// decided.
func (b *Base) askReason(c echo.Context, required bool, what string) (done bool, err error) {
	reason := strings.TrimSpace(c.QueryParam("reason"))
	m := views.AccountReason{Action: c.Request().URL.Path, What: what}
	status := http.StatusOK
	switch {
	case len(reason) > maxLookupReason:
		m.Error = fmt.Sprintf("The reason is %d bytes long; at most %d are accepted.", len(reason), maxLookupReason)
		status = http.StatusBadRequest
	case reason != "" || !required:
		return false, nil
	}
	q := c.QueryParams()
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "reason" && k != "done" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			m.Keep = append(m.Keep, views.KV{Label: k, Value: v})
		}
	}
	active := "accounts"
	if strings.HasPrefix(m.Action, "/queues/") {
		active = "queues"
	}
	return true, Render(c, status, views.AccountReasonPage(b.Page(c, "Reason for this lookup", active), m))
}

// lookupReason is the reason (ticket) the account page is opened for:
// ?reason= on a page, the form's lookup_reason on an action.
func lookupReason(c echo.Context) string {
	if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
		return clip(strings.TrimSpace(c.QueryParam("reason")), maxLookupReason)
	}
	return clip(strings.TrimSpace(c.FormValue("lookup_reason")), maxLookupReason)
}

// backTo is the account's page after an action, with its lookup reason.
func backTo(kind, id, done, reason string) string {
	return views.WithReason("/accounts/"+kind+"s/"+id+"?done="+done, reason)
}

// load reads the account an action is about; a failure is audited under
// the action (never as a view) and returned as the HTTP error.
func (h *Accounts) load(c echo.Context, action, kind, id string) (accounts.Account, error) {
	ctx := c.Request().Context()
	var a accounts.Account
	var err error
	if kind == "user" {
		a, err = h.Store.UserAccount(ctx, id)
	} else {
		a, err = h.Store.TenantAccount(ctx, id)
	}
	if err == nil {
		return a, nil
	}
	e := audit.Entry{Action: action, Target: kind + ":" + clip(id, 40), Result: audit.Error, Account: idRef(kind, id),
		Details: map[string]any{"error": err.Error()}}
	if errors.Is(err, accounts.ErrNotFound) {
		e.Result, e.Details["error"] = audit.Failure, "not found"
		_ = h.Record(c, e)
		return a, echo.NewHTTPError(http.StatusNotFound, "no "+kind+" with id "+clip(id, 40)+" in this database")
	}
	_ = h.Record(c, e)
	return a, Unavailable("the platform database", err)
}

// idRef names an account by the id in its address alone (one that may
// not exist).
func idRef(kind, id string) audit.Account {
	if kind == "user" {
		return audit.Account{UserID: id}
	}
	return audit.Account{TenantID: id}
}

// searchRef names the account a search resolved to: its only hit, or its
// only exact hit; zero when it found none or several.
func searchRef(hits []accounts.Hit) audit.Account {
	var exact []accounts.Hit
	for _, h := range hits {
		if h.Exact {
			exact = append(exact, h)
		}
	}
	if len(hits) != 1 {
		if len(exact) != 1 {
			return audit.Account{}
		}
		hits = exact
	}
	h := hits[0]
	if h.Kind == "user" {
		return audit.Account{UserID: h.ID, Email: accounts.NormalizeEmail(h.Email), TenantID: h.TenantID, Slug: h.Tenant}
	}
	return audit.Account{TenantID: h.ID, Slug: h.Slug}
}

// invalidateRefusal says why a cache invalidation must not run: the
// audit result and the message, or "" when it may. A protected tenant's
// entry is invalidated only by an admin who overrides the protection
// with a reason.
func invalidateRefusal(a accounts.Account, role auth.Role, reason string, override, reasonRequired bool) (result, msg string) {
	switch p := a.TenantProtection; {
	case len(reason) > maxLookupReason:
		return audit.Failure, fmt.Sprintf("The reason is longer than %d bytes.", maxLookupReason)
	case p == nil && reasonRequired && reason == "":
		return audit.Failure, "Give a reason (the ticket) for this invalidation: it goes to the audit log."
	case p == nil:
		return "", ""
	case !role.AtLeast(auth.Admin):
		return audit.Denied, "This tenant is protected (" + p.Reason + "): its cache entry is not invalidated. Only an admin can do it, by overriding the protection with a reason."
	case !override:
		return audit.Denied, "This tenant is protected (" + p.Reason + "): tick “Override the tenant's protection” and give a reason to invalidate its cache entry anyway."
	case reason == "":
		return audit.Failure, "Overriding the tenant's protection needs a reason: it goes to the audit log."
	}
	return "", ""
}

// protectionText says who protected the account, when and why, and
// exactly what the protection covers.
func protectionText(kind string, p *accounts.Protection) string {
	if p == nil {
		return ""
	}
	who := fmt.Sprintf("Protected by %s since %s: %q. ", p.By, p.At.UTC().Format("2006-01-02 15:04Z"), p.Reason)
	if kind == "tenant" {
		return who + "The console refuses to invalidate this tenant's cache entry unless an admin overrides the protection with a reason (audited). " +
			"With the platform's optional trigger, scripts cannot delete the tenant, its users or its workspaces. " +
			"The console has no other action on the tenant; dead-letter retries and purges are not covered."
	}
	return who + "The console has no action that changes a user. " +
		"With the platform's optional trigger, scripts cannot delete this user."
}

// trailView is the page's protection, protection history, timeline and
// summary for the ticket.
func trailView(kind string, a accounts.Account, likely string, now time.Time) views.AccountTrail {
	t := views.AccountTrail{}
	if kind == "user" {
		t.Protection = protectionText("user", a.UserProtection)
	} else {
		t.Protection = protectionText("tenant", a.TenantProtection)
	}
	for _, h := range a.History {
		t.History = append(t.History, views.ProtectionHistoryRow{At: h.At.UTC().Format("2006-01-02 15:04:05Z"), Account: h.Kind + " " + h.ID,
			Change: h.Change, Reason: h.Reason, OldReason: h.OldReason, By: h.By})
	}
	tl := accounts.Timeline(a)
	for _, e := range tl {
		t.Timeline = append(t.Timeline, views.AccountTimelineLine{At: e.At.UTC().Format("2006-01-02 15:04:05Z"), Source: e.Source,
			What: e.What, Who: e.Who, Result: e.Result})
	}
	t.Summary = accounts.Summary(a, tl, likely, now)
	return t
}

// refuse audits an action on an account as refused (result, with msg as
// its error) and renders the account's page saying why: 403 when denied,
// else 400.
func (h *Accounts) refuse(c echo.Context, kind string, a accounts.Account, e audit.Entry, result, msg string) error {
	e.Result = result
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details["error"] = msg
	_ = h.Record(c, e)
	status := http.StatusBadRequest
	if result == audit.Denied {
		status = http.StatusForbidden
	}
	return h.render(c, kind, a, status, msg)
}
