package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// typeCountAbove is the purge size above which the operator must type
// the count to confirm.
const typeCountAbove = 50

// Preview walks every page of the dead letters matching the filters and
// freezes the exact set as a purge to confirm (nothing is deleted).
func (h *Queues) Preview(c echo.Context) error {
	region, _, err := h.region(c)
	if err != nil {
		return err
	}
	f, labels, err := parseDLQFilter(c)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	labels = audit.RedactMap(labels) // kept with the purge, shown on its page and audited
	labels["region"] = region
	id, err := h.Purger.Preview(c.Request().Context(), region, f, labels, CurrentSession(c).Account.Email)
	e := audit.Entry{Action: "dlq.purge.preview", Target: "qstash:" + region, Result: audit.Success, Details: map[string]any{"filters": labels, "purge": id}}
	if err != nil {
		e.Result, e.Details["error"] = audit.Error, err.Error()
	}
	if aerr := h.Record(c, e); aerr != nil {
		return aerr
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, "The preview could not list every dead letter, so nothing was frozen: "+err.Error())
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/queues/purges/%d", id))
}

func (h *Queues) purgeID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusBadRequest, "purge id must be a positive number")
	}
	return id, nil
}

// ShowPurge renders a purge: preview and confirmation, progress, result.
func (h *Queues) ShowPurge(c echo.Context) error {
	return h.renderPurge(c, http.StatusOK, "")
}

func (h *Queues) renderPurge(c echo.Context, status int, formErr string) error {
	id, err := h.purgeID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	pi, err := h.Purger.Get(ctx, id)
	if errors.Is(err, qstash.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no purge with id "+c.Param("id"))
	}
	if err != nil {
		return err
	}
	sample, err := h.Purger.Sample(ctx, id, 20)
	if err != nil {
		return err
	}
	can := h.canAct(c)
	m := views.Purge{ID: pi.ID, Region: pi.Region, State: pi.State, StateNote: pi.Note, Count: pi.Total,
		Created: human.Ago(pi.CreatedAt, time.Now()), CreatedBy: pi.CreatedBy, NeedTyped: pi.Total > typeCountAbove, CanAct: can,
		FormError: formErr, Deleted: pi.Deleted, Gone: pi.Gone, Failed: pi.Failed, Pending: pi.Pending, Undone: pi.Republished,
		APICalls: pi.APICalls, Elapsed: pi.Elapsed.Round(time.Millisecond).String(),
		CanResume: can && (pi.State == qstash.Paused || pi.State == qstash.Running), CanUndo: can && pi.State == qstash.Done && pi.Deleted > 0,
		Refresh: pi.State == qstash.Running}
	for k, v := range audit.RedactMap(pi.Filters) { // purges frozen before filters were redacted
		m.Filters = append(m.Filters, views.Header{Name: k, Value: v})
	}
	sort.Slice(m.Filters, func(i, j int) bool { return m.Filters[i].Name < m.Filters[j].Name })
	for _, s := range sample {
		m.Sample = append(m.Sample, dlqRow(pi.Region, s))
	}
	return Render(c, status, views.PurgePage(h.Page(c, fmt.Sprintf("Purge #%d", id), "queues"), m))
}

// Confirm starts a previewed purge: above 50 messages the operator types
// the count. The intent is audited with the confirmation; the runner
// audits the result.
func (h *Queues) Confirm(c echo.Context) error {
	id, err := h.purgeID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	pi, err := h.Purger.Get(ctx, id)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "no purge with id "+c.Param("id"))
	}
	if pi.Total > typeCountAbove && strings.TrimSpace(c.FormValue("typed_count")) != strconv.Itoa(pi.Total) {
		_ = h.Record(c, audit.Entry{Action: "dlq.purge.confirm", Target: fmt.Sprintf("purge:%d", id), Result: audit.Failure,
			Details: map[string]any{"error": "typed count did not match", "count": pi.Total}})
		return h.renderPurge(c, http.StatusBadRequest, fmt.Sprintf("Type the number of messages, %d, to confirm.", pi.Total))
	}
	s := CurrentSession(c).Account
	e := audit.Entry{OperatorID: s.ID, Operator: s.Email, Role: string(s.Role), ClientIP: c.RealIP(),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID), Action: "dlq.purge.confirm", Target: fmt.Sprintf("purge:%d", id),
		Result: audit.Intent, Details: map[string]any{"region": pi.Region, "count": pi.Total, "filters": audit.RedactMap(pi.Filters)}}
	if err := h.Purger.Confirm(ctx, id, e); errors.Is(err, qstash.ErrWrongState) {
		return h.renderPurge(c, http.StatusConflict, "This purge was already confirmed or discarded.")
	} else if err != nil {
		return err
	}
	h.start(id, e)
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/queues/purges/%d", id))
}

