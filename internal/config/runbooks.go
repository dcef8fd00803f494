package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/atum/ops-console/internal/alerts"
)

// loadRunbookURLs sets AlertRunbookURLs from ALERT_RUNBOOK_URLS.
func (c *Config) loadRunbookURLs(getenv func(string) string) []error {
	urls, err := parseRunbookURLs(getenv("ALERT_RUNBOOK_URLS"))
	if err != nil {
		return []error{&Error{Var: "ALERT_RUNBOOK_URLS", Msg: err.Error()}}
	}
	c.AlertRunbookURLs = urls
	return nil
}

// parseRunbookURLs reads ALERT_RUNBOOK_URLS: comma-separated rule=URL
// pairs naming the team's own runbook for a rule. Every rule must be one
// the console raises, and every URL an absolute https URL.
func parseRunbookURLs(raw string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(raw, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		rule, link, ok := strings.Cut(pair, "=")
		rule, link = strings.TrimSpace(rule), strings.TrimSpace(link)
		if !ok || rule == "" || link == "" {
			return nil, fmt.Errorf("has %q; want rule=https://… pairs separated by commas", clipText(pair, 60))
		}
		if _, known := alerts.RunbookFor(rule); !known {
			return nil, fmt.Errorf("names rule %q, which the console does not raise (rules: %s)", clipText(rule, 60), strings.Join(alerts.Rules(), ", "))
		}
		if _, dup := out[rule]; dup {
			return nil, fmt.Errorf("names rule %q twice", rule)
		}
		if err := checkRunbookURL(link); err != nil {
			return nil, fmt.Errorf("for %s: %w", rule, err)
		}
		out[rule] = link
	}
	return out, nil
}

// checkRunbookURL accepts an absolute https URL with a host.
func checkRunbookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL with a host (and no credentials)", clipText(RedactURL(raw), 80))
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%q must use https", clipText(RedactURL(raw), 80))
	}
	return nil
}

// clipText shortens s to n bytes for an error message.
func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
