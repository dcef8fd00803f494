package handlers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// bodyLimit is how much of a body the message page shows before "show all".
const bodyLimit = 4096

// Queues is the QStash screen: queues, dead letters, retry and purge.
type Queues struct {
	*Base
	// Clients by region key; Regions lists the keys in display order.
	Clients map[string]*qstash.Client
	// Pages shares dead-letter pages among viewers (nil: list every time).
	Pages   *qstash.PageCache
	Regions []string
	Sampler *qstash.Sampler
	Purger  *qstash.Purger
	// Background runs purges after the request ends.
	Background context.Context
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
// letters matching the filters (live, with a deadline).
func (h *Queues) List(c echo.Context) error {
	if len(h.Clients) == 0 {
		return Render(c, http.StatusOK, views.QueuesPage(h.Page(c, "Queues", "queues"), views.Queues{Err: "QStash is not configured (QSTASH_TOKEN)."}))
	}
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m := views.Queues{Region: region, CanAct: h.canAct(c), Filter: dlqFilterView(c)}
	for _, r := range h.Regions {
		m.Regions = append(m.Regions, views.Region{Key: r, Label: strings.ToUpper(r), Href: "/queues?region=" + r, Active: r == region})
	}
	snap, err := h.Sampler.Latest(ctx, region)
	switch {
	case errors.Is(err, qstash.ErrNoSnapshot):
		m.Sampled = "not listed yet"
	case err != nil:
		return err
	default:
		m.Sampled, m.TotalLag = human.Ago(snap.At, time.Now()), snap.TotalLag()
		if snap.Err != "" {
			m.Sampled = "not listed: the latest attempt (" + human.Ago(snap.At, time.Now()) + ") failed"
			if !snap.ListedAt.IsZero() {
				m.Sampled += "; the queues below were listed " + human.Ago(snap.ListedAt, time.Now())
			}
			m.Err = "QStash could not be listed: " + snap.Err
		}
		for _, q := range snap.Queues {
			m.Queues = append(m.Queues, views.QueueRow{Name: q.Name, Lag: q.Lag, Parallelism: q.Parallelism, Paused: q.Paused, Updated: human.Ago(q.Updated, time.Now())})
		}
	}
	status := http.StatusOK
	f, _, ferr := parseDLQFilter(c)
	if ferr != nil {
		m.FilterErr, status = ferr.Error(), http.StatusBadRequest
	} else {
		qctx, cancel := context.WithTimeout(ctx, UpstreamBudget)
		page, err := h.Pages.List(qctx, cl, f, c.QueryParam("cursor"), 50)
		cancel()
		if err != nil {
			m.DLQErr = err.Error()
		}
		for _, msg := range page.Messages {
			m.DLQ = append(m.DLQ, dlqRow(region, msg))
		}
		q := c.QueryParams()
		if q.Get("cursor") != "" {
			q.Del("cursor")
			m.FirstURL = "/queues?" + q.Encode()
		}
		if page.Cursor != "" {
			q.Set("cursor", page.Cursor)
			m.NextURL = "/queues?" + q.Encode()
		}
	}
	if ri := cl.Rate(); ri != nil {
		m.RateLimits = fmt.Sprintf("QStash rate limit: %d of %d left (seen %s)", ri.Remaining, ri.Limit, human.Ago(ri.At, time.Now()))
	}
	purges, err := h.Purger.Recent(ctx, 10)
	if err != nil {
		return err
	}
	for _, p := range purges {
		m.Purges = append(m.Purges, views.PurgeRow{ID: p.ID, Href: fmt.Sprintf("/queues/purges/%d", p.ID), Region: p.Region,
			State: p.State, Count: p.Total, Created: human.Ago(p.CreatedAt, time.Now()), By: p.CreatedBy})
	}
	return Render(c, status, views.QueuesPage(h.Page(c, "Queues", "queues"), m))
}

func dlqFilterView(c echo.Context) views.DLQFilter {
	v := func(k string) string {
		if s := c.QueryParam(k); s != "" {
			return s
		}
		return c.FormValue(k)
	}
	return views.DLQFilter{URL: v("url"), Queue: v("queue"), Schedule: v("schedule"), ResponseStatus: v("response_status"),
		Label: v("label"), From: v("from"), To: v("to")}
}

// parseDLQFilter reads the filter form; it also returns the filters as
// name/value pairs for the purge record.
func parseDLQFilter(c echo.Context) (qstash.Filter, map[string]string, error) {
	fv := dlqFilterView(c)
	f := qstash.Filter{URL: strings.TrimSpace(fv.URL), Queue: strings.TrimSpace(fv.Queue), Schedule: strings.TrimSpace(fv.Schedule),
		Label: strings.TrimSpace(fv.Label)}
	labels := map[string]string{}
	for k, v := range map[string]string{"url": f.URL, "queue": f.Queue, "schedule": f.Schedule, "label": f.Label} {
		if len(v) > 500 {
			return f, nil, fmt.Errorf("the %s filter is longer than 500 characters", k)
		}
		if v != "" {
			labels[k] = v
		}
	}
	if s := strings.TrimSpace(fv.ResponseStatus); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 599 {
			return f, nil, fmt.Errorf("response status %q is not an HTTP status (100–599)", clip(s, 20))
		}
		f.ResponseStatus, labels["response status"] = n, s
	}
	for _, d := range []struct {
		name, val string
		dst       *time.Time
		end       bool
	}{{"from", fv.From, &f.From, false}, {"to", fv.To, &f.To, true}} {
		if s := strings.TrimSpace(d.val); s != "" {
			t, err := time.Parse("2006-01-02", s)
			if err != nil {
				return f, nil, fmt.Errorf("%s %q is not a date (YYYY-MM-DD)", d.name, clip(s, 20))
			}
			if d.end {
				t = t.Add(24*time.Hour - time.Millisecond)
			}
			*d.dst, labels[d.name] = t, s
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return f, nil, errors.New("from must not be after to")
	}
	return f, labels, nil
}

func dlqRow(region string, m qstash.Message) views.DLQRow {
	labels := append([]string(nil), m.Labels...)
	if m.Label != "" {
		labels = append(labels, m.Label)
	}
	return views.DLQRow{DLQID: m.DLQID, MessageID: m.MessageID, URL: m.URL, Method: m.Method, Queue: m.QueueName,
		ResponseStatus: m.ResponseStatus, Created: time.UnixMilli(m.CreatedAt).UTC().Format("2006-01-02 15:04:05Z"),
		Labels: strings.Join(labels, ", "), Href: "/queues/dlq/" + url.PathEscape(m.DLQID) + "?region=" + region}
}

// Message renders one dead letter in full: request and last response.
func (h *Queues) Message(c echo.Context) error {
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if err := qstash.CheckID(id); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "not a dead-letter id")
	}
	m, err := cl.GetDLQ(c.Request().Context(), id)
	if errors.Is(err, qstash.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "dead letter "+id+" is gone (deleted, retried or expired)")
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, "QStash did not answer: "+err.Error())
	}
	full := c.QueryParam("full") == "1"
	self := "/queues/dlq/" + url.PathEscape(id) + "?region=" + region + "&full=1"
	v := views.DLQMessage{Region: region, DLQID: m.DLQID, MessageID: m.MessageID, URL: m.URL, Method: m.Method, Queue: m.QueueName,
		Schedule: m.ScheduleID, Labels: dlqRow(region, m).Labels, Headers: headers(m.Header),
		Body: body(m.Body, m.BodyBase64, full, self), ResponseStatus: m.ResponseStatus, ResponseHeaders: headers(m.ResponseHeader),
		ResponseBody: body(m.ResponseBody, m.ResponseBodyBase64, full, self), MaxRetries: m.MaxRetries,
		Created: time.UnixMilli(m.CreatedAt).UTC().Format("2006-01-02 15:04:05Z"), CallerIP: m.CallerIP,
		CanAct: h.canAct(c), BackHref: "/queues?region=" + region}
	if m.NotBefore > 0 {
		v.NotBefore = time.UnixMilli(m.NotBefore).UTC().Format("2006-01-02 15:04:05Z")
	}
	return Render(c, http.StatusOK, views.DLQMessagePage(h.Page(c, "Dead letter "+id, "queues"), v))
}

