package sso

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// tokenClaims are the ID token claims Finish reads besides those go-oidc
// checks.
type tokenClaims struct {
	Email           string          `json:"email"`
	EmailVerified   json.RawMessage `json:"email_verified"`
	AuthorizedParty string          `json:"azp"`
	AuthTime        json.RawMessage `json:"auth_time"`
	all             map[string]json.RawMessage
}

// UnmarshalJSON keeps every claim, for the configured groups claim.
func (t *tokenClaims) UnmarshalJSON(b []byte) error {
	type plain tokenClaims
	if err := json.Unmarshal(b, (*plain)(t)); err != nil {
		return err
	}
	return json.Unmarshal(b, &t.all)
}

// emailVerified reports whether email_verified is true (a JSON boolean,
// or the string "true" some providers send). Missing means unverified.
func (t *tokenClaims) emailVerified() bool {
	v := bytes.TrimSpace(t.EmailVerified)
	return bytes.Equal(v, []byte("true")) || bytes.Equal(v, []byte(`"true"`))
}

// groups returns claim as a list: a JSON array of strings, or one string.
// A missing or null claim is no groups.
func (t *tokenClaims) groups(claim string) ([]string, error) {
	raw, ok := t.all[claim]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("claim %q is neither a string nor a list of strings", claim)
	}
	return many, nil
}

// authTime returns auth_time (seconds since the epoch), zero when absent.
func (t *tokenClaims) authTime() (time.Time, error) {
	if len(t.AuthTime) == 0 || bytes.Equal(bytes.TrimSpace(t.AuthTime), []byte("null")) {
		return time.Time{}, nil
	}
	var secs float64
	if err := json.Unmarshal(t.AuthTime, &secs); err != nil || secs <= 0 || math.IsInf(secs, 0) || secs > 1<<40 {
		return time.Time{}, errors.New("auth_time is not a time")
	}
	return time.Unix(int64(secs), 0), nil
}
