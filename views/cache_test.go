package views

import (
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// sampleSwitch is SUSPEND_REDIS, off, seen by one applied, one pending and
// one env-forced instance, with hostile text wherever the platform or an
// operator supplies it.
func sampleSwitch() SwitchView {
	return SwitchView{
		Name:        "SUSPEND_REDIS",
		Enabled:     false,
		State:       "OFF",
		Reason:      hostile,
		ChangedBy:   "ada@example.com",
		ChangedAt:   "3m ago",
		Reverts:     "at 14:05:00Z (in 12m0s), back to ON",
		Version:     7,
		Propagation: "OFF applied on 1 of 3 live instances; 1 forced by SUSPEND_REDIS=true in their environment",
		Pending:     []string{hostile, "api-2"},
		Instances: []SwitchInstance{
			{Instance: "api-1", Machine: "m-1", Group: "api", Applied: "OFF", Source: "database", Version: 7, AppliedAt: "2m ago", LastSeen: "4s ago", Status: "applied"},
			{Instance: hostile, Machine: "m-2", Group: "api", Applied: "ON", Source: "database", Version: 6, AppliedAt: "1h ago", LastSeen: "9s ago", Status: "pending"},
			{Instance: "worker-1", Machine: "m-3", Group: "worker", Applied: "ON", Source: "env", Version: 7, AppliedAt: "2m ago", LastSeen: "2s ago", Status: "forced by env"},
		},
		CanToggle:  true,
		FormReason: hostile,
		FormRevert: "1h",
		RevertChoices: []Choice{
			{Value: "", Label: "never (stay until changed)"},
			{Value: "15m", Label: "after 15 minutes"},
			{Value: "1h", Label: "after 1 hour"},
		},
		History: []SwitchChange{
			{At: "2026-01-02 10:00:00Z", State: "OFF", Reason: hostile, ChangedBy: "ada@example.com", Version: 7},
			{At: "2026-01-02 09:00:00Z", State: "ON", Reason: "crash loop", ChangedBy: "bob@example.com", Reverts: "2026-01-02 13:00:00Z", Version: 6},
		},
	}
}

// sampleCache is a full Cache page with hostile text in tenant names,
// instance ids and reasons.
func sampleCache() Cache {
	return Cache{
		Alerts: []Alert{{Level: "critical", Text: "Redis commands projected over budget", Href: "/cache"}},
		Rates: []HitRate{
			{Window: "5 minutes", Lookups: 1200, Overall: 97.25, Memory: 80.04, Redis: 17.21, DB: 2.75},
			{Window: "1 hour", Lookups: 14400, Overall: 96.5, Memory: 70, Redis: 26.5, DB: 3.5},
			{Window: "1 day", Empty: "no tenant lookups reported in this window"},
		},
		Machines: []MachineCache{
			{Instance: hostile, Machine: "m-1", Group: "api", Lookups: 5000, Overall: 96, Memory: 80, Redis: 16, DB: 4,
				RedisCommands: 1234567, RedisPerMin: 812.4, Jump: "jumped from 12/min", Suspended: true, Source: "env", LastSeen: "4s ago"},
			{Instance: "worker-1", Machine: "m-3", Group: "worker", Lookups: 0, RedisCommands: 3, RedisPerMin: 0.2,
				Source: "database", LastSeen: "20m ago", Stale: true},
		},
		Tenants: []TenantMisses{{Tenant: hostile, Misses: 420}, {Tenant: "acme", Misses: 12}},
		Redis: RedisServer{
			Sampled: "10s ago", Paused: "Polling paused: SUSPEND_REDIS is on", OpsPerSec: 140,
			KeyspaceHits: 900000, KeyspaceMisses: 100000, KeyspaceHitRate: "90.0 %", ConnectedClients: 14,
			UsedMemory: "12.3 MiB", CommandsTotal: 12345678, CommandsPerDay: 480000, Budget: 500000,
			BudgetGauge: Gauge{Label: "Commands per day", Value: 480000, Limit: 500000, Percent: 96, Level: "critical"},
			Projection:  "480000 commands per day at the rate of the last 1h0m0s (budget 500000 per day).",
			CanProbe:    true,
		},
		Chart: Chart{
			Title:  "Tenant-cache hit rate, last hour (per minute)",
			Series: []ChartSeries{{Name: "overall hit rate", Class: "total", Points: "0,10 1000,8"}},
			YMax:   "100 %", XFrom: "13:00Z", XTo: "14:00Z",
		},
		Switch: sampleSwitch(),
	}
}

// cacheDoc renders the Cache page of m and parses it.
func cacheDoc(t *testing.T, m Cache) (string, *html.Node) {
	t.Helper()
	p := samplePage("production")
	p.Title, p.Active = "Cache", "cache"
	out := render(t, CachePage(p, m))
	return out, parse(t, out)
}

// switchesDoc renders the kill-switches page of m and parses it.
func switchesDoc(t *testing.T, m Switches) (string, *html.Node) {
	t.Helper()
	p := samplePage("production")
	p.Title, p.Active = "Kill switches", "switches"
	out := render(t, SwitchesPage(p, m))
	return out, parse(t, out)
}

// fields returns the named form controls (input, textarea, select) below n.
func fields(n *html.Node) map[string]*html.Node {
	out := map[string]*html.Node{}
	for _, f := range findAll(n, func(n *html.Node) bool {
		return n.Data == "input" || n.Data == "textarea" || n.Data == "select"
	}) {
		name, _ := attr(f, "name")
		out[name] = f
	}
	return out
}

// cells returns the text of n's element children (a row's cells, a
// definition's term and description).
func cells(n *html.Node) []string {
	var out []string
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			out = append(out, text(c))
		}
	}
	return out
}

