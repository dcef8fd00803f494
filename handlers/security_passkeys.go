package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/views"
)

// passkeyRows fills the passkeys part of the security page: the list
// (when the operator has any) and whether one can be added.
func (h *Security) passkeyRows(c echo.Context, m *views.Security, count int, now time.Time) error {
	m.PasskeysOn = h.Passkeys != nil
	if count == 0 {
		return nil
	}
	keys, err := h.Store.ListPasskeys(c.Request().Context(), CurrentSession(c).Account.ID)
	if err != nil {
		return err
	}
	m.PasskeysFull = len(keys) >= auth.MaxPasskeys
	for _, k := range keys {
		r := views.PasskeyRow{Key: k.Key(), Name: k.Name, Added: k.CreatedAt.UTC().Format("2006-01-02 15:04Z"), LastUsed: "never"}
		if k.LastUsedAt != nil {
			r.LastUsed = human.Ago(*k.LastUsedAt, now)
		}
		m.PasskeyRows = append(m.PasskeyRows, r)
	}
	return nil
}

// AddPasskey is where the form adding a passkey posts without script, or
// when the session was not fresh (the route asks for a step-up first):
// it shows the page again with the name filled in, ready for the browser.
func (h *Security) AddPasskey(c echo.Context) error {
	if h.Passkeys == nil {
		return echo.NewHTTPError(http.StatusNotFound, capitalize(auth.ErrPasskeysOff.Error())+".")
	}
	return h.render(c, http.StatusOK, views.Security{PasskeyName: auth.CleanPasskeyName(clipString(c.FormValue("name"), 400)),
		Flash: "You can add the passkey now: press “Add a passkey” and follow your browser."})
}

// BeginPasskey starts adding a passkey for the signed-in operator and
// answers the creation options for navigator.credentials.create. It
// needs a fresh sign-in, like the form it serves: a stale session gets
// 403 with stepUp set, and the script then posts the form through the
// step-up.
func (h *Security) BeginPasskey(c echo.Context) error {
	if h.Passkeys == nil {
		return passkeysOff(c)
	}
	if h.FreshAuth != nil && !h.FreshAuth(c) {
		return c.JSON(http.StatusForbidden, PasskeyAnswer{Error: "Confirm it's you first.", StepUp: true})
	}
	s := CurrentSession(c)
	opts, err := h.Store.BeginPasskeyRegistration(c.Request().Context(), h.Passkeys, s.Account.ID, h.Cookies.Token(c))
	if errors.Is(err, auth.ErrTooManyPasskeys) {
		return passkeyRefused(c, http.StatusConflict, capitalize(err.Error())+".", "")
	}
	if err != nil {
		return Unavailable("the console's database", err)
	}
	return c.JSON(http.StatusOK, opts)
}

// FinishPasskey checks the new passkey the browser posted (the JSON of
// its PublicKeyCredential), stores it under the name in the query and
// answers where to go. A session that had no second factor counts as
// having one from now on, as after setting up an authenticator app.
func (h *Security) FinishPasskey(c echo.Context) error {
	if h.Passkeys == nil {
		return passkeysOff(c)
	}
	if h.FreshAuth != nil && !h.FreshAuth(c) {
		return c.JSON(http.StatusForbidden, PasskeyAnswer{Error: "Confirm it's you first.", StepUp: true})
	}
	body, err := readCredential(c)
	if err != nil {
		return err
	}
	s := CurrentSession(c)
	ctx := c.Request().Context()
	token := h.Cookies.Token(c)
	target := "operator:" + s.Account.Email
	k, err := h.Store.FinishPasskeyRegistration(ctx, h.Passkeys, s.Account.ID, token, c.QueryParam("name"), body)
	if err != nil {
		msg, details, ok := passkeyRefusal(err)
		switch {
		case errors.Is(err, auth.ErrTooManyPasskeys), errors.Is(err, auth.ErrPasskeyExists):
			msg, details, ok = capitalize(err.Error())+".", map[string]any{"reason": "passkey_not_added"}, true
		case ok && errors.Is(err, auth.ErrPasskeyRefused):
			msg = "Your browser's answer was not accepted; try again."
		}
		if !ok {
			return Unavailable("the console's database", err)
		}
		_ = h.Record(c, audit.Entry{Action: "second_factor.passkey.add", Target: target, Result: audit.Failure, Details: details})
		return passkeyRefused(c, http.StatusBadRequest, msg, "")
	}
	if s.SignIn.SecondFactor == "" {
		if err := h.Store.SetSessionFactor(ctx, token, auth.MethodPasskey); err != nil {
			return err
		}
	}
	_ = h.Record(c, audit.Entry{Action: "second_factor.passkey.add", Target: target, Result: audit.Success,
		Details: map[string]any{"name": k.Name}})
	return c.JSON(http.StatusOK, PasskeyAnswer{Redirect: "/account?done=passkey"})
}

// RemovePasskey removes one of the signed-in operator's passkeys, named
// by its key in the path.
func (h *Security) RemovePasskey(c echo.Context) error {
	s := CurrentSession(c)
	key, ok := auth.ParsePasskeyKey(c.Param("passkey"))
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such passkey of yours")
	}
	k, err := h.Store.DeletePasskey(c.Request().Context(), s.Account.ID, key)
	if errors.Is(err, auth.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no such passkey of yours")
	}
	if err != nil {
		return err
	}
	_ = h.Record(c, audit.Entry{Action: "second_factor.passkey.remove", Target: "operator:" + s.Account.Email, Result: audit.Success,
		Details: map[string]any{"name": k.Name}})
	return c.Redirect(http.StatusSeeOther, "/account?done=passkey-removed")
}
