package handlers

import (
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
