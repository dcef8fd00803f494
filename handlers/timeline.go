package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/memo"
	"github.com/atum/ops-console/internal/timeline"
	"github.com/atum/ops-console/views"
)

// TimelineReader reads the incident timeline.
type TimelineReader interface {
	// Systems names the systems the filter accepts.
	Systems() []string
	Read(ctx context.Context, from, to time.Time, systems []string) timeline.Result
}

// MarkerReader gives the events worth a marker on a history chart.
type MarkerReader interface {
	Markers(ctx context.Context, from, to time.Time) ([]timeline.Event, error)
}

// Timeline is the incident timeline screen.
type Timeline struct {
	*Base
	Reader TimelineReader

	// bodies shares what every viewer of a second sees alike.
	bodies memo.Cache[timelineKey, views.Timeline]
}

// systemLabels name the timeline's systems on the page.
var systemLabels = map[string]string{
	timeline.Fly:       "Fly",
	timeline.Switches:  "Kill switches",
	timeline.Queues:    "Queues",
	timeline.Accounts:  "Accounts",
	timeline.Operators: "Operators",
}

func systemLabel(key string) string {
	if l, ok := systemLabels[key]; ok {
		return l
	}
	return key
}

// Show renders the events of the selected range and systems, newest
// first; a bad filter is a 400 with the form and the reason. Sources that
// cannot be read are named in notes; the others still show.
func (h *Timeline) Show(c echo.Context) error {
	known := h.Reader.Systems()
	q := c.QueryParams()
	f, err := timeline.ParseFilter(q, time.Now(), known)
	page := h.Page(c, "Timeline", "timeline")
	if err != nil {
		m := views.Timeline{From: clipText(q.Get("from"), 40), To: clipText(q.Get("to"), 40), Error: err.Error(),
			Systems: systemBoxes(known, q["system"])}
		return Render(c, http.StatusBadRequest, views.TimelinePage(page, m))
	}
	m, err := h.bodies.Get(c.Request().Context(), timelineKey{f.From.Unix(), f.To.Unix(), h.changes(), strings.Join(f.Systems, ",")},
		func(ctx context.Context) (views.Timeline, error) { return h.body(ctx, known, f), nil })
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, views.TimelinePage(page, m))
}

// timelineKey is one view of the timeline: its range to the second, the
// changes made through this instance (they are events), and the systems.
type timelineKey struct {
	from, to, changes int64
	systems           string
}

// body reads the events of f and renders them once.
func (h *Timeline) body(ctx context.Context, known []string, f timeline.Filter) views.Timeline {
	m := views.Timeline{From: timeline.FormatInput(f.From, false), To: timeline.FormatInput(f.To, true),
		Systems: systemBoxes(known, f.Systems)}
	m.Range = fmt.Sprintf("From %s to %s UTC, newest first.", f.From.Format("2006-01-02 15:04:05"), f.To.Format("2006-01-02 15:04:05"))
	r := h.Reader.Read(ctx, f.From, f.To, f.Systems)
	for _, n := range r.Notes {
		m.Notes = append(m.Notes, n.Text)
	}
	for _, e := range r.Events {
		m.Rows = append(m.Rows, views.TimelineRow{At: e.At.UTC().Format("2006-01-02 15:04:05"), System: systemLabel(e.System),
			Kind: e.Kind, What: e.What, Who: e.Who, Href: e.Href, LinkText: linkText(e.Href)})
	}
	m.Body = renderOnce(ctx, views.TimelineBody(m))
	return m
}

func systemBoxes(known, checked []string) []views.TimelineSystem {
	out := make([]views.TimelineSystem, 0, len(known))
	for _, k := range known {
		out = append(out, views.TimelineSystem{Key: k, Label: systemLabel(k), Checked: slices.Contains(checked, k)})
	}
	return out
}

// linkText names what an event's detail link opens.
func linkText(href string) string {
	for _, p := range []struct{ prefix, text string }{
		{"/fleet/machines/", "machine"}, {"/fleet", "fleet"}, {"/queues/purges/", "purge"}, {"/switches", "switch"},
		{"/accounts/", "account"}, {"/audit", "audit log"}, {"/timeline", "timeline"},
	} {
		if strings.HasPrefix(href, p.prefix) {
			return p.text
		}
	}
	return "detail"
}

// markerBudget bounds the markers' queries: a chart without markers is
// better than a late page.
const markerBudget = 400 * time.Millisecond

// markerGap is how close (in the chart's 0..1000 units) two events must
// be to share one marker.
const markerGap = 6.0

// chartMarkers returns the markers of a chart spanning [from, to): each
// event at its time, events too close to tell apart merged into one marker
// linking to the timeline around them. A failure costs only the markers.
func (b *Base) chartMarkers(ctx context.Context, from, to time.Time) []views.ChartMarker {
	if b.Markers == nil || !from.Before(to) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, markerBudget)
	defer cancel()
	events, err := b.Markers.Markers(ctx, from, to)
	if err != nil && b.Log != nil {
		b.Log.Warn("chart markers incomplete", "error", err)
	}
	return PlaceMarkers(events, from, to)
}

// PlaceMarkers places events on a chart spanning [from, to).
func PlaceMarkers(events []timeline.Event, from, to time.Time) []views.ChartMarker {
	span := to.Sub(from)
	if span <= 0 || len(events) == 0 {
		return nil
	}
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b timeline.Event) int { return a.At.Compare(b.At) })
	layout := "15:04Z"
	if span > 25*time.Hour {
		layout = "Jan 2 15:04Z"
	}
	x := func(t time.Time) float64 { return 1000 * float64(t.Sub(from)) / float64(span) }
	var out []views.ChartMarker
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && x(sorted[j].At)-x(sorted[j-1].At) < markerGap {
			j++
		}
		group := sorted[i:j]
		first, last := group[0], group[len(group)-1]
		mk := views.ChartMarker{X: (x(first.At) + x(last.At)) / 2}
		if len(group) == 1 {
			mk.Label, mk.Href = first.At.UTC().Format(layout)+" "+clipText(first.What, 120), first.Href
		} else {
			var whats []string
			for _, e := range group[:min(len(group), 3)] {
				whats = append(whats, clipText(e.What, 60))
			}
			if len(group) > 3 {
				whats = append(whats, "…")
			}
			when := first.At.UTC().Format(layout)
			if l := last.At.UTC().Format(layout); l != when {
				when += "–" + l
			}
			mk.Label = fmt.Sprintf("%d events %s: %s", len(group), when, strings.Join(whats, "; "))
			f := timeline.Filter{From: first.At.Add(-time.Minute).Truncate(time.Minute), To: last.At.Truncate(time.Minute).Add(2 * time.Minute)}
			mk.Href = "/timeline?" + f.Query().Encode()
		}
		out = append(out, mk)
		i = j
	}
	return out
}

// clipText shortens s to at most n runes.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
