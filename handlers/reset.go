package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/views"
)

// ResetStore is what one-time password links need.
type ResetStore interface {
	ResetAccount(ctx context.Context, token string) (auth.Account, error)
	UseReset(ctx context.Context, token, password string) (auth.Account, error)
}

// PasswordReset lets an operator choose a password with a one-time link
// an admin issued. The link's token travels in the query string (and a
// hidden field), never in the path, so request logs do not keep it.
type PasswordReset struct {
	*Base
	Store ResetStore

	refused refusals
}

// Form shows the form for a valid link, or why it cannot be used.
func (h *PasswordReset) Form(c echo.Context) error {
	token := c.QueryParam("token")
	a, err := h.Store.ResetAccount(c.Request().Context(), token)
	if errors.Is(err, auth.ErrNoReset) {
		return h.render(c, http.StatusNotFound, views.PasswordReset{Invalid: true, Error: capitalize(err.Error()) + "."})
	}
	if err != nil {
		return Unavailable("the console's database", err)
	}
	return h.render(c, http.StatusOK, views.PasswordReset{Token: token, Email: a.Email})
}

// Submit sets the password, spends the link and ends the operator's
// sessions; it is audited either way.
func (h *PasswordReset) Submit(c echo.Context) error {
	ctx := c.Request().Context()
	token, pw, again := c.FormValue("token"), c.FormValue("new_password"), c.FormValue("new_password_again")
	a, err := h.Store.ResetAccount(ctx, token)
	if errors.Is(err, auth.ErrNoReset) {
		// Anyone can post a made-up link: audited once a minute per
		// address, with the count of those before.
		if record, before := h.refused.note(c.RealIP(), time.Now()); record {
			_ = h.Record(c, audit.Entry{Action: "operator.password.reset", Result: audit.Failure,
				Details: map[string]any{"reason": "link_invalid", "refused_before_unaudited": before}})
		}
		return h.render(c, http.StatusNotFound, views.PasswordReset{Invalid: true, Error: capitalize(err.Error()) + "."})
	}
	if err != nil {
		return Unavailable("the console's database", err)
	}
	m := views.PasswordReset{Token: token, Email: a.Email}
	entry := audit.Entry{OperatorID: a.ID, Operator: a.Email, Role: string(a.Role), Action: "operator.password.reset", Target: "operator:" + a.Email}
	switch {
	case pw != again:
		m.Error = "The passwords do not match."
	case auth.CheckNewPassword(pw) != nil:
		m.Error = capitalize(auth.CheckNewPassword(pw).Error()) + "."
	}
	if m.Error != "" {
		entry.Result, entry.Details = audit.Failure, map[string]any{"reason": "weak_or_mismatch"}
		_ = h.Record(c, entry)
		return h.render(c, http.StatusBadRequest, m)
	}
	if _, err := h.Store.UseReset(ctx, token, pw); err != nil {
		if errors.Is(err, auth.ErrNoReset) {
			return h.render(c, http.StatusNotFound, views.PasswordReset{Invalid: true, Error: capitalize(err.Error()) + "."})
		}
		return Unavailable("the console's database", err)
	}
	entry.Result = audit.Success
	_ = h.Record(c, entry)
	return c.Redirect(http.StatusSeeOther, "/login?done=password")
}

func (h *PasswordReset) render(c echo.Context, status int, m views.PasswordReset) error {
	return Render(c, status, views.PasswordResetPage(h.Page(c, "Set your password", ""), m))
}
