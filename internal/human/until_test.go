package human

import (
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	now := time.Date(2026, 4, 9, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now, "now"},
		{now.Add(12 * time.Second), "in 12s"},
		{now.Add(3*time.Minute + 10*time.Second), "in 3m"},
		{now.Add(2*time.Hour + 5*time.Minute), "in 2h 5m"},
		{now.Add(72 * time.Hour), "2026-04-12 12:00Z"},
		{now.Add(-5 * time.Minute), "5m ago"},
	} {
		if got := Until(c.t, now); got != c.want {
			t.Errorf("Until(%v) = %q, want %q", c.t, got, c.want)
		}
	}
}
