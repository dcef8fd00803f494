package qstash

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
)

// Schedule is a QStash schedule as GET /v2/schedules lists it (the OAS
// Schedule schema), the fields the console shows. Times are Unix
// milliseconds, 0 when QStash sent none. The schedule's headers and body
// are not read: the console never shows them.
type Schedule struct {
	ScheduleID string `json:"scheduleId"`
	// Cron is the cron expression, perhaps with a CRON_TZ= prefix.
	Cron string `json:"cron"`
	// Destination is a URL or a URL group's name.
	Destination string `json:"destination"`
	Method      string `json:"method"`
	CreatedAt   int64  `json:"createdAt"`
	IsPaused    bool   `json:"isPaused"`
	// Retries is how many times a delivery is retried.
	Retries  int    `json:"retries,omitempty"`
	CallerIP string `json:"callerIp,omitempty"`
	// Labels are the schedule's labels; Label is QStash's deprecated
	// single label.
	Labels []string `json:"labels,omitempty"`
	Label  string   `json:"label,omitempty"`
	// QueueName is the queue the schedule's messages go into. It is not
	// in the OAS schema: read when QStash sends it, else empty.
	QueueName        string `json:"queueName,omitempty"`
	LastScheduleTime int64  `json:"lastScheduleTime,omitempty"`
	NextScheduleTime int64  `json:"nextScheduleTime,omitempty"`
	// LastScheduleStates is the state of each message of the last run,
	// by message id (DELIVERED, ERROR, RETRY, FAILED, …).
	LastScheduleStates map[string]string `json:"lastScheduleStates,omitempty"`
}

// scheduleIDPattern is what a schedule id may be: QStash's own rule for
// the ids it gives (scd_…) and those set with Upstash-Schedule-Id
// ("alphanumeric characters, hyphens, periods, and underscores").
var scheduleIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// CheckScheduleID fails with ErrInvalidID unless id is one QStash would
// have given: the characters of its rule, at most 100 of them, and not a
// dot segment ("." or "..", which would name another path).
func CheckScheduleID(id string) error {
	if !scheduleIDPattern.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("%w: %q is not a schedule id", ErrInvalidID, clipID(id))
	}
	return nil
}

// Schedules lists every schedule of the region (our own call: GET
// /v2/schedules, one array, no pages), with the read-only token.
func (c *Client) Schedules(ctx context.Context) ([]Schedule, error) {
	var out []Schedule
	if err := c.do(ctx, http.MethodGet, "/v2/schedules", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// SetSchedulePaused pauses or resumes the schedule id (our own call: POST
// /v2/schedules/{id}/pause or /resume, as documented; the SDKs use
// PATCH). A paused schedule ignores its cron until it is resumed. An id
// QStash would not have given is refused before anything is sent.
func (c *Client) SetSchedulePaused(ctx context.Context, id string, paused bool) error {
	if err := CheckScheduleID(id); err != nil {
		return err
	}
	action := "resume"
	if paused {
		action = "pause"
	}
	return c.do(ctx, http.MethodPost, "/v2/schedules/"+id+"/"+action, nil, nil)
}
