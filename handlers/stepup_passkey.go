package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
)

// PasskeyBegin checks the password posted with the kept form's id (the
// step-up form's fields) and, when it is right, starts a passkey check of
// the signed-in operator bound to the session, answering the request
// options for navigator.credentials.get. The check can only begin after
// the password, so a finished one proves both.
func (h *StepUp) PasskeyBegin(c echo.Context) error {
	if h.Passkeys == nil {
		return passkeysOff(c)
	}
	ctx := c.Request().Context()
	token := h.Cookies.Token(c)
	d, err := h.Store.Draft(ctx, token, c.FormValue("draft"))
	if errors.Is(err, auth.ErrNoDraft) {
		return passkeyRefused(c, http.StatusNotFound, err.Error(), "")
	}
	if err != nil {
		return Unavailable("the console's database", err)
	}
	r, err := h.checkPassword(c, c.FormValue("password"))
	if err != nil {
		return err
	}
	if r != nil {
		_ = h.Record(c, audit.Entry{Action: "step_up", Target: d.Action, Result: audit.Failure, Details: map[string]any{"reason": r.reason}})
		return passkeyRefused(c, r.status, r.msg, "")
	}
	opts, err := h.Store.BeginPasskeyAssertion(ctx, h.Passkeys, CurrentSession(c).Account.ID, auth.CeremonyStepUp, token)
	if errors.Is(err, auth.ErrNoPasskeys) {
		return passkeyRefused(c, http.StatusConflict, "You have no passkey; use a code from your authenticator app.", "")
	}
	if err != nil {
		return Unavailable("the console's database", err)
	}
	return c.JSON(http.StatusOK, opts)
}

// PasskeyFinish checks the browser's passkey answer for the step-up of
// the kept form named in the query; on success the session is fresh and
// the script is told to go back to the page that offers the form again.
func (h *StepUp) PasskeyFinish(c echo.Context) error {
	if h.Passkeys == nil {
		return passkeysOff(c)
	}
	ctx := c.Request().Context()
	token := h.Cookies.Token(c)
	d, err := h.Store.Draft(ctx, token, c.QueryParam("draft"))
	if errors.Is(err, auth.ErrNoDraft) {
		return passkeyRefused(c, http.StatusNotFound, err.Error(), "")
	}
	if err != nil {
		return Unavailable("the console's database", err)
	}
	body, err := readCredential(c)
	if err != nil {
		return err
	}
	_, err = h.Store.FinishPasskeyAssertion(ctx, h.Passkeys, CurrentSession(c).Account.ID, auth.CeremonyStepUp, token, body)
	if msg, details, ok := passkeyRefusal(err); ok {
		_ = h.Record(c, audit.Entry{Action: "step_up", Target: d.Action, Result: audit.Failure, Details: details})
		return passkeyRefused(c, http.StatusUnauthorized, msg, "")
	}
	if err != nil {
		return Unavailable("the console's database", err)
	}
	to, err := h.refresh(c, d, auth.MethodPasskey)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, PasskeyAnswer{Redirect: to})
}
