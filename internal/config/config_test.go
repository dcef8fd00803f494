package config

import (
	"strings"
	"testing"
	"time"
)

func load(vars map[string]string) (*Config, error) {
	var environ []string
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	return Load(func(k string) string { return vars[k] }, environ)
}

const prodDB = "postgres://console:s3cret@db.example.com/atum?sslmode=require"

func TestLoadRefusesUnsafeProduction(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		wantVar string
	}{
		{"missing environment", map[string]string{"DATABASE_URL": prodDB}, "ENVIRONMENT"},
		{"unknown environment", map[string]string{"ENVIRONMENT": "prod", "DATABASE_URL": prodDB}, "ENVIRONMENT"},
		{"missing database", map[string]string{"ENVIRONMENT": "production"}, "DATABASE_URL"},
		{"sqlite database", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": "sqlite:///atom_dev.db"}, "DATABASE_URL"},
		{"file path database", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": "atom_dev.db"}, "DATABASE_URL"},
		{"no tls", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": "postgres://u@db.example.com/atum"}, "DATABASE_URL"},
		{"tls preferred only", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": "postgres://u@db.example.com/atum?sslmode=prefer"}, "DATABASE_URL"},
		{"platform url without tls", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "PLATFORM_DATABASE_URL": "postgres://ro@db.example.com/atum"}, "PLATFORM_DATABASE_URL"},
		{"demo setting", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "DEMO_USERS": "1000"}, "DEMO_USERS"},
		{"bad port", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "PORT": "http"}, "PORT"},
		{"redis not a url", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "REDIS_URL": "localhost:6379"}, "REDIS_URL"},
		{"qstash url without token", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "QSTASH_URL": "https://qstash.example.com"}, "QSTASH_TOKEN"},
		{"fly token without app", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "FLY_API_TOKEN": "fo1_x"}, "FLY_API_TOKEN"},
		{"read-only token alone", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "QSTASH_READONLY_TOKEN": "ro"}, "QSTASH_READONLY_TOKEN"},
		{"bad drift key", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "FLY_DRIFT_KEYS": "CELERY_CONCURRENCY, rm -rf"}, "FLY_DRIFT_KEYS"},
		{"fly interval too short", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "FLY_SAMPLE_INTERVAL": "1s"}, "FLY_SAMPLE_INTERVAL"},
		{"bad idle timeout", map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "SESSION_IDLE_TIMEOUT": "forever"}, "SESSION_IDLE_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(tt.vars)
			if err == nil {
				t.Fatalf("Load accepted %v: %+v", tt.vars, c)
			}
			first := strings.SplitN(err.Error(), "\n", 2)[0]
			if !strings.Contains(first, tt.wantVar) {
				t.Errorf("first error line %q does not name %s", first, tt.wantVar)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := load(map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB})
	if err != nil {
		t.Fatal(err)
	}
	if c.PlatformDatabaseURL != prodDB {
		t.Errorf("PlatformDatabaseURL = %q, want DATABASE_URL", c.PlatformDatabaseURL)
	}
	if c.Port != 8080 || c.Addr() != "0.0.0.0:8080" {
		t.Errorf("Port = %d, Addr = %s", c.Port, c.Addr())
	}
	if c.SessionIdle != 30*time.Minute || c.SessionMax != 12*time.Hour {
		t.Errorf("session timeouts = %s / %s", c.SessionIdle, c.SessionMax)
	}
	if c.LogFormat != "json" || c.TrustFlyClientIP || c.RedisURL != "" || c.QStashConfigured() || c.FlyConfigured() {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestLoadDevelopmentAllowsPlainLocalDatabase(t *testing.T) {
	c, err := load(map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/atum",
		"QSTASH_TOKEN": "tok", "FLY_API_TOKEN": "fo1", "FLY_APP_NAME": "atum", "DEMO_USERS": "5000", "TRUST_FLY_CLIENT_IP": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if c.FlyAppName != "atum" {
		t.Errorf("FlyAppName = %q", c.FlyAppName)
	}
	if c.QStashURL != "https://qstash-eu-central-1.upstash.io" {
		t.Errorf("QStash default region = %q, want EU", c.QStashURL)
	}
	if !c.FlyConfigured() || !c.QStashConfigured() || !c.TrustFlyClientIP || c.LogFormat != "text" {
		t.Errorf("unexpected: %+v", c)
	}
}

func TestFlyAppPrefersATUMFlyApp(t *testing.T) {
	// On Fly, FLY_APP_NAME is the console's own app; ATUM_FLY_APP wins.
	c, err := load(map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB,
		"FLY_APP_NAME": "atum-ops-console", "ATUM_FLY_APP": "atum", "FLY_API_TOKEN": "fo1_x"})
	if err != nil || c.FlyAppName != "atum" {
		t.Fatalf("FlyAppName = %v, %v", c, err)
	}
	// FLY_APP_NAME alone, without a token, is not an error: Fly sets it.
	if _, err := load(map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "FLY_APP_NAME": "atum-ops-console"}); err != nil {
		t.Fatal(err)
	}
}

