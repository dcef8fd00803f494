package handlers

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/views"
)

// AuditReader lists audit events.
type AuditReader interface {
	List(ctx context.Context, f audit.Filter) ([]audit.Event, error)
}

// Audit shows and exports the audit log.
type Audit struct {
	*Base
	Events AuditReader
}

// List renders one page of events matching the filters, newest first.
func (h *Audit) List(c echo.Context) error {
	f, err := audit.ParseFilter(c.QueryParams())
	m := views.Audit{Filter: filterView(c), Results: audit.Results}
	if err != nil {
		m.Error = err.Error()
		return Render(c, http.StatusBadRequest, views.AuditPage(h.Page(c, "Audit log", "audit"), m))
	}
	f.Limit = audit.MaxPage + 1
	events, err := h.Events.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if len(events) > audit.MaxPage {
		events = events[:audit.MaxPage]
		q := f.Query()
		q.Set("before", fmt.Sprint(events[len(events)-1].ID))
		m.NextURL = "/audit?" + q.Encode()
	}
	for _, e := range events {
		m.Rows = append(m.Rows, views.AuditRow{ID: e.ID, At: e.At.UTC().Format("2006-01-02 15:04:05Z"),
			Operator: e.Operator, Role: e.Role, ClientIP: e.ClientIP, Action: e.Action, Target: e.Target,
			Reason: e.Reason, Result: e.Result, RequestID: e.RequestID, Details: e.DetailsJSON})
	}
	m.ExportURL = "/audit.csv"
	if q := f.Query().Encode(); q != "" {
		m.ExportURL += "?" + q
	}
	return Render(c, http.StatusOK, views.AuditPage(h.Page(c, "Audit log", "audit"), m))
}

// Export downloads the events matching the filters as CSV (at most
// audit.MaxExport) and audits the export itself, with any token typed
// into a filter redacted.
func (h *Audit) Export(c echo.Context) error {
	f, err := audit.ParseFilter(c.QueryParams())
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	f.Before, f.Limit = 0, audit.MaxExport
	events, err := h.Events.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if err := h.Record(c, audit.Entry{Action: "audit.export", Target: "audit_events", Result: audit.Success,
		Details: map[string]any{"filter": audit.RedactQuery(f.Query()), "rows": len(events)}}); err != nil {
		return err
	}
	name := "atum-audit-" + time.Now().UTC().Format("20060102-150405") + ".csv"
	c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Response().WriteHeader(http.StatusOK)
	return audit.WriteCSV(c.Response(), events)
}

func filterView(c echo.Context) views.AuditFilter {
	return views.AuditFilter{Operator: c.QueryParam("operator"), Action: c.QueryParam("action"),
		Target: c.QueryParam("target"), Result: c.QueryParam("result"), From: c.QueryParam("from"), To: c.QueryParam("to")}
}
