package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/views"
)

// SecurityStore is what an operator's own security page needs.
type SecurityStore interface {
	Profile(ctx context.Context, id int64) (auth.Profile, error)
	Authenticate(ctx context.Context, email, password, clientIP string) (auth.Account, error)
	ChangePassword(ctx context.Context, id int64, password, keepToken string) (int64, error)
	StartTOTP(ctx context.Context, id int64, issuer string) (*otp.Key, error)
	PendingTOTP(ctx context.Context, id int64, issuer string) (*otp.Key, error)
	ConfirmTOTP(ctx context.Context, id int64, code string) ([]string, error)
	RegenerateRecoveryCodes(ctx context.Context, id int64) ([]string, error)
	SetSessionFactor(ctx context.Context, token, factor string) error
	EndSessionByID(ctx context.Context, id int64, sessionID string) error
	ListPasskeys(ctx context.Context, id int64) ([]auth.Passkey, error)
	DeletePasskey(ctx context.Context, id int64, key []byte) (auth.Passkey, error)
	BeginPasskeyRegistration(ctx context.Context, rp *auth.Passkeys, id int64, token string) (*protocol.CredentialCreation, error)
	FinishPasskeyRegistration(ctx context.Context, rp *auth.Passkeys, id int64, token, name string, response []byte) (auth.Passkey, error)
}

// Security is the signed-in operator's own page: how they signed in,
// their second factor, their password and their sessions.
type Security struct {
	*Base
	Store   SecurityStore
	Cookies Cookies
	// Issuer names the console in authenticator apps; SSO says single
	// sign-on is on; Required reports whether a role must use a second
	// factor with a password.
	Issuer   string
	SSO      bool
	Required func(auth.Role) bool
	// Passkeys is the console as a WebAuthn relying party (nil: passkeys
	// cannot be added, as the console's public URL is unknown).
	Passkeys *auth.Passkeys
}

// Show renders the page.
func (h *Security) Show(c echo.Context) error {
	m := views.Security{}
	switch c.QueryParam("done") {
	case "password":
		m.Flash = "Password changed; your other sessions were ended."
	case "session":
		m.Flash = "Session ended."
	case "passkey":
		m.Flash = "Passkey added. Sign-ins and confirmations can use it from now on."
	case "passkey-removed":
		m.Flash = "Passkey removed."
	}
	return h.render(c, http.StatusOK, m)
}

