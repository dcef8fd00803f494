package views

import (
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// sampleConnections is a full Connections page with hostile strings wherever
// text from the database or the platform can appear.
func sampleConnections() Connections {
	hostileRow := BackendRow{
		PID: 4242, Source: hostile, User: "atum_app", State: "idle in transaction",
		WaitEvent: "ClientRead", XactAge: "4m12s", StateAge: "3m58s", Query: hostile,
	}
	return Connections{
		SampledAt:   "12s ago",
		MonitorNote: "The console's role lacks pg_monitor: other roles' queries are hidden.",
		Planned: Gauge{
			Label: "Planned", Value: 380, Limit: 412, Percent: 92.2, Level: "warning",
			Caption: "of 412 usable direct slots",
		},
		Live: Gauge{
			Label: "Live", Value: 201, Limit: 412, Percent: 48.8, Level: "ok",
			Caption: "sessions in pg_stat_activity",
		},
		Alerts: []Alert{
			{Level: "warning", Text: "Planned budget at 92 % of the limit", Href: "/connections"},
		},
		Formula: "machines × processes per machine × (pool + overflow) + other engines",
		Terms: []BudgetTerm{
			{Name: "api", Machines: 3, Processes: 4, Pool: 15, Overflow: 5, Source: "fly", Total: 240, BreaksAt: 4},
			{Name: "worker", Machines: 2, Processes: 3, Pool: 15, Overflow: 5, Source: "config", Total: 120, BreaksAt: 0},
		},
		Engines:      []EngineTerm{{Name: "ops console", Connections: 10}, {Name: "cron", Connections: 10}},
		PlannedTotal: 380,
		GuideTotal:   100,
		GuideNote:    "It counts one process per machine and leaves out the other engines.",
		Limits: []LimitRow{
			{Name: "max_connections", Value: "450", Applies: "direct", Note: "minus 38 reserved"},
			{Name: "pooler clients", Value: "10000", Applies: "pooled (-pooler host)", Note: hostile},
		},
		BouncerConfigured: true,
		Waiting:           3,
		MaxWait:           "12s",
		Pools: []PoolRow{
			{Database: "atum", User: "atum_app", ClActive: 40, ClWaiting: 3, SvActive: 20, SvIdle: 0, MaxWait: "12s", Mode: "transaction"},
			{Database: "atum", User: "atum_ro", ClActive: 2, ClWaiting: 0, SvActive: 1, SvIdle: 1, MaxWait: "0s", Mode: "transaction"},
		},
		Total:   201,
		ByState: []StateCount{{State: "active", Count: 20}, {State: "idle", Count: 170}, {State: "idle in transaction", Count: 11}},
		Sources: []SourceRow{
			{Name: "atum:api", Group: "api", Machines: 3, Processes: 4, Total: 150, Active: 12, Idle: 130, IdleInTx: 8, Waiting: 1, OldestXact: "4m12s", Planned: 240},
			{Name: hostile, Group: "", Machines: 1, Processes: 1, Total: 5, Idle: 5},
		},
		LongXacts: []BackendRow{hostileRow},
		IdleInTx:  []BackendRow{hostileRow},
		LockWaits: []LockWaitRow{{
			Waiting:    BackendRow{PID: 5001, Source: "atum:worker", State: "active", Query: hostile},
			Blocking:   hostileRow,
			WaitingFor: "transactionid",
		}},
		History: Chart{
			Title: "Connections, last 6 hours",
			Series: []ChartSeries{
				{Name: "total", Class: "total", Points: "0,120 500,100 1000,90"},
				{Name: "limit", Class: "limit", Points: "0,20 1000,20"},
			},
			YMax: "450", XFrom: "06:00", XTo: "12:00",
			Ranges: []ChartRange{
				{Label: "1h", Href: "/connections?range=1h"},
				{Label: "6h", Href: "/connections?range=6h", Active: true},
			},
		},
		WhatIf: WhatIf{
			Groups: []WhatIfGroup{
				{Name: "api", Machines: "3", Processes: "4"},
				{Name: "worker", Machines: "2", Processes: "3"},
			},
			Pool: "15", Overflow: "5", Engines: "20", MinCU: "0.25", MaxCU: "2",
		},
	}
}

// connectionsDoc renders the Connections page of m and parses it.
func connectionsDoc(t *testing.T, m Connections) (string, *html.Node) {
	t.Helper()
	p := samplePage("production")
	p.Title, p.Active = "Connections", "connections"
	out := render(t, ConnectionsPage(p, m))
	return out, parse(t, out)
}

func TestConnectionsWaitingBanner(t *testing.T) {
	tests := []struct {
		name       string
		configured bool
		waiting    int64
		bouncerErr string
		wantBanner bool
		wantOK     bool
	}{
		{"waiting", true, 3, "", true, false},
		{"waiting with stale pools", true, 3, "connection refused", true, false},
		{"none waiting", true, 0, "", false, true},
		{"none waiting, unreachable", true, 0, "connection refused", false, false},
		{"not configured", false, 5, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleConnections()
			m.BouncerConfigured, m.Waiting, m.BouncerErr = tt.configured, tt.waiting, tt.bouncerErr
			_, doc := connectionsDoc(t, m)
			banners := byTestID(doc, "waiting-banner")
			if got := len(banners) == 1; got != tt.wantBanner {
				t.Fatalf("waiting banner shown = %v (%d), want %v", got, len(banners), tt.wantBanner)
			}
			if tt.wantBanner {
				got := text(banners[0])
				for _, want := range []string{"3 clients waiting for a connection in PgBouncer", "longest wait 12s"} {
					if !strings.Contains(got, want) {
						t.Errorf("banner = %q, want it to contain %q", got, want)
					}
				}
				if !hasClass(banners[0], "banner-critical") {
					t.Error("banner is not critical")
				}
				// The banner comes first, right under the page heading.
				h1 := findAll(doc, func(n *html.Node) bool { return n.Data == "h1" })[0]
				next := h1.NextSibling
				for next != nil && next.Type != html.ElementNode {
					next = next.NextSibling
				}
				if next != banners[0] {
					t.Error("waiting banner is not the first thing after the heading")
				}
			}
			if got := len(byTestID(doc, "bouncer-ok")) == 1; got != tt.wantOK {
				t.Errorf("ok line shown = %v, want %v", got, tt.wantOK)
			}
			if got := len(byTestID(doc, "bouncer-error")) == 1; got != (tt.configured && tt.bouncerErr != "") {
				t.Errorf("bouncer error shown = %v", got)
			}
			if got := len(byTestID(doc, "pools-table")) == 1; got != tt.configured {
				t.Errorf("pools table shown = %v, want %v", got, tt.configured)
			}
		})
	}
}

