package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/views"
)

// Placeholders says what each screen not built yet will show.
type Placeholders struct {
	*Base
}

var planned = map[string]struct {
	title string
	views.Placeholder
}{
	"fleet": {"Fleet", views.Placeholder{
		Summary: "The platform's Fly machines, crash loops and configuration drift. Read only.",
		Items: []string{
			"Machines per process group with state, region, image and restarts",
			"A crash-loop flag from machine events",
			"Drift of ENVIRONMENT, pool settings and images across machines and groups",
		}}},
}

// Show renders the placeholder for the screen key.
func (h *Placeholders) Show(key string) echo.HandlerFunc {
	p, ok := planned[key]
	if !ok {
		panic("handlers: no placeholder for " + key)
	}
	return func(c echo.Context) error {
		return Render(c, http.StatusOK, views.PlaceholderPage(h.Page(c, p.title, key), p.Placeholder))
	}
}
