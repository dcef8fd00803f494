package cli

import (
	"net/http"
	"time"

	"github.com/atum/ops-console/internal/qstashdouble"
)

// seedSchedules puts the platform's cron schedules into the QStash double:
// a healthy one, one whose last run failed, a paused one, and one with a
// hostile destination and label (its secret and markup must never reach
// a page as such).
func seedSchedules(qd *qstashdouble.Server) {
	now := time.Now()
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	qd.AddSchedule(qstashdouble.Schedule{Cron: "*/15 * * * *", Destination: "https://api.atum.example/cron/usage-rollup",
		Labels: []string{"usage"}, Retries: 3, CreatedAt: ms(-90 * 24 * time.Hour),
		LastScheduleTime: ms(-7 * time.Minute), NextScheduleTime: ms(8 * time.Minute),
		LastScheduleStates: map[string]string{"msg_demo_usage_1": "DELIVERED"}})
	qd.AddSchedule(qstashdouble.Schedule{ScheduleID: "nightly-invoices", Cron: "CRON_TZ=Europe/Paris 0 3 * * *",
		Destination: "https://api.atum.example/cron/invoices", QueueName: "billing", Labels: []string{"billing", "deploy-2026-04-09"},
		Retries: 3, CreatedAt: ms(-40 * 24 * time.Hour), LastScheduleTime: ms(-9 * time.Hour), NextScheduleTime: ms(15 * time.Hour),
		LastScheduleStates: map[string]string{"msg_demo_inv_1": "DELIVERED", "msg_demo_inv_2": "FAILED", "msg_demo_inv_3": "FAILED"}})
	qd.AddSchedule(qstashdouble.Schedule{Cron: "0 9 * * 1", Destination: "https://api.atum.example/cron/weekly-digest",
		Method: http.MethodPut, IsPaused: true, Labels: []string{"emails"}, CreatedAt: ms(-12 * 24 * time.Hour),
		LastScheduleTime: ms(-8 * 24 * time.Hour), NextScheduleTime: ms(6 * 24 * time.Hour)})
	qd.AddSchedule(qstashdouble.Schedule{Cron: "0 * * * *",
		Destination: `https://partner.example/hook/<script>alert(1)</script>?token=sk_live_4eC39HqLyjWDarjtT1zdp7dc`,
		Labels:      []string{`<img src=x onerror=alert(3)>`}, CreatedAt: ms(-3 * 24 * time.Hour),
		LastScheduleTime: ms(-31 * time.Minute), NextScheduleTime: ms(29 * time.Minute),
		LastScheduleStates: map[string]string{"msg_demo_hook_1": "RETRY"}})
}
