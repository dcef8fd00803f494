package web

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/store"
)

// observe reports every request's method, route pattern, status and
// duration to report, once the answer is written (errors included: they
// are rendered here by the error handler first), and, when queries is
// set, the statements it sent to the console's database.
func observe(report func(method, route string, status int, d time.Duration), queries func(route string, n int64)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			var sent *atomic.Int64
			if queries != nil {
				var ctx context.Context
				ctx, sent = store.WithQueryCounter(c.Request().Context())
				c.SetRequest(c.Request().WithContext(ctx))
			}
			err := next(c)
			if err != nil {
				c.Error(err)
				err = nil
			}
			report(c.Request().Method, c.Path(), c.Response().Status, time.Since(start))
			if sent != nil {
				queries(c.Path(), sent.Load())
			}
			return err
		}
	}
}
