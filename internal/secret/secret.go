// Package secret recognises secrets in names and values — credentials in
// URLs, keys, tokens — so that the console can hide them wherever a value
// it does not control reaches a page, the audit log or an export.
package secret

import (
	"math"
	"regexp"
	"slices"
	"strings"
)

// nameWords mark a secret wherever they appear in a name.
var nameWords = []string{"password", "passwd", "passphrase", "token", "secret", "authorization", "cookie", "api_key",
	"apikey", "credential", "database_url", "dsn", "signing_key", "private_key", "access_key"}

// nameSuffixes mark a secret at the end of a name (SENTRY_KEY, SMTP_PASS).
var nameSuffixes = []string{"_key", "_pass", "_pwd", "_auth", "_sig", "_signature", "_salt"}

// exactNames are secret names on their own (?key=…, ?sig=…).
var exactNames = []string{"key", "pass", "pwd", "auth", "sig", "signature", "salt"}

// wordSep turns every way of separating words in a name into "_".
var wordSep = strings.NewReplacer("-", "_", ".", "_", " ", "_")

// IsName reports whether a name (an environment variable, a query
// parameter, a header, a detail key) marks a secret value, whatever its
// case and whether it uses -, . or _ between words.
func IsName(name string) bool {
	n := wordSep.Replace(strings.ToLower(strings.TrimSpace(name)))
	if slices.Contains(exactNames, n) {
		return true
	}
	for _, w := range nameWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	for _, s := range nameSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// knownToken matches a whole word that is a credential by its form: a JWT
// or other base64 JSON (QStash tokens), or a key with a provider's prefix.
var knownToken = regexp.MustCompile(`^(?:` +
	`eyJ[A-Za-z0-9_+/=-]{8,}(?:\.[A-Za-z0-9_+/=-]*){0,2}` +
	`|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9+/=]{8,}` +
	`|sk-[A-Za-z0-9_-]{16,}` +
	`|gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,}|glpat-[A-Za-z0-9_-]{16,}` +
	`|xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}` +
	`|(?:AKIA|ASIA)[A-Z0-9]{16}|AIza[A-Za-z0-9_-]{30,}` +
	`|npm_[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{20,}|pypi-[A-Za-z0-9_-]{16,}|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}` +
	`|(?:fm1r?|fm2|fo1)_[A-Za-z0-9+/=_-]{16,}|sig_[A-Za-z0-9]{16,}` +
	`)$`)

// authScheme matches an authorization inside text: the scheme and a
// credential of 8 or more characters ("Basic plan" is not one).
var authScheme = regexp.MustCompile(`(?i)\b(?:bearer|basic|flyv1)\s+([^\s,;"']{8,})`)

// authValue matches a whole value that is an authorization.
var authValue = regexp.MustCompile(`(?i)^(?:bearer\s+\S|(?:basic|flyv1)\s+\S{8})`)

// LooksLikeToken reports whether s, one word, is a credential by its form:
// "Bearer …", a JWT, a provider's key prefix (sk_live_, ghp_, AKIA, …), or
// a long run of random-looking characters (hex or base64 of 20 or more).
func LooksLikeToken(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	return authValue.MatchString(s) || knownToken.MatchString(s) || random(s)
}

// random reports whether s looks like random key material: at least 20
// characters of the hex or base64 alphabets, with letters and digits or
// both cases, spread about as evenly as random text and unlike words.
func random(s string) bool {
	body := strings.TrimRight(s, "=")
	if len(body) < 20 || strings.IndexFunc(body, func(r rune) bool { return !base64Rune(r) }) >= 0 {
		return false
	}
	var digit, upper, lower bool
	for _, r := range body {
		digit = digit || r >= '0' && r <= '9'
		upper = upper || r >= 'A' && r <= 'Z'
		lower = lower || r >= 'a' && r <= 'z'
	}
	if !(digit && (upper || lower)) && !(upper && lower) {
		return false
	}
	if strings.IndexFunc(body, func(r rune) bool { return !hexRune(r) }) < 0 {
		return entropy(body) >= 3 // random hex reaches about 3.7 bits per character
	}
	// Random text of n characters has close to log2(n) bits per character;
	// names made of words stay lower, and clear the lower bar only.
	h, most := entropy(body), math.Log2(float64(len(body)))
	return h >= min(4.4, most-0.4) || h >= min(4, most-1) && !words.MatchString(body)
}

func base64Rune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '_' || r == '-'
}

