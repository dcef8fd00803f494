package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// Schedules lists a region's QStash schedules, read within the request's
// time and shared among viewers for a second (a 429 is waited out when
// its wait fits). When QStash
// is down, too slow or rate-limiting, the page says so and lists none.
func (h *Queues) Schedules(c echo.Context) error {
	p := h.Page(c, "Schedules", "queues")
	if len(h.Clients) == 0 {
		return Render(c, http.StatusOK, views.SchedulesPage(p, views.Schedules{Err: "QStash is not configured (QSTASH_TOKEN)."}))
	}
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	m := views.Schedules{Region: region, CanAct: h.canAct(c), Production: h.Env == "production"}
	for _, r := range h.Regions {
		m.Regions = append(m.Regions, views.Region{Key: r, Label: strings.ToUpper(r), Href: views.SchedulesURL(r), Active: r == region})
	}
	var list []qstash.Schedule
	err = qstash.Patiently(c.Request().Context(), readReserve, func(ctx context.Context) error {
		qctx, cancel := context.WithTimeout(ctx, UpstreamBudget)
		defer cancel()
		var err error
		list, err = h.Pages.Schedules(qctx, cl)
		return err
	})
	now := time.Now()
	if err != nil {
		m.Err = readFailure(err, "the schedules", "they are not listed")
	} else {
		m.Read = "at " + now.UTC().Format("15:04:05Z")
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].ScheduleID < list[j].ScheduleID })
	for _, s := range list {
		m.Rows = append(m.Rows, scheduleRow(s, now))
	}
	if f, ok := scheduleFlash(c.QueryParams()); ok {
		p.Flash = f
	}
	return Render(c, http.StatusOK, views.SchedulesPage(p, m))
}

// scheduleRow is one schedule as the page shows it: destination and
// labels masked, times in words, the last run's states counted.
func scheduleRow(s qstash.Schedule, now time.Time) views.ScheduleRow {
	labels := append([]string(nil), s.Labels...)
	if s.Label != "" {
		labels = append(labels, s.Label)
	}
	r := views.ScheduleRow{ID: s.ScheduleID, Cron: s.Cron, Destination: views.ShownURL(s.Destination), Method: s.Method,
		Queue: s.QueueName, Paused: s.IsPaused, Labels: views.ShownText(strings.Join(labels, ", ")),
		Controllable: qstash.CheckScheduleID(s.ScheduleID) == nil, LastRun: "never", NextRun: "—"}
	if s.LastScheduleTime > 0 {
		t := time.UnixMilli(s.LastScheduleTime)
		r.LastRun, r.LastRunAt = human.Ago(t, now), t.UTC().Format("2006-01-02 15:04:05Z")
	}
	if s.NextScheduleTime > 0 {
		t := time.UnixMilli(s.NextScheduleTime)
		r.NextRun, r.NextRunAt = human.Until(t, now), t.UTC().Format("2006-01-02 15:04:05Z")
	}
	counts := map[string]int{}
	for _, st := range s.LastScheduleStates {
		counts[clip(st, 40)]++
	}
	for st, n := range counts {
		r.States = append(r.States, views.ScheduleStateCount{State: st, Count: n})
	}
	sort.Slice(r.States, func(i, j int) bool { return r.States[i].State < r.States[j].State })
	return r
}

// PauseSchedule pauses a schedule: QStash ignores its cron until resumed.
func (h *Queues) PauseSchedule(c echo.Context) error { return h.setSchedulePaused(c, true) }

// ResumeSchedule resumes a paused schedule.
func (h *Queues) ResumeSchedule(c echo.Context) error { return h.setSchedulePaused(c, false) }

// setSchedulePaused pauses or resumes the schedule :id with a reason (and,
// in production, the id typed to confirm): the intent is audited first,
// then the result, and the schedules page says what happened.
func (h *Queues) setSchedulePaused(c echo.Context, paused bool) error {
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if qstash.CheckScheduleID(id) != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "not a schedule id")
	}
	verb, action := "resume", "qstash.schedule.resume"
	if paused {
		verb, action = "pause", "qstash.schedule.pause"
	}
	reason, err := h.changeReason(c, "schedule's id", id)
	if err != nil {
		return err
	}
	target := "qstash:" + region + "/schedule/" + id
	e := audit.Entry{Action: action, Target: target, Reason: reason, Details: map[string]any{"region": region}}
	if err := h.RecordIntent(c, e, verb+" schedule "+id); err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(c.Request().Context(), UpstreamBudget)
	err = cl.SetSchedulePaused(qctx, id, paused)
	cancel()
	h.Pages.ForgetSchedules()
	e.Result = audit.Success
	if err != nil {
		e.Result, e.Details = audit.Failure, map[string]any{"region": region, "error": clip(err.Error(), 300)}
	}
	_ = h.Record(c, e)
	switch {
	case errors.Is(err, qstash.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "QStash has no schedule "+id+" in region "+region+" (deleted?): nothing was changed.")
	case err != nil:
		return echo.NewHTTPError(http.StatusBadGateway, "The schedule was not changed: "+readFailure(err, "the schedule", "nothing was changed"))
	}
	q := url.Values{"region": {region}, "done": {"schedule_" + verb}, "schedule": {id}}
	return c.Redirect(http.StatusSeeOther, "/queues/schedules?"+q.Encode())
}

// scheduleFlash is the flash a redirect after pausing or resuming a
// schedule asks for: fixed text around a checked schedule id.
func scheduleFlash(q url.Values) (views.Flash, bool) {
	id := q.Get("schedule")
	if qstash.CheckScheduleID(id) != nil {
		return views.Flash{}, false
	}
	switch q.Get("done") {
	case "schedule_pause":
		return views.Flash{Kind: "ok", Text: "Schedule " + id + " is paused: QStash ignores its cron until it is resumed."}, true
	case "schedule_resume":
		return views.Flash{Kind: "ok", Text: "Schedule " + id + " is resumed: its next run goes out on its cron."}, true
	}
	return views.Flash{}, false
}
