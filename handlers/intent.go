package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
)

// RecordIntent writes e as the intent of an action, before the action
// runs. When the console's database does not take it the action must not
// run: the error returned is then a 503 that says so, naming what (e.g.
// "disable operator x@atum.io"), for the handler to return as it is.
func (b *Base) RecordIntent(c echo.Context, e audit.Entry, what string) error {
	e.Result = audit.Intent
	if err := b.Record(c, e); err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable,
			"The console's database did not record the intent to "+what+", so nothing was done. Try again when it answers.")
	}
	return nil
}
