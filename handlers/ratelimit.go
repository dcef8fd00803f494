package handlers

import (
	"sync"
	"time"
)

// perMinute lets each key (a client address) through a number of times
// in a fixed one-minute window, in memory: what is cheap to ask for but
// writes to the database (a single sign-on started) cannot be flooded.
type perMinute struct {
	mu     sync.Mutex
	window time.Time
	counts map[string]int
}

// allow reports whether key may go ahead now, at most max times this
// minute, and if not, how long until the window turns.
func (p *perMinute) allow(key string, max int, now time.Time) (bool, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := now.Truncate(time.Minute); !w.Equal(p.window) || p.counts == nil || len(p.counts) > 10000 {
		p.window, p.counts = w, map[string]int{}
	}
	if p.counts[key] >= max {
		return false, p.window.Add(time.Minute).Sub(now)
	}
	p.counts[key]++
	return true, 0
}