func TestToggleForm(t *testing.T) {
	tests := []struct {
		name        string
		enabled     bool
		wantEnabled string
		wantButton  string
		wantDanger  bool
	}{
		{"switch off", false, "true", "Turn SUSPEND_REDIS ON", true},
		{"switch on", true, "false", "Turn SUSPEND_REDIS OFF", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sampleSwitch()
			s.Enabled = tt.enabled
			_, doc := switchesDoc(t, Switches{Switches: []SwitchView{s}})
			panel := one(t, doc, "switch-SUSPEND_REDIS")
			form := one(t, panel, "toggle-form")
			if a, _ := attr(form, "action"); a != "/switches/SUSPEND_REDIS" {
				t.Errorf("action = %q, want /switches/SUSPEND_REDIS", a)
			}
			if m, _ := attr(form, "method"); m != "post" {
				t.Errorf("method = %q, want post", m)
			}
			f := fields(form)
			for _, name := range []string{"enabled", "version", "reason", "revert_after", "confirm"} {
				if f[name] == nil {
					t.Errorf("no field named %q", name)
				}
			}
			if _, ok := f["back"]; ok {
				t.Error("the switches page sends a back field")
			}
			if v, _ := attr(f["enabled"], "value"); v != tt.wantEnabled {
				t.Errorf("enabled = %q, want %q", v, tt.wantEnabled)
			}
			if v, _ := attr(f["version"], "value"); v != "7" {
				t.Errorf("version = %q, want 7", v)
			}
			for name, typ := range map[string]string{"enabled": "hidden", "version": "hidden", "confirm": "text"} {
				if v, _ := attr(f[name], "type"); v != typ {
					t.Errorf("%s type = %q, want %q", name, v, typ)
				}
			}
			reason := f["reason"]
			if reason.Data != "textarea" {
				t.Errorf("reason is a %s, want a textarea", reason.Data)
			}
			if _, ok := attr(reason, "required"); !ok {
				t.Error("reason is not required")
			}
			if v, _ := attr(reason, "maxlength"); v != "500" {
				t.Errorf("reason maxlength = %q, want 500", v)
			}
			if got := text(reason); got != hostile {
				t.Errorf("reason keeps %q, want %q", got, hostile)
			}
			confirm := f["confirm"]
			if _, ok := attr(confirm, "required"); !ok {
				t.Error("confirm is not required")
			}
			if v, _ := attr(confirm, "autocomplete"); v != "off" {
				t.Errorf("confirm autocomplete = %q, want off", v)
			}
			if !strings.Contains(text(confirm.Parent), "Type SUSPEND_REDIS to confirm") {
				t.Errorf("confirm label = %q", text(confirm.Parent))
			}
			selected := findAll(f["revert_after"], func(n *html.Node) bool { _, ok := attr(n, "selected"); return n.Data == "option" && ok })
			if len(selected) != 1 || text(selected[0]) != "after 1 hour" {
				t.Errorf("revert_after: %d options selected, want only the FormRevert one", len(selected))
			}
			button := one(t, form, "toggle-submit")
			if got := text(button); got != tt.wantButton {
				t.Errorf("button = %q, want %q", got, tt.wantButton)
			}
			if hasClass(button, "danger") != tt.wantDanger {
				t.Errorf("button danger = %v, want %v", !tt.wantDanger, tt.wantDanger)
			}
			if len(byTestID(panel, "toggle-note")) != 0 {
				t.Error("the operators-only note is shown next to the form")
			}
			if len(byTestID(panel, "toggle-error")) != 0 {
				t.Error("an error box is shown without an error")
			}
		})
	}
}

