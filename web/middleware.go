package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"github.com/atum/ops-console/static"
)

// contentSecurityPolicy allows only the console's own scripts, styles and
// images: no inline script, no framing, forms post only to the console.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaderValues are the headers every answer carries, with their
// canonical names. The values are shared by every answer and never
// changed in place (Set replaces, Add appends to a copy), so setting them
// allocates nothing.
var securityHeaderValues = []struct {
	key   string
	value []string
}{
	{"Content-Security-Policy", []string{contentSecurityPolicy}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Referrer-Policy", []string{"same-origin"}},
	{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
	{"Cross-Origin-Resource-Policy", []string{"same-origin"}},
	{"Permissions-Policy", []string{"camera=(), microphone=(), geolocation=(), payment=()"}},
	{"Cache-Control", []string{"no-store"}},
}

// strictTransportSecurity is the HSTS header of answers over HTTPS.
var strictTransportSecurity = []string{"max-age=63072000; includeSubDomains"}

// securityHeaders sets the security headers on every answer, HSTS over
// HTTPS, and no-store on everything but static assets.
func securityHeaders(cookies handlers.Cookies) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			for _, kv := range securityHeaderValues {
				h[kv.key] = kv.value
			}
			if cookies.Secure(c.Request()) {
				h["Strict-Transport-Security"] = strictTransportSecurity
			}
			return next(c)
		}
	}
}

// requestLogger logs one line per request with slog.
func requestLogger(log *slog.Logger, redact func(string) string) echo.MiddlewareFunc {
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
			if theirs, ok := c.Get(clientRequestIDKey).(string); ok {
				attrs = append(attrs, slog.String("client_request_id", theirs))
			}
			if v.Error != nil && v.Status >= 500 {
				attrs = append(attrs, slog.String("error", redact(v.Error.Error())))
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

// SessionBudget bounds the session check of one request.
const SessionBudget = 400 * time.Millisecond

// loadSession attaches the operator's session to the request when the
// cookie carries a live one. It never refuses a live session: requireRole
// does. The check runs under SessionBudget; when the console's database
// does not answer, a GET may go on with the session this instance checked
// within StaleSessionFor (marked on the page), and anything else gets a
// 503 naming the database. The sign-in form never waits on the database.
func loadSession(store SessionStore, mem *sessionMemory, cookies handlers.Cookies, idle time.Duration, log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if isInfra(c.Path()) {
				return next(c)
			}
			token := cookies.Token(c)
			if token == "" {
				return next(c)
			}
			read := c.Request().Method == http.MethodGet || c.Request().Method == http.MethodHead
			if c.Path() == "/login" && read {
				if s, _, ok := mem.recall(token); ok {
					handlers.SetSession(c, &s)
				}
				return next(c)
			}
			// A page read shortly after the session was checked here is not
			// checked again: 50 viewers refreshing cost the database one
			// check a second each. Changes always check.
			if s, at, ok := mem.recall(token); ok && read && time.Since(at) < SessionFresh {
				handlers.SetSession(c, &s)
				return next(c)
			}
			ctx, cancel := context.WithTimeout(c.Request().Context(), SessionBudget)
			s, err := store.Session(ctx, token, idle)
			cancel()
			switch {
			case err == nil:
				mem.remember(token, s)
				handlers.SetSession(c, &s)
			case errors.Is(err, auth.ErrNoSession):
				mem.forget(token)
				cookies.Clear(c)
			default:
				log.Warn("session lookup failed", "path", c.Path(), "error", err)
				if s, at, ok := mem.recall(token); ok && read {
					handlers.SetStaleSession(c, &s, at)
					return next(c)
				}
				if c.Path() != "/login" {
					return handlers.Unavailable("the console's own database",
						fmt.Errorf("your session cannot be checked (%w); the console comes back by itself when it answers, and /readyz shows the state", err))
				}
			}
			return next(c)
		}
	}
}