func headers(h map[string][]string) []views.Header {
	var out []views.Header
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, views.Header{Name: k, Value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// body shows text as it is when it is UTF-8, else base64, cut at
// bodyLimit unless full.
func body(text, b64 string, full bool, fullHref string) views.Body {
	raw := []byte(text)
	if b64 != "" {
		if d, err := base64.StdEncoding.DecodeString(b64); err == nil {
			raw = d
		}
	}
	b := views.Body{Size: len(raw), FullHref: fullHref}
	shown := string(raw)
	if !utf8.Valid(raw) {
		b.Base64, shown = true, base64.StdEncoding.EncodeToString(raw)
	}
	if !full && len(shown) > bodyLimit {
		shown, b.Truncated = strings.ToValidUTF8(shown[:bodyLimit], ""), true
	}
	b.Text = shown
	return b
}

// Retry sends one dead letter again (operators; intent audited before,
// result after).
func (h *Queues) Retry(c echo.Context) error {
	return h.retry(c, []string{c.Param("id")})
}

// RetrySelected sends the selected dead letters again (at most 100).
func (h *Queues) RetrySelected(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "unreadable form")
	}
	return h.retry(c, form["ids"])
}

// retry checks the ids, audits the intent (without it nothing is sent:
// 503), retries each dead letter and audits the outcome.
func (h *Queues) retry(c echo.Context, ids []string) error {
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	if len(ids) == 0 || len(ids) > qstash.MaxPage {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("select 1 to %d dead letters to retry", qstash.MaxPage))
	}
	for _, id := range ids {
		if err := qstash.CheckID(id); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "not a dead-letter id: "+clip(id, 40))
		}
	}
	if err := h.RecordIntent(c, audit.Entry{Action: "dlq.retry", Target: "qstash:" + region, Details: map[string]any{"ids": ids}},
		fmt.Sprintf("retry %d dead letter(s) in %s", len(ids), region)); err != nil {
		return err
	}
	retried, gone, failed := []string{}, []string{}, map[string]string{}
	for _, id := range ids {
		_, err := cl.RetryDLQ(c.Request().Context(), id)
		switch {
		case err == nil:
			retried = append(retried, id)
		case errors.Is(err, qstash.ErrNotFound):
			gone = append(gone, id)
		default:
			failed[id] = err.Error()
		}
	}
	e := audit.Entry{Action: "dlq.retry", Target: "qstash:" + region, Result: audit.Success,
		Details: map[string]any{"retried": retried, "gone": gone, "failed": failed}}
	if len(failed) > 0 {
		e.Result = audit.Error
	}
	h.Pages.Invalidate(region)
	if err := h.Record(c, e); err != nil {
		return err
	}
	if len(failed) > 0 {
		return echo.NewHTTPError(http.StatusBadGateway, fmt.Sprintf("retried %d, already gone %d, failed %d (see the audit log)", len(retried), len(gone), len(failed)))
	}
	return c.Redirect(http.StatusSeeOther, "/queues?region="+region)
}
