package qstash

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/atum/ops-console/internal/audit"
)

// maxReason bounds a recorded failure reason, in bytes.
const maxReason = 240

// reasonOf returns why err happened, fit to record, show and audit: a
// QStash refusal as "HTTP <status>: <message>", secrets in it (a token in
// a destination's query, a URL password) redacted, control characters
// replaced and the text clipped.
func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	var ae *APIError
	if errors.As(err, &ae) {
		s = fmt.Sprintf("HTTP %d: %s", ae.Status, ae.Message)
	}
	s = strings.TrimPrefix(s, "qstash: ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	return clipText(audit.RedactValue("", strings.Join(strings.Fields(s), " ")), maxReason)
}

// clipText cuts s to at most n bytes on a rune boundary, marking the cut.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// utf8RuneStart reports whether b can begin a UTF-8 encoded rune.
func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
