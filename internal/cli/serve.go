package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/config"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/sso"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/timeline"
	"github.com/atum/ops-console/views"
	"github.com/atum/ops-console/web"
)

// serveOptions adjust serve for the demo and tests.
type serveOptions struct {
	// listener, when set, is used instead of listening on cfg.Addr().
	listener net.Listener
	// ready is called once the server accepts connections.
	ready func(addr string)
}

// serve runs the console until SIGINT or SIGTERM. It starts even when
// every upstream is down; it exits only when the database answers with a
// schema this binary does not match.
func serve(ctx context.Context, cfg *config.Config, env Env, opts serveOptions) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := newLogger(env.Stderr, cfg.LogFormat, cfg.LogLevel)
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = store.CheckSchema(sctx, a.pool)
	cancel()
	var se *store.SchemaError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("refusing to serve: %w", err)
	case err != nil:
		log.Warn("console database unreachable at start; serving degraded and retrying", "error", a.redact(err.Error()))
	}

	observe, stopMetrics, err := a.startMetrics(ctx)
	if err != nil {
		return err
	}
	defer stopMetrics()

	go a.monitor.Run(ctx)
	go a.sampler.Run(ctx)
	go a.roller.Run(ctx)
	go a.maintain(ctx)
	a.startNotifications(ctx)
	go a.watchAlerts(ctx, cfg.CheckInterval)
	go a.resumePurges(ctx)

	srv := web.New(web.Deps{
		Env: cfg.Environment, Version: env.Version, Log: log, Sessions: a.auth, Audit: a.audit,
		Systems: a.monitor, Identity: func() views.DBIdentity { return *a.identity.Load() },
		Ready: a.ready, SchemaErr: a.schemaError, Alerts: a.alerts, AlertStore: a.alertEngine, AlertsChanged: a.kickAlerts, Activity: a.activity,
		Timeline:    timeline.New(timeline.Standard(a.pool, cfg.FlyAppName)...).With(alerts.TimelineSource{Engine: a.alertEngine}),
		Connections: a.sampler, Budget: a.budget, BouncerConfigured: cfg.PgBouncerAdminURL != "",
		PlatformHost: hostOf(cfg.PlatformDatabaseURL), ConsoleHost: hostOf(cfg.DatabaseURL),
		Console: a.pool, CacheFigures: a.cacheFigures, Switches: a.switches, SwitchChanged: a.monitor.Refresh, Redis: a.redisInf,
		RedisConfigured: a.redis != nil, RedisBudget: cfg.RedisDailyCommandBudget,
		Accounts: a.accounts, LookupReasonRequired: cfg.LookupReasonRequired, AccountFleet: a.accountFleet,
		Fleet: a.fleetReporter(), FlyApp: cfg.FlyAppName,
		QStash: a.qstash, QStashRegions: a.regions, QStashSampler: a.queues, Purger: a.purger, Background: ctx,
		Approval:         qstash.ApprovalPolicy{Kinds: cfg.Queues.ApprovalKinds, Above: cfg.Queues.ApprovalAbove, Expiry: cfg.Queues.ApprovalExpiry},
		DLQSummary:       a.dlqSummary,
		TrustFlyClientIP: cfg.TrustFlyClientIP, ProxyCIDRs: cfg.Access.ProxyCIDRs, AlwaysSecure: cfg.Environment == config.Production,
		Access:      a.access(),
		SessionIdle: cfg.SessionIdle, SessionMax: cfg.SessionMax, Redact: a.redact, Observe: observe,
		ObserveQueries: a.observeQueries,
	})
	ln := opts.listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr()); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	log.Info("serving", "addr", ln.Addr().String(), "environment", cfg.Environment, "version", env.Version)
	if opts.ready != nil {
		opts.ready(ln.Addr().String())
	}
	err = srv.Serve(ctx, ln, 20*time.Second)
	log.Info("stopped")
	return err
}

// resumePurges picks up purges a crash or restart left running, once the
// database answers; their frozen state says exactly what is left. The
// Purger audits each one's result, as a run started from a page does.
func (a *app) resumePurges(ctx context.Context) {
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		outs, err := a.purger.ResumeInterrupted(ctx)
		if err == nil {
			for _, o := range outs {
				if o.Err != nil {
					a.log.Warn("purge stopped", "purge", o.ID, "error", a.redact(o.Err.Error()))
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// alertHistory is how long resolved alerts stay on /alerts and the
// timeline.
const alertHistory = 90 * 24 * time.Hour

// maintain prunes old sessions, heartbeats, samples, alert history and
// the purge archive every hour.
func (a *app) maintain(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !a.activity.Watching() {
				continue // pruning can wait: it must not wake a scaled-to-zero compute
			}
			if err := a.auth.Prune(ctx, 7*24*time.Hour); err != nil {
				a.log.Warn("prune sessions", "error", a.redact(err.Error()))
			}
			if err := rediscache.PruneInstances(ctx, a.pool); err != nil {
				a.log.Warn("prune heartbeats", "error", a.redact(err.Error()))
			}
			if err := rediscache.PruneSamples(ctx, a.pool, rediscache.KeepMinutes); err != nil {
				a.log.Warn("prune Redis samples", "error", a.redact(err.Error()))
			}
			if _, err := alerts.Prune(ctx, a.pool, alertHistory); err != nil {
				a.log.Warn("prune alert history", "error", a.redact(err.Error()))
			}
			if _, err := a.purger.PruneArchive(ctx, a.cfg.Queues.ArchiveRetention); err != nil {
				a.log.Warn("prune the purge archive", "error", a.redact(err.Error()))
			}
		}
	}
}

// access is how operators sign in: passwords, single sign-on when
// configured, passkeys when the console knows its public URL
// (CONSOLE_URL), the roles that need a second factor, and the step-up
// window.
func (a *app) access() web.Access {
	ac := a.cfg.Access
	w := web.Access{PasswordLogin: ac.PasswordLogin, StepUpWindow: ac.StepUpWindow,
		TOTPIssuer: "ATUM Ops Console (" + a.cfg.Environment + ")",
		Required:   func(r auth.Role) bool { return ac.RequiresSecondFactor(string(r)) }}
	if o := ac.OIDC; o.Enabled() {
		w.SSO = sso.New(sso.Config{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
			AllowedDomains: o.AllowedDomains, RoleClaim: o.RoleClaim, RoleMap: o.RoleMap}, a.pool)
		w.SSOName, w.RoleClaim, w.RoleMap = o.Name, o.RoleClaim, o.RoleMap
	}
	if u := a.cfg.Notify.ConsoleURL; u != "" {
		pk, err := auth.NewPasskeys(u)
		if err != nil {
			a.log.Warn("passkeys are off", "error", err)
		} else {
			w.Passkeys = pk
		}
	}
	return w
}
