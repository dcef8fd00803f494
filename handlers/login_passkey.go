package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
)

// expiredLogin is where a sign-in goes when its challenge is gone.
const expiredLogin = "/login?done=expired"

// PasskeyBegin starts the passkey check of a sign-in whose password was
// right (the challenge cookie says which) and answers the request
// options for navigator.credentials.get.
func (h *Login) PasskeyBegin(c echo.Context) error {
	if h.Passkeys == nil {
		return passkeysOff(c)
	}
	opts, err := h.Store.BeginChallengePasskey(c.Request().Context(), h.Passkeys, h.Cookies.Challenge(c))
	switch {
	case errors.Is(err, auth.ErrNoChallenge):
		h.Cookies.ClearChallenge(c)
		return passkeyRefused(c, http.StatusUnauthorized, capitalize(err.Error())+".", expiredLogin)
	case errors.Is(err, auth.ErrNoPasskeys):
		return passkeyRefused(c, http.StatusConflict, "You have no passkey; use a code from your authenticator app.", "")
	case err != nil:
		return Unavailable("the console's database", err)
	}
	return c.JSON(http.StatusOK, opts)
}

// PasskeyFinish checks the browser's passkey answer (the JSON of its
// PublicKeyCredential) as the second factor of the sign-in, as
// SecondFactorSubmit checks a code: on success the session starts and
// the script is told where to go; a refused answer is audited and counts
// against the sign-in's attempts.
func (h *Login) PasskeyFinish(c echo.Context) error {
	if h.Passkeys == nil {
		return passkeysOff(c)
	}
	body, err := readCredential(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	token := h.Cookies.Challenge(c)
	acct, next, err := h.Store.AnswerChallengeWithPasskey(ctx, h.Passkeys, token, body)
	if errors.Is(err, auth.ErrNoChallenge) {
		h.Cookies.ClearChallenge(c)
		_ = h.Record(c, audit.Entry{Action: "login", Result: audit.Failure, Details: map[string]any{"reason": "second_factor_challenge_gone"}})
		return passkeyRefused(c, http.StatusUnauthorized, capitalize(err.Error())+".", expiredLogin)
	}
	if msg, details, ok := passkeyRefusal(err); ok {
		_ = h.Record(c, audit.Entry{OperatorID: acct.ID, Operator: acct.Email, Role: string(acct.Role), Action: "login",
			Target: "operator:" + acct.Email, Result: audit.Failure, Details: details})
		if _, _, cerr := h.Store.Challenge(ctx, token); cerr != nil {
			h.Cookies.ClearChallenge(c)
			return passkeyRefused(c, http.StatusUnauthorized, capitalize(auth.ErrNoChallenge.Error())+".", expiredLogin)
		}
		return passkeyRefused(c, http.StatusUnauthorized, msg, "")
	}
	if err != nil {
		return Unavailable("the console's database", err)
	}
	h.Cookies.ClearChallenge(c)
	if err := h.startSession(c, acct, auth.SignIn{Method: auth.MethodPassword, SecondFactor: auth.MethodPasskey}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, PasskeyAnswer{Redirect: next})
}
