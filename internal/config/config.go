// Package config reads the console's configuration from the environment,
// once, at start. Every value is typed and validated; in production a
// missing or unsafe setting stops the process with one line naming the
// variable. Nothing falls back to another database.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/secret"
)

// Environment names accepted in ENVIRONMENT.
const (
	Production  = "production"
	Staging     = "staging"
	Development = "development"
	Demo        = "demo"
)

// DemoPrefix starts the name of every demo-only setting. Such settings are
// refused in production.
const DemoPrefix = "DEMO_"

// Config is the console's validated configuration.
type Config struct {
	// Environment is production, staging, development or demo.
	Environment string
	// DatabaseURL is the console's own Postgres (schema ops).
	DatabaseURL string
	// PlatformDatabaseURL is the read-only role for platform tables; it
	// defaults to DatabaseURL.
	PlatformDatabaseURL string
	// RedisURL is the platform's Redis; empty when not configured.
	RedisURL string
	// QStashURL and QStashToken reach QStash; empty when not configured.
	QStashURL   string
	QStashToken string
	// QStashUSURL and QStashUSToken reach a second region (us-east-1).
	QStashUSURL   string
	QStashUSToken string
	// QStashReadOnlyToken and QStashUSReadOnlyToken, when set, are used
	// for every read; the full tokens only for retries, purges and undo.
	QStashReadOnlyToken   string
	QStashUSReadOnlyToken string
	// QStashSampleInterval is how often queues are listed (per region).
	QStashSampleInterval time.Duration
	// FlyAPIToken and FlyAppName reach the Fly Machines API. The app name
	// comes from ATUM_FLY_APP, else FLY_APP_NAME: on Fly the runtime sets
	// FLY_APP_NAME to the console's own app, not the platform's.
	FlyAPIToken string
	FlyAppName  string
	// FlyAPIURL is the Machines API base URL.
	FlyAPIURL string
	// FlySampleInterval is how often the fleet is listed (across instances).
	FlySampleInterval time.Duration
	// FlyExpectedEnvironment is the ENVIRONMENT every platform machine must
	// have; FlyDriftKeys are compared across machines besides the defaults.
	FlyExpectedEnvironment string
	FlyDriftKeys           []string
	// PgBouncerAdminURL reaches a self-hosted PgBouncer's admin console.
	PgBouncerAdminURL string
	// Host and Port are where the console listens.
	Host string
	Port int
	// MetricsAddr is where Prometheus metrics are served (host:port, on
	// a listener of their own); empty when off.
	MetricsAddr string
	// TrustFlyClientIP takes the client address from Fly-Client-IP.
	TrustFlyClientIP bool
	// SessionIdle and SessionMax are the idle and absolute session timeouts.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// CheckInterval is how often each system's tile is checked.
	CheckInterval time.Duration
	// Notify is where alert notifications go.
	Notify Notify
	// Access is how operators sign in: single sign-on, passwords, second
	// factors and fresh authentication before destructive actions.
	Access Access
	// Queues holds the two-person approval and archive retention of bulk
	// actions on dead letters.
	Queues Queues
	// LogFormat is "json" or "text".
	LogFormat string
	// LogLevel is "debug", "info", "warn" or "error".
	LogLevel string

	// Budget is the platform's planned connection budget: process groups
	// (BUDGET_GROUPS with DB_POOL_SIZE and DATABASE_MAX_OVERFLOW as the
	// defaults per process) and other engines (BUDGET_OTHER_ENGINES).
	Budget neon.Plan
	// NeonMinCU and NeonMaxCU are the compute's autoscaling range; 0 when
	// not configured.
	NeonMinCU float64
	NeonMaxCU float64
	// SampleInterval is how often the connection sampler reads; it reads
	// only while someone used the console within ActiveWindow.
	SampleInterval time.Duration
	ActiveWindow   time.Duration
	// Watch is when background sampling runs: "always", "active" (only
	// while someone used the console within ActiveWindow) or "off".
	Watch string
	// HistoryRetention is how far back the connection history reaches
	// (its hourly rollups); finer resolutions are kept shorter.
	HistoryRetention time.Duration
	// LookupReasonRequired makes a reason mandatory for account lookups.
	LookupReasonRequired bool
	// RedisDailyCommandBudget is the Redis commands per day the platform
	// should stay under; the projection is compared with it.
	RedisDailyCommandBudget int64
	// AlertRunbookURLs are the team's own runbook URLs by alert rule (ALERT_RUNBOOK_URLS).
	AlertRunbookURLs map[string]string
}

// Error is a configuration error naming the variable at fault.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("config: %s %s", e.Var, e.Msg) }

