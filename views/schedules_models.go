package views

import "net/url"

// Schedules is the schedules page of one QStash region: every schedule,
// read live, and for operators the pause and resume forms.
type Schedules struct {
	Regions []Region
	Region  string
	// Err says why the schedules could not be read (QStash not
	// configured, down, too slow or rate-limiting); the rest of the page
	// still renders.
	Err  string
	Rows []ScheduleRow
	// Read says when the list was read ("" when it was not).
	Read   string
	CanAct bool
	// Production asks for the schedule's id typed before pausing or
	// resuming it.
	Production bool
}

// ScheduleRow is one QStash schedule as any page may show it: its
// destination's secrets and its labels' credentials masked.
type ScheduleRow struct {
	ID          string
	Cron        string
	Destination string
	Method      string
	Queue       string
	Paused      bool
	// LastRun and NextRun say when, in words ("3m ago", "in 12m");
	// LastRunAt and NextRunAt in UTC ("" when there is none).
	LastRun, LastRunAt string
	NextRun, NextRunAt string
	// States counts the states of the last run's messages.
	States []ScheduleStateCount
	Labels string
	// Controllable says the id is one the pause and resume forms can
	// post (an id QStash would give).
	Controllable bool
}

// ScheduleStateCount is how many of a run's messages are in one state.
type ScheduleStateCount struct {
	State string
	Count int
}

// SchedulesURL is a region's schedules page.
func SchedulesURL(region string) string {
	if region == "" {
		return "/queues/schedules"
	}
	return "/queues/schedules?" + url.Values{"region": {region}}.Encode()
}

// scheduleControlURL is where a schedule's pause or resume form posts.
func scheduleControlURL(s ScheduleRow) string {
	action := "pause"
	if s.Paused {
		action = "resume"
	}
	return "/queues/schedules/" + url.PathEscape(s.ID) + "/" + action
}
