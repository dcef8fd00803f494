package handlers

import (
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/auth"
)

// PasskeyAnswer is what the passkey endpoints answer static/js/passkey.js
// with once a ceremony is over or refused: where to go next, or what went
// wrong. StepUp says the form must go through a fresh sign-in first.
type PasskeyAnswer struct {
	Redirect string `json:"redirect,omitempty"`
	Error    string `json:"error,omitempty"`
	StepUp   bool   `json:"stepUp,omitempty"`
}

// maxCredentialBytes bounds the JSON of a PublicKeyCredential a browser
// posts; real ones are a few kilobytes.
const maxCredentialBytes = 64 << 10

// passkeyRefused answers the script with status and msg, and where to go
// when the ceremony cannot go on here (redirect, may be empty).
func passkeyRefused(c echo.Context, status int, msg, redirect string) error {
	return c.JSON(status, PasskeyAnswer{Error: msg, Redirect: redirect})
}

// passkeysOff answers a passkey endpoint of a console without passkeys.
func passkeysOff(c echo.Context) error {
	return passkeyRefused(c, http.StatusNotFound, capitalize(auth.ErrPasskeysOff.Error())+".", "")
}

// readCredential reads the PublicKeyCredential JSON the browser posted.
func readCredential(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, maxCredentialBytes+1))
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "the passkey's answer could not be read")
	}
	if len(b) > maxCredentialBytes {
		return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "the passkey's answer is too large")
	}
	return b, nil
}

// passkeyRefusal is what a person is told, and the audit log keeps,
// about a passkey answer refused; ok is false for other errors.
func passkeyRefusal(err error) (msg string, details map[string]any, ok bool) {
	switch {
	case errors.Is(err, auth.ErrPasskeyCloned):
		return "That passkey was refused: its signature counter went backwards, so it may have been copied. Tell an admin.",
			map[string]any{"reason": "passkey_cloned", "second_factor": auth.MethodPasskey}, true
	case errors.Is(err, auth.ErrNoCeremony):
		return capitalize(err.Error()) + ".",
			map[string]any{"reason": "second_factor_wrong", "second_factor": auth.MethodPasskey, "passkey": "ceremony_unknown"}, true
	case errors.Is(err, auth.ErrPasskeyRefused):
		return "That passkey was not accepted. Try again, or use another passkey.",
			map[string]any{"reason": "second_factor_wrong", "second_factor": auth.MethodPasskey, "passkey": "refused"}, true
	}
	return "", nil, false
}
