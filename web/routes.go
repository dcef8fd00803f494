package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/static"
)

// LoginBudget is the sign-in's time budget: a wait for a hashing slot,
// the throttle, one argon2id hash and the session, or a clear refusal.
const LoginBudget = 1300 * time.Millisecond

// Route is one entry of the console's URL surface.
type Route struct {
	Method string
	Path   string
	// Public routes need no session; every other route needs Role.
	Public bool
	Role   auth.Role
	// NavKey and NavLabel put a GET route in the navigation.
	NavKey   string
	NavLabel string
	Handler  echo.HandlerFunc
	// Budget is the request's time budget; zero means PageBudget.
	Budget time.Duration
	// StepUp, when set, says what the route does ("confirm a purge"): it
	// needs a sign-in within the step-up window, or it is kept and asked
	// for again once the operator signed in again.
	StepUp string
	// Unenrolled routes open for an operator who must still set up a
	// second factor (their own security page and sign-out).
	Unenrolled bool
}

// routes is the whole URL surface of the console, in one place.
func routes(d Deps, base *handlers.Base, cookies handlers.Cookies, timeline handlers.TimelineReader) []Route {
	health := &handlers.Health{Systems: d.Systems, Ready: d.Ready}
	passkeys := d.Access.Passkeys
	login := &handlers.Login{Base: base, Store: d.Sessions, Cookies: cookies, MaxAge: d.SessionMax,
		Password: d.Access.PasswordLogin, SSOName: d.Access.SSOName, Passkeys: passkeys}
	stepUp := &handlers.StepUp{Base: base, Store: d.Sessions, Cookies: cookies, Window: d.Access.StepUpWindow, Passkeys: passkeys}
	if d.Access.SSO != nil {
		stepUp.SSO = d.Access.SSO
	}
	base.Kept, base.FreshAuth, base.AskStepUp = stepUp.KeptForm, stepUp.Fresh, stepUp.Ask
	single := &handlers.SSO{Base: base, Client: d.Access.SSO, Store: d.Sessions, Cookies: cookies, Login: login, StepUp: stepUp,
		RoleClaim: d.Access.RoleClaim, RoleMap: d.Access.RoleMap}
	security := &handlers.Security{Base: base, Store: d.Sessions, Cookies: cookies, Issuer: d.Access.TOTPIssuer,
		SSO: d.Access.SSO != nil, Required: d.Access.Required, Passkeys: passkeys}
	reset := &handlers.PasswordReset{Base: base, Store: d.Sessions}
	overview := &handlers.Overview{Base: base, Systems: d.Systems}
	conns := &handlers.Connections{Base: base, Sampler: d.Connections, Budget: d.Budget,
		BouncerConfigured: d.BouncerConfigured, PlatformHost: d.PlatformHost, ConsoleHost: d.ConsoleHost}
	fleet := &handlers.Fleet{Base: base, Source: d.Fleet, App: d.FlyApp}
	sw := &handlers.Switches{Base: base, Store: d.Switches, Changed: d.SwitchChanged}
	cache := &handlers.Cache{Base: base, Figures: d.CacheFigures, Redis: d.Redis, Switches: sw,
		RedisConfigured: d.RedisConfigured, Budget: d.RedisBudget}
	auditLog := &handlers.Audit{Base: base, Events: d.Audit}
	accts := &handlers.Accounts{Base: base, Store: d.Accounts, ReasonRequired: d.LookupReasonRequired, Fleet: d.AccountFleet}
	queues := &handlers.Queues{Base: base, Clients: d.QStash, Pages: &qstash.PageCache{TTL: 5 * time.Second},
		Regions: d.QStashRegions, Sampler: d.QStashSampler,
		Purger: d.Purger, Approval: d.Approval, Background: d.Background, AccountReasonRequired: d.LookupReasonRequired}
	dlqSummary := &handlers.DLQSummary{Base: base, Regions: d.QStashRegions, Summaries: d.DLQSummary}
	ops := &handlers.Operators{Base: base, Store: d.Sessions, Cookies: cookies, Password: d.Access.PasswordLogin,
		SSO: d.Access.SSO != nil, Required: d.Access.Required}
	alertsPage := &handlers.Alerts{Base: base, Store: d.AlertStore, Changed: d.AlertsChanged}
	throttles := &handlers.Throttles{Base: base, Store: d.Sessions}
	incidents := &handlers.Timeline{Base: base, Reader: timeline}
	assets := echo.WrapHandler(http.StripPrefix("/static/", staticHandler(static.FS)))

	get, post := http.MethodGet, http.MethodPost
	rs := []Route{
		{Method: get, Path: "/healthz", Public: true, Handler: health.Live},
		{Method: get, Path: "/readyz", Public: true, Handler: health.Readiness},
		{Method: get, Path: "/login", Public: true, Handler: login.Form},
		{Method: post, Path: "/login", Public: true, Handler: login.Submit, Budget: LoginBudget},
		{Method: get, Path: "/login/2fa", Public: true, Handler: login.SecondFactorForm},
		{Method: post, Path: "/login/2fa", Public: true, Handler: login.SecondFactorSubmit},
		{Method: get, Path: "/password", Public: true, Handler: reset.Form},
		{Method: post, Path: "/password", Public: true, Handler: reset.Submit, Budget: LoginBudget},
		{Method: get, Path: "/static/*", Public: true, Handler: assets},

		{Method: post, Path: "/logout", Role: auth.Viewer, Handler: login.Logout, Unenrolled: true},
		{Method: get, Path: "/account", Role: auth.Viewer, Handler: security.Show, Unenrolled: true},
		{Method: post, Path: "/account/totp", Role: auth.Viewer, Handler: security.StartTOTP, Unenrolled: true, StepUp: "set up an authenticator app"},
		{Method: post, Path: "/account/totp/confirm", Role: auth.Viewer, Handler: security.ConfirmTOTP, Unenrolled: true},
		{Method: post, Path: "/account/recovery-codes", Role: auth.Viewer, Handler: security.RecoveryCodes, StepUp: "make new recovery codes"},
		{Method: post, Path: "/account/password", Role: auth.Viewer, Handler: security.ChangePassword, Budget: LoginBudget},
		{Method: post, Path: "/account/sessions/:session/end", Role: auth.Viewer, Handler: security.EndSession},
		{Method: post, Path: "/account/passkeys/:passkey/delete", Role: auth.Viewer, Handler: security.RemovePasskey, StepUp: "remove a passkey"},
		{Method: get, Path: "/reauth", Role: auth.Viewer, Handler: stepUp.Form, Unenrolled: true},
		{Method: post, Path: "/reauth", Role: auth.Viewer, Handler: stepUp.Submit, Budget: LoginBudget, Unenrolled: true},
		{Method: get, Path: "/", Role: auth.Viewer, NavKey: "overview", NavLabel: "Overview", Handler: overview.Show},
		{Method: get, Path: "/alerts", Role: auth.Viewer, NavKey: "alerts", NavLabel: "Alerts", Handler: alertsPage.List},
		{Method: get, Path: "/alerts/runbooks/:rule", Role: auth.Viewer, Handler: alertsPage.Runbook},
		{Method: post, Path: "/alerts/:id/ack", Role: auth.Operator, Handler: alertsPage.Acknowledge},
		{Method: post, Path: "/alerts/:id/silence", Role: auth.Operator, Handler: alertsPage.Silence},
		{Method: post, Path: "/alerts/:id/unsilence", Role: auth.Operator, Handler: alertsPage.Unsilence},
		{Method: get, Path: "/connections", Role: auth.Viewer, NavKey: "connections", NavLabel: "Connections", Handler: conns.Show},
		{Method: get, Path: "/cache", Role: auth.Viewer, NavKey: "cache", NavLabel: "Cache", Handler: cache.Show},
		{Method: post, Path: "/cache/probe", Role: auth.Operator, Handler: cache.Probe},
		{Method: get, Path: "/switches", Role: auth.Viewer, NavKey: "switches", NavLabel: "Switches", Handler: sw.List},
		{Method: post, Path: "/switches/:name", Role: auth.Operator, Handler: sw.Toggle, StepUp: "flip a switch"},
		{Method: get, Path: "/queues", Role: auth.Viewer, NavKey: "queues", NavLabel: "Queues", Handler: queues.List},
		{Method: get, Path: "/queues/summary", Role: auth.Viewer, Handler: dlqSummary.Show},
		{Method: get, Path: "/queues/dlq/:id", Role: auth.Viewer, Handler: queues.Message},
		{Method: get, Path: "/queues/tenant/:slug", Role: auth.Support, Handler: queues.Tenant},
		{Method: post, Path: "/queues/queues/:name/pause", Role: auth.Operator, Handler: queues.PauseQueue, StepUp: "pause a queue"},
		{Method: post, Path: "/queues/queues/:name/resume", Role: auth.Operator, Handler: queues.ResumeQueue, StepUp: "resume a queue"},
		{Method: post, Path: "/queues/queues/:name/parallelism", Role: auth.Operator, Handler: queues.QueueParallelism, StepUp: "change a queue's parallelism"},
		{Method: get, Path: "/queues/schedules", Role: auth.Viewer, Handler: queues.Schedules},
		{Method: post, Path: "/queues/schedules/:id/pause", Role: auth.Operator, Handler: queues.PauseSchedule, StepUp: "pause a schedule"},
		{Method: post, Path: "/queues/schedules/:id/resume", Role: auth.Operator, Handler: queues.ResumeSchedule, StepUp: "resume a schedule"},
		{Method: post, Path: "/queues/dlq/:id/retry", Role: auth.Operator, Handler: queues.Retry},
		{Method: post, Path: "/queues/dlq/retry", Role: auth.Operator, Handler: queues.RetrySelected, Budget: 15 * time.Second},
		{Method: post, Path: "/queues/purges", Role: auth.Operator, Handler: queues.Preview, Budget: time.Minute},
		{Method: get, Path: "/queues/purges/:id", Role: auth.Viewer, Handler: queues.ShowPurge},
		{Method: post, Path: "/queues/purges/:id/confirm", Role: auth.Operator, Handler: queues.Confirm, StepUp: "confirm a purge or retry"},
		{Method: post, Path: "/queues/purges/:id/approve", Role: auth.Operator, Handler: queues.Approve, StepUp: "approve a purge or retry"},
		{Method: post, Path: "/queues/purges/:id/reject", Role: auth.Operator, Handler: queues.Reject},
		{Method: post, Path: "/queues/purges/:id/discard", Role: auth.Operator, Handler: queues.Discard},
		{Method: post, Path: "/queues/purges/:id/resume", Role: auth.Operator, Handler: queues.Resume},
		{Method: post, Path: "/queues/purges/:id/undo", Role: auth.Operator, Handler: queues.Undo, Budget: time.Minute, StepUp: "undo a purge"},
		{Method: get, Path: "/accounts", Role: auth.Support, NavKey: "accounts", NavLabel: "Accounts", Handler: accts.Search},
		{Method: get, Path: "/accounts/users/:id", Role: auth.Support, Handler: accts.User},
		{Method: get, Path: "/accounts/tenants/:id", Role: auth.Support, Handler: accts.Tenant},
		{Method: post, Path: "/accounts/tenants/:id/cache/invalidate", Role: auth.Support, Handler: accts.Invalidate},
		{Method: post, Path: "/accounts/:kind/:id/protection", Role: auth.Admin, Handler: accts.Protection, StepUp: "change an account's protection"},
		{Method: get, Path: "/fleet", Role: auth.Viewer, NavKey: "fleet", NavLabel: "Fleet", Handler: fleet.Show},
		{Method: get, Path: "/fleet/machines/:id", Role: auth.Viewer, Handler: fleet.Machine},
		{Method: get, Path: "/timeline", Role: auth.Viewer, NavKey: "timeline", NavLabel: "Timeline", Handler: incidents.Show},
		{Method: get, Path: "/audit", Role: auth.Operator, NavKey: "audit", NavLabel: "Audit", Handler: auditLog.List},
		{Method: get, Path: "/audit.csv", Role: auth.Operator, Handler: auditLog.Export, Budget: 15 * time.Second},
		{Method: get, Path: "/operators", Role: auth.Admin, NavKey: "operators", NavLabel: "Operators", Handler: ops.List},
		{Method: post, Path: "/operators", Role: auth.Admin, Handler: ops.Create, StepUp: "invite an operator"},
		{Method: post, Path: "/operators/:id/role", Role: auth.Admin, Handler: ops.SetRole, StepUp: "change an operator's role"},
		{Method: post, Path: "/operators/:id/disable", Role: auth.Admin, Handler: ops.Disable, StepUp: "disable an operator"},
		{Method: post, Path: "/operators/:id/enable", Role: auth.Admin, Handler: ops.Enable, StepUp: "enable an operator"},
		{Method: post, Path: "/operators/:id/sessions/end", Role: auth.Admin, Handler: ops.EndSessions, StepUp: "end an operator's sessions"},
		{Method: post, Path: "/operators/:id/sessions/:session/end", Role: auth.Admin, Handler: ops.EndSession, StepUp: "end an operator's session"},
		{Method: post, Path: "/operators/:id/second-factor/reset", Role: auth.Admin, Handler: ops.ResetSecondFactor, StepUp: "reset an operator's second factor"},
		{Method: post, Path: "/operators/:id/password-link", Role: auth.Admin, Handler: ops.PasswordLink, StepUp: "issue a password link"},
		{Method: post, Path: "/operators/throttles/clear", Role: auth.Admin, Handler: throttles.Clear, StepUp: "clear a sign-in throttle"},
	}
	if d.Access.SSO != nil {
		rs = append(rs,
			// Links, not forms: the console's CSP lets forms post to itself
			// only, and a browser applies that to the redirect that follows.
			Route{Method: get, Path: "/login/sso", Public: true, Handler: single.Start},
			Route{Method: get, Path: "/login/sso/callback", Public: true, Handler: single.Callback, Budget: LoginBudget},
			Route{Method: get, Path: "/reauth/sso", Role: auth.Viewer, Handler: single.StartStepUp, Unenrolled: true})
	}
	if passkeys != nil {
		rs = append(rs, passkeyRoutes(login, security, stepUp)...)
	}
	return rs
}