// Load reads and validates the configuration. getenv is os.Getenv in
// production and a map lookup in tests; environ lists all variable names
// (for the demo-only check).
func Load(getenv func(string) string, environ []string) (*Config, error) {
	c := &Config{
		Environment:           strings.TrimSpace(getenv("ENVIRONMENT")),
		DatabaseURL:           strings.TrimSpace(getenv("DATABASE_URL")),
		PlatformDatabaseURL:   strings.TrimSpace(getenv("PLATFORM_DATABASE_URL")),
		RedisURL:              strings.TrimSpace(getenv("REDIS_URL")),
		QStashURL:             strings.TrimSpace(getenv("QSTASH_URL")),
		QStashToken:           strings.TrimSpace(getenv("QSTASH_TOKEN")),
		QStashUSURL:           strings.TrimSpace(getenv("QSTASH_US_URL")),
		QStashUSToken:         strings.TrimSpace(getenv("QSTASH_US_TOKEN")),
		QStashReadOnlyToken:   strings.TrimSpace(getenv("QSTASH_READONLY_TOKEN")),
		QStashUSReadOnlyToken: strings.TrimSpace(getenv("QSTASH_US_READONLY_TOKEN")),
		FlyAPIToken:           strings.TrimSpace(getenv("FLY_API_TOKEN")),
		FlyAppName:            firstSet(getenv, "ATUM_FLY_APP", "FLY_APP_NAME"),
		FlyAPIURL:             strings.TrimSpace(getenv("FLY_API_URL")),
		PgBouncerAdminURL:     strings.TrimSpace(getenv("PGBOUNCER_ADMIN_URL")),
		Host:                  strings.TrimSpace(getenv("HOST")),
		LogFormat:             strings.TrimSpace(getenv("LOG_FORMAT")),
		LogLevel:              strings.TrimSpace(getenv("LOG_LEVEL")),
	}
	var errs []error
	add := func(v, format string, a ...any) { errs = append(errs, &Error{Var: v, Msg: fmt.Sprintf(format, a...)}) }

	switch c.Environment {
	case Production, Staging, Development, Demo:
	case "":
		add("ENVIRONMENT", "is required (production, staging, development or demo)")
	default:
		add("ENVIRONMENT", "is %q; want production, staging, development or demo", c.Environment)
	}
	strict := c.Environment == Production || c.Environment == Staging

	if c.DatabaseURL == "" {
		add("DATABASE_URL", "is required")
	} else if err := checkPostgresURL(c.DatabaseURL, c.Environment == Production); err != nil {
		add("DATABASE_URL", "%v", err)
	}
	if c.PlatformDatabaseURL == "" {
		c.PlatformDatabaseURL = c.DatabaseURL
	} else if err := checkPostgresURL(c.PlatformDatabaseURL, c.Environment == Production); err != nil {
		add("PLATFORM_DATABASE_URL", "%v", err)
	}
	if c.RedisURL != "" {
		if err := checkURL(c.RedisURL, "redis", "rediss"); err != nil {
			add("REDIS_URL", "%v", err)
		}
	}
	if c.QStashURL == "" && c.QStashToken != "" {
		c.QStashURL = "https://qstash-eu-central-1.upstash.io"
	}
	if c.QStashURL != "" {
		if err := checkURL(c.QStashURL, "https", "http"); err != nil {
			add("QSTASH_URL", "%v", err)
		} else if c.QStashToken == "" {
			add("QSTASH_TOKEN", "is required when QSTASH_URL is set")
		}
		if strict && strings.HasPrefix(c.QStashURL, "http:") {
			add("QSTASH_URL", "must use https in %s", c.Environment)
		}
	}
	if c.QStashUSToken != "" && c.QStashUSURL == "" {
		c.QStashUSURL = "https://qstash-us-east-1.upstash.io"
	}
	if c.QStashUSURL != "" {
		if err := checkURL(c.QStashUSURL, "https", "http"); err != nil {
			add("QSTASH_US_URL", "%v", err)
		} else if c.QStashUSToken == "" {
			add("QSTASH_US_TOKEN", "is required when QSTASH_US_URL is set")
		}
	}
	if c.QStashReadOnlyToken != "" && c.QStashToken == "" {
		add("QSTASH_READONLY_TOKEN", "needs QSTASH_TOKEN for retries and purges")
	}
	if c.QStashUSReadOnlyToken != "" && c.QStashUSToken == "" {
		add("QSTASH_US_READONLY_TOKEN", "needs QSTASH_US_TOKEN for retries and purges")
	}
	if c.FlyAPIURL == "" {
		c.FlyAPIURL = "https://api.machines.dev"
	} else if err := checkURL(c.FlyAPIURL, "https", "http"); err != nil {
		add("FLY_API_URL", "%v", err)
	}
	if c.FlyAPIToken != "" && c.FlyAppName == "" {
		add("FLY_API_TOKEN", "is set but the platform's app is not: set ATUM_FLY_APP (or FLY_APP_NAME off Fly)")
	}
	if c.FlyExpectedEnvironment = strings.TrimSpace(getenv("FLY_EXPECTED_ENVIRONMENT")); c.FlyExpectedEnvironment == "" {
		c.FlyExpectedEnvironment = Production
	}
	for _, k := range strings.Split(getenv("FLY_DRIFT_KEYS"), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if !envName(k) {
			add("FLY_DRIFT_KEYS", "%q is not an environment variable name", k)
			continue
		}
		c.FlyDriftKeys = append(c.FlyDriftKeys, k)
	}
	if c.PgBouncerAdminURL != "" {
		if err := checkPostgresURL(c.PgBouncerAdminURL, false); err != nil {
			add("PGBOUNCER_ADMIN_URL", "%v", err)
		}
	}

	var err error
	if c.Port, err = intVar(getenv, "PORT", 8080, 1, 65535); err != nil {
		errs = append(errs, err)
	}
	if c.Host == "" {
		c.Host = "0.0.0.0"
	}
	if c.MetricsAddr = strings.TrimSpace(getenv("METRICS_ADDR")); c.MetricsAddr != "" {
		if err := checkMetricsAddr(c.MetricsAddr, c.Port); err != nil {
			add("METRICS_ADDR", "%v", err)
		}
	}
	if c.TrustFlyClientIP, err = boolVar(getenv, "TRUST_FLY_CLIENT_IP", false); err != nil {
		errs = append(errs, err)
	}
	if c.SessionIdle, err = durationVar(getenv, "SESSION_IDLE_TIMEOUT", 30*time.Minute, time.Minute, 24*time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.SessionMax, err = durationVar(getenv, "SESSION_MAX_AGE", 12*time.Hour, 5*time.Minute, 7*24*time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.QStashSampleInterval, err = durationVar(getenv, "QSTASH_SAMPLE_INTERVAL", 30*time.Second, time.Second, 10*time.Minute); err != nil {
		errs = append(errs, err)
	}
	if c.FlySampleInterval, err = durationVar(getenv, "FLY_SAMPLE_INTERVAL", 15*time.Second, 5*time.Second, 10*time.Minute); err != nil {
		errs = append(errs, err)
	}
	if c.CheckInterval, err = durationVar(getenv, "CHECK_INTERVAL", 15*time.Second, time.Second, 10*time.Minute); err != nil {
		errs = append(errs, err)
	}
	switch c.LogFormat {
	case "":
		c.LogFormat = "text"
		if strict {
			c.LogFormat = "json"
		}
	case "json", "text":
	default:
		add("LOG_FORMAT", "is %q; want json or text", c.LogFormat)
	}

	errs = append(errs, c.loadBudget(getenv)...)
	errs = append(errs, c.loadRunbookURLs(getenv)...)
	errs = append(errs, c.loadNotify(getenv)...)
	errs = append(errs, c.loadAccess(getenv)...)
	errs = append(errs, c.loadQueues(getenv)...)
	if c.SampleInterval, err = durationVar(getenv, "SAMPLE_INTERVAL", 15*time.Second, time.Second, 10*time.Minute); err != nil {
		errs = append(errs, err)
	}
	if c.ActiveWindow, err = durationVar(getenv, "ACTIVE_WINDOW", 10*time.Minute, 10*time.Second, 24*time.Hour); err != nil {
		errs = append(errs, err)
	}
	switch c.Watch = strings.ToLower(strings.TrimSpace(getenv("WATCH"))); c.Watch {
	case "":
		c.Watch = "active"
		if strict {
			c.Watch = "always"
		}
	case "always", "active", "off":
	default:
		errs = append(errs, fmt.Errorf("WATCH must be always, active or off, not %q", c.Watch))
	}
	if c.HistoryRetention, err = durationVar(getenv, "HISTORY_RETENTION", 90*24*time.Hour, 14*24*time.Hour, 90*24*time.Hour); err != nil {
		errs = append(errs, err)
	}

	if c.LookupReasonRequired, err = boolVar(getenv, "ACCOUNT_LOOKUP_REASON_REQUIRED", false); err != nil {
		errs = append(errs, err)
	}
	budget, err := intVar(getenv, "REDIS_DAILY_COMMAND_BUDGET", 1_000_000, 1, 1_000_000_000)
	if err != nil {
		errs = append(errs, err)
	}
	c.RedisDailyCommandBudget = int64(budget)

	switch c.LogLevel {
	case "":
		c.LogLevel = "info"
	case "debug", "info", "warn", "error":
	default:
		add("LOG_LEVEL", "is %q; want debug, info, warn or error", c.LogLevel)
	}

	if c.Environment == Production {
		for _, kv := range environ {
			name, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(name, DemoPrefix) {
				add(name, "is a demo-only setting and is refused in production")
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Budget defaults: the platform guide's pool settings and two process
// groups.
const (
	defaultGroups  = "api:machines=2,processes=2;worker:machines=1,processes=1"
	defaultEngines = "atum-console=14,migrations=1"
)

func (c *Config) loadBudget(getenv func(string) string) []error {
	var errs []error
	pool, err := intVar(getenv, "DB_POOL_SIZE", 15, 0, neon.MaxPool)
	if err != nil {
		errs = append(errs, err)
	}
	overflow, err := intVar(getenv, "DATABASE_MAX_OVERFLOW", 5, 0, neon.MaxPool)
	if err != nil {
		errs = append(errs, err)
	}
	groups := strings.TrimSpace(getenv("BUDGET_GROUPS"))
	if groups == "" {
		groups = defaultGroups
	}
	if c.Budget.Groups, err = neon.ParseGroups(groups, pool, overflow); err != nil {
		errs = append(errs, &Error{Var: "BUDGET_GROUPS", Msg: err.Error()})
	}
	engines := strings.TrimSpace(getenv("BUDGET_OTHER_ENGINES"))
	if engines == "" {
		engines = defaultEngines
	}
	if c.Budget.Engines, err = neon.ParseEngines(engines); err != nil {
		errs = append(errs, &Error{Var: "BUDGET_OTHER_ENGINES", Msg: err.Error()})
	}
	minCU, errMin := cuVar(getenv, "NEON_COMPUTE_MIN_CU")
	maxCU, errMax := cuVar(getenv, "NEON_COMPUTE_MAX_CU")
	for _, e := range []error{errMin, errMax} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if errMin == nil && errMax == nil {
		switch {
		case minCU == 0 && maxCU == 0:
		case minCU == 0 || maxCU == 0:
			errs = append(errs, &Error{Var: "NEON_COMPUTE_MIN_CU", Msg: "and NEON_COMPUTE_MAX_CU must be set together"})
		case minCU > maxCU:
			errs = append(errs, &Error{Var: "NEON_COMPUTE_MIN_CU", Msg: "must not exceed NEON_COMPUTE_MAX_CU"})
		default:
			c.NeonMinCU, c.NeonMaxCU = minCU, maxCU
		}
	}
	return errs
}

func cuVar(getenv func(string) string, name string) (float64, error) {
	s := strings.TrimSpace(getenv(name))
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0.25 || f > 56 {
		return 0, &Error{Var: name, Msg: fmt.Sprintf("is %q; want compute units from 0.25 to 56", s)}
	}
	return f, nil
}

// FlyConfigured reports whether the Fly Machines API is configured.
func (c *Config) FlyConfigured() bool { return c.FlyAPIToken != "" && c.FlyAppName != "" }

// QStashConfigured reports whether QStash is configured.
func (c *Config) QStashConfigured() bool { return c.QStashURL != "" && c.QStashToken != "" }

// Addr is the listen address.
func (c *Config) Addr() string { return fmt.Sprintf("%s:%d", c.Host, c.Port) }

// envName accepts an environment variable name: letters, digits and _,
// not starting with a digit.
func envName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != "" && len(s) <= 128
}

func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

func checkPostgresURL(raw string, requireTLS bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return errors.New("must be a postgres:// URL with a host")
	}
	if requireTLS {
		switch u.Query().Get("sslmode") {
		case "require", "verify-ca", "verify-full":
		default:
			return errors.New("must require TLS in production (sslmode=require, verify-ca or verify-full)")
		}
	}
	return nil
}

func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("is not a valid URL")
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("must use scheme %s", strings.Join(schemes, " or "))
}

func intVar(getenv func(string) string, name string, def, min, max int) (int, error) {
	s := strings.TrimSpace(getenv(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, &Error{Var: name, Msg: fmt.Sprintf("is %q; want a whole number from %d to %d", s, min, max)}
	}
	return n, nil
}

func boolVar(getenv func(string) string, name string, def bool) (bool, error) {
	s := strings.TrimSpace(getenv(name))
	if s == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, &Error{Var: name, Msg: fmt.Sprintf("is %q; want true or false", s)}
	}
	return b, nil
}

func durationVar(getenv func(string) string, name string, def, min, max time.Duration) (time.Duration, error) {
	s := strings.TrimSpace(getenv(name))
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < min || d > max {
		return 0, &Error{Var: name, Msg: fmt.Sprintf("is %q; want a duration from %s to %s", s, min, max)}
	}
	return d, nil
}

// RedactURL returns raw with any password replaced, for logs and pages.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	for k := range q {
		if secret.IsName(k) {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
