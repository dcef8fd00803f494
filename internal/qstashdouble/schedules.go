package qstashdouble

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Schedule is a schedule as the API returns it (OAS Schedule). The double
// holds schedules and pauses and resumes them; it does not run their cron.
type Schedule struct {
	ScheduleID      string              `json:"scheduleId"`
	Cron            string              `json:"cron"`
	Destination     string              `json:"destination"`
	Method          string              `json:"method"`
	Header          map[string][]string `json:"header,omitempty"`
	Body            string              `json:"body,omitempty"`
	Retries         int                 `json:"retries"`
	Delay           int                 `json:"delay,omitempty"`
	Callback        string              `json:"callback,omitempty"`
	FailureCallback string              `json:"failureCallback,omitempty"`
	CallerIP        string              `json:"callerIp,omitempty"`
	IsPaused        bool                `json:"isPaused"`
	Labels          []string            `json:"labels,omitempty"`
	// QueueName is not in the OAS schema; the double sends it when set.
	QueueName        string `json:"queueName,omitempty"`
	CreatedAt        int64  `json:"createdAt"`
	LastScheduleTime int64  `json:"lastScheduleTime,omitempty"`
	NextScheduleTime int64  `json:"nextScheduleTime,omitempty"`
	// LastScheduleStates is the state of each message of the last run,
	// by message id.
	LastScheduleStates map[string]string `json:"lastScheduleStates,omitempty"`
}

// scheduleID is QStash's rule for a schedule id (the 400 of the OAS).
var scheduleID = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// AddSchedule stores a schedule, filling ScheduleID (scd_…), CreatedAt,
// Method and Cron when empty, and returns its id. A schedule with the id
// of another replaces it, as Upstash-Schedule-Id does.
func (s *Server) AddSchedule(sc Schedule) string {
	if sc.ScheduleID == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		sc.ScheduleID = "scd_" + hex.EncodeToString(b[:])
	}
	if sc.CreatedAt == 0 {
		sc.CreatedAt = time.Now().UnixMilli()
	}
	if sc.Method == "" {
		sc.Method = http.MethodPost
	}
	if sc.Cron == "" {
		sc.Cron = "*/5 * * * *"
	}
	sc.Header, sc.Labels, sc.LastScheduleStates = cloneHeader(sc.Header), slices.Clone(sc.Labels), maps.Clone(sc.LastScheduleStates)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.schedules == nil {
		s.schedules = map[string]*Schedule{}
	}
	s.schedules[sc.ScheduleID] = &sc
	return sc.ScheduleID
}

// ScheduleByID returns a copy of the schedule id, and whether it exists.
func (s *Server) ScheduleByID(id string) (Schedule, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedules[id]
	if !ok {
		return Schedule{}, false
	}
	return sc.clone(), true
}

func (sc *Schedule) clone() Schedule {
	out := *sc
	out.Header, out.Labels, out.LastScheduleStates = cloneHeader(sc.Header), slices.Clone(sc.Labels), maps.Clone(sc.LastScheduleStates)
	return out
}

func cloneHeader(h map[string][]string) map[string][]string {
	if h == nil {
		return nil
	}
	return http.Header(h).Clone()
}

// listSchedules answers GET /v2/schedules: every schedule, one array.
func (s *Server) listSchedules(w http.ResponseWriter) {
	s.mu.Lock()
	out := make([]Schedule, 0, len(s.schedules))
	for _, sc := range s.schedules {
		out = append(out, sc.clone())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt < out[j].CreatedAt ||
			(out[i].CreatedAt == out[j].CreatedAt && out[i].ScheduleID < out[j].ScheduleID)
	})
	writeJSON(w, http.StatusOK, out)
}

// scheduleOp answers /v2/schedules/{id} (GET) and /v2/schedules/{id}/pause
// or /resume (POST as documented, PATCH as the SDKs send it): 400 for a
// malformed id, 404 for an unknown one.
func (s *Server) scheduleOp(w http.ResponseWriter, m, rest string) {
	parts := strings.Split(rest, "/")
	if !scheduleID.MatchString(parts[0]) || len(parts[0]) > 100 {
		writeErr(w, http.StatusBadRequest, "Schedule ID is invalid. Schedule IDs can only contain alphanumeric characters, hyphens, periods, and underscores.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedules[parts[0]]
	op := len(parts) == 2 && (m == http.MethodPost || m == http.MethodPatch) && (parts[1] == "pause" || parts[1] == "resume")
	switch {
	case !(len(parts) == 1 && m == http.MethodGet) && !op:
		writeErr(w, http.StatusNotFound, "not found")
	case !ok:
		writeErr(w, http.StatusNotFound, "schedule not found")
	case op:
		sc.IsPaused = parts[1] == "pause"
		w.WriteHeader(http.StatusOK)
	default:
		writeJSON(w, http.StatusOK, sc)
	}
}
