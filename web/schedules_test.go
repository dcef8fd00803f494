package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/web"
)

// scheduleCalls counts the requests the double got on a schedule's path
// other than the list.
func (h *harness) scheduleCalls() int {
	n := 0
	for _, r := range h.qs.Requests() {
		if strings.HasPrefix(r.Path, "/v2/schedules/") {
			n++
		}
	}
	return n
}

// seedSchedule adds a schedule to the double, due in a few minutes.
func (h *harness) seedSchedule(s qstashdouble.Schedule) string {
	now := time.Now()
	if s.Destination == "" {
		s.Destination = "https://api.atum.example/cron"
	}
	s.LastScheduleTime, s.NextScheduleTime = now.Add(-7*time.Minute).UnixMilli(), now.Add(8*time.Minute+30*time.Second).UnixMilli()
	return h.qs.AddSchedule(s)
}

// Viewers see every schedule's fields, with the destination's secrets
// masked and everything from QStash escaped; they get no forms, and
// their posts are refused before QStash hears of them.
func TestSchedulesListForViewers(t *testing.T) {
	h := newHarness(t)
	viewer := h.operator("v@atum.io", auth.Viewer)
	id := h.seedSchedule(qstashdouble.Schedule{Cron: "CRON_TZ=Europe/Paris 0 3 * * *", QueueName: "billing", Method: http.MethodPut,
		Destination:        `https://partner.example/hook/<script>alert(1)</script>?token=sk_live_4eC39HqLyjWDarjtT1zdp7dc`,
		Labels:             []string{`<script>alert(2)</script>`, "nightly"},
		LastScheduleStates: map[string]string{"msg_a": "DELIVERED", "msg_b": "DELIVERED", "msg_c": "FAILED"}})
	h.seedSchedule(qstashdouble.Schedule{ScheduleID: "weekly-digest", Cron: "0 9 * * 1", IsPaused: true})

	if page := body(h.get(viewer, "/queues?region=eu")); !strings.Contains(page, `href="/queues/schedules?region=eu" data-testid="schedules-link"`) {
		t.Error("the queues page does not link the schedules")
	}
	resp := h.get(viewer, "/queues/schedules?region=eu")
	page := body(resp)
	if resp.StatusCode != http.StatusOK || strings.Count(page, `data-testid="schedule-row"`) != 2 {
		t.Fatalf("list: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{id, "CRON_TZ=Europe/Paris 0 3 * * *", "billing", "PUT", "weekly-digest", `data-testid="schedule-paused"`,
		"7m ago", "in 8m", "2 DELIVERED", "1 FAILED", "&lt;script&gt;alert(1)&lt;/script&gt;", "token=[redacted]",
		"&lt;script&gt;alert(2)&lt;/script&gt;, nightly"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, never := range []string{"<script>alert(1)", "<script>alert(2)", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", `data-testid="schedule-control-form"`} {
		if strings.Contains(page, never) {
			t.Errorf("a viewer's page shows %q", never)
		}
	}
	h.qs.ResetRequests()
	if resp := h.post(viewer, "/queues/schedules/"+id+"/pause", url.Values{"region": {"eu"}, "reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a viewer paused a schedule: %d", resp.StatusCode)
	}
	if s, _ := h.qs.ScheduleByID(id); s.IsPaused || h.scheduleCalls() != 0 {
		t.Fatal("a viewer's post reached QStash")
	}
}

// An operator pauses and resumes a schedule: a reason and, in
// production, the id typed; both step-ups; audited intent first, then
// the result; a malformed id is refused without a call and an unknown
// one answers a clear 404 with the failure audited.
func TestSchedulePauseAndResume(t *testing.T) {
	h := newHarness(t, func(d *web.Deps) { d.Env = "production" })
	op := h.operator("op@atum.io", auth.Operator)
	id := h.seedSchedule(qstashdouble.Schedule{Cron: "*/15 * * * *"})
	steps := map[string]string{}
	for _, r := range h.server.Routes {
		steps[r.Method+" "+r.Path] = r.StepUp
	}
	if steps["POST /queues/schedules/:id/pause"] == "" || steps["POST /queues/schedules/:id/resume"] == "" {
		t.Errorf("pausing or resuming a schedule does not ask for a fresh sign-in: %q", steps)
	}

	page := body(h.get(op, "/queues/schedules?region=eu"))
	if !strings.Contains(page, `action="/queues/schedules/`+id+`/pause"`) || !strings.Contains(page, `placeholder="Type `+id+`"`) {
		t.Fatalf("no pause form with the typed confirmation:\n%s", page)
	}
	h.qs.ResetRequests()
	for _, bad := range []url.Values{
		{"region": {"eu"}, "confirm": {id}},
		{"region": {"eu"}, "reason": {"   "}, "confirm": {id}},
		{"region": {"eu"}, "reason": {strings.Repeat("x", 501)}, "confirm": {id}},
		{"region": {"eu"}, "reason": {"cron storm"}},
		{"region": {"eu"}, "reason": {"cron storm"}, "confirm": {strings.ToUpper(id)}},
	} {
		if resp := h.post(op, "/queues/schedules/"+id+"/pause", bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", bad, resp.StatusCode)
		}
	}
	for _, bad := range []string{"bad%20id", "scd%21x", strings.Repeat("a", 101)} {
		if resp := h.post(op, "/queues/schedules/"+bad+"/pause", url.Values{"region": {"eu"}, "reason": {"x"}, "confirm": {bad}}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("id %q: %d, want 400", bad, resp.StatusCode)
		}
	}
	if n := h.scheduleCalls(); n != 0 {
		t.Fatalf("refused requests reached QStash: %d calls", n)
	}
	if ev := h.events("qstash.schedule.pause"); len(ev) != 0 {
		t.Fatalf("refused requests were audited as intents: %+v", ev)
	}

	resp := h.post(op, "/queues/schedules/scd_nosuch/pause", url.Values{"region": {"eu"}, "reason": {"x"}, "confirm": {"scd_nosuch"}})
	if b := body(resp); resp.StatusCode != http.StatusNotFound || !strings.Contains(b, "QStash has no schedule scd_nosuch in region eu") {
		t.Fatalf("unknown id: %d\n%s", resp.StatusCode, b)
	}
	if ev := h.events("qstash.schedule.pause"); len(ev) != 2 || ev[0].Result != audit.Failure || ev[1].Result != audit.Intent ||
		ev[0].Target != "qstash:eu/schedule/scd_nosuch" || !strings.Contains(ev[0].DetailsJSON, "404") {
		t.Fatalf("unknown id audit: %+v", ev)
	}

	resp = h.post(op, "/queues/schedules/"+id+"/pause", url.Values{"region": {"eu"}, "reason": {"cron storm"}, "confirm": {id}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done=schedule_pause") {
		t.Fatalf("pause: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body(resp))
	}
	if s, _ := h.qs.ScheduleByID(id); !s.IsPaused {
		t.Fatal("the schedule is not paused")
	}
	page = body(h.get(op, resp.Header.Get("Location")))
	if !strings.Contains(page, "Schedule "+id+" is paused") || !strings.Contains(page, `data-testid="schedule-paused"`) ||
		!strings.Contains(page, `action="/queues/schedules/`+id+`/resume"`) {
		t.Fatalf("the page does not say the schedule is paused:\n%s", page)
	}
	resp = h.post(op, "/queues/schedules/"+id+"/resume", url.Values{"region": {"eu"}, "reason": {"fixed"}, "confirm": {id}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resume: %d", resp.StatusCode)
	}
	if s, _ := h.qs.ScheduleByID(id); s.IsPaused {
		t.Fatal("the schedule is still paused")
	}
	for action, reason := range map[string]string{"qstash.schedule.pause": "cron storm", "qstash.schedule.resume": "fixed"} {
		ev := h.events(action)
		if len(ev) < 2 || ev[0].Result != audit.Success || ev[1].Result != audit.Intent || ev[0].Target != "qstash:eu/schedule/"+id ||
			ev[1].Target != ev[0].Target || ev[0].Reason != reason || ev[1].Reason != reason {
			t.Errorf("%s audit: %+v", action, ev)
		}
	}
}

// When QStash fails, rate-limits or does not answer, the schedules page
// still answers 200 within its budget and says why it lists nothing.
func TestSchedulesWhenQStashFails(t *testing.T) {
	h := newHarness(t)
	viewer := h.operator("v@atum.io", auth.Viewer)
	h.seedSchedule(qstashdouble.Schedule{Cron: "0 * * * *"})
	t.Cleanup(func() { h.qs.FailNext(0, 0); h.qs.SetLatency(0) })
	for _, c := range []struct {
		name  string
		setup func()
		want  string
	}{
		{"503", func() { h.qs.FailNext(1000, http.StatusServiceUnavailable) }, "QStash answered HTTP 503 when asked for the schedules"},
		{"429", func() { h.qs.FailNext(1000, http.StatusTooManyRequests) }, "QStash is rate-limiting the console (HTTP 429)"},
		{"no answer", func() { h.qs.FailNext(0, 0); h.qs.SetLatency(5 * time.Second) }, "QStash did not answer within the page"},
	} {
		c.setup()
		start := time.Now()
		resp := h.get(viewer, "/queues/schedules?region=eu")
		page, took := body(resp), time.Since(start)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="schedules-error"`) || !strings.Contains(page, c.want) ||
			strings.Contains(page, `data-testid="schedule-row"`) {
			t.Errorf("%s: %d\n%s", c.name, resp.StatusCode, page)
		}
		if took > web.PageBudget+300*time.Millisecond {
			t.Errorf("%s: took %v", c.name, took)
		}
	}
	h.qs.SetLatency(0)
	if page := body(h.get(viewer, "/queues/schedules?region=eu")); strings.Count(page, `data-testid="schedule-row"`) != 1 {
		t.Fatal("the schedules are not listed once QStash answers")
	}
}