func TestConnectionsOneWaitingClient(t *testing.T) {
	m := sampleConnections()
	m.Waiting, m.MaxWait = 1, ""
	_, doc := connectionsDoc(t, m)
	got := text(one(t, doc, "waiting-banner"))
	if got != "1 client waiting for a connection in PgBouncer" {
		t.Errorf("banner = %q", got)
	}
}

func TestConnectionsHostileEscaped(t *testing.T) {
	out, doc := connectionsDoc(t, sampleConnections())
	if strings.Contains(out, "<script>") || strings.Contains(out, "alert(1)</script>") {
		t.Fatalf("literal <script> in output:\n%s", out)
	}
	for _, id := range []string{"sources-table", "idle-in-tx", "long-xacts", "lock-waits", "limits-table"} {
		t.Run(id, func(t *testing.T) {
			if got := text(one(t, doc, id)); !strings.Contains(got, hostile) {
				t.Errorf("text = %q, want it to contain %q as text", got, hostile)
			}
		})
	}
	// Queries are shown as code.
	codes := findAll(one(t, doc, "idle-in-tx"), func(n *html.Node) bool { return n.Data == "code" && text(n) == hostile })
	if len(codes) == 0 {
		t.Error("the idle transaction's query is not in a <code>")
	}
}

func TestConnectionsCSPCompatible(t *testing.T) {
	full := sampleConnections()
	full.Err = hostile
	full.BouncerErr = hostile
	full.WhatIf.Errors = []string{hostile}
	full.WhatIf.Computed = true
	full.WhatIf.Gauge = Gauge{Label: "What if", Value: 500, Limit: 412, Percent: 121.4, Level: "critical"}
	for name, m := range map[string]Connections{"full": full, "empty": {}} {
		t.Run(name, func(t *testing.T) {
			out, doc := connectionsDoc(t, m)
			scripts := findAll(doc, func(n *html.Node) bool { return n.Data == "script" })
			for _, s := range scripts {
				if src, ok := attr(s, "src"); !ok || src == "" || s.FirstChild != nil {
					t.Errorf("inline script: src=%q content=%q", src, text(s))
				}
			}
			if styled := findAll(doc, func(n *html.Node) bool { _, ok := attr(n, "style"); return ok }); len(styled) > 0 {
				t.Errorf("%d elements with a style attribute", len(styled))
			}
			if strings.Contains(strings.ToLower(out), "style=") {
				t.Error(`output contains "style="`)
			}
			for _, re := range []*regexp.Regexp{styleAttr, eventAttr, jsURL, styleElement} {
				if m := re.FindString(out); m != "" {
					t.Errorf("CSP violation %q", m)
				}
			}
		})
	}
}

