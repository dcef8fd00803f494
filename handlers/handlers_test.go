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

func TestAgo(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now.Add(-300 * time.Millisecond), "just now"},
		{now.Add(-12 * time.Second), "12s ago"},
		{now.Add(-3 * time.Minute), "3m ago"},
		{now.Add(-(2*time.Hour + 5*time.Minute)), "2h 5m ago"},
		{now.Add(-72 * time.Hour), "2026-11-23 12:00Z"},
	}
	for _, tt := range tests {
		if got := Ago(tt.t, now); got != tt.want {
			t.Errorf("Ago(%v) = %q, want %q", tt.t, got, tt.want)
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

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 12000000: "12,000,000", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
