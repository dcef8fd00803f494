package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// readReserve is what a QStash read keeps of its page's budget after
// waiting out a 429: the second call, an audit event and the render.
const readReserve = 200 * time.Millisecond

// Queues is the QStash screen: queues, dead letters, retry and purge.
type Queues struct {
	*Base
	// Clients by region key; Regions lists the keys in display order.
	Clients map[string]*qstash.Client
	// Pages shares dead-letter pages among viewers and keeps their last
	// good copies (nil: list every time, keep nothing).
	Pages   *qstash.PageCache
	Regions []string
	Sampler *qstash.Sampler
	Purger  *qstash.Purger
	// Approval says which purges and retries need a second operator.
	Approval qstash.ApprovalPolicy
	// Background runs purges after the request ends.
	Background context.Context
	// AccountReasonRequired makes a reason (ticket) mandatory before a
	// tenant's messages open, as for every account lookup.
	AccountReasonRequired bool

	// reveals audits who was shown which dead letter's content.
	reveals reveals
}

func (h *Queues) region(c echo.Context) (string, *qstash.Client, error) {
	r := c.QueryParam("region")
	if r == "" {
		r = c.FormValue("region")
	}
	if r == "" && len(h.Regions) > 0 {
		r = h.Regions[0]
	}
	cl, ok := h.Clients[r]
	if !ok {
		return "", nil, echo.NewHTTPError(http.StatusNotFound, "QStash is not configured for region "+clip(r, 20))
	}
	return r, cl, nil
}

func (h *Queues) canAct(c echo.Context) bool {
	s := CurrentSession(c)
	return s != nil && s.Account.Role.AtLeast(auth.Operator)
}

// List renders the queues (from the latest snapshot) and one page of dead
// letters matching the filters (live, with a deadline; a 429 is waited
// out when the budget allows; when QStash still refuses, fails or does
// not answer, the page's last good copy is shown with its age), with the
// outcome of the action that led here.
func (h *Queues) List(c echo.Context) error {
	if len(h.Clients) == 0 {
		return Render(c, http.StatusOK, views.QueuesPage(h.Page(c, "Queues", "queues"), views.Queues{Err: "QStash is not configured (QSTASH_TOKEN)."}))
	}
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m := views.Queues{Region: region, CanAct: h.canAct(c), Filter: dlqFilterView(c), Production: h.Env == "production"}
	for _, r := range h.Regions {
		m.Regions = append(m.Regions, views.Region{Key: r, Label: strings.ToUpper(r), Href: "/queues?region=" + r, Active: r == region})
	}
	if err := h.queueSnapshot(ctx, region, &m); err != nil {
		return err
	}
	if err := h.purgeRows(c, &m); err != nil {
		return err
	}
	status := http.StatusOK
	if lp, err := parseListParams(c); err != nil {
		m.FilterErr, status = err.Error(), http.StatusBadRequest // nothing is sent to QStash
	} else {
		h.listDLQ(ctx, region, cl, lp, &m)
	}
	if ri := cl.Rate(); ri != nil {
		m.RateLimits = fmt.Sprintf("QStash rate limit: %d of %d left (seen %s)", ri.Remaining, ri.Limit, human.Ago(ri.At, time.Now()))
	}
	p := h.Page(c, "Queues", "queues")
	if f, ok := queuesFlash(c.QueryParams()); ok {
		p.Flash = f
	} else if f, ok := queueFlash(c.QueryParams()); ok {
		p.Flash = f
	}
	return Render(c, status, views.QueuesPage(p, m))
}

// queueSnapshot fills the queues from the sampler's latest snapshot.
func (h *Queues) queueSnapshot(ctx context.Context, region string, m *views.Queues) error {
	snap, err := h.Sampler.Latest(ctx, region)
	switch {
	case errors.Is(err, qstash.ErrNoSnapshot):
		m.Sampled = "not listed yet"
		return nil
	case err != nil:
		return err
	}
	m.Sampled, m.TotalLag = human.Ago(snap.At, time.Now()), snap.TotalLag()
	if snap.Err != "" {
		m.Sampled = "not listed: the latest attempt (" + human.Ago(snap.At, time.Now()) + ") failed"
		if !snap.ListedAt.IsZero() {
			m.Sampled += "; the queues below were listed " + human.Ago(snap.ListedAt, time.Now())
		}
		m.Err = "QStash could not be listed: " + snap.Err
	}
	for _, q := range snap.Queues {
		m.Queues = append(m.Queues, views.QueueRow{Name: q.Name, Lag: q.Lag, Parallelism: q.Parallelism, Paused: q.Paused, Updated: human.Ago(q.Updated, time.Now()),
			Controllable: qstash.CheckQueueName(q.Name) == nil})
	}
	return nil
}