func TestToggleFormOnlyWithCanToggle(t *testing.T) {
	s := sampleSwitch()
	s.CanToggle = false
	for name, out := range map[string]string{
		"switches": render(t, SwitchesPage(samplePage("production"), Switches{Switches: []SwitchView{s}})),
		"cache":    render(t, CachePage(samplePage("production"), Cache{Switch: s})),
	} {
		t.Run(name, func(t *testing.T) {
			doc := parse(t, out)
			if n := len(byTestID(doc, "toggle-form")); n != 0 {
				t.Errorf("found %d toggle forms, want 0", n)
			}
			if got := formActions(doc); len(got) != 1 || got[0] != "/logout" {
				t.Errorf("POST forms = %q, want only the logout form", got)
			}
			if got := text(one(t, doc, "toggle-note")); got != "Operators and admins can change this switch." {
				t.Errorf("note = %q", got)
			}
		})
	}
}

func TestToggleError(t *testing.T) {
	s := sampleSwitch()
	s.FormError = "SUSPEND_REDIS was changed by " + hostile + " after you opened this page."
	_, doc := switchesDoc(t, Switches{Switches: []SwitchView{s}})
	box := one(t, doc, "toggle-error")
	if !hasClass(box, "error-box") {
		t.Error("toggle error is not an error box")
	}
	if got := text(box); !strings.Contains(got, hostile) {
		t.Errorf("toggle error = %q", got)
	}
	// The error comes before the form.
	form := one(t, doc, "toggle-form")
	for n := box.NextSibling; n != form; n = n.NextSibling {
		if n == nil {
			t.Fatal("the toggle error does not come before the form")
		}
	}
}

