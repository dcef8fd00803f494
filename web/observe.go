package web

import (
	"time"

	"github.com/labstack/echo/v4"
)

// observe reports every request's method, route pattern, status and
// duration to report, once the answer is written (errors included: they
// are rendered here by the error handler first).
func observe(report func(method, route string, status int, d time.Duration)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
				err = nil
			}
			report(c.Request().Method, c.Path(), c.Response().Status, time.Since(start))
			return err
		}
	}
}
