package secret

import "strings"

// forwardPrefixes are the prefixes under which QStash publishers pass a
// header on to the destination (Upstash-Forward-Authorization arrives as
// Authorization); the name after them is judged as the header's own.
var forwardPrefixes = []string{"upstash-forward-", "upstash-callback-forward-", "upstash-failure-callback-forward-"}

// headerWords mark a secret wherever they appear in a header's name:
// Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key,
// X-CSRF-Token, Stripe-Signature, Upstash-Signature, X-Session-Id,
// X-Vercel-Protection-Bypass.
var headerWords = []string{"auth", "cookie", "key", "token", "secret", "signature", "password", "session", "bypass"}

// IsHeader reports whether an HTTP header's name marks a secret value,
// whatever its case and also after an Upstash-Forward- prefix: any name
// holding auth, cookie, key, token, secret, signature, password, session
// or bypass, or one IsName recognises (credential, dsn, …). It is broader
// than IsName on purpose: a header is a credential far more often than
// a setting is.
func IsHeader(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, p := range forwardPrefixes {
		if rest, ok := strings.CutPrefix(n, p); ok && rest != "" {
			n = rest
			break
		}
	}
	for _, w := range headerWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return IsName(n)
}

// LooksLikeCredential reports whether s, one word, is a credential by a
// form that only credentials have: "Bearer …", "Basic …", a JWT, or a
// provider's key prefix (sk_live_, ghp_, AKIA, …). Unlike LooksLikeToken
// it does not judge random-looking text, so message, trace and request
// ids stay readable.
func LooksLikeCredential(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && (authValue.MatchString(s) || knownToken.MatchString(s))
}

// MaskText returns free text (a header's value, a label) with every
// credential in it replaced by hide(credential): all of it when it is one
// credential (see LooksLikeCredential), else each URL password, each value
// of a secret-named parameter (?token=…), each authorization credential
// and each word with a credential's form.
func MaskText(value string, hide func(secret string) string) string {
	if strings.TrimSpace(value) == "" {
		return value
	}
	if LooksLikeCredential(value) {
		return hide(value)
	}
	return maskParts(value, LooksLikeCredential, hide)
}

// MaskHeader returns an HTTP header's value fit for any page, export or
// log: all of it hidden when the name marks a secret (IsHeader), else
// MaskText of it.
func MaskHeader(name, value string, hide func(secret string) string) string {
	if strings.TrimSpace(value) == "" {
		return value
	}
	if IsHeader(name) {
		return hide(value)
	}
	return MaskText(value, hide)
}
