// Package timeline joins what happened across the watched systems into
// one list, newest first, for the bad day: Fly releases and machine exits
// and starts, kill-switch flips, dead-letter purges and retries, account
// protection and operator changes. Each kind of event comes from a
// Source, one small bounded query each; a source that fails becomes a
// note and the others still answer. An alert engine adds its transitions
// by adding a Source (see Timeline.With).
package timeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Systems the standard sources belong to.
const (
	Fly       = "fly"
	Switches  = "switches"
	Queues    = "queues"
	Accounts  = "accounts"
	Operators = "operators"
)

// Kinds of events the standard sources report.
const (
	KindRelease    = "release"
	KindExit       = "exit"
	KindStart      = "start"
	KindSwitch     = "switch"
	KindPurge      = "purge"
	KindRetry      = "retry"
	KindProtection = "protection"
	KindOperator   = "operator"
	KindThrottle   = "throttle"
)

// Event is one thing that happened. What may hold untrusted text (tenant
// names, machine names, reasons): it is plain text, escaped by the page.
type Event struct {
	At     time.Time
	System string
	Kind   string
	What   string
	// Who is the operator's email, or "fly" for what Fly did.
	Who string
	// Href is the event's detail page, or "".
	Href string
	// Mark says the event belongs on the history charts (releases, switch
	// flips, purges).
	Mark bool
}

// Query is what a source is asked for: events in [From, To), newest
// first, at most Limit of them. With MarksOnly, only events worth a chart
// marker are needed (a source may still return others; they are dropped).
type Query struct {
	From, To  time.Time
	Limit     int
	MarksOnly bool
}

// Source reads one kind of event. Events must honour ctx.
type Source interface {
	// Name names the source in notes ("kill switches").
	Name() string
	// System is the system filter the source belongs to.
	System() string
	Events(ctx context.Context, q Query) ([]Event, error)
}

// Note says that a source could not be read, or was cut at its limit.
type Note struct {
	Source string
	System string
	Text   string
}

// Result is a timeline: the events of every source read, newest first,
// and a note per source that failed or was cut.
type Result struct {
	Events []Event
	Notes  []Note
}

// Defaults of Timeline.
const (
	// DefaultTimeout bounds each source's query.
	DefaultTimeout = time.Second
	// DefaultLimit is the most events one source gives a page.
	DefaultLimit = 200
	// MarkerLimit is the most events one source gives a chart.
	MarkerLimit = 100
)

// Timeline reads its sources concurrently, each under its own deadline.
type Timeline struct {
	sources []Source
	// Timeout bounds each source; zero means DefaultTimeout.
	Timeout time.Duration
	// Limit bounds each source's events on a page; zero means
	// DefaultLimit.
	Limit int

	marks *markCache
}

// markTTL is how long the charts' marker events are shared among
// viewers before the sources are read again.
const markTTL = 10 * time.Second

// markCache shares the charts' marker events: one read of the sources per
// chart window (whole minutes) and markTTL, however many people look.
type markCache struct {
	mu      sync.Mutex
	windows map[[2]int64]markRead
}

type markRead struct {
	at     time.Time
	events []Event
	err    error
}

// New returns a timeline over sources.
func New(sources ...Source) *Timeline {
	return &Timeline{sources: slices.Clone(sources), marks: &markCache{windows: map[[2]int64]markRead{}}}
}

// With returns a copy of t with more sources (an alert engine's, say).
func (t *Timeline) With(sources ...Source) *Timeline {
	c := New(append(slices.Clone(t.sources), sources...)...)
	c.Timeout, c.Limit = t.Timeout, t.Limit
	return c
}

// Forget drops the shared marker events, after this console changed
// something they show (a switch flipped).
func (t *Timeline) Forget() {
	t.marks.mu.Lock()
	defer t.marks.mu.Unlock()
	clear(t.marks.windows)
}

// Systems names the systems of t's sources, in the sources' order, once
// each: the values the system filter accepts.
func (t *Timeline) Systems() []string {
	var out []string
	for _, s := range t.sources {
		if !slices.Contains(out, s.System()) {
			out = append(out, s.System())
		}
	}
	return out
}

