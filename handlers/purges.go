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
// freezes the exact set as a purge or (kind=retry) a bulk retry to
// confirm: nothing is deleted or sent.
func (h *Queues) Preview(c echo.Context) error {
	region, _, err := h.region(c)
	if err != nil {
		return err
	}
	f, labels, err := parseDLQFilter(c)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	kind := c.FormValue("kind")
	switch kind {
	case "":
		kind = qstash.KindPurge
	case qstash.KindPurge, qstash.KindRetry:
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "kind must be purge or retry")
	}
	labels = audit.RedactMap(labels) // kept with the purge, shown on its page and audited
	labels["region"] = region
	id, err := h.Purger.PreviewKind(c.Request().Context(), kind, region, f, labels, CurrentSession(c).Account.Email)
	e := audit.Entry{Action: qstash.Action(kind, "preview"), Target: "qstash:" + region, Result: audit.Success,
		Details: map[string]any{"filters": labels, kind: id}}
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

// purge loads the purge or retry :id of the request: a bad id is a 400,
// an unknown one a 404.
func (h *Queues) purge(c echo.Context) (qstash.PurgeInfo, error) {
	id, err := h.purgeID(c)
	if err != nil {
		return qstash.PurgeInfo{}, err
	}
	pi, err := h.Purger.Get(c.Request().Context(), id)
	if errors.Is(err, qstash.ErrNotFound) {
		return pi, echo.NewHTTPError(http.StatusNotFound, "no purge or retry with id "+c.Param("id"))
	}
	return pi, err
}

// ShowPurge renders a purge or bulk retry: preview and confirmation,
// approval, progress, result.
func (h *Queues) ShowPurge(c echo.Context) error {
	return h.renderPurge(c, http.StatusOK, "")
}

func (h *Queues) renderPurge(c echo.Context, status int, formErr string) error {
	pi, err := h.purge(c)
	if err != nil {
		return err
	}
	id, ctx := pi.ID, c.Request().Context()
	sample, err := h.Purger.Sample(ctx, id, 20)
	if err != nil {
		return err
	}
	m := h.purgeView(c, pi, formErr)
	if pi.Failed > 0 && pi.Kind == qstash.KindRetry {
		fails, err := h.Purger.Failures(ctx, id, 20)
		if err != nil {
			return err
		}
		for _, f := range fails {
			m.Failures = append(m.Failures, views.Header{Name: f.DLQID, Value: f.Error})
		}
	}
	for _, s := range sample {
		m.Sample = append(m.Sample, dlqRow(pi.Region, s))
	}
	return Render(c, status, views.PurgePage(h.Page(c, fmt.Sprintf("Purge #%d", id), "queues"), m))
}

// purgeView is the page model of pi for the operator of c.
func (h *Queues) purgeView(c echo.Context, pi qstash.PurgeInfo, formErr string) views.Purge {
	can, me, now := h.canAct(c), CurrentSession(c).Account, time.Now()
	own := pi.RequestedByID == me.ID || strings.EqualFold(pi.ConfirmedBy, me.Email)
	m := views.Purge{ID: pi.ID, Kind: pi.Kind, Region: pi.Region, State: pi.State, StateNote: pi.Note, Count: pi.Total,
		Created: human.Ago(pi.CreatedAt, now), CreatedBy: pi.CreatedBy, NeedTyped: pi.Total > typeCountAbove, CanAct: can,
		FormError: formErr, Flash: purgeFlashes[c.QueryParam("done")], Deleted: pi.Deleted, Retried: pi.Retried, Gone: pi.Gone,
		Failed: pi.Failed, Pending: pi.Pending, Undone: pi.Republished, APICalls: pi.APICalls,
		Elapsed: pi.Elapsed.Round(time.Millisecond).String(), RequestedBy: pi.ConfirmedBy, ApprovedBy: pi.ApprovedBy,
		RejectedBy: pi.RejectedBy, Expires: human.Until(pi.ApprovalExpires, now), ArchivePruned: pi.ArchivePruned,
		NeedsApproval: h.Approval.Needs(pi.Kind, pi.Total), ApprovalRule: h.Approval.Describe(),
		CanApprove: can && pi.State == qstash.AwaitingApproval && !own, OwnRequest: can && pi.State == qstash.AwaitingApproval && own,
		CanResume: can && (pi.State == qstash.Paused || pi.State == qstash.Running),
		CanUndo:   can && pi.Kind == qstash.KindPurge && pi.State == qstash.Done && pi.Deleted > 0 && !pi.ArchivePruned,
		Refresh:   pi.State == qstash.Running}
	for k, v := range audit.RedactMap(pi.Filters) { // purges frozen before filters were redacted
		m.Filters = append(m.Filters, views.Header{Name: k, Value: v})
	}
	sort.Slice(m.Filters, func(i, j int) bool { return m.Filters[i].Name < m.Filters[j].Name })
	for _, k := range qstash.OverrideNames() {
		if v, ok := pi.Overrides[k]; ok {
			m.Overrides = append(m.Overrides, views.Header{Name: k, Value: v})
		}
		if pi.Kind == qstash.KindRetry && pi.State == qstash.Previewed {
			m.OverrideFields = append(m.OverrideFields, views.OverrideField{Header: k, Name: overrideField(k),
				Hint: overrideHints[k], Value: c.FormValue(overrideField(k))})
		}
	}
	return m
}

