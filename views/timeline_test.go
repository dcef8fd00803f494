package views

import (
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestChartMarkers(t *testing.T) {
	c := sampleConnections().History
	c.Markers = []ChartMarker{
		{X: 250, Label: "06:30Z SUSPEND_REDIS turned ON: " + hostile, Href: "/switches#switch-SUSPEND_REDIS"},
		{X: 1200.5, Label: "12:10Z out of range", Href: "javascript:alert(1)"},
		{X: -3, Label: "no link"},
	}
	out := render(t, ChartView(c))
	if strings.Contains(out, "<script>") || strings.Contains(out, `href="javascript:`) {
		t.Fatalf("marker not escaped or unsafe link kept:\n%s", out)
	}
	for _, re := range []*regexp.Regexp{styleAttr, eventAttr, styleElement} {
		if m := re.FindString(out); m != "" {
			t.Errorf("CSP violation %q", m)
		}
	}
	doc := parse(t, out)
	markers := byTestID(doc, "chart-marker")
	if len(markers) != 3 {
		t.Fatalf("found %d markers, want 3", len(markers))
	}
	for i, want := range []struct {
		tag, x, title string
	}{
		{"a", "250", "06:30Z SUSPEND_REDIS turned ON: " + hostile},
		{"a", "1000", "12:10Z out of range"},
		{"g", "0", "no link"},
	} {
		m := markers[i]
		if m.Data != want.tag {
			t.Errorf("marker %d is <%s>, want <%s>", i, m.Data, want.tag)
		}
		lines := findAll(m, func(n *html.Node) bool { return n.Data == "line" })
		if len(lines) != 2 || !hasClass(lines[1], "chart-marker-line") {
			t.Fatalf("marker %d: %d lines", i, len(lines))
		}
		for _, l := range lines {
			x1, _ := attr(l, "x1")
			x2, _ := attr(l, "x2")
			y2, _ := attr(l, "y2")
			if x1 != want.x || x2 != want.x || y2 != "200" {
				t.Errorf("marker %d: line x1=%s x2=%s y2=%s, want a vertical line at %s", i, x1, x2, y2, want.x)
			}
		}
		titles := findAll(m, func(n *html.Node) bool { return n.Data == "title" })
		if len(titles) != 1 || text(titles[0]) != want.title {
			t.Errorf("marker %d: title %v, want %q", i, titles, want.title)
		}
	}
	if href, _ := attr(markers[0], "href"); href != "/switches#switch-SUSPEND_REDIS" {
		t.Errorf("marker link = %q", href)
	}
	events := one(t, doc, "chart-events")
	if got := text(events); !strings.Contains(got, "Events on this chart (3)") || !strings.Contains(got, hostile) {
		t.Errorf("events list = %q", got)
	}

	// Without markers the chart is as before.
	c.Markers = nil
	if out := render(t, ChartView(c)); strings.Contains(out, "chart-marker") || strings.Contains(out, "chart-events") {
		t.Error("markers drawn for a chart without any")
	}
}

func TestTimelinePage(t *testing.T) {
	p := samplePage("production")
	m := Timeline{From: "2026-12-01T07:00", To: hostile, Range: "From … to … UTC",
		Systems: []TimelineSystem{{Key: "fly", Label: "Fly", Checked: true}, {Key: "switches", Label: "Kill switches"}},
		Notes:   []string{"dead-letter purges could not be read: " + hostile},
		Rows: []TimelineRow{{At: "2026-12-01 08:00:00", System: "Fly", Kind: "exit", What: "api machine " + hostile + " exited",
			Who: "fly", Href: "/fleet/machines/e78", LinkText: "machine"}}}
	out := render(t, TimelinePage(p, m))
	if strings.Contains(out, "<script>") {
		t.Fatalf("hostile text not escaped:\n%s", out)
	}
	for _, re := range []*regexp.Regexp{styleAttr, eventAttr, jsURL, styleElement} {
		if s := re.FindString(out); s != "" {
			t.Errorf("CSP violation %q", s)
		}
	}
	doc := parse(t, out)
	if got := text(one(t, doc, "timeline-what")); got != "api machine "+hostile+" exited" {
		t.Errorf("what = %q", got)
	}
	if got := text(one(t, doc, "timeline-note")); !strings.Contains(got, hostile) {
		t.Errorf("note = %q", got)
	}
	if v, _ := attr(one(t, doc, "timeline-to"), "value"); v != hostile {
		t.Errorf("to = %q", v)
	}
	boxes := findAll(doc, func(n *html.Node) bool { name, _ := attr(n, "name"); return name == "system" })
	if len(boxes) != 2 {
		t.Fatalf("%d system boxes", len(boxes))
	}
	if _, ok := attr(boxes[0], "checked"); !ok {
		t.Error("fly not checked")
	}
	if _, ok := attr(boxes[1], "checked"); ok {
		t.Error("switches checked")
	}

	m.Rows, m.Notes = nil, nil
	if got := text(one(t, parse(t, render(t, TimelinePage(p, m))), "timeline-empty")); got != "Nothing recorded in this range" {
		t.Errorf("empty = %q", got)
	}
	m.Error = "the time range is at most 14 days"
	doc = parse(t, render(t, TimelinePage(p, m)))
	if got := text(one(t, doc, "form-error")); got != m.Error || len(byTestID(doc, "timeline-table")) != 0 {
		t.Errorf("error page: %q", got)
	}
}