func TestRedactURL(t *testing.T) {
	got := RedactURL("postgres://console:s3cret@db.example.com/atum?sslmode=require&password=p2")
	if strings.Contains(got, "s3cret") || strings.Contains(got, "p2") || !strings.Contains(got, "db.example.com") {
		t.Errorf("RedactURL = %q", got)
	}
	if got := RedactURL("redis://127.0.0.1:6379/0"); got != "redis://127.0.0.1:6379/0" {
		t.Errorf("RedactURL changed a URL without secrets: %q", got)
	}
}

func TestBudgetConfig(t *testing.T) {
	c, err := load(map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": "postgres://u@h/db"})
	if err != nil {
		t.Fatal(err)
	}
	// Defaults: api 2 machines × 2 processes and worker 1 × 1, each (15 + 5); console 14 + migrations 1.
	if got := c.Budget.Total(); got != 2*2*20+1*1*20+15 {
		t.Fatalf("default budget = %d", got)
	}
	c, err = load(map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": "postgres://u@h/db",
		"DB_POOL_SIZE": "10", "DATABASE_MAX_OVERFLOW": "0", "BUDGET_GROUPS": "api:machines=4,processes=3;cron:machines=1,processes=1,pool=2,overflow=1",
		"BUDGET_OTHER_ENGINES": "atum-console=14", "NEON_COMPUTE_MIN_CU": "0.25", "NEON_COMPUTE_MAX_CU": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Budget.Total(); got != 4*3*10+3+14 || c.NeonMaxCU != 2 {
		t.Fatalf("budget = %d, %+v", got, c.Budget)
	}
	for name, vars := range map[string]map[string]string{
		"BUDGET_GROUPS":         {"BUDGET_GROUPS": "api:machines=-1"},
		"DB_POOL_SIZE":          {"DB_POOL_SIZE": "lots"},
		"BUDGET_OTHER_ENGINES":  {"BUDGET_OTHER_ENGINES": "cron"},
		"NEON_COMPUTE_MAX_CU":   {"NEON_COMPUTE_MIN_CU": "1", "NEON_COMPUTE_MAX_CU": "0.1"},
		"NEON_COMPUTE_MIN_CU":   {"NEON_COMPUTE_MIN_CU": "4", "NEON_COMPUTE_MAX_CU": "2"},
		"DATABASE_MAX_OVERFLOW": {"DATABASE_MAX_OVERFLOW": "-3"},
		"SAMPLE_INTERVAL":       {"SAMPLE_INTERVAL": "0s"},
	} {
		vars["ENVIRONMENT"], vars["DATABASE_URL"] = "development", "postgres://u@h/db"
		if _, err := load(vars); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: err = %v, want one naming %s", vars, err, name)
		}
	}
}

func TestWatchMode(t *testing.T) {
	dev := "postgres://postgres@127.0.0.1:5432/atum"
	for _, tc := range []struct {
		env, watch, want string
	}{
		{"production", "", "always"}, {"staging", "", "always"}, {"development", "", "active"}, {"demo", "", "active"},
		{"production", "active", "active"}, {"development", "ALWAYS", "always"}, {"development", "off", "off"},
	} {
		db := dev
		if tc.env == "production" || tc.env == "staging" {
			db = prodDB
		}
		c, err := load(map[string]string{"ENVIRONMENT": tc.env, "DATABASE_URL": db, "WATCH": tc.watch})
		if err != nil || c.Watch != tc.want {
			t.Errorf("%s with WATCH=%q: %v, %v; want %s", tc.env, tc.watch, c, err, tc.want)
		}
	}
	if _, err := load(map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": dev, "WATCH": "sometimes"}); err == nil ||
		!strings.Contains(err.Error(), "WATCH") {
		t.Errorf("WATCH=sometimes: %v, want an error naming WATCH", err)
	}
}