// Read returns the events in [from, to) of the sources whose system is in
// systems (all of them when systems is empty), newest first.
func (t *Timeline) Read(ctx context.Context, from, to time.Time, systems []string) Result {
	limit := cmp.Or(t.Limit, DefaultLimit)
	return t.read(ctx, Query{From: from, To: to, Limit: limit}, systems)
}

// Markers returns the events in [from, to) worth a marker on a history
// chart, newest first; the error names the sources that failed.
func (t *Timeline) Markers(ctx context.Context, from, to time.Time) ([]Event, error) {
	// The sources are read for the window widened to whole minutes, and
	// the events cut to [from, to) here, so viewers a few seconds apart
	// share one read.
	wFrom, wTo := from.Truncate(time.Minute), to.Truncate(time.Minute).Add(time.Minute)
	key := [2]int64{wFrom.Unix(), wTo.Unix()}
	t.marks.mu.Lock()
	m, ok := t.marks.windows[key]
	t.marks.mu.Unlock()
	if !ok || time.Since(m.at) >= markTTL {
		m.events, m.err = t.readMarks(ctx, wFrom, wTo)
		m.at = time.Now()
		t.marks.mu.Lock()
		for k, old := range t.marks.windows {
			if time.Since(old.at) >= markTTL {
				delete(t.marks.windows, k)
			}
		}
		t.marks.windows[key] = m
		t.marks.mu.Unlock()
	}
	var out []Event
	for _, e := range m.events {
		if !e.At.Before(from) && e.At.Before(to) {
			out = append(out, e)
		}
	}
	return out, m.err
}

func (t *Timeline) readMarks(ctx context.Context, from, to time.Time) ([]Event, error) {
	r := t.read(ctx, Query{From: from, To: to, Limit: MarkerLimit, MarksOnly: true}, nil)
	var errs []error
	for _, n := range r.Notes {
		if n.Text != "" {
			errs = append(errs, errors.New(n.Text))
		}
	}
	out := r.Events[:0]
	for _, e := range r.Events {
		if e.Mark {
			out = append(out, e)
		}
	}
	return out, errors.Join(errs...)
}

func (t *Timeline) read(ctx context.Context, q Query, systems []string) Result {
	type answer struct {
		events []Event
		err    error
	}
	var picked []Source
	for _, s := range t.sources {
		if len(systems) == 0 || slices.Contains(systems, s.System()) {
			picked = append(picked, s)
		}
	}
	answers := make([]answer, len(picked))
	timeout := cmp.Or(t.Timeout, DefaultTimeout)
	// One event beyond the limit tells a source that has more from one
	// that has exactly the limit.
	more := q
	more.Limit++
	var wg sync.WaitGroup
	for i, s := range picked {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			es, err := s.Events(sctx, more)
			if err != nil && sctx.Err() != nil {
				err = errors.New("no answer in time")
			}
			answers[i] = answer{es, err}
		}()
	}
	wg.Wait()
	var r Result
	for i, s := range picked {
		a := answers[i]
		if a.err != nil {
			r.Notes = append(r.Notes, Note{Source: s.Name(), System: s.System(),
				Text: fmt.Sprintf("%s could not be read: %v", s.Name(), a.err)})
			continue
		}
		if len(a.events) > q.Limit {
			a.events = a.events[:q.Limit]
			if !q.MarksOnly {
				r.Notes = append(r.Notes, Note{Source: s.Name(), System: s.System(),
					Text: fmt.Sprintf("%s: only the newest %d are shown; narrow the time range to see the rest", s.Name(), q.Limit)})
			}
		}
		for _, e := range a.events {
			if !e.At.Before(q.From) && e.At.Before(q.To) {
				if e.System == "" {
					e.System = s.System()
				}
				r.Events = append(r.Events, e)
			}
		}
	}
	slices.SortStableFunc(r.Events, func(a, b Event) int { return b.At.Compare(a.At) })
	return r
}
