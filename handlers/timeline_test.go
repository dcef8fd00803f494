package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/timeline"
)

func TestPlaceMarkers(t *testing.T) {
	from := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	at := func(m, s int) time.Time { return from.Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second) }
	events := []timeline.Event{ // newest first, as the timeline gives them
		{At: at(45, 0), What: "purge #7 confirmed", Href: "/queues/purges/7"},
		{At: at(15, 20), What: "machine b updated", Href: "/fleet/machines/b"},
		{At: at(15, 0), What: "machine a updated", Href: "/fleet/machines/a"},
	}
	got := PlaceMarkers(events, from, to)
	if len(got) != 2 {
		t.Fatalf("markers = %+v, want the two updates merged", got)
	}
	deploy, purge := got[0], got[1]
	if deploy.X < 250 || deploy.X > 256 || !strings.HasPrefix(deploy.Label, "2 events 06:15Z: machine a updated; machine b updated") ||
		deploy.Href != "/timeline?from=2026-12-02T06%3A14&to=2026-12-02T06%3A16" {
		t.Errorf("merged marker = %+v", deploy)
	}
	if purge.X != 750 || purge.Label != "06:45Z purge #7 confirmed" || purge.Href != "/queues/purges/7" {
		t.Errorf("marker = %+v", purge)
	}
	if PlaceMarkers(events, to, from) != nil || PlaceMarkers(nil, from, to) != nil {
		t.Error("markers without a span or events")
	}
}
