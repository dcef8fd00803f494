package views

import "github.com/a-h/templ"

// ChartMarker is an event drawn over a time chart as a thin vertical
// line: X in the chart's 0..1000 viewBox, a short Label (its tooltip and
// its text in the chart's list of events) and a link to its detail.
type ChartMarker struct {
	X     float64
	Label string
	Href  string
}

// Timeline is the incident timeline page.
type Timeline struct {
	// From and To are the form's values (UTC); Range says the range read.
	From, To string
	Range    string
	Systems  []TimelineSystem
	// Error is why the filter was refused (the page is a 400).
	Error string
	// Body, when set, is TimelineBody rendered once for every viewer.
	Body templ.Component
	// Notes name the sources that could not be read or were cut.
	Notes []string
	Rows  []TimelineRow
}

// TimelineSystem is one system checkbox of the filter.
type TimelineSystem struct {
	Key     string
	Label   string
	Checked bool
}

// TimelineRow is one event. What and Who may hold untrusted text.
type TimelineRow struct {
	At       string
	System   string
	Kind     string
	What     string
	Who      string
	Href     string
	LinkText string
}
