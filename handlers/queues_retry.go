package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/qstash"
)

// retryReserve is what a retry keeps of its request's budget for the
// audit of its outcome and the redirect: a dead letter is not sent (nor a
// 429 waited out) when less would be left.
const retryReserve = 300 * time.Millisecond

// Retry sends one dead letter again (operators; intent audited before,
// result after) and returns to the list with the outcome.
func (h *Queues) Retry(c echo.Context) error {
	return h.retry(c, []string{c.Param("id")})
}

// RetrySelected sends the selected dead letters again (at most 100) and
// returns to the list, with the filters it was posted from, and the
// outcome.
func (h *Queues) RetrySelected(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "unreadable form")
	}
	return h.retry(c, form["ids"])
}

// retryOutcome is what became of each dead letter of a retry.
type retryOutcome struct {
	retried []string
	newIDs  map[string]string // dead-letter id → new message id
	gone    []string
	failed  map[string]string // dead-letter id → error
	notSent []string
	why     string // a retryReasons key ("" when nothing failed)
}

// retry checks the ids, audits the intent (without it nothing is sent:
// 503), retries each dead letter, audits the outcome and redirects to the
// list with it. A 429 is waited out once when the budget allows; after a
// 429 that was not, or once the budget runs short, the rest is not sent.
func (h *Queues) retry(c echo.Context, ids []string) error {
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	if len(ids) == 0 || len(ids) > qstash.MaxPage {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("select 1 to %d dead letters to retry", qstash.MaxPage))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if err := qstash.CheckID(id); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "not a dead-letter id: "+clip(id, 40))
		}
		seen[id] = true
	}
	if len(seen) < len(ids) { // each once, in the order given
		ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool {
			keep := seen[id]
			seen[id] = false
			return !keep
		})
	}
	if err := h.RecordIntent(c, audit.Entry{Action: "dlq.retry", Target: "qstash:" + region, Details: map[string]any{"ids": ids}},
		fmt.Sprintf("retry %d dead letter(s) in %s", len(ids), region)); err != nil {
		return err
	}
	out := h.retryEach(c.Request().Context(), region, cl, ids)
	h.Pages.Invalidate(region)
	failed := map[string]any{}
	for id, msg := range out.failed {
		failed[id] = audit.RedactValue("error", msg)
	}
	e := audit.Entry{Action: "dlq.retry", Target: "qstash:" + region, Result: audit.Success,
		Details: map[string]any{"retried": out.retried, "new_message_ids": out.newIDs, "gone": out.gone, "failed": failed}}
	if len(out.notSent) > 0 {
		e.Details["not_sent"] = out.notSent
	}
	if len(out.failed) > 0 {
		e.Result = audit.Error
	}
	if err := h.Record(c, e); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/queues?"+h.retryRedirect(c, region, out).Encode())
}

// retryEach retries ids one by one within ctx's budget.
func (h *Queues) retryEach(ctx context.Context, region string, cl *qstash.Client, ids []string) retryOutcome {
	out := retryOutcome{newIDs: map[string]string{}, failed: map[string]string{}}
	reasons := map[string]bool{}
	stop := ""
	for _, id := range ids {
		if stop == "" && !qstash.Fits(ctx, retryReserve) {
			stop = "time"
		}
		if stop != "" {
			out.notSent = append(out.notSent, id)
			out.failed[id] = "not sent: " + retryReasons[stop]
			reasons[stop] = true
			continue
		}
		var mid string
		err := qstash.Patiently(ctx, retryReserve, func(ctx context.Context) error {
			var err error
			mid, err = cl.RetryDLQ(ctx, id)
			return err
		})
		switch {
		case err == nil:
			out.retried, out.newIDs[id] = append(out.retried, id), mid
			h.Pages.Forget(region, id)
		case errors.Is(err, qstash.ErrNotFound):
			out.gone = append(out.gone, id)
			h.Pages.Forget(region, id)
		default:
			why := retryReason(err)
			out.failed[id], reasons[why] = err.Error(), true
			switch {
			case why == "rate":
				stop = why // QStash refuses: spare it the rest
			case ctx.Err() != nil:
				stop = "time"
			}
		}
	}
	switch len(reasons) {
	case 0:
	case 1:
		for k := range reasons {
			out.why = k
		}
	default:
		out.why = "mixed"
	}
	return out
}

// retryReason names why a retry failed, as a retryReasons key.
func retryReason(err error) string {
	var ae *qstash.APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
		return "rate"
	case errors.As(err, &ae) && ae.Status >= 500:
		return "upstream"
	case errors.As(err, &ae):
		return "refused"
	case IsUnreachable(err):
		return "unreachable"
	}
	return "other"
}

// retryRedirect is the list's query after a retry: the region, the
// filters of the form it was posted from (when they are valid), and the
// outcome as the fixed flash key, counts, a reason key and, for a single
// retried dead letter, its new message id.
func (h *Queues) retryRedirect(c echo.Context, region string, out retryOutcome) url.Values {
	q := url.Values{"region": {region}}
	if _, _, err := parseDLQFilter(c); err == nil {
		for k, v := range filterForm(dlqFilterView(c)) {
			if v = strings.TrimSpace(v); v != "" {
				q.Set(k, v)
			}
		}
	}
	if n, err := strconv.Atoi(c.FormValue("count")); err == nil && n >= 1 && n <= qstash.MaxPage {
		q.Set("count", strconv.Itoa(n))
	}
	q.Set("done", "retry")
	q.Set("retried", strconv.Itoa(len(out.retried)))
	q.Set("gone", strconv.Itoa(len(out.gone)))
	q.Set("failed", strconv.Itoa(len(out.failed)))
	if out.why != "" {
		q.Set("why", out.why)
	}
	if len(out.retried) == 1 {
		if mid := out.newIDs[out.retried[0]]; qstash.CheckID(mid) == nil {
			q.Set("msg", mid)
		}
	}
	return q
}