// requestID gives every request an id of the console's own, in the
// response header, the logs and the audit log. An incoming X-Request-Id
// is never used (an audit row's request id cannot be forged); it is kept
// apart as the client's id in the request log.
func requestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if theirs := req.Header.Get(echo.HeaderXRequestID); theirs != "" {
				c.Set(clientRequestIDKey, clipName(theirs))
			}
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id := hex.EncodeToString(b)
			req.Header.Set(echo.HeaderXRequestID, id)
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			return next(c)
		}
	}
}

const clientRequestIDKey = "atum.client_request_id"

// requireRole refuses a request without a session (a redirect to the
// login form for GET, 401 otherwise) or whose operator's role is below
// min (403, audited).
func requireRole(base *handlers.Base, min auth.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			s := handlers.CurrentSession(c)
			if s == nil {
				if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
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

// requireSecondFactor keeps an operator who must set up a second factor
// (handlers.NeedsSecondFactor) on their security page: other pages
// redirect there, other changes are refused. unenrolled routes are open.
func requireSecondFactor(unenrolled bool, required func(auth.Role) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if unenrolled || !handlers.NeedsSecondFactor(handlers.CurrentSession(c), required) {
				return next(c)
			}
			if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
				return c.Redirect(http.StatusSeeOther, "/account")
			}
			return echo.NewHTTPError(http.StatusForbidden, "set up a second factor on your account page first")
		}
	}
}

// requireFresh lets a destructive action through only for an operator
// who proved who they are within the step-up window; otherwise the form
// is kept and they are asked to sign in again. label says what it does.
func requireFresh(base *handlers.Base, label string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if base.FreshAuth == nil || base.FreshAuth(c) {
				return next(c)
			}
			return base.AskStepUp(c, label)
		}
	}
}

// errorHandler renders errors as the error page. A system that did not
// answer is a 503 naming it; a value Postgres refused is a 400.
func errorHandler(base *handlers.Base, log *slog.Logger, redact func(string) string) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := classify(err)
		if status >= 500 {
			log.Error("request failed", "path", c.Path(), "status", status,
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "error", redact(err.Error()))
		}
		if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
			if c.Response().Header().Get("Retry-After") == "" {
				c.Response().Header().Set("Retry-After", "5")
			}
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		if rerr := base.RenderError(c, status, redact(msg)); rerr != nil {
			log.Error("render error page", "error", rerr)
		}
	}
}

// classify turns a handler's error into a status and a message for the
// person looking.
func classify(err error) (int, string) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if m, ok := he.Message.(string); ok {
			return he.Code, m
		}
		return he.Code, http.StatusText(he.Code)
	}
	var ue *handlers.UnavailableError
	switch {
	case errors.As(err, &ue) && handlers.IsUnreachable(ue.Err):
		return http.StatusServiceUnavailable, capitalizeFirst(ue.System) + " is unreachable or did not answer in time, so this page cannot be shown now. " +
			"It comes back by itself when the system answers; the Overview and /readyz show each system's state."
	case errors.As(err, &ue):
		return http.StatusServiceUnavailable, capitalizeFirst(ue.System) + " failed: " + ue.Err.Error()
	case handlers.IsBadInput(err):
		return http.StatusBadRequest, "The database refused a value of this request as invalid; check the filters and try again."
	case handlers.IsUnreachable(err):
		return http.StatusServiceUnavailable, "The console's own database is unreachable or did not answer in time, so this page cannot be shown now. " +
			"It comes back by itself when the database answers; the Overview and /readyz show each system's state."
	}
	return http.StatusInternalServerError, "Something went wrong; the error was logged with the request id."
}

func capitalizeFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// staticHandler serves the assets of fsys under their own and their
// content-hashed names (see static.Assets): hashed names are cached for a
// year, plain ones briefly; both carry a strong ETag and are gzipped at
// start, not per request.
func staticHandler(fsys fs.FS) http.Handler {
	if fsys == fs.FS(static.FS) {
		return static.Handler()
	}
	a, err := static.New(fsys)
	if err != nil {
		panic(err)
	}
	return a
}
