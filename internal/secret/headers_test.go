package secret

import "testing"

func TestIsHeader(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"Authorization", true},
		{"authorization", true},
		{"Proxy-Authorization", true},
		{"Cookie", true},
		{"Set-Cookie", true},
		{"X-Api-Key", true},
		{"x-apikey", true},
		{"X-CSRF-Token", true},
		{"X-Amz-Security-Token", true},
		{"Stripe-Signature", true},
		{"Upstash-Signature", true},
		{"X-Hub-Signature-256", true},
		{"X-Webhook-Secret", true},
		{"X-Password", true},
		{"X-Session-Id", true},
		{"X-Vercel-Protection-Bypass", true},
		{"X-Auth-User", true},
		{"X-Sig", true},
		{"X-Credential", true},
		{"Upstash-Forward-Authorization", true},
		{"upstash-forward-x-api-key", true},
		{"Upstash-Forward-Sig", true},
		{"Upstash-Callback-Forward-Cookie", true},
		{"Upstash-Failure-Callback-Forward-X-Token", true},
		{"Content-Type", false},
		{"Content-Length", false},
		{"Upstash-Message-Id", false},
		{"Upstash-Retried", false},
		{"Upstash-Forward-Content-Type", false},
		{"Upstash-Forward-", false},
		{"Traceparent", false},
		{"X-Request-Id", false},
		{"User-Agent", false},
		{"Keep-Alive", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsHeader(tt.name); got != tt.want {
				t.Errorf("IsHeader(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestMaskHeader(t *testing.T) {
	hide := func(string) string { return "[x]" }
	tests := []struct {
		name, header, value, want string
	}{
		{"authorization", "Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "[x]"},
		{"basic", "Proxy-Authorization", "Basic dXNlcjpwYXNz", "[x]"},
		{"cookie", "Cookie", "session=abc; theme=dark", "[x]"},
		{"set-cookie", "Set-Cookie", "sid=1; HttpOnly", "[x]"},
		{"forwarded key", "Upstash-Forward-X-Api-Key", "k1", "[x]"},
		{"short secret", "X-Webhook-Secret", "a", "[x]"},
		{"empty secret", "Authorization", "", ""},
		{"bearer under another name", "X-Forwarded-Credentials-Of-Caller", "Bearer abcdefgh", "[x]"},
		{"bearer in plain header", "X-Upstream", "Bearer abcdefgh123", "[x]"},
		{"jwt in plain header", "X-Context", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "[x]"},
		{"provider key in text", "X-Note", "use sk_live_51HxYzAbCdEf please", "use [x] please"},
		{"url with token", "X-Callback", "https://x.example/cb?id=7&token=abc", "https://x.example/cb?id=7&token=[x]"},
		{"url password", "X-Upstream", "postgres://u:pw@h/db", "postgres://u:[x]@h/db"},
		{"content type", "Content-Type", "application/json; charset=utf-8", "application/json; charset=utf-8"},
		{"message id", "Upstash-Message-Id", "msg_26hZCxZCuWyyTWPmSVBrNCtiJFByCXD6JcrpMiCrLvoV3A9N6", "msg_26hZCxZCuWyyTWPmSVBrNCtiJFByCXD6JcrpMiCrLvoV3A9N6"},
		{"trace id", "Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"hostile", "X-Evil", `<script>alert(1)</script>`, `<script>alert(1)</script>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskHeader(tt.header, tt.value, hide); got != tt.want {
				t.Errorf("MaskHeader(%q, %q) = %q, want %q", tt.header, tt.value, got, tt.want)
			}
		})
	}
}

func TestLooksLikeCredential(t *testing.T) {
	for s, want := range map[string]bool{
		"Bearer abc":                   true,
		"basic dXNlcjpwYXNz":           true,
		"ghp_aBcDeFgHiJkLmNoPqRsTuV":   true,
		"AKIAIOSFODNN7EXAMPLE":         true,
		"a3f5c9e1b2d4f6a8c0e2b4d6f8a0": false, // random, but ids look like this too
		"Basic plan":                   false,
		"":                             false,
	} {
		if got := LooksLikeCredential(s); got != want {
			t.Errorf("LooksLikeCredential(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestMaskText(t *testing.T) {
	hide := func(string) string { return "[x]" }
	for in, want := range map[string]string{
		"deploy 2026-01-02":                "deploy 2026-01-02",
		"Bearer abcdefgh123":               "[x]",
		"tenant-42 token=abc":              "tenant-42 token=[x]",
		"https://u:pw@hooks.example/a?b=1": "https://u:[x]@hooks.example/a?b=1",
		"":                                 "",
	} {
		if got := MaskText(in, hide); got != want {
			t.Errorf("MaskText(%q) = %q, want %q", in, got, want)
		}
	}
}
