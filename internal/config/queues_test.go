package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestQueuesConfig(t *testing.T) {
	base := map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": "postgres://localhost/atum"}
	c, err := load(base)
	if err != nil {
		t.Fatal(err)
	}
	q := c.Queues
	if !slices.Equal(q.ApprovalKinds, []string{"purge", "retry"}) || q.ApprovalAbove != 1000 || q.ApprovalExpiry != time.Hour ||
		q.ArchiveRetention != 30*24*time.Hour {
		t.Fatalf("defaults: %+v", q)
	}
	base["APPROVAL_ACTIONS"], base["APPROVAL_ABOVE"], base["APPROVAL_EXPIRY"] = " Purge , purge", "0", "15m"
	base["PURGE_ARCHIVE_RETENTION"] = "168h"
	if c, err = load(base); err != nil || !slices.Equal(c.Queues.ApprovalKinds, []string{"purge"}) || c.Queues.ApprovalAbove != 0 ||
		c.Queues.ApprovalExpiry != 15*time.Minute || c.Queues.ArchiveRetention != 7*24*time.Hour {
		t.Fatalf("set: %+v %v", c.Queues, err)
	}
	base["APPROVAL_ACTIONS"] = "none"
	if c, err = load(base); err != nil || len(c.Queues.ApprovalKinds) != 0 {
		t.Fatalf("none: %+v %v", c.Queues, err)
	}
	for name, bad := range map[string]string{"APPROVAL_ACTIONS": "purge,undo", "APPROVAL_ABOVE": "-1", "APPROVAL_EXPIRY": "10s",
		"PURGE_ARCHIVE_RETENTION": "forever"} {
		m := map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": "postgres://localhost/atum", name: bad}
		if _, err := load(m); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v", name, bad, err)
		}
	}
}
