// Package human formats times and counts the way every screen, alert and
// notification of the console words them.
package human

import (
	"fmt"
	"time"
)

// Ago formats how long before now t was: "12s ago", "3m ago", "never".
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm ago", int(d.Hours()), int(d.Minutes())%60)
	default:
		return t.UTC().Format("2006-01-02 15:04Z")
	}
}

// LastAnswered says when a system last answered: "last answered 3m ago",
// or "not once since the console started".
func LastAnswered(t, now time.Time) string {
	if t.IsZero() {
		return "not once since the console started"
	}
	return "last answered " + Ago(t, now)
}

// Thousands formats n with thousands separators: 12,000,000.
func Thousands(n int64) string {
	if n < 0 {
		return "-" + Thousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
