package web

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
)

// contentSecurityPolicy allows only the console's own scripts, styles and
// images: no inline script, no framing, forms post only to the console.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the security headers on every answer, HSTS over
// HTTPS, and no-store on everything but static assets.
func securityHeaders(cookies handlers.Cookies) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Cross-Origin-Resource-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
			if cookies.Secure(c.Request()) {
				h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			}
			h.Set("Cache-Control", "no-store")
			return next(c)
		}
	}
}

// requestLogger logs one line per request with slog.
func requestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true, LogRequestID: true,
		LogRemoteIP: true, HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			} else if v.URIPath == "/healthz" || v.URIPath == "/readyz" || strings.HasPrefix(v.URIPath, "/static/") {
				level = slog.LevelDebug
			}
			attrs := []slog.Attr{slog.String("method", v.Method), slog.String("path", v.URIPath),
				slog.Int("status", v.Status), slog.Duration("latency", v.Latency),
				slog.String("request_id", v.RequestID), slog.String("client_ip", v.RemoteIP)}
			if v.Error != nil && v.Status >= 500 {
				attrs = append(attrs, slog.String("error", v.Error.Error()))
			}
			log.LogAttrs(c.Request().Context(), level, "request", attrs...)
			return nil
		},
	})
}

// schemaGate answers 503 on every route but the health checks and static
// assets while the database schema does not match this binary.
func schemaGate(schemaErr func() error) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if schemaErr == nil {
				return next(c)
			}
			if isInfra(c.Path()) {
				return next(c)
			}
			if err := schemaErr(); err != nil {
				return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
			}
			return next(c)
		}
	}
}

// touch records activity on every request but the health checks and
// static assets.
func touch(a interface{ Touch() }) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if a != nil && !isInfra(c.Path()) {
				a.Touch()
			}
			return next(c)
		}
	}
}

// isInfra reports whether a route serves machines, not people.
func isInfra(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/static/*"
}

// loadSession attaches the operator's session to the request when the
// cookie carries a live one. It never refuses: requireRole does.
func loadSession(store SessionStore, cookies handlers.Cookies, idle time.Duration, log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if isInfra(c.Path()) {
				return next(c)
			}
			token := cookies.Token(c)
			if token == "" {
				return next(c)
			}
			s, err := store.Session(c.Request().Context(), token, idle)
			switch {
			case err == nil:
				handlers.SetSession(c, &s)
			case errors.Is(err, auth.ErrNoSession):
				cookies.Clear(c)
			default:
				log.Warn("session lookup failed", "path", c.Path(), "error", err)
				if c.Path() != "/login" {
					return echo.NewHTTPError(http.StatusServiceUnavailable,
						"The console's own database is unreachable, so your session cannot be checked. The Overview comes back by itself when it answers; /readyz shows the state.")
				}
			}
			return next(c)
		}
	}
}

// requireRole refuses a request without a session (a redirect to the
// login form for GET, 401 otherwise) or whose operator's role is below
// min (403, audited).
func requireRole(base *handlers.Base, min auth.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			s := handlers.CurrentSession(c)
			if s == nil {
				if c.Request().Method == http.MethodGet {
					return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
				}
				return echo.NewHTTPError(http.StatusUnauthorized, "sign in first")
			}
			if !s.Account.Role.AtLeast(min) {
				_ = base.Record(c, audit.Entry{Action: "authz.denied", Target: c.Request().Method + " " + c.Path(),
					Result: audit.Denied, Details: map[string]any{"required_role": string(min)}})
				return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("this needs the %s role; you are %s", min, s.Account.Role))
			}
			return next(c)
		}
	}
}

// errorHandler renders errors as the error page (JSON for /readyz-style
// clients is not needed: every API route answers its own JSON).
func errorHandler(base *handlers.Base, log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := http.StatusInternalServerError, "Something went wrong; the error was logged with the request id."
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status = he.Code
			if m, ok := he.Message.(string); ok {
				msg = m
			} else {
				msg = http.StatusText(status)
			}
		} else {
			log.Error("request failed", "path", c.Path(), "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "error", err)
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		if rerr := base.RenderError(c, status, msg); rerr != nil {
			log.Error("render error page", "error", rerr)
		}
	}
}

// staticHandler serves the embedded assets with a short cache lifetime.
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
