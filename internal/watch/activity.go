package watch

import (
	"sync/atomic"
	"time"
)

// Activity remembers when a signed-in operator last used this console
// instance. Background work that would wake a scaled-to-zero Neon compute
// or cost Redis and QStash commands runs only while someone is looking.
type Activity struct {
	last   atomic.Int64 // unix nanoseconds
	window time.Duration
	mode   string
	// OnWake is called when activity resumes after a quiet window.
	OnWake func()
}

// Watch modes: when background checks and samplers run.
const (
	// Always samples every system on its interval whether or not anybody
	// looks (production: a crash loop at night must not go unnoticed).
	Always = "always"
	// WhileActive samples only while someone used the console within the
	// window (a Neon compute may scale to zero).
	WhileActive = "active"
	// Off never samples in the background; pages show what is stored.
	Off = "off"
)

// NewActivity returns a tracker that counts as active for window after
// the last Touch, watching while active.
func NewActivity(window time.Duration) *Activity { return &Activity{window: window, mode: WhileActive} }

// NewWatch returns a tracker for a watch mode (Always, WhileActive, Off).
func NewWatch(mode string, window time.Duration) *Activity {
	return &Activity{window: window, mode: mode}
}

// Watching reports whether background checks and samplers run now.
func (a *Activity) Watching() bool {
	switch a.mode {
	case Always:
		return true
	case Off:
		return false
	}
	return a.Active()
}

// Mode is the watch mode.
func (a *Activity) Mode() string { return a.mode }

// Touch records a use of the console now.
func (a *Activity) Touch() {
	now := time.Now().UnixNano()
	prev := a.last.Swap(now)
	if now-prev > int64(a.window) && a.OnWake != nil {
		a.OnWake()
	}
}

// Active reports whether the console was used within the window.
func (a *Activity) Active() bool {
	return time.Now().UnixNano()-a.last.Load() <= int64(a.window)
}

// Last is when the console was last used; zero if never.
func (a *Activity) Last() time.Time {
	n := a.last.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
