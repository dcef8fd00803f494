// Package web is the console's HTTP server: Echo, its middleware, the
// route table and the error handler. Handlers live in package handlers.
package web

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/accounts"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/serve"
	"github.com/atum/ops-console/internal/sso"
	"github.com/atum/ops-console/internal/timeline"
	"github.com/atum/ops-console/views"
)

// SessionStore loads and ends sessions and manages operators, their
// passwords, second factors and step-ups.
type SessionStore interface {
	handlers.LoginStore
	handlers.OperatorStore
	handlers.ThrottleStore
	handlers.StepUpStore
	handlers.SecurityStore
	handlers.ResetStore
	handlers.SSOStore
	Session(ctx context.Context, token string, idle time.Duration) (auth.Session, error)
}

// Access is how operators sign in and prove who they are again.
type Access struct {
	// PasswordLogin keeps sign-in by email and password.
	PasswordLogin bool
	// SSO is the OpenID Connect client (nil: single sign-on is off);
	// SSOName names the provider on the sign-in button; RoleClaim and
	// RoleMap give roles from its groups claim.
	SSO       handlers.SSOClient
	SSOName   string
	RoleClaim string
	RoleMap   sso.RoleMap
	// Required reports whether a role must use a second factor with a
	// password (nil: none must).
	Required func(auth.Role) bool
	// StepUpWindow is how recent a sign-in must be for a destructive
	// action; TOTPIssuer names the console in authenticator apps.
	StepUpWindow time.Duration
	TOTPIssuer   string
	// Passkeys is the console as a WebAuthn relying party, built from its
	// public URL (nil: passkeys are off; those registered still list and
	// can be removed).
	Passkeys *auth.Passkeys
}

// Deps is everything the server needs.
type Deps struct {
	Env      string
	Version  string
	Log      *slog.Logger
	Sessions SessionStore
	Audit    interface {
		handlers.Auditor
		handlers.AuditReader
	}
	Systems  handlers.Snapshotter
	Identity func() views.DBIdentity
	// Ready checks the console's own database now (for /readyz).
	Ready func(ctx context.Context) error
	// SchemaErr returns why pages cannot be served (schema out of date),
	// or nil.
	SchemaErr func() error
	// Alerts returns the open alerts, shown on the Overview and, by
	// system, on each screen.
	Alerts func(ctx context.Context) []views.Alert
	// AlertStore keeps the alerts' lifecycle for /alerts (nil: not kept);
	// AlertsChanged is told after an operator acted on an alert.
	AlertStore    handlers.AlertStore
	AlertsChanged func()
	// Activity is told about every page request, so background work runs
	// only while someone uses the console.
	Activity interface{ Touch() }

	// Connections feeds the Connections screen.
	Connections       handlers.ConnectionSampler
	Budget            func() neon.Budget
	BouncerConfigured bool
	PlatformHost      string
	ConsoleHost       string

	// Console is the console's own database (heartbeats, samples).
	Console *pgxpool.Pool
	// CacheFigures, Switches, Redis and the rest feed the Cache and
	// Switches screens.
	CacheFigures    handlers.CacheFigures
	Switches        handlers.SwitchStore
	SwitchChanged   func()
	Redis           handlers.RedisSampler
	RedisConfigured bool
	RedisBudget     int64

	// QStash clients by region, the regions in order, the queue sampler
	// and the purger feed the Queues screen; Background outlives requests
	// (purges run in it).
	QStash        map[string]*qstash.Client
	QStashRegions []string
	QStashSampler *qstash.Sampler
	Purger        *qstash.Purger
	// Approval says which bulk actions need a second operator.
	Approval   qstash.ApprovalPolicy
	Background context.Context
	// DLQSummary reads each region's latest dead-letter summary (nil: the
	// summary page says the summaries are off).
	DLQSummary handlers.DLQSummaries

	// Fleet feeds the Fleet screen (nil when Fly is not configured) for
	// the platform's app FlyApp.
	Fleet  handlers.FleetReporter
	FlyApp string

	// Accounts feeds the support lookup; AccountFleet gives its diagnosis
	// the Fly fleet's facts (nil when unknown).
	Accounts             *accounts.Store
	LookupReasonRequired bool
	AccountFleet         func() *accounts.Fleet

	// Redact removes configured secrets from text bound for a page or a
	// log line.
	Redact func(string) string

	// Timeline feeds the incident timeline and the charts' markers; nil
	// means the standard sources over Console (add an alert engine's with
	// timeline.Timeline.With).
	Timeline *timeline.Timeline

	// Observe, when set, is told of every answered request: its method,
	// route pattern (empty when none matched), status and duration.
	Observe func(method, route string, status int, d time.Duration)
	// ObserveQueries, when set with Observe, is told of every answered
	// request's route pattern and the statements it sent to the console's
	// database (store.WithQueryCounter).
	ObserveQueries func(route string, queries int64)

	// TrustFlyClientIP believes Fly-Client-IP and X-Forwarded-Proto from
	// peers in ProxyCIDRs (Fly's proxy), and from no one else.
	TrustFlyClientIP bool
	ProxyCIDRs       []netip.Prefix
	// Access is how operators sign in.
	Access       Access
	AlwaysSecure bool
	SessionIdle  time.Duration
	SessionMax   time.Duration
}