func TestConnectionsGauges(t *testing.T) {
	_, doc := connectionsDoc(t, sampleConnections())
	for id, class := range map[string]string{"gauge-planned": "gauge-warning", "gauge-live": "gauge-ok"} {
		t.Run(id, func(t *testing.T) {
			g := one(t, doc, id)
			if !hasClass(g, class) {
				c, _ := attr(g, "class")
				t.Errorf("class = %q, want %q", c, class)
			}
			if svgs := findAll(g, func(n *html.Node) bool { return n.Data == "svg" }); len(svgs) != 1 {
				t.Errorf("found %d <svg>, want 1", len(svgs))
			}
			bands := findAll(g, func(n *html.Node) bool { return n.Data == "path" && hasClass(n, "gauge-band") })
			if len(bands) != 3 {
				t.Errorf("found %d bands, want 3", len(bands))
			}
		})
	}
	planned := text(one(t, doc, "gauge-planned"))
	for _, want := range []string{"Planned", "92.2%", "380 / 412", "of 412 usable direct slots"} {
		if !strings.Contains(planned, want) {
			t.Errorf("planned gauge = %q, want it to contain %q", planned, want)
		}
	}
}

func TestGaugeView(t *testing.T) {
	t.Run("over the limit", func(t *testing.T) {
		doc := parse(t, render(t, GaugeView(Gauge{Label: "Live", Value: 536, Limit: 412, Percent: 130, Level: "critical"})))
		g := one(t, doc, "gauge-live")
		if got := text(g); !strings.Contains(got, "130") || !strings.Contains(got, "536 / 412") {
			t.Errorf("gauge text = %q, want 130 and 536 / 412", got)
		}
		if !hasClass(g, "gauge-over") || !hasClass(g, "gauge-critical") {
			c, _ := attr(g, "class")
			t.Errorf("class = %q, want gauge-over gauge-critical", c)
		}
		arcs := findAll(g, func(n *html.Node) bool { return hasClass(n, "gauge-value-arc") })
		if len(arcs) != 1 {
			t.Fatalf("found %d value arcs, want 1", len(arcs))
		}
		if d, _ := attr(arcs[0], "d"); d != arcPath(0, 100) {
			t.Errorf("value arc = %q, want it clamped to %q", d, arcPath(0, 100))
		}
	})
	t.Run("unknown", func(t *testing.T) {
		doc := parse(t, render(t, GaugeView(Gauge{Label: "Live", Unknown: "max_connections unreadable: " + hostile})))
		g := one(t, doc, "gauge-live")
		if !hasClass(g, "gauge-unknown") {
			t.Error("unknown gauge is not greyed")
		}
		if got := text(one(t, doc, "gauge-unknown")); !strings.Contains(got, hostile) {
			t.Errorf("unknown text = %q", got)
		}
		if len(findAll(g, func(n *html.Node) bool { return hasClass(n, "gauge-value-arc") })) != 0 {
			t.Error("unknown gauge draws a value")
		}
	})
	t.Run("odd values", func(t *testing.T) {
		for _, pct := range []float64{-5, 0, 100, 1e9} {
			render(t, GaugeView(Gauge{Label: "x", Percent: pct}))
		}
	})
	t.Run("level from percent when missing", func(t *testing.T) {
		doc := parse(t, render(t, GaugeView(Gauge{Label: "x", Percent: 96})))
		if !hasClass(one(t, doc, "gauge-x"), "gauge-critical") {
			t.Error("96 % without a level is not critical")
		}
	})
}

