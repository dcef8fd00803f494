package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/views"
)

// OperatorStore is what operator management needs.
type OperatorStore interface {
	Profiles(ctx context.Context) ([]auth.Profile, error)
	Operator(ctx context.Context, id int64) (auth.Account, error)
	InviteOperator(ctx context.Context, email string, role auth.Role, invitedBy string) (auth.Account, error)
	SetRole(ctx context.Context, id int64, role auth.Role) (auth.Role, error)
	SetDisabled(ctx context.Context, id int64, disabled bool) error
	EndSessions(ctx context.Context, id int64) (int64, error)
	EndSessionByID(ctx context.Context, id int64, sessionID string) error
	ResetSecondFactor(ctx context.Context, id int64) error
	IssueReset(ctx context.Context, id int64, by string) (string, error)
}

// Operators lets admins manage operator accounts: invite, change roles,
// disable, end sessions, reset a second factor and issue one-time
// password links. An admin never chooses or learns anyone's password.
type Operators struct {
	*Base
	Store   OperatorStore
	Cookies Cookies
	// Password says password sign-in is on (links are offered); SSO that
	// single sign-on is; Required reports whether a role must use a
	// second factor with a password.
	Password bool
	SSO      bool
	Required func(auth.Role) bool
}

// flashes are the fixed messages a redirect can ask for (never free text
// from the URL).
var flashes = map[string]string{
	"role":     "Role changed.",
	"disabled": "Operator disabled; their sessions were ended.",
	"enabled":  "Operator enabled.",
	"sessions": "Sessions ended.",
	"session":  "Session ended.",
	"factor":   "Second factor reset; their sessions were ended. They set up a new one at their next password sign-in.",
	"throttle": "Sign-in throttle cleared.",
}

// List renders the operators page.
func (h *Operators) List(c echo.Context) error {
	return h.render(c, http.StatusOK, views.Operators{NewRole: string(auth.Viewer)})
}

func (h *Operators) render(c echo.Context, status int, m views.Operators) error {
	ps, err := h.Store.Profiles(c.Request().Context())
	if err != nil {
		return err
	}
	self := CurrentSession(c).Account.ID
	now := time.Now()
	for _, p := range ps {
		m.Rows = append(m.Rows, h.row(p, p.ID == self, now))
	}
	for _, r := range auth.Roles {
		m.Roles = append(m.Roles, string(r))
	}
	m.Password, m.SSO = h.Password, h.SSO
	if ts, ok := h.Store.(ThrottleStore); ok {
		m.Throttles, m.ThrottleErr = throttleRows(c.Request().Context(), ts)
	}
	p := h.Page(c, "Operators", "operators")
	if msg, ok := flashes[c.QueryParam("done")]; ok && status == http.StatusOK {
		p.Flash = views.Flash{Kind: "ok", Text: msg}
	}
	return Render(c, status, views.OperatorsPage(p, m))
}

// row is one operator as the page lists it.
func (h *Operators) row(p auth.Profile, self bool, now time.Time) views.OperatorRow {
	r := views.OperatorRow{ID: p.ID, Email: p.Email, Role: string(p.Role), Disabled: p.Disabled,
		CreatedAt: p.CreatedAt.UTC().Format("2006-01-02 15:04Z"), LastLogin: "never", Sessions: p.ActiveSessions, Self: self,
		SignIn: signInMethods(p), SecondFactor: "none"}
	if p.LastLoginAt != nil {
		r.LastLogin = p.LastLoginAt.UTC().Format("2006-01-02 15:04Z")
		if p.LastLoginMethod != "" {
			r.LastLogin += " (" + p.LastLoginMethod + ")"
		}
	}
	switch f := p.Factor; {
	case f.TOTP:
		r.SecondFactor = fmt.Sprintf("authenticator app since %s, %d recovery codes left", f.TOTPSince.UTC().Format("2006-01-02"), f.RecoveryLeft)
		r.HasFactor = true
	case f.Pending:
		r.SecondFactor = "being set up"
	}
	if f := p.Factor; f.Passkeys > 0 {
		r.SecondFactor += fmt.Sprintf(", %d passkeys", f.Passkeys)
		r.HasFactor = true
	}
	r.FactorMissing = !r.HasFactor && p.HasPassword && !p.IsDemo && h.Required != nil && h.Required(p.Role)
	r.SessionRows = sessionRows(p.Sessions, "", now)
	return r
}

// signInMethods says how an operator can sign in.
func signInMethods(p auth.Profile) string {
	var m []string
	if p.HasPassword {
		m = append(m, "password")
	}
	if p.SSOBound {
		m = append(m, "single sign-on")
	}
	switch {
	case p.RoleFromClaim:
		return "single sign-on (role from groups)"
	case len(m) > 0:
		return strings.Join(m, ", ")
	}
	return "invited: not signed in yet"
}

