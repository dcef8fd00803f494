package handlers

import (
	"slices"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/watch"
)

func TestSafeNext(t *testing.T) {
	tests := map[string]string{
		"":                       "/",
		"/audit?result=failure":  "/audit?result=failure",
		"//evil.example":         "/",
		"https://evil.example":   "/",
		`/\evil.example`:         "/",
		"/ok\r\nSet-Cookie: x=1": "/",
		"javascript:alert(1)":    "/",
		"/operators":             "/operators",
		"/\t/evil.example":       "/",
		"/\n/evil.example":       "/",
		"/\r/evil.example":       "/",
		"\t//evil.example":       "/",
		" //evil.example":        "/",
		"/\\/evil.example":       "/",
		"/\x00/evil.example":     "/",
		"/\x7f":                  "/",
		"/%09/evil.example":      "/%09/evil.example", // a path on this site
		"/queues?filter=a%2Fb":   "/queues?filter=a%2Fb",
	}
	for in, want := range tests {
		if got := SafeNext(in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTileStates(t *testing.T) {
	now := time.Now()
	tests := []struct {
		st        watch.Status
		label     string
		detailHas string
	}{
		{watch.Status{State: watch.NotConfigured}, "not configured", ""},
		{watch.Status{State: watch.Pending}, "checking…", ""},
		{watch.Status{State: watch.OK, Detail: "PING answered in 1ms", CheckedAt: now}, "reachable", "PING"},
		{watch.Status{State: watch.Failing, Err: "refused", CheckedAt: now, LastOK: now.Add(-time.Minute)}, "error", "last answered 1m ago"},
	}
	for _, tt := range tests {
		tile := Tile(tt.st, now)
		if tile.StateLabel != tt.label || (tt.detailHas != "" && tile.Detail == "") {
			t.Errorf("Tile(%+v) = %+v", tt.st, tile)
		}
	}
	if tile := Tile(watch.Status{State: watch.NotConfigured}, now); tile.Checked != "never" {
		t.Errorf("a system not configured was checked %q", tile.Checked)
	}
}

func TestAttentionFirst(t *testing.T) {
	var rows []int
	for i := range 120 {
		rows = append(rows, i)
	}
	odd := func(i int) bool { return i%40 == 7 } // 7, 47, 87 need attention
	got, more := attentionFirst(slices.Clone(rows), false, "/x?all=1", odd)
	if len(got) != shownRows || more.Shown != shownRows || more.Total != 120 || more.AllHref != "/x?all=1" {
		t.Fatalf("%d rows, %+v", len(got), more)
	}
	if got[0] != 7 || got[1] != 47 || got[2] != 87 || got[3] != 0 || got[4] != 1 {
		t.Fatalf("order %v", got[:5])
	}
	if all, more := attentionFirst(slices.Clone(rows), true, "", odd); len(all) != 120 || more.Shown != 120 {
		t.Fatalf("all: %d rows, %+v", len(all), more)
	}
}
