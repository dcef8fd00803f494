package handlers

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/watch"
	"github.com/atum/ops-console/views"
)

// Snapshotter gives the latest state of every watched system.
type Snapshotter interface {
	Snapshot() []watch.Status
}

// Overview is the landing screen: one tile per system and open alerts.
type Overview struct {
	*Base
	Systems Snapshotter
}

// Show renders the Overview from the latest snapshots.
func (h *Overview) Show(c echo.Context) error {
	now := time.Now()
	var m views.Overview
	for _, st := range h.Systems.Snapshot() {
		m.Tiles = append(m.Tiles, Tile(st, now))
		// The other systems' outages are stored alerts; the console's own
		// database cannot store its own, so it is shown live.
		if st.State == watch.Failing && st.Key == "postgres" {
			m.Alerts = append(m.Alerts, views.Alert{Level: "critical", Href: st.Href,
				Text: fmt.Sprintf("%s unreachable (%s): %s", st.Name, human.LastAnswered(st.LastOK, now), st.Err)})
		}
	}
	if h.Alerts != nil {
		m.Alerts = append(m.Alerts, h.Alerts(c.Request().Context())...)
	}
	// Critical first, each level in the order the rules gave.
	slices.SortStableFunc(m.Alerts, func(a, b views.Alert) int { return levelRank(a.Level) - levelRank(b.Level) })
	return Render(c, http.StatusOK, views.OverviewPage(h.Page(c, "Overview", "overview"), m))
}

func levelRank(level string) int {
	if level == "critical" {
		return 0
	}
	return 1
}

// Tile turns a system's status into its Overview tile.
func Tile(st watch.Status, now time.Time) views.Tile {
	t := views.Tile{Key: st.Key, Name: st.Name, State: st.State, Detail: st.Detail, Err: st.Err, Href: st.Href,
		Checked: human.Ago(st.CheckedAt, now)}
	switch st.State {
	case watch.NotConfigured:
		t.StateLabel, t.Checked = "not configured", "never"
	case watch.OK:
		t.StateLabel = "reachable"
	case watch.Failing:
		t.StateLabel = "error"
		if !st.LastOK.IsZero() {
			t.Detail = "last answered " + human.Ago(st.LastOK, now)
		}
	default:
		t.StateLabel = "checking…"
	}
	if st.NotChecked != "" {
		t.Detail = "not checked since " + human.Ago(st.NotCheckedAt, now) + ": " + st.NotChecked
	}
	return t
}