// Create invites an operator by email with a role. They sign in through
// single sign-on, or set a password with the one-time link shown once
// here. The intent is audited first; without it nothing is created.
func (h *Operators) Create(c echo.Context) error {
	email := c.FormValue("email")
	role, err := auth.ParseRole(c.FormValue("role"))
	form := views.Operators{NewEmail: email, NewRole: c.FormValue("role")}
	norm := auth.NormalizeEmail(clipString(email, 320))
	target := "operator:" + norm
	me := CurrentSession(c).Account.Email
	if err == nil {
		if ierr := h.RecordIntent(c, audit.Entry{Action: "operator.create", Target: target, Details: map[string]any{"role": string(role)}},
			"add operator "+norm); ierr != nil {
			return ierr
		}
		var a auth.Account
		a, err = h.Store.InviteOperator(c.Request().Context(), email, role, me)
		if err == nil {
			_ = h.Record(c, audit.Entry{Action: "operator.create", Target: "operator:" + a.Email, Result: audit.Success,
				Details: map[string]any{"role": string(role)}})
			m := views.Operators{NewRole: string(auth.Viewer), Created: a.Email}
			if h.Password {
				return h.issueLink(c, a, m)
			}
			return h.render(c, http.StatusOK, m)
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

// PasswordLink issues a one-time password link for an operator (their
// earlier links stop working) and shows it once.
func (h *Operators) PasswordLink(c echo.Context) error {
	a, err := h.target(c)
	if err != nil {
		return err
	}
	if !h.Password {
		return echo.NewHTTPError(http.StatusConflict, "password sign-in is turned off (PASSWORD_LOGIN=false)")
	}
	if ierr := h.RecordIntent(c, audit.Entry{Action: "operator.password.link", Target: "operator:" + a.Email}, "issue a password link for "+a.Email); ierr != nil {
		return ierr
	}
	return h.issueLink(c, a, views.Operators{NewRole: string(auth.Viewer)})
}

// issueLink issues a password link for a and shows the page with it.
func (h *Operators) issueLink(c echo.Context, a auth.Account, m views.Operators) error {
	token, err := h.Store.IssueReset(c.Request().Context(), a.ID, CurrentSession(c).Account.Email)
	e := audit.Entry{Action: "operator.password.link", Target: "operator:" + a.Email, Result: audit.Success,
		Details: map[string]any{"valid_for": auth.ResetLinkTTL.String()}}
	if err != nil {
		e.Result, e.Details = audit.Failure, map[string]any{"error": err.Error()}
		_ = h.Record(c, e)
		m.Error = "No password link was made: " + err.Error()
		return h.render(c, http.StatusConflict, m)
	}
	_ = h.Record(c, e)
	scheme := "http"
	if h.Cookies.Secure(c.Request()) {
		scheme = "https"
	}
	m.Link = &views.PasswordLink{Email: a.Email, URL: scheme + "://" + c.Request().Host + "/password?token=" + token,
		ValidFor: "24 hours"}
	return h.render(c, http.StatusOK, m)
}

// target loads the operator named by the :id parameter.
func (h *Operators) target(c echo.Context) (auth.Account, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return auth.Account{}, echo.NewHTTPError(http.StatusBadRequest, "operator id must be a positive number")
	}
	a, err := h.Store.Operator(c.Request().Context(), id)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.Account{}, echo.NewHTTPError(http.StatusNotFound, "no operator with id "+c.Param("id"))
	}
	return a, err
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

// EndSession ends one session of an operator.
func (h *Operators) EndSession(c echo.Context) error {
	return h.change(c, opChange{action: "operator.session.end", verb: "end a session of", done: "session",
		apply: func(ctx context.Context, a auth.Account) (map[string]any, error) {
			err := h.Store.EndSessionByID(ctx, a.ID, c.Param("session"))
			if errors.Is(err, auth.ErrNoSession) {
				err = errors.New("that session already ended")
			}
			return map[string]any{"sessions_ended": 1}, err
		}})
}

// ResetSecondFactor removes an operator's authenticator app, recovery
// codes and passkeys, and ends their sessions: they set up a new second
// factor at their next password sign-in.
func (h *Operators) ResetSecondFactor(c echo.Context) error {
	return h.change(c, opChange{action: "operator.second_factor.reset", verb: "reset the second factor of", done: "factor",
		apply: func(ctx context.Context, a auth.Account) (map[string]any, error) {
			if err := h.Store.ResetSecondFactor(ctx, a.ID); err != nil {
				return nil, err
			}
			n, err := h.Store.EndSessions(ctx, a.ID)
			return map[string]any{"sessions_ended": n}, err
		}})
}

// change runs one change to the operator named by the :id parameter: its
// intent is audited first (without it nothing changes, 503), then its
// result; it redirects back with a flash or re-renders with the error. An
// admin cannot change their own role, disable themselves or reset their
// own second factor.
func (h *Operators) change(c echo.Context, ch opChange) error {
	ctx := c.Request().Context()
	a, err := h.target(c)
	if err != nil {
		return err
	}
	target := "operator:" + a.Email
	var details map[string]any
	switch {
	case ch.refused != nil:
		err = ch.refused
	case a.ID == CurrentSession(c).Account.ID && (ch.action == "operator.role" || ch.action == "operator.disable" || ch.action == "operator.second_factor.reset"):
		err = errors.New("you cannot change your own role, disable yourself or reset your own second factor; ask another admin")
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
