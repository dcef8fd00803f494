package views

import (
	"net/url"
	"strings"
)

// AccountTrail is what an account page shows for the ticket: the
// protection in force and its history, the account's timeline and the
// redacted summary to paste into the ticket.
type AccountTrail struct {
	// Protection says what the protection in force is and what it
	// covers ("" when not protected).
	Protection string
	History    []ProtectionHistoryRow
	Timeline   []AccountTimelineLine
	// Summary is the redacted plain-text summary for the ticket.
	Summary string
}

// ProtectionHistoryRow is one change of an account's protection.
type ProtectionHistoryRow struct {
	At, Account, Change, Reason, OldReason, By string
}

// AccountTimelineLine is one line of an account's timeline.
type AccountTimelineLine struct {
	At, Source, What, Who, Result string
}

// AccountReason is the form asking for the reason (ticket) before an
// account's page opens: it opens Action again with ?reason= and the
// other query parameters (Keep) as they were.
type AccountReason struct {
	Action string
	What   string
	Keep   []KV
	Error  string
}

// WithReason adds the lookup reason to a link of the account's pages
// (unchanged when there is none), so that it is not asked again.
func WithReason(href, reason string) string {
	if reason == "" || href == "" {
		return href
	}
	sep := "?"
	if strings.Contains(href, "?") {
		sep = "&"
	}
	return href + sep + "reason=" + url.QueryEscape(reason)
}
