package views

import "github.com/a-h/templ"

// Gauge is a semicircle gauge of a value against a limit, with warning
// (80 %) and critical (95 %) bands.
type Gauge struct {
	// Label names what is measured ("Planned", "Live").
	Label string
	Value int
	Limit int
	// Percent is Value / Limit × 100, rounded; may exceed 100.
	Percent float64
	// Level is "ok", "warning" (≥ 80 %) or "critical" (≥ 95 %).
	Level string
	// Caption is one line under the gauge ("of 412 usable direct slots").
	Caption string
	// Unknown is set when the value or limit could not be read.
	Unknown string
}

// BudgetTerm is one line of the budget formula.
type BudgetTerm struct {
	Name string
	// Machines, Processes, Pool, Overflow are the inputs; Source says where
	// the machine count came from ("config" or "fly").
	Machines  int
	Processes int
	Pool      int
	Overflow  int
	Source    string
	Total     int
	// BreaksAt is the first machine count of this group that breaks the
	// limit, with the others unchanged; 0 when already broken by others.
	BreaksAt int
	// MachinesWas, PoolWas and OverflowWas are the configured values a
	// live input replaced ("" when the same); Unplanned marks a group
	// Fly runs that BUDGET_GROUPS lacks.
	MachinesWas, PoolWas, OverflowWas string
	Unplanned                         bool
}

// EngineTerm is one other engine in the budget.
type EngineTerm struct {
	Name        string
	Connections int
}

// LimitRow is one limit and the connection strings it applies to.
type LimitRow struct {
	Name    string
	Value   string
	Applies string
	Note    string
}

// SourceRow is one connection source from pg_stat_activity.
type SourceRow struct {
	Name       string
	Group      string
	Machines   int
	Processes  int
	Total      int
	Active     int
	Idle       int
	IdleInTx   int
	Waiting    int
	OldestXact string
	// Planned is the source's term of the plan, 0 when unknown.
	Planned int
}

// BackendRow is one session: a long transaction, an idle transaction, a
// lock waiter or its blocker.
type BackendRow struct {
	PID       int
	Source    string
	User      string
	State     string
	WaitEvent string
	XactAge   string
	StateAge  string
	// Query is the statement with its literals masked; QueryHidden is set
	// instead when the viewer may not read statements (below operator).
	Query       string
	QueryHidden bool
}

// LockWaitRow pairs a waiting session with the one blocking it.
type LockWaitRow struct {
	Waiting    BackendRow
	Blocking   BackendRow
	WaitingFor string
}

// PoolRow is one PgBouncer pool.
type PoolRow struct {
	Database  string
	User      string
	ClActive  int64
	ClWaiting int64
	SvActive  int64
	SvIdle    int64
	MaxWait   string
	Mode      string
}

// ChartSeries is one line of a time chart, already scaled to the chart's
// 0..1000 × 0..200 viewBox (y grows downwards).
type ChartSeries struct {
	Name   string
	Class  string
	Points string // SVG polyline points "x,y x,y …"
}

// Chart is a server-rendered time chart.
type Chart struct {
	Title  string
	Series []ChartSeries
	// YMax labels the top of the chart; XFrom and XTo label its ends.
	YMax  string
	XFrom string
	XTo   string
	// Ranges are links to other time ranges; the selected one is Active.
	Ranges []ChartRange
	Empty  string
	// Markers are events drawn over the plot (releases, switch flips,
	// purges); optional.
	Markers []ChartMarker
	// Rendered, when set, is the chart rendered once for every viewer.
	Rendered templ.Component
}

// ChartRange is a time-range link of a chart.
type ChartRange struct {
	Label  string
	Href   string
	Active bool
}

// WhatIfGroup is one group's inputs on the what-if form.
type WhatIfGroup struct {
	Name      string
	Machines  string
	Processes string
}

// WhatIf is the what-if calculator: the form as entered and its result.
type WhatIf struct {
	Groups   []WhatIfGroup
	Pool     string
	Overflow string
	Engines  string
	MinCU    string
	MaxCU    string
	// Errors lists what is wrong with the input, one line each.
	Errors []string
	// Computed is set when the input was valid and a result is shown.
	Computed  bool
	Total     int
	Limit     int
	LimitFrom string
	Headroom  int
	Terms     []BudgetTerm
	Gauge     Gauge
}

// Connections is the Connections page.
type Connections struct {
	// SampledAt says how old the data is ("12s ago"); Err is set when the
	// platform database could not be read (the rest shows the last values).
	SampledAt string
	Err       string
	// MonitorNote is set when the role lacks pg_monitor.
	MonitorNote string
	// Body, when set, is ConnectionsBody rendered once for every viewer;
	// WhatIfForm is WhatIfSection as it opens.
	Body       templ.Component
	WhatIfForm templ.Component
	Planned    Gauge
	Live       Gauge
	Alerts     []Alert
	// Formula is the formula in words; GuideTotal is the guide's count
	// and GuideNote why it under-counts.
	Formula      string
	Terms        []BudgetTerm
	Engines      []EngineTerm
	PlannedTotal int
	GuideTotal   int
	GuideNote    string
	Limits       []LimitRow
	// Waiting is PgBouncer's waiting clients, shown prominently.
	BouncerConfigured bool
	BouncerErr        string
	Waiting           int64
	MaxWait           string
	Pools             []PoolRow
	Total             int
	ByState           []StateCount
	Sources           []SourceRow
	LongXacts         []BackendRow
	IdleInTx          []BackendRow
	LockWaits         []LockWaitRow
	History           Chart
	WhatIf            WhatIf
}

// StateCount is a number of sessions in one state.
type StateCount struct {
	State string
	Count int
}