func TestSwitchPanel(t *testing.T) {
	_, doc := switchesDoc(t, Switches{Switches: []SwitchView{sampleSwitch()}})
	panel := one(t, doc, "switch-SUSPEND_REDIS")
	if id, _ := attr(panel, "id"); id != "switch-SUSPEND_REDIS" {
		t.Errorf("panel id = %q, want the anchor the toggle handler redirects to", id)
	}
	state := one(t, panel, "switch-state")
	if text(state) != "OFF" || !hasClass(state, "switch-state-off") {
		c, _ := attr(state, "class")
		t.Errorf("state = %q (class %q), want OFF, ok", text(state), c)
	}
	for id, want := range map[string]string{
		"switch-changed": "changed by ada@example.com 3m ago",
		"switch-reverts": "reverts automatically at 14:05:00Z (in 12m0s), back to ON",
		"switch-version": "7",
		"switch-reason":  hostile,
		"propagation":    "OFF applied on 1 of 3 live instances; 1 forced by SUSPEND_REDIS=true in their environment",
		"pending":        "pending: " + hostile + ", api-2",
	} {
		if got := text(one(t, panel, id)); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	if !hasClass(one(t, panel, "propagation"), "propagation-pending") {
		t.Error("propagation with pending instances is not highlighted")
	}

	rows := byTestID(panel, "switch-instance")
	if len(rows) != 3 {
		t.Fatalf("found %d instance rows, want 3", len(rows))
	}
	if hasClass(rows[0], "row-pending") || hasClass(rows[0], "row-forced") {
		t.Error("applied row is marked")
	}
	if !hasClass(rows[1], "row-pending") {
		t.Error("pending row is not marked")
	}
	if b := findAll(rows[1], func(n *html.Node) bool { return hasClass(n, "badge-pending") }); len(b) != 1 || text(b[0]) != "pending" {
		t.Error("pending status has no amber badge")
	}
	if !hasClass(rows[2], "row-forced") {
		t.Error("forced row is not marked")
	}
	forced := text(one(t, rows[2], "instance-status"))
	if !strings.Contains(forced, "forced by env") || !strings.Contains(forced, "SUSPEND_REDIS=true in the environment overrides the database") {
		t.Errorf("forced status = %q", forced)
	}
	if b := findAll(rows[2], func(n *html.Node) bool { return hasClass(n, "badge-forced") }); len(b) != 1 {
		t.Error("forced status has no badge")
	}

	if n := len(byTestID(one(t, panel, "switch-history"), "switch-change")); n != 2 {
		t.Errorf("found %d history rows, want 2", n)
	}

	on := sampleSwitch()
	on.Enabled, on.State = true, "ON"
	_, doc = switchesDoc(t, Switches{Switches: []SwitchView{on}})
	panel = one(t, doc, "switch-SUSPEND_REDIS")
	if !hasClass(one(t, panel, "switch-state"), "switch-state-on") || !hasClass(panel, "switch-panel-on") {
		t.Error("an ON switch is not shown as critical")
	}
}

func TestSwitchPanelEmpty(t *testing.T) {
	s := SwitchView{Name: "SUSPEND_REDIS", State: "OFF"}
	doc := parse(t, render(t, SwitchPanel(s)))
	panel := one(t, doc, "switch-SUSPEND_REDIS")
	if got := text(one(t, panel, "instances-empty")); got != "No live platform instances (no heartbeat within 45 s)" {
		t.Errorf("instances empty state = %q", got)
	}
	if got := text(one(t, panel, "switch-history")); !strings.Contains(got, "No changes recorded yet") {
		t.Errorf("history = %q", got)
	}
	for _, id := range []string{"pending", "propagation", "switch-reverts", "toggle-form"} {
		if len(byTestID(panel, id)) != 0 {
			t.Errorf("%s shown for a switch without it", id)
		}
	}
}

func TestSwitchesPage(t *testing.T) {
	second := sampleSwitch()
	second.Name = "OTHER_SWITCH"
	_, doc := switchesDoc(t, Switches{Switches: []SwitchView{sampleSwitch(), second}})
	got := text(one(t, doc, "switches-intro"))
	for _, want := range []string{"Postgres", "every 15 s", "SUSPEND_REDIS=true", "hard override"} {
		if !strings.Contains(got, want) {
			t.Errorf("intro = %q, want it to contain %q", got, want)
		}
	}
	one(t, doc, "switch-SUSPEND_REDIS")
	other := one(t, doc, "switch-OTHER_SWITCH")
	if a, _ := attr(one(t, other, "toggle-form"), "action"); a != "/switches/OTHER_SWITCH" {
		t.Errorf("second form action = %q", a)
	}
}

func TestCachePage(t *testing.T) {
	_, doc := cacheDoc(t, sampleCache())

	cards := byTestID(one(t, doc, "hit-rates"), "rate-card")
	if len(cards) != 3 {
		t.Fatalf("found %d rate cards, want 3", len(cards))
	}
	first := cards[0]
	for id, want := range map[string]string{"rate-overall": "97.3%", "rate-memory": "80.0%", "rate-redis": "17.2%", "rate-db": "2.8%"} {
		if got := text(one(t, first, id)); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	if got := text(first); !strings.Contains(got, "5 minutes") || !strings.Contains(got, "1,200 lookups") {
		t.Errorf("card = %q", got)
	}
	rects := findAll(one(t, first, "layer-bar"), func(n *html.Node) bool { return n.Data == "rect" })
	wantRects := []struct{ class, x, width string }{
		{"layer-track", "0", "100"}, {"layer-memory", "0", "80.04"}, {"layer-redis", "80.04", "17.21"}, {"layer-db", "97.25", "2.75"},
	}
	if len(rects) != len(wantRects) {
		t.Fatalf("found %d rects, want %d", len(rects), len(wantRects))
	}
	for i, w := range wantRects {
		x, _ := attr(rects[i], "x")
		width, _ := attr(rects[i], "width")
		if !hasClass(rects[i], w.class) || x != w.x || width != w.width {
			t.Errorf("rect %d = %s x=%s width=%s, want %s x=%s width=%s", i, rects[i].Attr, x, width, w.class, w.x, w.width)
		}
	}
	empty := cards[2]
	if got := text(one(t, empty, "rate-empty")); got != "no tenant lookups reported in this window" {
		t.Errorf("empty card = %q", got)
	}
	if len(byTestID(empty, "layer-bar")) != 0 {
		t.Error("empty card draws a bar")
	}

	one(t, doc, "switch-SUSPEND_REDIS")
	back := fields(one(t, doc, "toggle-form"))["back"]
	if v, _ := attr(back, "value"); back == nil || v != "/cache" {
		t.Error("the cache page's toggle form does not return to /cache")
	}

	redis := one(t, doc, "redis-server")
	if got := text(one(t, redis, "redis-paused")); got != "Polling paused: SUSPEND_REDIS is on" {
		t.Errorf("paused = %q", got)
	}
	var figures []string
	for _, div := range findAll(one(t, redis, "redis-figures"), func(n *html.Node) bool { return n.Data == "div" }) {
		figures = append(figures, strings.Join(cells(div), " "))
	}
	wantFigures := "ops/s 140|Keyspace hits 900,000|Keyspace misses 100,000|Keyspace hit rate 90.0 %|Connected clients 14|Used memory 12.3 MiB|Total commands 12,345,678"
	if got := strings.Join(figures, "|"); got != wantFigures {
		t.Errorf("figures = %q, want %q", got, wantFigures)
	}
	one(t, redis, "gauge-commands-per-day")
	if got := text(one(t, redis, "projection")); !strings.HasPrefix(got, "480000 commands per day") {
		t.Errorf("projection = %q", got)
	}
	if len(byTestID(doc, "redis-error")) != 0 || len(byTestID(doc, "cache-error")) != 0 {
		t.Error("error box shown without an error")
	}

	machines := byTestID(one(t, doc, "machines-table"), "machine-row")
	if len(machines) != 2 {
		t.Fatalf("found %d machine rows, want 2", len(machines))
	}
	perMin := one(t, machines[0], "redis-per-min")
	if !hasClass(perMin, "hot") || text(one(t, perMin, "jump")) != "jumped from 12/min" {
		t.Errorf("jump not highlighted: %q", text(perMin))
	}
	if got := text(machines[0]); !strings.Contains(got, "1,234,567") || !strings.Contains(got, "ON env") || !strings.Contains(got, "96.0%") {
		t.Errorf("machine row = %q", got)
	}
	if hasClass(machines[0], "stale") || !hasClass(machines[1], "stale") {
		t.Error("stale rows are not the ones dimmed")
	}
	if len(byTestID(machines[1], "jump")) != 0 || hasClass(one(t, machines[1], "redis-per-min"), "hot") {
		t.Error("a row without a jump is highlighted")
	}
	if got := text(machines[1]); !strings.Contains(got, "OFF database") || strings.Contains(got, "0.0%") {
		t.Errorf("idle machine row = %q, want OFF and no percentages", got)
	}

	tenants := byTestID(one(t, doc, "top-tenants"), "tenant-row")
	var got []string
	for _, tr := range tenants {
		got = append(got, strings.Join(cells(tr), " | "))
	}
	if want := "1 | " + hostile + " | 420; 2 | acme | 12"; strings.Join(got, "; ") != want {
		t.Errorf("tenant rows = %q, want %q", strings.Join(got, "; "), want)
	}
	if got := text(one(t, doc, "chart")); !strings.Contains(got, "Tenant-cache hit rate") {
		t.Errorf("chart = %q", got)
	}
	if n := len(byTestID(doc, "alert")); n != 1 {
		t.Errorf("found %d alerts, want 1", n)
	}
}

func TestProbeFormOnlyWithCanProbe(t *testing.T) {
	for _, can := range []bool{true, false} {
		m := sampleCache()
		m.Redis.CanProbe = can
		_, doc := cacheDoc(t, m)
		forms := byTestID(doc, "probe-form")
		if (len(forms) == 1) != can {
			t.Fatalf("CanProbe=%v: found %d probe forms", can, len(forms))
		}
		if !can {
			continue
		}
		if a, _ := attr(forms[0], "action"); a != "/cache/probe" {
			t.Errorf("probe action = %q", a)
		}
		if m, _ := attr(forms[0], "method"); m != "post" {
			t.Errorf("probe method = %q", m)
		}
		if got := text(findAll(forms[0], func(n *html.Node) bool { return n.Data == "button" })[0]); got != "Probe Redis now" {
			t.Errorf("probe button = %q", got)
		}
	}
}

func TestCacheHostileEscaped(t *testing.T) {
	m := sampleCache()
	m.Err = hostile
	m.Redis.Err = hostile
	m.Switch.FormError = hostile
	for name, out := range map[string]string{
		"cache":    render(t, CachePage(samplePage("production"), m)),
		"switches": render(t, SwitchesPage(samplePage("production"), Switches{Switches: []SwitchView{sampleSwitch()}})),
	} {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, "<script>") || strings.Contains(out, "alert(1)</script>") {
				t.Fatalf("literal <script> in output:\n%s", out)
			}
			doc := parse(t, out)
			ids := []string{"switch-instances", "switch-reason", "switch-history", "pending"}
			if name == "cache" {
				ids = append(ids, "top-tenants", "machines-table", "cache-error", "redis-error", "toggle-error")
			}
			for _, id := range ids {
				if got := text(one(t, doc, id)); !strings.Contains(got, hostile) {
					t.Errorf("%s = %q, want it to contain %q as text", id, got, hostile)
				}
			}
		})
	}
}

