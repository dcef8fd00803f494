// Package watch runs the background checks that keep each system's latest
// state. Pages render from these snapshots and never wait on an upstream,
// so upstream load does not grow with the number of viewers.
package watch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// States a system can be in.
const (
	NotConfigured = "not_configured"
	OK            = "ok"
	Failing       = "error"
	Pending       = "pending"
)

// maxBackoff caps the wait between checks of a failing system.
const maxBackoff = 2 * time.Minute

// ProbeFunc checks one system once and returns a short description of what
// it found.
type ProbeFunc func(ctx context.Context) (detail string, err error)

// Check is one watched system.
type Check struct {
	Key  string
	Name string
	// Href is the screen that shows the system in detail.
	Href string
	// Probe is nil when the system is not configured.
	Probe ProbeFunc
	// Timeout bounds one probe; default 5 s.
	Timeout time.Duration
}

// Status is the latest known state of one system.
type Status struct {
	Key    string
	Name   string
	Href   string
	State  string
	Detail string
	// Err is the last error, with secrets removed.
	Err string
	// CheckedAt is when the last probe finished; zero before the first.
	CheckedAt time.Time
	// LastOK is when the system last answered; zero if never.
	LastOK time.Time
	// Failures counts consecutive failed probes.
	Failures int
	// NotChecked says why the latest probe could not check the system
	// (the console's own database did not answer), since NotCheckedAt;
	// State and CheckedAt are then from the last real check.
	NotChecked   string
	NotCheckedAt time.Time
}

// notChecked is an error that says the probe could not check its system,
// not that the system failed.
type notChecked interface{ NotChecked() bool }

// Monitor probes every configured system on an interval.
type Monitor struct {
	checks   []Check
	interval time.Duration
	redact   func(string) string
	log      *slog.Logger

	// Gate, when set, pauses every probe while it returns false.
	Gate func() bool

	mu     sync.RWMutex
	status map[string]Status
	wake   chan struct{}
}

// New returns a Monitor. redact removes secrets from error text.
func New(interval time.Duration, redact func(string) string, log *slog.Logger, checks ...Check) *Monitor {
	m := &Monitor{checks: checks, interval: interval, redact: redact, log: log,
		status: map[string]Status{}, wake: make(chan struct{})}
	for _, c := range checks {
		st := Status{Key: c.Key, Name: c.Name, Href: c.Href, State: Pending}
		if c.Probe == nil {
			st.State = NotConfigured
		}
		m.status[c.Key] = st
	}
	return m
}

// Run probes every configured system until ctx ends: each on its own
// goroutine, every interval while it answers and with exponential
// backoff (up to two minutes) while it fails. While Gate says no, probes
// pause; Refresh resumes them at once.
func (m *Monitor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range m.checks {
		if c.Probe == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.loop(ctx, c)
		}()
	}
	wg.Wait()
}

func (m *Monitor) loop(ctx context.Context, c Check) {
	for {
		var st Status
		if m.Gate == nil || m.Gate() {
			st = m.ProbeOnce(ctx, c)
		}
		wait := m.interval
		for i := 1; i < st.Failures && wait < maxBackoff; i++ {
			wait *= 2
		}
		wait = min(wait, maxBackoff)
		m.mu.RLock()
		wake := m.wake
		m.mu.RUnlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		case <-wake:
		}
	}
}

// ProbeOnce runs c's probe now and records the result.
func (m *Monitor) ProbeOnce(ctx context.Context, c Check) Status {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	detail, err := c.Probe(pctx)
	cancel()

	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.status[c.Key]
	var nc notChecked
	if err != nil && errors.As(err, &nc) && nc.NotChecked() {
		if st.NotChecked == "" {
			st.NotCheckedAt = time.Now()
		}
		st.NotChecked = m.redact(err.Error())
		m.status[c.Key] = st
		return st
	}
	st.NotChecked, st.NotCheckedAt = "", time.Time{}
	st.CheckedAt = time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return st // shutting down: keep the last real result
		}
		st.State, st.Err = Failing, m.redact(err.Error())
		st.Failures++
		if st.Failures == 1 || st.Failures%10 == 0 {
			m.log.Warn("system check failed", "system", c.Key, "failures", st.Failures, "error", st.Err)
		}
	} else {
		if st.Failures > 0 {
			m.log.Info("system answers again", "system", c.Key)
		}
		st.State, st.Detail, st.Err, st.Failures, st.LastOK = OK, detail, "", 0, st.CheckedAt
	}
	m.status[c.Key] = st
	return st
}

// Refresh asks every probe loop to check again now.
func (m *Monitor) Refresh() {
	m.mu.Lock()
	close(m.wake)
	m.wake = make(chan struct{})
	m.mu.Unlock()
}

// Snapshot returns the latest status of every system, in check order.
func (m *Monitor) Snapshot() []Status {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Status, 0, len(m.checks))
	for _, c := range m.checks {
		out = append(out, m.status[c.Key])
	}
	return out
}

// Get returns the latest status of one system.
func (m *Monitor) Get(key string) (Status, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, ok := m.status[key]
	return st, ok
}
