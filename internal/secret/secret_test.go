package secret

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestIsName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"QSTASH_TOKEN", true},
		{"DATABASE_URL", true},
		{"SENTRY_DSN", true},
		{"STRIPE_SECRET_KEY", true},
		{"SIGNING_KEY", true},
		{"SMTP_PASS", true},
		{"REDIS_PASSWORD", true},
		{"x-api-key", true},
		{"Authorization", true},
		{"access_token", true},
		{"key", true},
		{"sig", true},
		{"ENVIRONMENT", false},
		{"DB_POOL_SIZE", false},
		{"DATABASE_MAX_OVERFLOW", false},
		{"REDIS_URL", false},
		{"KEYBOARD", false},
		{"url", false},
		{"target", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsName(tt.name); got != tt.want {
				t.Errorf("IsName(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestLooksLikeToken(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"Bearer abc", true},
		{"basic dXNlcjpwYXNz", true},
		{"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk", true},
		{"eyJVc2VySUQiOiJhYmMiLCJQYXNzd29yZCI6Inh5eiJ9", true}, // a QStash token
		{"sk_live_51HxYzAbCdEf", true},
		{"ghp_aBcDeFgHiJkLmNoPqRsTuV", true},
		{"xoxb-1234567890-abcdefghij", true},
		{"AKIAIOSFODNN7EXAMPLE", true},
		{"fm2_lJPECAAAAAAAAMSAxAAA", true},
		{"a3f5c9e1b2d4f6a8c0e2b4d6f8a0c2e4", true},
		{"Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==", true},
		{"3q2+7w1kZ9xY0pLmN4vB8sT6uR2eQ5aW", true},
		{"production", false},
		{"15", false},
		{"true", false},
		{"fra", false},
		{"0.0.0.0", false},
		{"ATUM_FEATURE_FLAG_NEW_BILLING_2024", false},
		{"ep-cool-darkness-123456-pooler", false},
		{"/app/static/some_dir2/File3", false},
		{"AbstractWorkerFactoryBean", false},
		{"MyAppWorkerQueue2024Primary", false},
		{"HTTPServerFactory2", false},
		{"01HZX3Y5K9ABCDEFGHJKMNPQRS", true}, // a ULID: random, so hidden too
		{"atum.settings.production", false},
		{"basic", false},
		{"sk-learn", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			if got := LooksLikeToken(tt.value); got != tt.want {
				t.Errorf("LooksLikeToken(%q) = %v, want %v", tt.value, got, tt.want)
			}
		})
	}
}

// TestRandomKeysAreTokens checks the entropy rule on random keys of the
// usual sizes (15 to 48 bytes, hex and base64): at least 99 in 100 are
// caught (the misses are short keys that happen to read like CamelCase);
// keys named like secrets are hidden by their name anyway.
func TestRandomKeysAreTokens(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{'a', 't', 'u', 'm'})
	for _, n := range []int{15, 24, 32, 48} {
		t.Run(strconv.Itoa(n)+" bytes", func(t *testing.T) {
			missed, total := 0, 0
			for range 2000 {
				b := make([]byte, n)
				_, _ = rng.Read(b)
				for _, s := range []string{hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)} {
					total++
					if !LooksLikeToken(s) {
						missed++
					}
				}
			}
			if missed*100 > total {
				t.Errorf("%d of %d random keys not recognised", missed, total)
			}
		})
	}
}

func TestMask(t *testing.T) {
	hide := func(s string) string { return "<" + strings.Repeat("*", min(len(s), 3)) + ">" }
	tests := []struct {
		name, key, value, want string
	}{
		{"secret name", "SIGNING_KEY", "plain", "<***>"},
		{"whole token", "X", "ghp_aBcDeFgHiJkLmNoPqRsTuV", "<***>"},
		{"bearer", "X", "Bearer abc", "<***>"},
		{"redis password", "REDIS_URL", "rediss://:pw@host:6379", "rediss://:<**>@host:6379"},
		{"postgres password", "PLATFORM_URL", "postgres://u:pw@h/db", "postgres://u:<**>@h/db"},
		{"password with @", "URL", "postgres://u:p@ss@h/db?sslmode=require", "postgres://u:<***>@h/db?sslmode=require"},
		{"no password", "REDIS_URL", "redis://cache.internal:6379/0", "redis://cache.internal:6379/0"},
		{"user only", "URL", "postgres://u@h/db", "postgres://u@h/db"},
		{"list of URLs", "BROKERS", "redis://:a1@h1,redis://:b2@h2", "redis://:<**>@h1,redis://:<**>@h2"},
		{"secret parameter", "WEBHOOK", "https://x.example/hook?id=7&token=abc", "https://x.example/hook?id=7&token=<***>"},
		{"first parameter", "WEBHOOK", "https://x.example/hook?sig=abc&id=7", "https://x.example/hook?sig=<***>&id=7"},
		{"colon form", "LINE", "user=bob password: hunter2", "user=bob password: <***>"},
		{"token in path", "HOOK", "https://hooks.example/services/T000/Xk29vQpL7mZr4TnB8wYc", "https://hooks.example/services/T000/<***>"},
		{"authorization in text", "HEADER", "Authorization: Bearer abcdefgh123", "Authorization: <***> <***>"},
		{"jwt in text", "X", "use eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl now", "use <***> now"},
		{"plain", "ENVIRONMENT", "production", "production"},
		{"number", "DB_POOL_SIZE", "15", "15"},
		{"groups", "BUDGET_GROUPS", "api:machines=2,processes=2;worker:machines=1", "api:machines=2,processes=2;worker:machines=1"},
		{"basic plan", "PLAN", "Basic plan", "Basic plan"},
		{"empty", "API_TOKEN", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.key, tt.value, hide); got != tt.want {
				t.Errorf("Mask(%q, %q) = %q, want %q", tt.key, tt.value, got, tt.want)
			}
		})
	}
}