func (h *Security) render(c echo.Context, status int, m views.Security) error {
	s := CurrentSession(c)
	p, err := h.Store.Profile(c.Request().Context(), s.Account.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	m.Email, m.Role = p.Email, string(p.Role)
	m.SignIn, m.AuthenticatedAgo = s.SignIn.String(), human.Ago(s.AuthenticatedAt, now)
	m.HasPassword, m.SSO, m.SSOBound = p.HasPassword, h.SSO, p.SSOBound
	m.TOTP, m.RecoveryLeft, m.Passkeys = p.Factor.TOTP, p.Factor.RecoveryLeft, p.Factor.Passkeys
	if p.Factor.TOTPSince != nil {
		m.TOTPSince = p.Factor.TOTPSince.UTC().Format("2006-01-02 15:04Z")
	}
	m.Required = NeedsSecondFactor(s, h.Required)
	if m.Enrol == nil && p.Factor.Pending && !p.Factor.TOTP {
		if key, err := h.Store.PendingTOTP(c.Request().Context(), s.Account.ID, h.Issuer); err == nil {
			m.Enrol = h.enrol(key, "")
		}
	}
	if err := h.passkeyRows(c, &m, p.Factor.Passkeys, now); err != nil {
		return err
	}
	m.Sessions = sessionRows(p.Sessions, auth.SessionID(h.Cookies.Token(c)), now)
	return Render(c, status, views.SecurityPage(h.Page(c, "Your account", ""), m))
}

// NeedsSecondFactor reports whether the session's operator must set up a
// second factor before anything else opens: a password sign-in without
// one, for a role that requires one (demo operators in demo mode never).
func NeedsSecondFactor(s *auth.Session, required func(auth.Role) bool) bool {
	return s != nil && required != nil && required(s.Account.Role) && !s.Account.IsDemo &&
		s.SignIn.Method == auth.MethodPassword && s.SignIn.SecondFactor == ""
}

func (h *Security) enrol(key *otp.Key, errText string) *views.TOTPEnrol {
	qr, err := auth.QRCode(key)
	if err != nil {
		h.Log.Warn("qr code", "error", err)
	}
	return &views.TOTPEnrol{QR: qr, Secret: key.Secret(), Error: errText}
}

// StartTOTP begins setting up an authenticator app and shows its QR code.
func (h *Security) StartTOTP(c echo.Context) error {
	s := CurrentSession(c)
	key, err := h.Store.StartTOTP(c.Request().Context(), s.Account.ID, h.Issuer)
	if errors.Is(err, auth.ErrTOTPEnabled) {
		return h.render(c, http.StatusConflict, views.Security{Error: "An authenticator app is already set up. An admin can reset it."})
	}
	if err != nil {
		return err
	}
	_ = h.Record(c, audit.Entry{Action: "second_factor.totp.start", Target: "operator:" + s.Account.Email, Result: audit.Success})
	return h.render(c, http.StatusOK, views.Security{Enrol: h.enrol(key, "")})
}

// ConfirmTOTP turns the authenticator app on once its first code is
// right, and shows the recovery codes once.
func (h *Security) ConfirmTOTP(c echo.Context) error {
	s := CurrentSession(c)
	ctx := c.Request().Context()
	codes, err := h.Store.ConfirmTOTP(ctx, s.Account.ID, strings.TrimSpace(clipString(c.FormValue("code"), 64)))
	target := "operator:" + s.Account.Email
	if errors.Is(err, auth.ErrBadCode) {
		_ = h.Record(c, audit.Entry{Action: "second_factor.totp.enable", Target: target, Result: audit.Failure, Details: map[string]any{"reason": "second_factor_wrong"}})
		key, kerr := h.Store.PendingTOTP(ctx, s.Account.ID, h.Issuer)
		if kerr != nil {
			return h.render(c, http.StatusBadRequest, views.Security{Error: "That code is not right; start again."})
		}
		return h.render(c, http.StatusBadRequest, views.Security{Enrol: h.enrol(key, "That code is not right. Check the time on your device and try the next code.")})
	}
	if errors.Is(err, auth.ErrTOTPNotStarted) || errors.Is(err, auth.ErrTOTPEnabled) {
		return h.render(c, http.StatusConflict, views.Security{Error: capitalize(err.Error()) + "."})
	}
	if err != nil {
		return err
	}
	if err := h.Store.SetSessionFactor(ctx, h.Cookies.Token(c), "totp"); err != nil {
		return err
	}
	s.SignIn.SecondFactor = "totp"
	_ = h.Record(c, audit.Entry{Action: "second_factor.totp.enable", Target: target, Result: audit.Success})
	return h.render(c, http.StatusOK, views.Security{RecoveryCodes: codes, Flash: "Authenticator app on. You will be asked for a code at each sign-in."})
}

// RecoveryCodes replaces the recovery codes and shows the new ones once.
func (h *Security) RecoveryCodes(c echo.Context) error {
	s := CurrentSession(c)
	codes, err := h.Store.RegenerateRecoveryCodes(c.Request().Context(), s.Account.ID)
	if err != nil {
		return h.render(c, http.StatusConflict, views.Security{Error: capitalize(err.Error()) + "."})
	}
	_ = h.Record(c, audit.Entry{Action: "second_factor.recovery_codes", Target: "operator:" + s.Account.Email, Result: audit.Success})
	return h.render(c, http.StatusOK, views.Security{RecoveryCodes: codes, Flash: "New recovery codes made; the old ones no longer work."})
}

// ChangePassword checks the current password (throttled like a sign-in),
// sets the new one and ends the operator's other sessions.
func (h *Security) ChangePassword(c echo.Context) error {
	s := CurrentSession(c)
	ctx := c.Request().Context()
	current, next, again := c.FormValue("current_password"), c.FormValue("new_password"), c.FormValue("new_password_again")
	target := "operator:" + s.Account.Email
	fail := func(status int, msg, reason string) error {
		_ = h.Record(c, audit.Entry{Action: "operator.password.change", Target: target, Result: audit.Failure, Details: map[string]any{"reason": reason}})
		return h.render(c, status, views.Security{Error: msg})
	}
	if next != again {
		return fail(http.StatusBadRequest, "The new passwords do not match.", "mismatch")
	}
	if err := auth.CheckNewPassword(next); err != nil {
		return fail(http.StatusBadRequest, capitalize(err.Error())+".", "weak")
	}
	if r, err := checkOwnPassword(c, h.Store, current); r != nil || err != nil {
		if r != nil {
			if r.reason == "bad_credentials" {
				r.msg = "Your current password is not right."
			}
			return fail(r.status, r.msg, r.reason)
		}
		return err
	}
	ended, err := h.Store.ChangePassword(ctx, s.Account.ID, next, h.Cookies.Token(c))
	if err != nil {
		return err
	}
	_ = h.Record(c, audit.Entry{Action: "operator.password.change", Target: target, Result: audit.Success, Details: map[string]any{"sessions_ended": ended}})
	return c.Redirect(http.StatusSeeOther, "/account?done=password")
}

// EndSession ends one of the operator's own sessions.
func (h *Security) EndSession(c echo.Context) error {
	s := CurrentSession(c)
	err := h.Store.EndSessionByID(c.Request().Context(), s.Account.ID, c.Param("session"))
	if errors.Is(err, auth.ErrNoSession) {
		return echo.NewHTTPError(http.StatusNotFound, "no such live session of yours")
	}
	if err != nil {
		return err
	}
	_ = h.Record(c, audit.Entry{Action: "operator.session.end", Target: "operator:" + s.Account.Email, Result: audit.Success})
	return c.Redirect(http.StatusSeeOther, "/account?done=session")
}

// sessionRows formats live sessions; current is the listed id of the
// request's own session.
func sessionRows(ss []auth.SessionInfo, current string, now time.Time) []views.SessionRow {
	var out []views.SessionRow
	for _, si := range ss {
		out = append(out, views.SessionRow{ID: si.ID, SignIn: si.SignIn.String(), Started: si.CreatedAt.UTC().Format("2006-01-02 15:04Z"),
			LastSeen: human.Ago(si.LastSeenAt, now), ClientIP: si.ClientIP, UserAgent: si.UserAgent, Current: si.ID == current})
	}
	return out
}