func TestArcPath(t *testing.T) {
	tests := []struct {
		from, to float64
		want     string
	}{
		{0, 100, "M 20 100 A 80 80 0 0 1 180 100"},
		{0, 50, "M 20 100 A 80 80 0 0 1 100 20"},
		{50, 100, "M 100 20 A 80 80 0 0 1 180 100"},
		{0, 250, "M 20 100 A 80 80 0 0 1 180 100"},
		{-10, 0, "M 20 100 A 80 80 0 0 1 20 100"},
	}
	for _, tt := range tests {
		if got := arcPath(tt.from, tt.to); got != tt.want {
			t.Errorf("arcPath(%v, %v) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestChartView(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		doc := parse(t, render(t, ChartView(Chart{Title: "History", Empty: "No samples yet: the sampler has not run."})))
		chart := one(t, doc, "chart")
		if got := text(one(t, chart, "chart-empty")); got != "No samples yet: the sampler has not run." {
			t.Errorf("empty text = %q", got)
		}
		if len(findAll(chart, func(n *html.Node) bool { return n.Data == "svg" })) != 0 {
			t.Error("empty chart draws an svg")
		}
	})
	t.Run("series", func(t *testing.T) {
		c := sampleConnections().History
		c.Series = append(c.Series, ChartSeries{Name: hostile, Class: "waiting", Points: "0,200 1000,180"})
		out := render(t, ChartView(c))
		if strings.Contains(out, "<script>") {
			t.Error("series name not escaped")
		}
		doc := parse(t, out)
		chart := one(t, doc, "chart")
		svg := findAll(chart, func(n *html.Node) bool { return n.Data == "svg" })
		if len(svg) != 1 {
			t.Fatalf("found %d svg, want 1", len(svg))
		}
		if v, _ := attr(svg[0], "viewBox"); v != "0 0 1000 200" {
			t.Errorf("viewBox = %q", v)
		}
		lines := findAll(chart, func(n *html.Node) bool { return n.Data == "polyline" })
		if len(lines) != 3 {
			t.Fatalf("found %d polylines, want 3", len(lines))
		}
		if !hasClass(lines[0], "series") || !hasClass(lines[0], "total") {
			c, _ := attr(lines[0], "class")
			t.Errorf("polyline class = %q", c)
		}
		if p, _ := attr(lines[0], "points"); p != "0,120 500,100 1000,90" {
			t.Errorf("points = %q", p)
		}
		for id, want := range map[string]string{"chart-ymax": "450", "chart-xfrom": "06:00", "chart-xto": "12:00"} {
			if got := text(one(t, chart, id)); got != want {
				t.Errorf("%s = %q, want %q", id, got, want)
			}
		}
		swatches := findAll(chart, func(n *html.Node) bool { return hasClass(n, "swatch") })
		if len(swatches) != 3 || !hasClass(swatches[2], "waiting") {
			t.Errorf("found %d swatches, want 3 with classes matching the series", len(swatches))
		}
		ranges := byTestID(chart, "chart-range")
		if len(ranges) != 2 {
			t.Fatalf("found %d range links, want 2", len(ranges))
		}
		if hasClass(ranges[0], "active") || !hasClass(ranges[1], "active") {
			t.Error("the active range is not the one highlighted")
		}
		if href, _ := attr(ranges[1], "href"); href != "/connections?range=6h" {
			t.Errorf("range href = %q", href)
		}
	})
}

func TestConnectionsBudget(t *testing.T) {
	_, doc := connectionsDoc(t, sampleConnections())
	rows := map[string]string{}
	for _, tr := range findAll(one(t, doc, "budget-table"), func(n *html.Node) bool { return n.Data == "tr" }) {
		var cells []string
		for c := tr.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode {
				cells = append(cells, text(c))
			}
		}
		if len(cells) > 0 {
			rows[cells[0]] = strings.Join(cells, " | ")
		}
	}
	for name, want := range map[string]string{
		"api":           "api | 3 fly | 4 | 15 | 5 | 3 × 4 × (15 + 5) = 240 | breaks at machine 4",
		"worker":        "worker | 2 config | 3 | 15 | 5 | 2 × 3 × (15 + 5) = 120 | already over the limit",
		"ops console":   "ops console | other engine | 10 | ",
		"Planned total": "Planned total | 380 | ",
	} {
		if got := rows[name]; got != want {
			t.Errorf("budget row %s = %q, want %q", name, got, want)
		}
	}
	if got := text(one(t, doc, "guide-comparison")); !strings.Contains(got, "gives 100") {
		t.Errorf("guide comparison = %q", got)
	}
	hot := findAll(one(t, doc, "pools-table"), func(n *html.Node) bool { return hasClass(n, "hot") })
	if len(hot) != 1 || text(hot[0]) != "3" {
		t.Errorf("hot pool cells = %d, want only cl_waiting 3", len(hot))
	}
}

// inputNames returns the names of the inputs below n.
func inputNames(n *html.Node) map[string]*html.Node {
	out := map[string]*html.Node{}
	for _, in := range findAll(n, func(n *html.Node) bool { return n.Data == "input" }) {
		name, _ := attr(in, "name")
		out[name] = in
	}
	return out
}