// Server is the console's HTTP application.
type Server struct {
	Echo *echo.Echo
	// Routes is the route table the server was built from.
	Routes []Route
}

// New builds the Echo application with all middleware and routes.
func New(d Deps) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = clientIP(d.TrustFlyClientIP, d.ProxyCIDRs)
	if d.Redact == nil {
		d.Redact = func(s string) string { return s }
	}
	if d.Timeline == nil {
		d.Timeline = timeline.New(timeline.Standard(d.Console, d.FlyApp)...)
	}
	shared := shareReads(&d)
	mem := newSessionMemory()
	d.Sessions = forgetfulStore{SessionStore: d.Sessions, mem: mem}

	cookies := handlers.Cookies{AlwaysSecure: d.AlwaysSecure, FromProxy: proxyPeer(d.TrustFlyClientIP, d.ProxyCIDRs)}
	base := &handlers.Base{Env: d.Env, Version: d.Version, Identity: d.Identity, Audit: d.Audit, Log: d.Log,
		Systems: d.Systems, Reads: handlers.ScreenReads, Markers: d.Timeline, Alerts: d.Alerts, Changes: shared.changes.Load}
	e.HTTPErrorHandler = errorHandler(base, d.Log, d.Redact)

	s := &Server{Echo: e}
	s.Routes = routes(d, base, cookies, shared.timeline)
	budgets := map[string]time.Duration{}
	for _, r := range s.Routes {
		budgets[r.Method+" "+r.Path] = cmp.Or(r.Budget, PageBudget)
	}

	if d.Observe != nil {
		e.Use(observe(d.Observe, d.ObserveQueries))
	}
	e.Use(compress()) // outside Recover: a panic's error page is compressed too
	e.Use(middleware.Recover())
	e.Use(requestID())
	e.Use(requestLogger(d.Log, d.Redact))
	e.Use(securityHeaders(cookies))
	e.Use(middleware.BodyLimit("1M"))
	e.Use(budget(budgets))
	e.Use(forgetAfterChanges(shared))
	e.Use(echo.WrapMiddleware(http.NewCrossOriginProtection().Handler))
	e.Use(schemaGate(d.SchemaErr))
	e.Use(touch(d.Activity))
	e.Use(loadSession(d.Sessions, mem, cookies, d.SessionIdle, d.Log))
	e.Use(checkInput(base))

	for _, r := range s.Routes {
		if r.Role != "" {
			base.Nav = appendNav(base.Nav, r)
		}
		mw := []echo.MiddlewareFunc{}
		if !r.Public {
			mw = append(mw, requireRole(base, r.Role), requireSecondFactor(r.Unenrolled, d.Access.Required))
		}
		if r.StepUp != "" {
			mw = append(mw, requireFresh(base, r.StepUp))
		}
		e.Add(r.Method, r.Path, r.Handler, mw...)
		if r.Method == http.MethodGet {
			e.Add(http.MethodHead, r.Path, r.Handler, mw...)
		}
	}
	return s
}

// PageBudget is the time budget of a request whose route sets none: the
// session check and the handler's every query, command and call end by
// then, and the error page renders well within the page's 1.5 s.
const PageBudget = 1300 * time.Millisecond

// budget runs each request under its route's time budget (HEAD as GET,
// PageBudget for a route that matched nothing): every query, Redis
// command and API call the handler makes ends by then, and the error page
// renders in what is left of the page's 1.5 s.
func budget(budgets map[string]time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			method := c.Request().Method
			if method == http.MethodHead {
				method = http.MethodGet
			}
			d, ok := budgets[method+" "+c.Path()]
			if !ok {
				d = PageBudget
			}
			ctx, cancel := context.WithTimeout(c.Request().Context(), d)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}

func appendNav(nav []handlers.NavEntry, r Route) []handlers.NavEntry {
	if r.NavLabel == "" || r.Method != http.MethodGet {
		return nav
	}
	return append(nav, handlers.NavEntry{Key: r.NavKey, Label: r.NavLabel, Path: r.Path, Role: r.Role})
}

// clientIP takes the client address from Fly-Client-IP when trusted and
// sent by Fly's proxy (a peer in proxies), and otherwise from the TCP
// peer. Any other peer (the private network, `fly proxy`) could set the
// header to forge the audit address and escape the per-address throttle.
// X-Forwarded-For is never trusted.
func clientIP(trustFly bool, proxies []netip.Prefix) echo.IPExtractor {
	fromProxy := proxyPeer(trustFly, proxies)
	return func(r *http.Request) string {
		if fromProxy(r) {
			if ip := strings.TrimSpace(r.Header.Get("Fly-Client-IP")); net.ParseIP(ip) != nil {
				return ip
			}
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
}

// proxyPeer reports whether a request's TCP peer is the trusted proxy:
// trust is on and the peer's address is in one of proxies.
func proxyPeer(trust bool, proxies []netip.Prefix) func(*http.Request) bool {
	return func(r *http.Request) bool {
		if !trust {
			return false
		}
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return false
		}
		addr := ap.Addr().Unmap()
		for _, p := range proxies {
			if p.Contains(addr) {
				return true
			}
		}
		return false
	}
}

// Serve runs the server on addr until ctx ends, then shuts down
// gracefully within grace.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	return serve.Until(ctx, &http.Server{Handler: s.Echo, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}, ln, grace)
}
