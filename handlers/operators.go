package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/views"
)

// OperatorStore is what operator management needs.
type OperatorStore interface {
	Operators(ctx context.Context) ([]auth.Account, error)
	Operator(ctx context.Context, id int64) (auth.Account, error)
	CreateOperator(ctx context.Context, email string, role auth.Role, password string, demo bool) (auth.Account, error)
	SetRole(ctx context.Context, id int64, role auth.Role) (auth.Role, error)
	SetDisabled(ctx context.Context, id int64, disabled bool) error
	EndSessions(ctx context.Context, id int64) (int64, error)
}

// Operators lets admins manage operator accounts.
type Operators struct {
	*Base
	Store OperatorStore
}

// flashes are the fixed messages a redirect can ask for (never free text
// from the URL).
var flashes = map[string]string{
	"created":  "Operator added.",
	"role":     "Role changed.",
	"disabled": "Operator disabled; their sessions were ended.",
	"enabled":  "Operator enabled.",
	"sessions": "Sessions ended.",
	"throttle": "Sign-in throttle cleared.",
}

// List renders the operators page.
func (h *Operators) List(c echo.Context) error {
	return h.render(c, http.StatusOK, views.Operators{NewRole: string(auth.Viewer)})
}

func (h *Operators) render(c echo.Context, status int, m views.Operators) error {
	accts, err := h.Store.Operators(c.Request().Context())
	if err != nil {
		return err
	}
	self := CurrentSession(c).Account.ID
	for _, a := range accts {
		row := views.OperatorRow{ID: a.ID, Email: a.Email, Role: string(a.Role), Disabled: a.Disabled,
			CreatedAt: a.CreatedAt.UTC().Format("2006-01-02 15:04Z"), LastLogin: "never", Sessions: a.ActiveSessions, Self: a.ID == self}
		if a.LastLoginAt != nil {
			row.LastLogin = a.LastLoginAt.UTC().Format("2006-01-02 15:04Z")
		}
		m.Rows = append(m.Rows, row)
	}
	for _, r := range auth.Roles {
		m.Roles = append(m.Roles, string(r))
	}
	if ts, ok := h.Store.(ThrottleStore); ok {
		m.Throttles, m.ThrottleErr = throttleRows(c.Request().Context(), ts)
	}
	p := h.Page(c, "Operators", "operators")
	if msg, ok := flashes[c.QueryParam("done")]; ok && status == http.StatusOK {
		p.Flash = views.Flash{Kind: "ok", Text: msg}
	}
	return Render(c, status, views.OperatorsPage(p, m))
}

// Create adds an operator from the posted email, role and password. The
// intent is audited first; without it nothing is created.
func (h *Operators) Create(c echo.Context) error {
	email, password := c.FormValue("email"), c.FormValue("password")
	role, err := auth.ParseRole(c.FormValue("role"))
	form := views.Operators{NewEmail: email, NewRole: c.FormValue("role")}
	norm := auth.NormalizeEmail(clipString(email, 320))
	target := "operator:" + norm
	if err == nil {
		if ierr := h.RecordIntent(c, audit.Entry{Action: "operator.create", Target: target, Details: map[string]any{"role": string(role)}},
			"add operator "+norm); ierr != nil {
			return ierr
		}
		var a auth.Account
		a, err = h.Store.CreateOperator(c.Request().Context(), email, role, password, false)
		if err == nil {
			_ = h.Record(c, audit.Entry{Action: "operator.create", Target: "operator:" + a.Email, Result: audit.Success,
				Details: map[string]any{"role": string(role)}})
			return c.Redirect(http.StatusSeeOther, "/operators?done=created")
		}
	}
	_ = h.Record(c, audit.Entry{Action: "operator.create", Target: target, Result: audit.Failure, Details: map[string]any{"error": err.Error()}})
	form.Error = err.Error()
	status := http.StatusBadRequest
	if errors.Is(err, auth.ErrEmailTaken) {
		status = http.StatusConflict
	}
	return h.render(c, status, form)
}

// opChange is one change to an operator account.
type opChange struct {
	// verb names the change in messages ("disable", "end the sessions of").
	action, verb, done string
	// intent is what the intent event records; refused is an input error
	// found before anything is done (audited as a failure, no intent).
	intent  map[string]any
	refused error
	apply   func(context.Context, auth.Account) (map[string]any, error)
}

// SetRole changes an operator's role.
func (h *Operators) SetRole(c echo.Context) error {
	role, err := auth.ParseRole(c.FormValue("role"))
	return h.change(c, opChange{action: "operator.role", verb: "change the role of", done: "role", intent: map[string]any{"role": string(role)}, refused: err,
		apply: func(ctx context.Context, a auth.Account) (map[string]any, error) {
			before, err := h.Store.SetRole(ctx, a.ID, role)
			return map[string]any{"before": string(before), "after": string(role)}, err
		}})
}

// Disable disables an operator and ends their sessions.
func (h *Operators) Disable(c echo.Context) error {
	return h.change(c, opChange{action: "operator.disable", verb: "disable", done: "disabled",
		apply: func(ctx context.Context, a auth.Account) (map[string]any, error) {
			return map[string]any{"sessions_ended": a.ActiveSessions}, h.Store.SetDisabled(ctx, a.ID, true)
		}})
}

// Enable re-enables a disabled operator.
func (h *Operators) Enable(c echo.Context) error {
	return h.change(c, opChange{action: "operator.enable", verb: "enable", done: "enabled",
		apply: func(ctx context.Context, a auth.Account) (map[string]any, error) {
			return nil, h.Store.SetDisabled(ctx, a.ID, false)
		}})
}

// EndSessions ends every session of an operator.
func (h *Operators) EndSessions(c echo.Context) error {
	return h.change(c, opChange{action: "operator.sessions.end", verb: "end the sessions of", done: "sessions",
		apply: func(ctx context.Context, a auth.Account) (map[string]any, error) {
			n, err := h.Store.EndSessions(ctx, a.ID)
			return map[string]any{"sessions_ended": n}, err
		}})
}

// change runs one change to the operator named by the :id parameter: its
// intent is audited first (without it nothing changes, 503), then its
// result; it redirects back with a flash or re-renders with the error. An
// admin cannot change their own role or disable themselves.
func (h *Operators) change(c echo.Context, ch opChange) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "operator id must be a positive number")
	}
	ctx := c.Request().Context()
	a, err := h.Store.Operator(ctx, id)
	if errors.Is(err, auth.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no operator with id "+c.Param("id"))
	}
	if err != nil {
		return err
	}
	target := "operator:" + a.Email
	var details map[string]any
	switch {
	case ch.refused != nil:
		err = ch.refused
	case a.ID == CurrentSession(c).Account.ID && (ch.action == "operator.role" || ch.action == "operator.disable"):
		err = errors.New("you cannot change your own role or disable yourself; ask another admin")
	default:
		if ierr := h.RecordIntent(c, audit.Entry{Action: ch.action, Target: target, Details: ch.intent}, ch.verb+" operator "+a.Email); ierr != nil {
			return ierr
		}
		details, err = ch.apply(ctx, a)
	}
	e := audit.Entry{Action: ch.action, Target: target, Result: audit.Success, Details: details}
	if err != nil {
		e.Result, e.Details = audit.Failure, map[string]any{"error": err.Error()}
	}
	_ = h.Record(c, e)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, auth.ErrLastAdmin) {
			status = http.StatusConflict
		}
		return h.render(c, status, views.Operators{Error: err.Error(), NewRole: string(auth.Viewer)})
	}
	return c.Redirect(http.StatusSeeOther, "/operators?done="+ch.done)
}
