package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/watch"
)

// Health answers the liveness and readiness probes.
type Health struct {
	Systems Snapshotter
	// Ready checks the console's own database (and schema) now.
	Ready func(ctx context.Context) error
}

// Live answers 200 while the process runs.
func (h *Health) Live(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// systemJSON is a system's state on /readyz: the state and when it was
// checked, never the details or errors (hosts, figures), since /readyz
// answers anyone.
type systemJSON struct {
	State     string `json:"state"`
	CheckedAt string `json:"checked_at,omitempty"`
}

// ReadyJSON is the /readyz answer.
type ReadyJSON struct {
	Status  string                `json:"status"`
	Error   string                `json:"error,omitempty"`
	Systems map[string]systemJSON `json:"systems"`
}

// Readiness answers JSON per system and 503 while the console's own
// database is unreachable or its schema is out of date.
func (h *Health) Readiness(c echo.Context) error {
	out := ReadyJSON{Status: "ready", Systems: map[string]systemJSON{}}
	for _, st := range h.Systems.Snapshot() {
		s := systemJSON{State: st.State}
		if !st.CheckedAt.IsZero() {
			s.CheckedAt = st.CheckedAt.UTC().Format(time.RFC3339)
		}
		out.Systems[st.Key] = s
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	status := http.StatusOK
	if err := h.Ready(ctx); err != nil {
		// The reason is in the log and, for operators, on the Overview.
		out.Status, out.Error, status = "unavailable", "the console's own database is unreachable or its schema is out of date",
			http.StatusServiceUnavailable
		s := out.Systems["postgres"]
		s.State = watch.Failing
		out.Systems["postgres"] = s
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, out)
}
