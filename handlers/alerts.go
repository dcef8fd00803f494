package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/memo"
	"github.com/atum/ops-console/views"
)

// AlertStore keeps the alerts' lifecycle and the operators' actions.
type AlertStore interface {
	Open(ctx context.Context) ([]alerts.Alert, error)
	History(ctx context.Context, limit int) ([]alerts.Event, error)
	Acknowledge(ctx context.Context, id int64, by, note string) error
	Silence(ctx context.Context, id int64, until time.Time, by, reason string) error
	Unsilence(ctx context.Context, id int64, by string) error
}

// Alerts lists open alerts and their history, and lets operators
// acknowledge and silence them (audited).
type Alerts struct {
	*Base
	Store AlertStore
	// Changed is told after every action, so the Overview's list is
	// read again at once.
	Changed func()

	// bodies shares what every viewer of a second sees alike.
	bodies memo.Cache[alertsKey, views.AlertsView]
}

// silences are the durations a silence may be chosen for.
var silences = map[string]time.Duration{"30m": 30 * time.Minute, "1h": time.Hour, "4h": 4 * time.Hour, "24h": 24 * time.Hour}

// List renders /alerts.
func (h *Alerts) List(c echo.Context) error {
	m := views.AlertsView{}
	if s := CurrentSession(c); s != nil {
		m.CanAct = s.Account.Role.AtLeast(auth.Operator)
	}
	if h.Store == nil {
		m.Err = "Alerts are not kept by this console."
		return Render(c, http.StatusOK, views.AlertsPage(h.Page(c, "Alerts", "alerts"), m))
	}
	now := time.Now()
	m, err := h.bodies.Get(c.Request().Context(), alertsKey{now.Unix(), h.changes(), m.CanAct},
		func(ctx context.Context) (views.AlertsView, error) { return h.body(ctx, now, m) })
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, views.AlertsPage(h.Page(c, "Alerts", "alerts"), m))
}

// alertsKey is one view of /alerts: the second it is worded at (ages),
// the changes made through this instance (an action shows at once), and
// whether the viewer may act.
type alertsKey struct {
	second, changes int64
	canAct          bool
}

// body reads the open alerts, the history and the notifications into m,
// and renders them once.
func (h *Alerts) body(ctx context.Context, now time.Time, m views.AlertsView) (views.AlertsView, error) {
	open, err := h.Store.Open(ctx)
	if err != nil {
		return m, Unavailable("the console's database", err)
	}
	for _, a := range open {
		v := AlertView(a, now)
		v.Runbook = alertRunbook(a)
		m.Open = append(m.Open, v)
	}
	hist, err := h.Store.History(ctx, 100)
	if err != nil {
		return m, Unavailable("the console's database", err)
	}
	for _, e := range hist {
		m.History = append(m.History, views.AlertEvent{At: e.At.UTC().Format("2006-01-02 15:04:05Z"), Kind: e.Kind,
			Summary: e.Summary, Actor: e.Actor, Note: e.Note})
	}
	m.Notifications = notificationsView(ctx, h.Store, now)
	m.Body = renderOnce(ctx, views.AlertsBody(m))
	return m, nil
}

// FiringAlerts is what screens list of the open alerts: the firing ones,
// critical first, silenced ones last.
func FiringAlerts(open []alerts.Alert, now time.Time) []views.Alert {
	var out, quiet []views.Alert
	for _, al := range open {
		if al.State != alerts.Firing {
			continue
		}
		v := AlertView(al, now)
		if v.Silenced != "" {
			quiet = append(quiet, v)
			continue
		}
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b views.Alert) int { return levelRank(a.Level) - levelRank(b.Level) })
	return append(out, quiet...)
}

// AlertView is a stored alert as the Overview and /alerts show it: since
// when it fires (or was seen), who acknowledged it and who silenced it.
func AlertView(a alerts.Alert, now time.Time) views.Alert {
	v := views.Alert{ID: a.ID, Level: a.Severity, Text: a.Summary, Href: a.Href, Rule: a.Rule, Subject: a.Subject, Members: a.Members, State: a.State,
		Since: "seen since " + human.Ago(a.FirstSeen, now)}
	if a.FiredAt != nil {
		v.Since = "firing since " + human.Ago(*a.FiredAt, now)
	}
	if a.AckedAt != nil {
		v.Acked = "acknowledged by " + a.AckedBy + " " + human.Ago(*a.AckedAt, now)
		if a.AckNote != "" {
			v.Acked += ": " + a.AckNote
		}
	}
	if a.Silenced(now) {
		v.Silenced = fmt.Sprintf("silenced by %s until %s: %s", a.SilencedBy, a.SilencedUntil.UTC().Format("2006-01-02 15:04Z"), a.SilenceReason)
	}
	return v
}

// Acknowledge records that the operator handles the alert, with a note.
func (h *Alerts) Acknowledge(c echo.Context) error {
	note := strings.TrimSpace(c.FormValue("note"))
	if note == "" || len(note) > 500 {
		return echo.NewHTTPError(http.StatusBadRequest, "Give a note (up to 500 characters): what you are doing about it.")
	}
	return h.act(c, "alert.acknowledge", note, func(ctx context.Context, id int64, by string) error {
		return h.Store.Acknowledge(ctx, id, by, note)
	})
}

// Silence quiets the alert for a chosen duration, with a reason.
func (h *Alerts) Silence(c echo.Context) error {
	d, ok := silences[c.FormValue("for")]
	reason := strings.TrimSpace(c.FormValue("reason"))
	if !ok || reason == "" || len(reason) > 500 {
		return echo.NewHTTPError(http.StatusBadRequest, "Choose how long (30m, 1h, 4h or 24h) and give a reason (up to 500 characters).")
	}
	return h.act(c, "alert.silence", reason, func(ctx context.Context, id int64, by string) error {
		return h.Store.Silence(ctx, id, time.Now().Add(d), by, reason)
	})
}

// Unsilence ends the alert's silence.
func (h *Alerts) Unsilence(c echo.Context) error {
	return h.act(c, "alert.unsilence", "", func(ctx context.Context, id int64, by string) error {
		return h.Store.Unsilence(ctx, id, by)
	})
}

// act runs one action on the alert named by :id: intent audited first,
// then the result.
func (h *Alerts) act(c echo.Context, action, reason string, do func(context.Context, int64, string) error) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 || h.Store == nil {
		return echo.NewHTTPError(http.StatusNotFound, "no such alert")
	}
	target := fmt.Sprintf("alert:%d", id)
	if err := h.RecordIntent(c, audit.Entry{Action: action, Target: target, Reason: reason}, "change this alert"); err != nil {
		return err
	}
	err = do(c.Request().Context(), id, CurrentSession(c).Account.Email)
	e := audit.Entry{Action: action, Target: target, Reason: reason, Result: audit.Success}
	if err != nil {
		e.Result, e.Details = audit.Failure, map[string]any{"error": err.Error()}
	}
	_ = h.Record(c, e)
	switch {
	case errors.Is(err, alerts.ErrNotOpen):
		return echo.NewHTTPError(http.StatusNotFound, "That alert is not open any more (resolved, or no such alert).")
	case err != nil:
		return Unavailable("the console's database", err)
	}
	if h.Changed != nil {
		h.Changed()
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/alerts#alert-%d", id))
}
