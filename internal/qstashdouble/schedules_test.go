package qstashdouble

import (
	"net/http"
	"testing"
)

// The double lists, gets, pauses and resumes schedules as the OAS says:
// 404 for an unknown id, 400 for a malformed one, PATCH as the SDKs
// send it, and every request recorded.
func TestSchedules(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.s.AddSchedule(Schedule{Cron: "0 * * * *", CreatedAt: 1690000000000, Destination: "https://api.atum.example/cron", Labels: []string{"nightly"},
		LastScheduleTime: 1700000000000, NextScheduleTime: 1700003600000,
		LastScheduleStates: map[string]string{"msg_1": "DELIVERED", "msg_2": "FAILED"}})
	if len(id) < 5 || id[:4] != "scd_" {
		t.Fatalf("id %q, want scd_…", id)
	}
	custom := e.s.AddSchedule(Schedule{ScheduleID: "my.custom-id_1", Destination: "billing-group", Method: http.MethodPut})

	var list []map[string]any
	if code, _ := e.do(http.MethodGet, "/v2/schedules", "", nil, &list); code != http.StatusOK || len(list) != 2 {
		t.Fatalf("list: %d %v", code, list)
	}
	first := list[0]
	if first["scheduleId"] != id || first["cron"] != "0 * * * *" || first["method"] != "POST" || first["isPaused"] != false ||
		first["lastScheduleTime"] != float64(1700000000000) || first["createdAt"] == nil {
		t.Fatalf("listed %v", first)
	}
	if st, ok := first["lastScheduleStates"].(map[string]any); !ok || st["msg_2"] != "FAILED" {
		t.Fatalf("lastScheduleStates %v", first["lastScheduleStates"])
	}

	var one Schedule
	if code, _ := e.do(http.MethodGet, "/v2/schedules/"+custom, "", nil, &one); code != http.StatusOK || one.Destination != "billing-group" || one.Method != http.MethodPut {
		t.Fatalf("get: %d %+v", code, one)
	}
	if code, _ := e.do(http.MethodPost, "/v2/schedules/"+id+"/pause", "", nil, nil); code != http.StatusOK {
		t.Fatalf("pause: %d", code)
	}
	if sc, _ := e.s.ScheduleByID(id); !sc.IsPaused {
		t.Fatal("not paused")
	}
	if code, _ := e.do(http.MethodPatch, "/v2/schedules/"+id+"/resume", "", nil, nil); code != http.StatusOK {
		t.Fatalf("resume with PATCH: %d", code)
	}
	if sc, _ := e.s.ScheduleByID(id); sc.IsPaused {
		t.Fatal("still paused")
	}
	for path, want := range map[string]int{
		"/v2/schedules/scd_nosuch/pause": http.StatusNotFound,
		"/v2/schedules/scd_nosuch":       http.StatusNotFound,
		"/v2/schedules/bad%20id/pause":   http.StatusBadRequest,
		"/v2/schedules//pause":           http.StatusBadRequest,
		"/v2/schedules/" + id + "/stop":  http.StatusNotFound,
	} {
		method := http.MethodPost
		if path == "/v2/schedules/scd_nosuch" {
			method = http.MethodGet
		}
		if code, _ := e.do(method, path, "", nil, nil); code != want {
			t.Errorf("%s %s: %d, want %d", method, path, code, want)
		}
	}
	found := false
	for _, r := range e.s.Requests() {
		found = found || (r.Method == http.MethodPost && r.Path == "/v2/schedules/bad id/pause" && r.Status == http.StatusBadRequest)
	}
	if !found {
		t.Fatal("the call with a malformed id was not recorded with its 400")
	}
}
