package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// PauseQueue pauses a queue that is feeding the dead-letter queue: it
// keeps accepting messages and delivers none until resumed.
func (h *Queues) PauseQueue(c echo.Context) error { return h.setQueuePaused(c, true) }

// ResumeQueue resumes a paused queue.
func (h *Queues) ResumeQueue(c echo.Context) error { return h.setQueuePaused(c, false) }

// setQueuePaused pauses or resumes the queue named by :name with a reason
// (and, in production, the queue's name typed to confirm): the intent is
// audited first, then the result; the queues are sampled again so the
// page shows the new state.
func (h *Queues) setQueuePaused(c echo.Context, paused bool) error {
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	name := c.Param("name")
	if err := qstash.CheckQueueName(name); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "not a queue name")
	}
	verb, action := "resume", "qstash.queue.resume"
	if paused {
		verb, action = "pause", "qstash.queue.pause"
	}
	reason, err := h.queueChangeReason(c, name)
	if err != nil {
		return err
	}
	target := "qstash:" + region + "/queue/" + name
	if err := h.RecordIntent(c, audit.Entry{Action: action, Target: target, Reason: reason}, verb+" queue "+name); err != nil {
		return err
	}
	ctx := c.Request().Context()
	qctx, cancel := context.WithTimeout(ctx, UpstreamBudget)
	err = cl.SetQueuePaused(qctx, name, paused)
	cancel()
	e := audit.Entry{Action: action, Target: target, Reason: reason, Result: audit.Success, Details: map[string]any{"region": region}}
	if err != nil {
		e.Result, e.Details = audit.Failure, map[string]any{"region": region, "error": clip(err.Error(), 300)}
	}
	_ = h.Record(c, e)
	return h.queueChanged(c, region, name, "queue_"+verb, err)
}

// queueChangeReason reads the reason of a change to queue name and, in
// production, checks the name typed to confirm it.
func (h *Queues) queueChangeReason(c echo.Context, name string) (string, error) {
	return h.changeReason(c, "queue's name", name)
}

// changeReason reads the reason of a change to a queue or schedule and,
// in production, checks that its name or id (what, e.g. "queue's name")
// was typed to confirm it.
func (h *Queues) changeReason(c echo.Context, what, name string) (string, error) {
	reason := strings.TrimSpace(c.FormValue("reason"))
	switch {
	case reason == "" || len(reason) > 500:
		return "", echo.NewHTTPError(http.StatusBadRequest, "give a reason (up to 500 characters): it goes to the audit log")
	case h.Env == "production" && strings.TrimSpace(c.FormValue("confirm")) != name:
		return "", echo.NewHTTPError(http.StatusBadRequest, "type the "+what+", "+name+", to confirm")
	}
	return reason, nil
}

// queueChanged answers a change to queue name that QStash answered with
// err: the error page, or the queues sampled again and a redirect with
// the flash done.
func (h *Queues) queueChanged(c echo.Context, region, name, done string, err error) error {
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, "The queue was not changed: "+readFailure(err, "the queue", "nothing was changed"))
	}
	if h.Sampler != nil {
		_, _ = h.Sampler.Refresh(c.Request().Context(), region)
	}
	q := url.Values{"region": {region}, "done": {done}, "queue": {name}}
	return c.Redirect(http.StatusSeeOther, "/queues?"+q.Encode())
}

// queueFlash is the flash a redirect after pausing or resuming a queue
// asks for: fixed text around a checked queue name.
func queueFlash(q url.Values) (views.Flash, bool) {
	name := q.Get("queue")
	if qstash.CheckQueueName(name) != nil {
		return views.Flash{}, false
	}
	switch q.Get("done") {
	case "queue_pause":
		return views.Flash{Kind: "ok", Text: "Queue " + name + " is paused: it keeps accepting messages and delivers none until resumed."}, true
	case "queue_resume":
		return views.Flash{Kind: "ok", Text: "Queue " + name + " is resumed: it delivers again."}, true
	case "queue_parallelism":
		return views.Flash{Kind: "ok", Text: "Queue " + name + "'s parallelism is changed; the table shows the new value."}, true
	}
	return views.Flash{}, false
}

// QueueParallelism sets how many of a queue's messages are delivered at
// once, with a reason (and in production the name typed); the queue's
// paused state is read first and kept. Audited intent first.
func (h *Queues) QueueParallelism(c echo.Context) error {
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	name := c.Param("name")
	if err := qstash.CheckQueueName(name); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "not a queue name")
	}
	n, err := strconv.Atoi(strings.TrimSpace(c.FormValue("parallelism")))
	if err != nil || n < 1 || n > qstash.MaxParallelism {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("parallelism must be a whole number from 1 to %d", qstash.MaxParallelism))
	}
	reason, err := h.queueChangeReason(c, name)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	qctx, cancel := context.WithTimeout(ctx, UpstreamBudget)
	defer cancel()
	queues, err := cl.Queues(qctx)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, "The queue was not changed: "+readFailure(err, "the queues", "nothing was changed"))
	}
	i := slices.IndexFunc(queues, func(q qstash.Queue) bool { return q.Name == name })
	if i < 0 {
		return echo.NewHTTPError(http.StatusNotFound, "no queue named "+name+" in region "+region)
	}
	const action = "qstash.queue.parallelism"
	target := "qstash:" + region + "/queue/" + name
	details := map[string]any{"region": region, "before": queues[i].Parallelism, "after": n}
	if err := h.RecordIntent(c, audit.Entry{Action: action, Target: target, Reason: reason, Details: details}, "change the parallelism of queue "+name); err != nil {
		return err
	}
	err = cl.SetQueueParallelism(qctx, name, n, queues[i].Paused)
	e := audit.Entry{Action: action, Target: target, Reason: reason, Result: audit.Success, Details: details}
	if err != nil {
		e.Result, e.Details = audit.Failure, map[string]any{"region": region, "error": clip(err.Error(), 300)}
	}
	_ = h.Record(c, e)
	return h.queueChanged(c, region, name, "queue_parallelism", err)
}