// passkeyRoutes are the routes of passkeys, there only when the console
// knows its public URL. The JSON endpoints are posted by
// static/js/passkey.js with fetch (same-origin, so they pass the
// cross-origin protection). Adding a passkey needs a fresh sign-in: the
// form's route asks for a step-up, and its JSON endpoints refuse a stale
// session with 403 so that the script posts the form instead. The
// sign-in's are authorised by the challenge cookie, the step-up's check
// the password before a passkey.
func passkeyRoutes(login *handlers.Login, security *handlers.Security, stepUp *handlers.StepUp) []Route {
	post := http.MethodPost
	return []Route{
		{Method: post, Path: "/login/2fa/passkey/begin", Public: true, Handler: login.PasskeyBegin},
		{Method: post, Path: "/login/2fa/passkey/finish", Public: true, Handler: login.PasskeyFinish},
		{Method: post, Path: "/account/passkeys", Role: auth.Viewer, Handler: security.AddPasskey, Unenrolled: true, StepUp: "add a passkey"},
		{Method: post, Path: "/account/passkeys/begin", Role: auth.Viewer, Handler: security.BeginPasskey, Unenrolled: true},
		{Method: post, Path: "/account/passkeys/finish", Role: auth.Viewer, Handler: security.FinishPasskey, Unenrolled: true},
		{Method: post, Path: "/reauth/passkey/begin", Role: auth.Viewer, Handler: stepUp.PasskeyBegin, Budget: LoginBudget, Unenrolled: true},
		{Method: post, Path: "/reauth/passkey/finish", Role: auth.Viewer, Handler: stepUp.PasskeyFinish, Unenrolled: true},
	}
}
