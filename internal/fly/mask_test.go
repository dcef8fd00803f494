package fly_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/fly"
)

func TestMaskEnv(t *testing.T) {
	tests := []struct {
		name, key, value string
		// keep must survive; hidden must not.
		keep   []string
		hidden []string
	}{
		{"plain", "ENVIRONMENT", "production", []string{"production"}, nil},
		{"number", "DB_POOL_SIZE", "15", []string{"15"}, nil},
		{"rediss password", "REDIS_URL", "rediss://:pw-s3cret@cache.upstash.io:6379", []string{"rediss://:", "@cache.upstash.io:6379", "[hidden #"}, []string{"pw-s3cret"}},
		{"postgres password", "PLATFORM_DB", "postgres://u:pw9x@h/db", []string{"postgres://u:", "@h/db"}, []string{"pw9x"}},
		{"secret name", "STRIPE_SECRET_KEY", "not-random-at-all", []string{"[hidden #"}, []string{"not-random-at-all"}},
		{"pass suffix", "SMTP_PASS", "hunter2", nil, []string{"hunter2"}},
		{"token suffix", "SLACK_TOKEN", "x", nil, []string{"x"}},
		{"jwt", "UPSTREAM", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU", []string{"[hidden #"}, []string{"eyJ"}},
		{"bearer", "UPSTREAM_AUTH_HEADER", "Bearer abc.def", nil, []string{"abc.def"}},
		{"provider key", "STRIPE", "sk_live_51HxYzAbCdEf", nil, []string{"sk_live_51HxYzAbCdEf"}},
		{"random", "SESSION_SALT_VALUE", "Xk29vQpL7mZr4TnB8wYcQ2", nil, []string{"Xk29vQpL7mZr4TnB8wYcQ2"}},
		{"host", "PGHOST", "ep-cool-darkness-123456-pooler.eu-central-1.aws.neon.tech", []string{"ep-cool-darkness-123456-pooler.eu-central-1.aws.neon.tech"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fly.MaskEnv(tt.key, tt.value)
			for _, k := range tt.keep {
				if !strings.Contains(got, k) {
					t.Errorf("MaskEnv(%q, %q) = %q, lost %q", tt.key, tt.value, got, k)
				}
			}
			for _, h := range tt.hidden {
				if strings.Contains(got, h) {
					t.Errorf("MaskEnv(%q, %q) = %q, shows %q", tt.key, tt.value, got, h)
				}
			}
			if again := fly.MaskEnv(tt.key, tt.value); again != got {
				t.Errorf("MaskEnv is not stable: %q then %q", got, again)
			}
		})
	}
	if fly.MaskEnv("API_TOKEN", "one") == fly.MaskEnv("API_TOKEN", "two") {
		t.Error("two different secrets mask alike")
	}
}

// TestDriftComparesMaskedValues checks that secrets in compared settings
// never reach the report, while machines with different secrets still
// differ and machines with the same secret agree.
func TestDriftComparesMaskedValues(t *testing.T) {
	env := func(pass string) map[string]string {
		e := prodEnv()
		e["REDIS_URL"], e["WORKER_API_KEY"] = "rediss://:"+pass+"-pass@cache:6379/1", "key-"+pass
		return e
	}
	r := fly.Analyze([]fly.Machine{
		machine("a1", "api", "started", env("first")),
		machine("a2", "api", "started", env("second")),
		machine("w1", "worker", "started", env("first")),
		machine("w2", "worker", "started", env("first")),
	}, nil, fly.Options{Now: now, ExpectedEnvironment: "production", Groups: []string{"api", "worker"},
		Keys: slices.Concat(fly.DriftKeys, []string{"REDIS_URL", "WORKER_API_KEY"})})
	for _, key := range []string{"REDIS_URL", "WORKER_API_KEY"} {
		d := driftRow(t, r, key)
		if !d.InGroup || fly.KnownValues(d.Values[0]) != 2 || fly.KnownValues(d.Values[1]) != 1 {
			t.Errorf("%s: drift %+v, want api to differ and worker to agree", key, d)
		}
		for _, cells := range d.Values {
			for _, c := range cells {
				if strings.Contains(c.Value, "pass") || strings.Contains(c.Value, "key-") || !strings.Contains(c.Value, "[hidden #") {
					t.Errorf("%s: drift value %q is not masked", key, c.Value)
				}
			}
		}
	}
	if v := row(t, r, "a1").Env["REDIS_URL"]; !strings.HasPrefix(v, "rediss://:[hidden #") || !strings.HasSuffix(v, "@cache:6379/1") {
		t.Errorf("REDIS_URL shows %q, want the scheme and host kept", v)
	}
}
