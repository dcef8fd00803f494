package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/views"
)

// ThrottleStore lists and clears sign-in throttles.
type ThrottleStore interface {
	Throttles(ctx context.Context) ([]auth.Throttle, error)
	ClearThrottle(ctx context.Context, scope, email, address string) (bool, error)
}

var scopeLabels = map[string]string{
	auth.ScopeAddress:        "address",
	auth.ScopeAccountAddress: "account from one address",
	auth.ScopeAccount:        "account from anywhere",
}

// throttleRows reads the throttles counting now for the Operators page;
// the text says why they could not be read.
func throttleRows(ctx context.Context, s ThrottleStore) ([]views.ThrottleRow, string) {
	ts, err := s.Throttles(ctx)
	if err != nil {
		return nil, "The throttles could not be read: " + err.Error()
	}
	var out []views.ThrottleRow
	for _, t := range ts {
		r := views.ThrottleRow{Scope: t.Scope, ScopeLabel: scopeLabels[t.Scope], Email: t.Email, Address: t.Address,
			Failures: t.Failures, Blocking: t.Blocking, State: "counting", LastFailure: "—"}
		if t.Blocking {
			r.State = "blocking until " + t.Until.UTC().Format("15:04:05Z")
		}
		if !t.LastFailure.IsZero() {
			r.LastFailure = human.Ago(t.LastFailure, time.Now())
		}
		out = append(out, r)
	}
	return out, ""
}

// Throttles lets admins clear a sign-in throttle.
type Throttles struct {
	*Base
	Store ThrottleStore
}

// Clear resets one throttle named by the posted scope, email and address
// (audited: intent first, then the result).
func (h *Throttles) Clear(c echo.Context) error {
	scope, email, address := c.FormValue("scope"), c.FormValue("email"), c.FormValue("address")
	if _, ok := scopeLabels[scope]; !ok {
		return echo.NewHTTPError(http.StatusBadRequest, "unknown throttle scope")
	}
	target := "throttle:" + scope + " " + clip(email, 320) + " " + clip(address, 64)
	if err := h.RecordIntent(c, audit.Entry{Action: "login.throttle.clear", Target: target}, "clear this throttle"); err != nil {
		return err
	}
	found, err := h.Store.ClearThrottle(c.Request().Context(), scope, email, address)
	e := audit.Entry{Action: "login.throttle.clear", Target: target, Result: audit.Success, Details: map[string]any{"found": found}}
	if err != nil {
		e.Result, e.Details["error"] = audit.Error, err.Error()
	}
	_ = h.Record(c, e)
	if err != nil {
		return Unavailable("the console's database", err)
	}
	return c.Redirect(http.StatusSeeOther, "/operators?done=throttle#throttles")
}