// listDLQ lists one page of dead letters with checked parameters, or
// shows its last good copy, and builds the pager from the parameters
// (never from the raw query).
func (h *Queues) listDLQ(ctx context.Context, region string, cl *qstash.Client, lp listParams, m *views.Queues) {
	var page qstash.Page
	err := qstash.Patiently(ctx, readReserve, func(ctx context.Context) error {
		qctx, cancel := context.WithTimeout(ctx, UpstreamBudget)
		defer cancel()
		var err error
		page, err = h.Pages.List(qctx, cl, lp.filter, lp.cursor, lp.count)
		return err
	})
	if err != nil {
		// A 429 is not an error of the page: its last good copy is shown
		// with its age. Any other failure is said as well, above the copy.
		good, at, ok := h.Pages.LastGood(cl, lp.filter, lp.cursor, lp.count)
		ok = ok && staleWorthy(err)
		if _, limited := qstash.IsRateLimited(err); !limited || !ok {
			m.DLQErr = readFailure(err, "the dead letters", "no earlier copy of this page is kept")
		}
		if !ok {
			return
		}
		page, m.Stale = good, staleNote(err, "this list", at)
	}
	for _, msg := range page.Messages {
		m.DLQ = append(m.DLQ, dlqRow(region, msg))
	}
	q := url.Values{"region": {region}}
	for k, v := range filterForm(m.Filter) {
		if v = strings.TrimSpace(v); v != "" {
			q.Set(k, v)
		}
	}
	if lp.count != defaultDLQCount {
		m.Count = strconv.Itoa(lp.count)
		q.Set("count", m.Count)
	}
	if lp.cursor != "" {
		m.FirstURL = "/queues?" + q.Encode()
	}
	switch {
	case page.Cursor == "":
	case checkCursor(page.Cursor) != nil:
		m.DLQErr = "QStash gave a page cursor this console does not accept, so the next page cannot be linked; narrow the filters instead."
	default:
		q.Set("cursor", page.Cursor)
		m.NextURL = "/queues?" + q.Encode()
	}
}

// staleWorthy reports whether a failed read may be answered with the last
// good copy: a 429, a server error or no answer; not QStash refusing the
// request itself.
func staleWorthy(err error) bool {
	var ae *qstash.APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusTooManyRequests || ae.Status >= 500
	}
	return IsUnreachable(err)
}

// staleNote says why what (a list, a dead letter) is a copy, and its age.
func staleNote(err error, what string, at time.Time) string {
	why := "QStash did not answer now"
	var ae *qstash.APIError
	if _, limited := qstash.IsRateLimited(err); limited {
		why = "QStash is rate-limiting the console (HTTP 429)"
	} else if errors.As(err, &ae) {
		why = fmt.Sprintf("QStash answered HTTP %d now", ae.Status)
	}
	return why + ", so " + what + " is the copy read " + human.Ago(at, time.Now()) + "; it may have changed since."
}

// readFailure says why a read of what failed; instead names what the
// page does about it.
func readFailure(err error, what, instead string) string {
	var ae *qstash.APIError
	switch wait, limited := qstash.IsRateLimited(err); {
	case limited:
		return fmt.Sprintf("QStash is rate-limiting the console (HTTP 429) and %s; try again in %s.", instead, waitText(wait))
	case IsUnreachable(err):
		return "QStash did not answer within the page's time when asked for " + what + "; try again."
	case errors.As(err, &ae):
		return fmt.Sprintf("QStash answered HTTP %d when asked for %s: %s", ae.Status, what, clip(ae.Message, 200))
	}
	return "QStash's answer for " + what + " could not be read: " + clip(err.Error(), 200)
}

// waitText is a wait in whole seconds, at least one.
func waitText(d time.Duration) string {
	s := retryAfterSeconds(d)
	if s == 1 {
		return "a second"
	}
	return strconv.Itoa(s) + " seconds"
}

// retryAfterSeconds is d rounded up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

func dlqRow(region string, m qstash.Message) views.DLQRow {
	labels := append([]string(nil), m.Labels...)
	if m.Label != "" {
		labels = append(labels, m.Label)
	}
	return views.DLQRow{DLQID: m.DLQID, MessageID: m.MessageID, URL: views.ShownURL(m.URL), Method: m.Method, Queue: m.QueueName,
		ResponseStatus: m.ResponseStatus, Created: time.UnixMilli(m.CreatedAt).UTC().Format("2006-01-02 15:04:05Z"),
		Labels: views.ShownText(strings.Join(labels, ", ")), Href: "/queues/dlq/" + url.PathEscape(m.DLQID) + "?region=" + region}
}
