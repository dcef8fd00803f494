package human

import (
	"fmt"
	"time"
)

// Until formats how long after now t is: "in 12s", "in 3m", "in 2h 5m",
// a date beyond 48 hours; a time already past is said as Ago says it.
func Until(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return Ago(t, now)
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("in %ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("in %dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("in %dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return t.UTC().Format("2006-01-02 15:04Z")
	}
}
