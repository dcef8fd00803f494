package handlers

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/sso"
	"github.com/atum/ops-console/views"
)

// SSOStarter starts a sign-in at the identity provider; fresh asks it to
// authenticate the person again (prompt=login, max_age=0).
type SSOStarter interface {
	Begin(ctx context.Context, flow sso.Flow, fresh bool) (authURL, state string, err error)
}

// SSOClient runs the whole OpenID Connect flow.
type SSOClient interface {
	SSOStarter
	Finish(ctx context.Context, q url.Values, cookieState string) (sso.Identity, sso.Flow, error)
}

// SSOStore admits people the identity provider vouched for.
type SSOStore interface {
	AdmitSSO(ctx context.Context, in auth.SSOIdentity) (auth.Account, error)
}

// SSO signs operators in through the identity provider, and refreshes a
// session's authentication there for a step-up.
type SSO struct {
	*Base
	Client  SSOClient
	Store   SSOStore
	Cookies Cookies
	Login   *Login
	StepUp  *StepUp
	// RoleClaim and RoleMap give roles from the provider's groups claim
	// (RoleClaim "" when roles come from invitations only).
	RoleClaim string
	RoleMap   sso.RoleMap

	starts perMinute
}

// MaxSSOStartsPerMinute is how many single sign-ons one client address
// may start a minute: each keeps a row until it expires.
const MaxSSOStartsPerMinute = 20

// ssoCookiePath is where the flow's state cookie is sent: the callback.
const ssoCookiePath = "/login/sso"

func (k Cookies) ssoName(r *http.Request) string {
	if k.Secure(r) {
		return "__Secure-atum_sso"
	}
	return "atum_sso"
}

// Start sends the person to the identity provider to sign in.
func (h *SSO) Start(c echo.Context) error {
	return h.begin(c, sso.Flow{Purpose: sso.PurposeLogin, Next: SafeNext(c.QueryParam("next"))}, false)
}

// StartStepUp sends a signed-in SSO operator to the identity provider to
// authenticate again, returning to the kept form.
func (h *SSO) StartStepUp(c echo.Context) error {
	d, err := h.StepUp.Store.Draft(c.Request().Context(), h.Cookies.Token(c), c.QueryParam("draft"))
	if errors.Is(err, auth.ErrNoDraft) {
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	}
	if err != nil {
		return err
	}
	flow := sso.Flow{Purpose: sso.PurposeStepUp, Next: "/reauth?draft=" + url.QueryEscape(d.ID), SessionHash: auth.SessionHash(h.Cookies.Token(c))}
	return h.begin(c, flow, true)
}

func (h *SSO) begin(c echo.Context, flow sso.Flow, fresh bool) error {
	if ok, wait := h.starts.allow(c.RealIP(), MaxSSOStartsPerMinute, time.Now()); !ok {
		retryAfter(c, wait)
		return echo.NewHTTPError(http.StatusTooManyRequests, "too many single sign-ons started from your address; try again in a minute")
	}
	authURL, state, err := h.Client.Begin(c.Request().Context(), flow, fresh)
	if err != nil {
		h.Log.Warn("single sign-on could not start", "error", err)
		return Unavailable("the identity provider", err)
	}
	h.Cookies.setShort(c, h.Cookies.ssoName(c.Request()), ssoCookiePath, state)
	return c.Redirect(http.StatusSeeOther, authURL)
}

