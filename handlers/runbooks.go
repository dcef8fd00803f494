package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/views"
)

// Runbook renders /alerts/runbooks/:rule: one rule's runbook, the page
// notifications link to. An unknown rule is a 404.
func (h *Alerts) Runbook(c echo.Context) error {
	rule := c.Param("rule")
	r, ok := alerts.RunbookFor(rule)
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "No runbook for rule "+clip(rule, 60)+".")
	}
	return Render(c, http.StatusOK, views.RunbookPage(h.Page(c, "Runbook: "+r.Title, "alerts"), runbookView(r, alerts.Alert{Rule: rule})))
}

// alertRunbook is open alert a's runbook with its actions, nil for a
// rule without one.
func alertRunbook(a alerts.Alert) *views.Runbook {
	r, ok := alerts.RunbookFor(a.Rule)
	if !ok {
		return nil
	}
	v := runbookView(r, a)
	return &v
}

// runbookView is runbook r as shown, with the actions built for a.
func runbookView(r alerts.Runbook, a alerts.Alert) views.Runbook {
	v := views.Runbook{Rule: r.Rule, Title: r.Title, Meaning: r.Meaning, Causes: r.Causes,
		TeamURL: alerts.TeamRunbookURL(r.Rule), Path: "/alerts/runbooks/" + r.Rule}
	for _, l := range r.Actions(a) {
		v.Actions = append(v.Actions, views.RunbookLink{Label: l.Label, Href: l.Href})
	}
	return v
}
