package sso

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestTokenClaims(t *testing.T) {
	for _, tc := range []struct {
		json     string
		groups   []string
		groupErr bool
		verified bool
		authTime time.Time
		timeErr  bool
	}{
		{json: `{"roles":["a","b"],"email_verified":true,"auth_time":1700000000}`, groups: []string{"a", "b"}, verified: true, authTime: time.Unix(1700000000, 0)},
		{json: `{"roles":"solo","email_verified":"true","auth_time":1700000000.7}`, groups: []string{"solo"}, verified: true, authTime: time.Unix(1700000000, 0)},
		{json: `{"roles":null,"email_verified":false}`},
		{json: `{"email_verified":"yes"}`},
		{json: `{"roles":[1,2]}`, groupErr: true},
		{json: `{"roles":{"a":1}}`, groupErr: true},
		{json: `{"auth_time":"soon"}`, timeErr: true},
		{json: `{"auth_time":-5}`, timeErr: true},
	} {
		var c tokenClaims
		if err := json.Unmarshal([]byte(tc.json), &c); err != nil {
			t.Fatal(err)
		}
		g, err := c.groups("roles")
		if (err != nil) != tc.groupErr || !slices.Equal(g, tc.groups) {
			t.Errorf("%s: groups %v, %v", tc.json, g, err)
		}
		if c.emailVerified() != tc.verified {
			t.Errorf("%s: verified %v", tc.json, c.emailVerified())
		}
		at, err := c.authTime()
		if (err != nil) != tc.timeErr || !at.Equal(tc.authTime) {
			t.Errorf("%s: auth time %v, %v", tc.json, at, err)
		}
	}
}

func TestSanitizeCode(t *testing.T) {
	for in, want := range map[string]string{
		"access_denied":          "access_denied",
		"Invalid_Request":        "invalid_request",
		"a b<c>\n":               "a?b?c??",
		string(make([]byte, 99)): "????????????????????????????????????????",
	} {
		if got := sanitizeCode(in); got != want {
			t.Errorf("sanitizeCode(%q) = %q, want %q", in, got, want)
		}
	}
}