// Callback finishes a flow the identity provider returned from: it signs
// the person in, or refreshes the session of a step-up. Every refusal is
// audited with its reason.
func (h *SSO) Callback(c echo.Context) error {
	ctx := c.Request().Context()
	state := ""
	if ck, err := c.Cookie(h.Cookies.ssoName(c.Request())); err == nil {
		state = ck.Value
	}
	h.Cookies.clearShort(c, h.Cookies.ssoName(c.Request()), ssoCookiePath)
	id, flow, err := h.Client.Finish(ctx, c.QueryParams(), state)
	var refusal *sso.Refusal
	if errors.As(err, &refusal) {
		details := map[string]any{"reason": refusal.Code, "via": "sso"}
		if refusal.Detail != "" {
			details["provider_error"] = refusal.Detail
		}
		if strings.HasPrefix(refusal.Code, "state_") {
			// Refused before asking the provider anything: anyone can
			// send these, so a flood is audited once a minute per
			// address and reason, with the count of those before.
			record, before := h.Login.refused.note(c.RealIP()+" sso "+refusal.Code, time.Now())
			if !record {
				return h.page(c, http.StatusUnauthorized, refusal.Message)
			}
			if before > 0 {
				details["refused_before_unaudited"] = before
			}
		}
		return h.refuse(c, http.StatusUnauthorized, "", refusal.Message, details)
	}
	if err != nil {
		h.Log.Warn("single sign-on could not finish", "error", err)
		return Unavailable("the identity provider", err)
	}
	in := auth.SSOIdentity{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, ClaimConfigured: h.RoleClaim != ""}
	if h.RoleClaim != "" {
		in.ClaimRole = h.RoleMap.RoleFor(id.Groups)
	}
	acct, err := h.Store.AdmitSSO(ctx, in)
	if err != nil {
		msg, code, ok := admitRefusal(err)
		if !ok {
			return Unavailable("the console's database", err)
		}
		return h.refuse(c, http.StatusForbidden, id.Email, msg, map[string]any{"reason": code, "via": "sso"})
	}
	if flow.Purpose == sso.PurposeStepUp {
		return h.steppedUp(c, acct, flow)
	}
	return h.Login.signIn(c, acct, auth.SignIn{Method: auth.MethodSSO}, SafeNext(flow.Next))
}

// steppedUp refreshes the session a step-up flow began in, if it is this
// browser's and the provider vouched for the same operator.
func (h *SSO) steppedUp(c echo.Context, acct auth.Account, flow sso.Flow) error {
	s, token := CurrentSession(c), h.Cookies.Token(c)
	if s == nil || token == "" || !bytes.Equal(auth.SessionHash(token), flow.SessionHash) || s.Account.ID != acct.ID {
		return h.refuse(c, http.StatusForbidden, acct.Email, "That sign-in was for another session or person; sign in again as yourself.",
			map[string]any{"reason": "step_up_other_session", "via": "sso"})
	}
	q, _ := url.Parse(flow.Next)
	d, err := h.StepUp.Store.Draft(c.Request().Context(), token, q.Query().Get("draft"))
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, auth.ErrNoDraft.Error())
	}
	return h.StepUp.done(c, d, "")
}

// refuse audits a refused single sign-on and shows the sign-in page with
// msg.
func (h *SSO) refuse(c echo.Context, status int, email, msg string, details map[string]any) error {
	who := "(unknown)"
	if email != "" {
		who = AuditEmail(email)
	}
	_ = h.Record(c, audit.Entry{Operator: who, Action: "login", Target: "operator:" + who, Result: audit.Failure, Details: details})
	return h.page(c, status, msg)
}

// page shows the sign-in page with msg.
func (h *SSO) page(c echo.Context, status int, msg string) error {
	m := h.Login.model("", "/")
	m.Error = msg
	return Render(c, status, views.LoginPage(h.Page(c, "Sign in", ""), m))
}

// admitRefusal is what a person is told, and the audit log keeps, when
// the identity provider vouched for them but the console does not admit
// them; ok is false for other errors.
func admitRefusal(err error) (msg, code string, ok bool) {
	switch {
	case errors.Is(err, auth.ErrNotInvited):
		return "Your account has not been given access to the console. Ask an admin to invite your email.", "not_invited", true
	case errors.Is(err, auth.ErrSSOMismatch):
		return "This console account is linked to another identity. Ask an admin.", "identity_mismatch", true
	case errors.Is(err, auth.ErrDisabled):
		return "Your console account is disabled. Ask an admin.", "disabled", true
	case errors.Is(err, auth.ErrDemoInProd):
		return "Demo accounts cannot sign in here.", "demo_operator_outside_demo", true
	}
	return "", "", false
}