func TestCacheCSPCompatible(t *testing.T) {
	full := sampleCache()
	full.Err, full.Redis.Err, full.Switch.FormError = hostile, hostile, hostile
	for name, c := range map[string]struct {
		cache    *Cache
		switches *Switches
	}{
		"cache full":     {cache: &full},
		"cache empty":    {cache: &Cache{}},
		"switches full":  {switches: &Switches{Switches: []SwitchView{sampleSwitch()}}},
		"switches empty": {switches: &Switches{}},
	} {
		t.Run(name, func(t *testing.T) {
			var out string
			if c.cache != nil {
				out, _ = cacheDoc(t, *c.cache)
			} else {
				out, _ = switchesDoc(t, *c.switches)
			}
			doc := parse(t, out)
			for _, s := range findAll(doc, func(n *html.Node) bool { return n.Data == "script" }) {
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

func TestCacheEmpty(t *testing.T) {
	_, doc := cacheDoc(t, Cache{})
	for _, id := range []string{"hit-rates", "redis-server", "machines-table", "top-tenants", "chart-empty"} {
		one(t, doc, id)
	}
	for _, id := range []string{"alerts", "cache-error", "probe-form", "toggle-form", "redis-paused", "layer-bar"} {
		if n := len(byTestID(doc, id)); n != 0 {
			t.Errorf("%s shown on an empty page", id)
		}
	}
	if got := text(one(t, doc, "top-tenants")); !strings.Contains(got, "No misses reported") {
		t.Errorf("top tenants = %q", got)
	}
	if got := text(one(t, doc, "redis-sampled")); got != "not sampled yet" {
		t.Errorf("redis sampled = %q", got)
	}

	_, doc = switchesDoc(t, Switches{})
	one(t, doc, "switches-empty")
}

func TestCacheFormatting(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := groupDigits(in); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0: "0.0%", 97.25: "97.3%", 100: "100.0%"} {
		if got := pct1(in); got != want {
			t.Errorf("pct1(%v) = %q, want %q", in, got, want)
		}
	}
	// Percentages that do not add up never draw past the bar's end.
	b := hitRateBar(HitRate{Memory: 90, Redis: 30, DB: -5})
	if b.RedisX != "90" || b.RedisW != "10" || b.DBX != "100" || b.DBW != "0" {
		t.Errorf("bar = %+v", b)
	}
}
