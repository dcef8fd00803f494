package handlers

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// bodyLimit is how much of a body the message page shows before "show all".
const bodyLimit = 4096

// Message renders one dead letter: its metadata to every role; its
// headers (secrets masked for everyone) and bodies to support and above,
// each such reveal audited once per operator and message per
// revealWindow. A 429 is waited out when the budget allows, else the last
// good copy is shown with its age, else the answer is a 503 with
// Retry-After.
func (h *Queues) Message(c echo.Context) error {
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if err := qstash.CheckID(id); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "not a dead-letter id")
	}
	full := false
	switch q := c.QueryParams(); {
	case len(q["full"]) > 1 || len(q["region"]) > 1:
		return echo.NewHTTPError(http.StatusBadRequest, "give region and full once")
	case q.Get("full") == "1":
		full = true
	case q.Get("full") != "":
		return echo.NewHTTPError(http.StatusBadRequest, "full must be 1 (the whole bodies) or left out")
	}
	m, stale, err := h.readMessage(c, cl, id)
	if err != nil {
		return err
	}
	v := views.DLQMessage{Region: region, DLQID: m.DLQID, MessageID: m.MessageID, URL: views.ShownURL(m.URL), Method: m.Method,
		Queue: m.QueueName, Schedule: m.ScheduleID, Labels: dlqRow(region, m).Labels, ResponseStatus: m.ResponseStatus,
		MaxRetries: m.MaxRetries, Created: time.UnixMilli(m.CreatedAt).UTC().Format("2006-01-02 15:04:05Z"), CallerIP: m.CallerIP,
		CanAct: h.canAct(c), BackHref: "/queues?region=" + region, Stale: stale}
	if m.NotBefore > 0 {
		v.NotBefore = time.UnixMilli(m.NotBefore).UTC().Format("2006-01-02 15:04:05Z")
	}
	h.content(c, region, m, full, &v)
	v.Lifecycle, v.LifecycleNote = h.lifecycle(c.Request().Context(), cl, m.MessageID)
	return Render(c, http.StatusOK, views.DLQMessagePage(h.Page(c, "Dead letter "+id, "queues"), v))
}

// readMessage reads a dead letter, or its last good copy (with a note
// saying how old) when QStash refuses or does not answer; a dead letter
// that is gone is a 404, one that cannot be read now a 503 with
// Retry-After (a 502 when QStash answered with an error of its own).
func (h *Queues) readMessage(c echo.Context, cl *qstash.Client, id string) (qstash.Message, string, error) {
	var m qstash.Message
	err := qstash.Patiently(c.Request().Context(), readReserve, func(ctx context.Context) error {
		qctx, cancel := context.WithTimeout(ctx, UpstreamBudget)
		defer cancel()
		var err error
		m, err = h.Pages.Message(qctx, cl, id)
		return err
	})
	switch {
	case err == nil:
		return m, "", nil
	case errors.Is(err, qstash.ErrNotFound):
		return m, "", echo.NewHTTPError(http.StatusNotFound, "dead letter "+id+" is gone (deleted, retried or expired)")
	}
	if staleWorthy(err) {
		if good, at, ok := h.Pages.LastGoodMessage(cl, id); ok {
			return good, staleNote(err, "this dead letter", at), nil
		}
	}
	msg := readFailure(err, "this dead letter", "this console has no recent copy of it")
	if wait, limited := qstash.IsRateLimited(err); limited {
		c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		return m, "", echo.NewHTTPError(http.StatusServiceUnavailable, msg)
	}
	if IsUnreachable(err) {
		return m, "", echo.NewHTTPError(http.StatusServiceUnavailable, msg)
	}
	return m, "", echo.NewHTTPError(http.StatusBadGateway, msg)
}

// content puts m's headers and bodies on the page for support and above,
// once their reveal is audited; viewers get the header names and a note.
// Secret headers are masked for everyone.
func (h *Queues) content(c echo.Context, region string, m qstash.Message, full bool, v *views.DLQMessage) {
	s := CurrentSession(c)
	if s == nil || !s.Account.Role.AtLeast(auth.Support) {
		v.Headers, v.ResponseHeaders = headerNames(m.Header), headerNames(m.ResponseHeader)
		v.ContentNote = "Header values and bodies may hold customer data: they are shown to support and above, and each view is audited."
		return
	}
	if c.Request().Method == http.MethodHead {
		return // nothing is shown, nothing to audit
	}
	if err := h.reveals.audit(h, c, region, m, full); err != nil {
		v.Headers, v.ResponseHeaders = headerNames(m.Header), headerNames(m.ResponseHeader)
		v.ContentNote = "Header values and bodies are not shown: the audit log did not record this view. Try again when the console's database answers."
		return
	}
	self := "/queues/dlq/" + url.PathEscape(m.DLQID) + "?region=" + region + "&full=1"
	v.ShowContent = true
	v.Headers, v.ResponseHeaders = headers(m.Header), headers(m.ResponseHeader)
	v.Body = body(m.Body, m.BodyBase64, full, self)
	v.ResponseBody = body(m.ResponseBody, m.ResponseBodyBase64, full, self)
}

// headers lists h by name with every secret masked (views.ShownHeader).
func headers(h map[string][]string) []views.Header {
	var out []views.Header
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, views.Header{Name: k, Value: views.ShownHeader(k, v)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// headerNames lists h's names only, once each.
func headerNames(h map[string][]string) []views.Header {
	out := make([]views.Header, 0, len(h))
	for k := range h {
		out = append(out, views.Header{Name: k})
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

// lifecycleBudget bounds the logs read for a message page: the page shows
// without them rather than wait.
const lifecycleBudget = 400 * time.Millisecond

// lifecycle reads the state changes of message id from QStash's logs,
// oldest first, or says why they cannot be shown.
func (h *Queues) lifecycle(ctx context.Context, cl *qstash.Client, id string) ([]views.LifecycleRow, string) {
	if id == "" {
		return nil, "QStash gave no message id, so its logs cannot be read."
	}
	ctx, cancel := context.WithTimeout(ctx, lifecycleBudget)
	defer cancel()
	logs, err := h.Pages.Logs(ctx, cl, id)
	if err != nil {
		return nil, readFailure(err, "its logs", "the lifecycle is not shown")
	}
	if len(logs) == 0 {
		return nil, "QStash keeps no logs of this message (they are kept for a limited time)."
	}
	// QStash lists logs newest first, and several changes may share a
	// millisecond: reverse (a copy: the list is shared), then order by
	// time keeping that order.
	logs = slices.Clone(logs)
	slices.Reverse(logs)
	sort.SliceStable(logs, func(i, j int) bool { return logs[i].Time < logs[j].Time })
	rows := make([]views.LifecycleRow, 0, len(logs))
	for _, l := range logs {
		rows = append(rows, views.LifecycleRow{At: time.UnixMilli(l.Time).UTC().Format("2006-01-02 15:04:05.000Z"),
			State: l.State, Status: l.ResponseStatus, Error: l.Error})
	}
	return rows, ""
}