func TestWhatIfForm(t *testing.T) {
	_, doc := connectionsDoc(t, sampleConnections())
	form := one(t, doc, "whatif-form")
	if m, _ := attr(form, "method"); m != "get" {
		t.Errorf("method = %q, want get", m)
	}
	if a, _ := attr(form, "action"); !strings.HasPrefix(a, "/connections") {
		t.Errorf("action = %q", a)
	}
	for _, id := range []string{"whatif", "history"} {
		if len(findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id })) != 1 {
			t.Errorf("no #%s anchor", id)
		}
	}
	inputs := inputNames(form)
	for name, want := range map[string]string{
		"whatif": "1", "machines_api": "3", "processes_api": "4", "machines_worker": "2", "processes_worker": "3",
		"pool": "15", "overflow": "5", "engines": "20", "min_cu": "0.25", "max_cu": "2",
	} {
		in, ok := inputs[name]
		if !ok {
			t.Errorf("no input named %q", name)
			continue
		}
		if v, _ := attr(in, "value"); v != want {
			t.Errorf("%s value = %q, want %q", name, v, want)
		}
	}
	for _, name := range []string{"min_cu", "max_cu"} {
		if in := inputs[name]; in != nil {
			if m, _ := attr(in, "inputmode"); m != "decimal" {
				t.Errorf("%s inputmode = %q, want decimal", name, m)
			}
		}
	}
	if len(byTestID(doc, "whatif-errors")) != 0 || len(byTestID(doc, "whatif-result")) != 0 {
		t.Error("errors or result shown before a calculation")
	}
}

func TestWhatIfResult(t *testing.T) {
	t.Run("errors", func(t *testing.T) {
		m := sampleConnections()
		m.WhatIf.Errors = []string{"machines_api: not a whole number", "max_cu: must be at least min_cu"}
		_, doc := connectionsDoc(t, m)
		box := one(t, doc, "whatif-errors")
		if items := findAll(box, func(n *html.Node) bool { return n.Data == "li" }); len(items) != 2 {
			t.Errorf("found %d errors, want 2", len(items))
		}
		if got := text(box); !strings.Contains(got, "max_cu: must be at least min_cu") {
			t.Errorf("errors = %q", got)
		}
	})
	tests := []struct {
		name     string
		headroom int
		want     string
		over     bool
	}{
		{"over", -88, "over by 88", true},
		{"spare", 32, "32 to spare", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleConnections()
			m.WhatIf.Computed = true
			m.WhatIf.Total = 412 - tt.headroom
			m.WhatIf.Limit = 412
			m.WhatIf.LimitFrom = "max_connections 450 at 2 CU, minus 38 reserved"
			m.WhatIf.Headroom = tt.headroom
			m.WhatIf.Terms = []BudgetTerm{{Name: "api", Machines: 5, Processes: 4, Pool: 15, Overflow: 5, Source: "config", Total: 400, BreaksAt: 5}}
			m.WhatIf.Gauge = Gauge{Label: "What if", Value: m.WhatIf.Total, Limit: 412, Percent: 121.4, Level: "critical"}
			_, doc := connectionsDoc(t, m)
			res := one(t, doc, "whatif-result")
			h := one(t, res, "whatif-headroom")
			if got := text(h); got != tt.want {
				t.Errorf("headroom = %q, want %q", got, tt.want)
			}
			if hasClass(h, "headroom-over") != tt.over {
				t.Errorf("headroom-over = %v, want %v", !tt.over, tt.over)
			}
			if got := text(res); !strings.Contains(got, "max_connections 450 at 2 CU") || !strings.Contains(got, "breaks at machine 5") {
				t.Errorf("result = %q", got)
			}
			one(t, res, "gauge-what-if")
		})
	}
}

func TestConnectionsEmpty(t *testing.T) {
	_, doc := connectionsDoc(t, Connections{})
	for _, id := range []string{"waiting-banner", "monitor-note", "pools-table", "alerts", "whatif-result"} {
		if n := len(byTestID(doc, id)); n != 0 {
			t.Errorf("%s shown on an empty page", id)
		}
	}
	for _, id := range []string{"budget-table", "limits-table", "sources-table", "idle-in-tx", "long-xacts", "lock-waits", "chart-empty", "whatif-form"} {
		one(t, doc, id)
	}
	if got := text(one(t, doc, "idle-in-tx")); !strings.Contains(got, "No sessions idle in a transaction") {
		t.Errorf("idle-in-tx = %q", got)
	}
	if got := text(one(t, doc, "sampled")); got != "not sampled yet" {
		t.Errorf("status line = %q", got)
	}
	for at, want := range map[string]string{"12s ago": "sampled 12s ago", "not sampled yet": "not sampled yet", "never": "never"} {
		if got := sampledText(at); got != want {
			t.Errorf("sampledText(%q) = %q, want %q", at, got, want)
		}
	}
}