// start runs a purge in the background (the Purger audits its result as
// actor) and, when it ends, drops the region's cached dead-letter pages.
func (h *Queues) start(id int64, actor audit.Entry) {
	done := h.Purger.Start(h.Background, id, actor)
	go func() {
		if o := <-done; o.Ran {
			h.Pages.Invalidate(o.Info.Region)
		}
	}()
}

// Discard drops a previewed purge; its intent is audited first (without
// it nothing is discarded), then its result.
func (h *Queues) Discard(c echo.Context) error {
	id, err := h.purgeID(c)
	if err != nil {
		return err
	}
	target := fmt.Sprintf("purge:%d", id)
	if err := h.RecordIntent(c, audit.Entry{Action: "dlq.purge.discard", Target: target}, "discard "+target); err != nil {
		return err
	}
	err = h.Purger.Discard(c.Request().Context(), id)
	e := audit.Entry{Action: "dlq.purge.discard", Target: target, Result: audit.Success}
	if err != nil {
		e.Result, e.Details = audit.Failure, map[string]any{"error": err.Error()}
	}
	_ = h.Record(c, e)
	if errors.Is(err, qstash.ErrWrongState) {
		return h.renderPurge(c, http.StatusConflict, "Only a previewed purge can be discarded.")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/queues")
}

// Resume restarts a paused or interrupted purge.
func (h *Queues) Resume(c echo.Context) error {
	id, err := h.purgeID(c)
	if err != nil {
		return err
	}
	if err := h.Purger.Resume(c.Request().Context(), id); err != nil {
		return h.renderPurge(c, http.StatusConflict, "Only a paused or interrupted purge can be resumed.")
	}
	s := CurrentSession(c).Account
	e := audit.Entry{OperatorID: s.ID, Operator: s.Email, Role: string(s.Role), ClientIP: c.RealIP(),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID), Action: "dlq.purge.resume", Target: fmt.Sprintf("purge:%d", id), Result: audit.Intent}
	if err := h.Audit.Record(c.Request().Context(), e); err != nil {
		return err
	}
	h.start(id, e)
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/queues/purges/%d", id))
}

// Undo republishes a finished purge's archived messages exactly as they
// were, to their destinations and queues; a reason is required; intent
// and result are audited. Messages QStash refuses are reported and
// skipped; an undo that stops (rate limits, QStash unavailable) is
// continued by undoing again, which never delivers a message twice.
func (h *Queues) Undo(c echo.Context) error {
	id, err := h.purgeID(c)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	if reason == "" || len(reason) > 500 {
		return h.renderPurge(c, http.StatusBadRequest, "Give a reason (up to 500 characters) for the undo.")
	}
	target := fmt.Sprintf("purge:%d", id)
	if err := h.Record(c, audit.Entry{Action: "dlq.purge.undo", Target: target, Reason: reason, Result: audit.Intent}); err != nil {
		return err
	}
	res, err := h.Purger.Undo(c.Request().Context(), id)
	e := audit.Entry{Action: "dlq.purge.undo", Target: target, Reason: reason, Result: audit.Success, Details: res.Details()}
	var stopped *qstash.UndoStopped
	switch {
	case errors.As(err, &stopped):
		e.Result, e.Details["error"] = audit.Error, stopped.Reason
	case err != nil:
		e.Result, e.Details["error"] = audit.Error, err.Error()
	case res.Failed > 0 || res.Uncertain > 0:
		e.Result = audit.Failure
	}
	_ = h.Record(c, e)
	switch {
	case errors.Is(err, qstash.ErrWrongState):
		return h.renderPurge(c, http.StatusConflict, "Only a finished purge can be undone.")
	case errors.Is(err, qstash.ErrBusy):
		return h.renderPurge(c, http.StatusConflict, "An undo of this purge is already running.")
	case stopped != nil:
		return h.renderPurge(c, http.StatusBadGateway, fmt.Sprintf("Undo: %s. Then it stopped: %s. Undo again to continue: nothing is delivered twice.", res, stopped.Reason))
	case err != nil:
		return err
	case res.Failed > 0 || res.Uncertain > 0:
		return h.renderPurge(c, http.StatusOK, fmt.Sprintf("Undo: %s. Undo again to retry the failed ones.", res))
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/queues/purges/%d", id))
}
