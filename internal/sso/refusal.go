package sso

import (
	"fmt"
	"strings"
)

// Refusal codes: stable, for the audit log.
const (
	CodeProviderError       = "provider_error"
	CodeStateMissing        = "state_missing"
	CodeStateMismatch       = "state_mismatch"
	CodeStateUnknown        = "state_unknown"
	CodeStateReplayed       = "state_replayed"
	CodeStateExpired        = "state_expired"
	CodeExchangeFailed      = "exchange_failed"
	CodeIDTokenMissing      = "id_token_missing"
	CodeIDTokenInvalid      = "id_token_invalid"
	CodeWrongAudience       = "wrong_audience"
	CodeNonceMismatch       = "nonce_mismatch"
	CodeEmailMissing        = "email_missing"
	CodeEmailUnverified     = "email_unverified"
	CodeDomainNotAllowed    = "domain_not_allowed"
	CodeStaleAuthentication = "stale_authentication"
)

// Refusal is a sign-in refused: the provider said no, or what came back
// does not prove who the person is.
type Refusal struct {
	// Code is one of the Code constants.
	Code string
	// Detail is the provider's own error code (for provider_error and
	// exchange_failed), reduced to [a-z0-9_.-] and 40 characters; "" when
	// there is none.
	Detail string
	// Message is safe to show the person signing in.
	Message string
}

// Error names the code and detail, never a token or secret.
func (r *Refusal) Error() string {
	if r.Detail != "" {
		return fmt.Sprintf("sso: sign-in refused: %s (%s)", r.Code, r.Detail)
	}
	return "sso: sign-in refused: " + r.Code
}

func refuse(code, message string) *Refusal { return &Refusal{Code: code, Message: message} }

// sanitizeCode keeps a provider's error code fit for a log line.
func sanitizeCode(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, c := range s {
		if b.Len() >= 40 {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
			b.WriteRune(c)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
