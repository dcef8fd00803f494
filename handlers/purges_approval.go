package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/qstash"
)

// purgeFlashes are the fixed messages a redirect to a purge's page asks
// for with done=<key>: the page never shows text taken from the URL.
var purgeFlashes = map[string]string{
	"requested": "Asked for approval: nothing happens until another operator approves.",
	"approved":  "Approved: it is running.",
	"rejected":  "Rejected: nothing was done.",
	"withdrawn": "Request withdrawn: nothing was done.",
}

// overrideHints say what each overridable header takes.
var overrideHints = map[string]string{
	"Upstash-Retries":     "0 to 100 retries",
	"Upstash-Delay":       "a delay such as 30s, 10m, 2h",
	"Upstash-Retry-Delay": "an expression of retried, such as pow(2, retried) * 1000",
	"Upstash-Timeout":     "seconds, or a duration such as 30s",
}

// overrideField is the form field of an overridable header
// (Upstash-Retries → upstash_retries).
func overrideField(header string) string {
	return strings.ReplaceAll(strings.ToLower(header), "-", "_")
}

// overridesOf reads and checks a retry's header overrides from the form.
func overridesOf(c echo.Context) (http.Header, error) {
	in := map[string]string{}
	for _, k := range qstash.OverrideNames() {
		if v := strings.TrimSpace(c.FormValue(overrideField(k))); v != "" {
			in[k] = v
		}
	}
	h, err := qstash.ParseOverrides(in)
	if err != nil {
		return nil, fmt.Errorf("Header override refused: %w", err)
	}
	return h, nil
}

// Approve lets another operator's request run: the requester is refused
// (403, audited as denied), an expired request too (409); the count is
// typed when large. The approval is audited as intent with it; the
// runner audits the result.
func (h *Queues) Approve(c echo.Context) error {
	pi, err := h.purge(c)
	if err != nil {
		return err
	}
	id, ctx := pi.ID, c.Request().Context()
	action := qstash.Action(pi.Kind, "approve")
	if msg := typedCountError(c, pi); msg != "" {
		_ = h.Record(c, audit.Entry{Action: action, Target: pi.Target(), Result: audit.Failure,
			Details: map[string]any{"error": "typed count did not match", "count": pi.Total}})
		return h.renderPurge(c, http.StatusBadRequest, msg)
	}
	e := h.actor(c, action, pi.Target(), audit.Intent)
	e.Details = map[string]any{"region": pi.Region, "count": pi.Total, "requested_by": pi.ConfirmedBy}
	err = h.Purger.Approve(ctx, id, e)
	if err != nil {
		status, msg := approvalRefusal(err, pi.Kind)
		if status == 0 {
			return err
		}
		result := audit.Failure
		if status == http.StatusForbidden {
			result = audit.Denied
		}
		_ = h.Record(c, audit.Entry{Action: action, Target: pi.Target(), Result: result,
			Details: map[string]any{"error": msg, "requested_by": pi.ConfirmedBy}})
		return h.renderPurge(c, status, msg)
	}
	h.start(id, e)
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/queues/purges/%d?done=approved", id))
}

// approvalRefusal is the status and message of an approval refused with
// err (status 0: not a refusal).
func approvalRefusal(err error, kind string) (int, string) {
	switch {
	case errors.Is(err, qstash.ErrOwnRequest):
		return http.StatusForbidden, "You asked for this " + kind + ": another operator must approve it."
	case errors.Is(err, qstash.ErrExpired):
		return http.StatusConflict, "This request expired before anyone approved it: preview again if it is still needed."
	case errors.Is(err, qstash.ErrWrongState):
		return http.StatusConflict, "This " + kind + " is not waiting for approval (already approved, rejected or withdrawn)."
	}
	return 0, ""
}

// Reject turns down a request waiting for approval, with a reason: any
// operator but the requester rejects it; the requester withdraws it.
func (h *Queues) Reject(c echo.Context) error {
	pi, err := h.purge(c)
	if err != nil {
		return err
	}
	id, ctx := pi.ID, c.Request().Context()
	reason := strings.TrimSpace(c.FormValue("reason"))
	if reason == "" || len(reason) > 500 {
		return h.renderPurge(c, http.StatusBadRequest, "Give a reason (up to 500 characters): it goes to the audit log.")
	}
	me := CurrentSession(c).Account
	withdrawn := pi.RequestedByID == me.ID || strings.EqualFold(pi.ConfirmedBy, me.Email)
	e := h.actor(c, qstash.Action(pi.Kind, "reject"), pi.Target(), audit.Success)
	e.Reason, e.Details = reason, map[string]any{"requested_by": pi.ConfirmedBy, "withdrawn": withdrawn, "count": pi.Total}
	if err := h.Purger.Reject(ctx, id, e); errors.Is(err, qstash.ErrWrongState) {
		return h.renderPurge(c, http.StatusConflict, "This "+pi.Kind+" is not waiting for approval.")
	} else if err != nil {
		return err
	}
	done := "rejected"
	if withdrawn {
		done = "withdrawn"
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/queues/purges/%d?done=%s", id, done))
}
