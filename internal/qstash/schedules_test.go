package qstash_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
)

// A schedule id is checked against QStash's own rule before any call.
func TestCheckScheduleID(t *testing.T) {
	for _, ok := range []string{"scd_7rc7yUvsQ4xZ2yPjLBzbJdUNfwLk", "nightly.report-1", "A", strings.Repeat("a", 100)} {
		if err := qstash.CheckScheduleID(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", "scd_1?x=1", "scd%2F1", "<script>", strings.Repeat("a", 101), "scd_é"} {
		if err := qstash.CheckScheduleID(bad); !errors.Is(err, qstash.ErrInvalidID) {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}

// The client lists schedules with every field the console shows, and
// pauses and resumes one with the documented POST; an unknown id is
// ErrNotFound, a malformed one is refused without a call, and a 429 is
// an APIError with its wait.
func TestSchedulesListPauseResume(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	ctx := context.Background()
	id := d.AddSchedule(qstashdouble.Schedule{Cron: "CRON_TZ=Europe/Paris 0 3 * * *", Destination: "https://api.atum.example/nightly",
		Method: http.MethodPut, CallerIP: "10.0.0.1", Labels: []string{"nightly"}, QueueName: "billing", CreatedAt: 1700000000000,
		LastScheduleTime: 1700000100000, NextScheduleTime: 1700086500000,
		LastScheduleStates: map[string]string{"msg_a": "DELIVERED", "msg_b": "FAILED"}})
	list, err := c.Schedules(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}
	s := list[0]
	if s.ScheduleID != id || s.Cron != "CRON_TZ=Europe/Paris 0 3 * * *" || s.Destination != "https://api.atum.example/nightly" ||
		s.Method != http.MethodPut || s.CallerIP != "10.0.0.1" || s.QueueName != "billing" || s.CreatedAt != 1700000000000 ||
		s.LastScheduleTime != 1700000100000 || s.NextScheduleTime != 1700086500000 || s.IsPaused ||
		len(s.Labels) != 1 || s.LastScheduleStates["msg_b"] != "FAILED" {
		t.Fatalf("listed %+v", s)
	}

	d.ResetRequests()
	if err := c.SetSchedulePaused(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if sc, _ := d.ScheduleByID(id); !sc.IsPaused {
		t.Fatal("not paused")
	}
	if err := c.SetSchedulePaused(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if sc, _ := d.ScheduleByID(id); sc.IsPaused {
		t.Fatal("not resumed")
	}
	reqs := d.Requests()
	if len(reqs) != 2 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/v2/schedules/"+id+"/pause" || reqs[1].Path != "/v2/schedules/"+id+"/resume" {
		t.Fatalf("sent %+v", reqs)
	}

	if err := c.SetSchedulePaused(ctx, "scd_nosuch", true); !errors.Is(err, qstash.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	d.ResetRequests()
	calls := c.Calls()
	for _, bad := range []string{"", "..", "a/b", "x?y"} {
		if err := c.SetSchedulePaused(ctx, bad, true); !errors.Is(err, qstash.ErrInvalidID) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if n := len(d.Requests()); n != 0 || c.Calls() != calls {
		t.Fatalf("malformed ids reached QStash: %d requests", n)
	}

	d.FailNext(1, http.StatusTooManyRequests)
	if _, err := c.Schedules(ctx); err == nil {
		t.Fatal("a 429 listed schedules")
	} else if _, limited := qstash.IsRateLimited(err); !limited {
		t.Fatalf("429: %v", err)
	}
}