// Confirm confirms a previewed purge or retry: above 50 messages the
// operator types the count; a retry may override headers. When the
// approval policy asks for it, the confirmation is a request that waits
// for another operator; otherwise the run starts. The intent is audited
// with the confirmation; the runner audits the result.
func (h *Queues) Confirm(c echo.Context) error {
	pi, err := h.purge(c)
	if err != nil {
		return err
	}
	id, ctx := pi.ID, c.Request().Context()
	if msg := typedCountError(c, pi); msg != "" {
		_ = h.Record(c, audit.Entry{Action: qstash.Action(pi.Kind, "confirm"), Target: pi.Target(), Result: audit.Failure,
			Details: map[string]any{"error": "typed count did not match", "count": pi.Total}})
		return h.renderPurge(c, http.StatusBadRequest, msg)
	}
	o := qstash.ConfirmOptions{}
	if pi.Kind == qstash.KindRetry {
		if o.Overrides, err = overridesOf(c); err != nil {
			return h.renderPurge(c, http.StatusBadRequest, err.Error())
		}
	}
	e := h.actor(c, qstash.Action(pi.Kind, "confirm"), pi.Target(), audit.Intent)
	e.Details = map[string]any{"region": pi.Region, "count": pi.Total, "filters": audit.RedactMap(pi.Filters)}
	if len(o.Overrides) > 0 {
		e.Details["overrides"] = o.Overrides
	}
	if h.Approval.Needs(pi.Kind, pi.Total) {
		o.Approval = h.Approval.Expiry
		e.Action, e.Result = qstash.Action(pi.Kind, "request"), audit.Success
		e.Details["expires_in"] = o.Approval.String()
	}
	state, err := h.Purger.ConfirmWith(ctx, id, e, o)
	if errors.Is(err, qstash.ErrWrongState) {
		return h.renderPurge(c, http.StatusConflict, "This "+pi.Kind+" was already confirmed or discarded.")
	} else if err != nil {
		return err
	}
	if state == qstash.AwaitingApproval {
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/queues/purges/%d?done=requested", id))
	}
	h.start(id, e)
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/queues/purges/%d", id))
}

// typedCountError says why the count typed to confirm pi is wrong ("":
// it is right, or none is needed).
func typedCountError(c echo.Context, pi qstash.PurgeInfo) string {
	if pi.Total > typeCountAbove && strings.TrimSpace(c.FormValue("typed_count")) != strconv.Itoa(pi.Total) {
		return fmt.Sprintf("Type the number of messages, %d, to confirm.", pi.Total)
	}
	return ""
}

// actor is an audit entry of action on target by the operator of c.
func (h *Queues) actor(c echo.Context, action, target, result string) audit.Entry {
	s := CurrentSession(c).Account
	return audit.Entry{OperatorID: s.ID, Operator: s.Email, Role: string(s.Role), ClientIP: c.RealIP(),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID), Action: action, Target: target, Result: result}
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
	pi, err := h.purge(c)
	if err != nil {
		return err
	}
	id := pi.ID
	target, action := pi.Target(), qstash.Action(pi.Kind, "discard")
	if err := h.RecordIntent(c, audit.Entry{Action: action, Target: target}, "discard "+target); err != nil {
		return err
	}
	err = h.Purger.Discard(c.Request().Context(), id)
	e := audit.Entry{Action: action, Target: target, Result: audit.Success}
	if err != nil {
		e.Result, e.Details = audit.Failure, map[string]any{"error": err.Error()}
	}
	_ = h.Record(c, e)
	if errors.Is(err, qstash.ErrWrongState) {
		return h.renderPurge(c, http.StatusConflict, "Only a previewed purge or retry can be discarded.")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/queues")
}

// Resume restarts a paused or interrupted purge.
func (h *Queues) Resume(c echo.Context) error {
	pi, err := h.purge(c)
	if err != nil {
		return err
	}
	id := pi.ID
	if err := h.Purger.Resume(c.Request().Context(), id); err != nil {
		return h.renderPurge(c, http.StatusConflict, "Only a paused or interrupted purge or retry can be resumed.")
	}
	e := h.actor(c, qstash.Action(pi.Kind, "resume"), pi.Target(), audit.Intent)
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
	case errors.Is(err, qstash.ErrArchivePruned):
		return h.renderPurge(c, http.StatusConflict, "This purge's archive was pruned after its retention: it can no longer be undone.")
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