func hexRune(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}

// words matches text made of words and numbers, as names, slugs, paths
// and CamelCase are (FEATURE_FLAG_2024, /app/static/v2, HTTPServer2):
// lower case starts the text, follows a separator or ends a capitalised
// word, never follows a digit or a lone capital as it does in random text.
var words = regexp.MustCompile(`^[a-z]*(?:[/_.~-]+[a-z]*|[A-Z][a-z]+|[A-Z]{2,}|[0-9]+)*$`)

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	n, h := float64(len(s)), 0.0
	for _, c := range counts {
		p := float64(c) / n
		h -= p * math.Log2(p)
	}
	return h
}

// urlPassword finds the password of a URL's user information
// (scheme://user:password@host), up to the last @ before the path.
var urlPassword = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s/@:]*:([^\s/]*)@`)

// param finds name=value and "name: value" pairs.
var param = regexp.MustCompile(`([A-Za-z0-9_.-]+)(?:=|:\s+)([^&\s;,"']*)`)

// word finds runs of the characters tokens are made of.
var word = regexp.MustCompile(`[A-Za-z0-9+/=_.~-]+`)

// isPartSep reports whether b separates the parts of a word that are
// tested on their own: a host's labels, a path's segments, name=value.
func isPartSep(b byte) bool { return b == '.' || b == '/' || b == '~' || b == '=' }

// Mask returns value with every secret in it replaced by hide(secret): the
// whole value when name marks a secret or the value is one token;
// otherwise each URL password, each value of a secret-named parameter,
// each authorization credential and each token-looking word, keeping the
// rest (scheme, user, host, path) readable.
func Mask(name, value string, hide func(secret string) string) string {
	if strings.TrimSpace(value) == "" {
		return value
	}
	if IsName(name) || LooksLikeToken(value) {
		return hide(value)
	}
	return maskParts(value, LooksLikeToken, hide)
}

// maskParts hides each URL password, each value of a secret-named
// parameter, each authorization credential and each word (or part of a
// word) that token reports as a credential.
func maskParts(value string, token func(string) bool, hide func(string) string) string {
	var spans [][2]int
	for _, m := range urlPassword.FindAllStringSubmatchIndex(value, -1) {
		spans = append(spans, [2]int{m[2], m[3]})
	}
	for _, m := range param.FindAllStringSubmatchIndex(value, -1) {
		if IsName(value[m[2]:m[3]]) {
			spans = append(spans, [2]int{m[4], m[5]})
		}
	}
	for _, m := range authScheme.FindAllStringSubmatchIndex(value, -1) {
		spans = append(spans, [2]int{m[2], m[3]})
	}
	for _, m := range word.FindAllStringIndex(value, -1) {
		spans = append(spans, tokenSpans(value, m[0], m[1], token)...)
	}
	return replace(value, spans, hide)
}

// tokenSpans returns the parts of value[from:to] that token reports as
// credentials: the whole word, or else its parts (see isPartSep).
func tokenSpans(value string, from, to int, token func(string) bool) [][2]int {
	if token(value[from:to]) {
		return [][2]int{{from, to}}
	}
	var out [][2]int
	start := from
	for i := from; i <= to; i++ {
		if i == to || isPartSep(value[i]) {
			if i > start && token(value[start:i]) {
				out = append(out, [2]int{start, i})
			}
			start = i + 1
		}
	}
	return out
}

// replace hides the given spans of value, merging overlapping ones.
func replace(value string, spans [][2]int, hide func(string) string) string {
	spans = slices.DeleteFunc(spans, func(s [2]int) bool { return s[0] >= s[1] })
	if len(spans) == 0 {
		return value
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var b strings.Builder
	last := 0
	for i := 0; i < len(spans); {
		start, end := spans[i][0], spans[i][1]
		for i++; i < len(spans) && spans[i][0] <= end; i++ {
			end = max(end, spans[i][1])
		}
		b.WriteString(value[last:start])
		b.WriteString(hide(value[start:end]))
		last = end
	}
	b.WriteString(value[last:])
	return b.String()
}
