package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Notify is where alert notifications go. Webhook URLs and the signing
// secret are secrets: they never reach a page or a log line.
type Notify struct {
	// SlackWebhookURL is a Slack incoming webhook; SlackMinSeverity the
	// least severity sent there (warning or critical).
	SlackWebhookURL  string
	SlackMinSeverity string
	// WebhookURL receives signed JSON (HMAC-SHA256 with WebhookSecret);
	// WebhookMinSeverity as above.
	WebhookURL         string
	WebhookSecret      string
	WebhookMinSeverity string
	// AlertmanagerURL is an Alertmanager's base URL (alerts are posted to
	// its /api/v2/alerts).
	AlertmanagerURL string
	// ConsoleURL is the console's public URL, for links in notifications.
	ConsoleURL string
	// RepeatInterval is how often a firing, unacknowledged, unsilenced
	// alert is notified again.
	RepeatInterval time.Duration
}

// Any reports whether a target is configured.
func (n Notify) Any() bool {
	return n.SlackWebhookURL != "" || n.WebhookURL != "" || n.AlertmanagerURL != ""
}

// Secrets lists the values to redact from pages and logs.
func (n Notify) Secrets() []string {
	return []string{n.SlackWebhookURL, n.WebhookURL, n.WebhookSecret, n.AlertmanagerURL}
}

// loadNotify reads and validates the notification targets.
func (c *Config) loadNotify(getenv func(string) string) []error {
	n := Notify{
		SlackWebhookURL:    strings.TrimSpace(getenv("SLACK_WEBHOOK_URL")),
		SlackMinSeverity:   strings.TrimSpace(getenv("SLACK_MIN_SEVERITY")),
		WebhookURL:         strings.TrimSpace(getenv("ALERT_WEBHOOK_URL")),
		WebhookSecret:      strings.TrimSpace(getenv("ALERT_WEBHOOK_SECRET")),
		WebhookMinSeverity: strings.TrimSpace(getenv("ALERT_WEBHOOK_MIN_SEVERITY")),
		AlertmanagerURL:    strings.TrimSuffix(strings.TrimSpace(getenv("ALERTMANAGER_URL")), "/"),
		ConsoleURL:         strings.TrimSuffix(strings.TrimSpace(getenv("CONSOLE_URL")), "/"),
		RepeatInterval:     4 * time.Hour,
	}
	var errs []error
	add := func(v, format string, a ...any) { errs = append(errs, &Error{Var: v, Msg: fmt.Sprintf(format, a...)}) }
	strict := c.Environment == Production || c.Environment == Staging
	for _, u := range []struct{ name, value string }{
		{"SLACK_WEBHOOK_URL", n.SlackWebhookURL}, {"ALERT_WEBHOOK_URL", n.WebhookURL},
		{"ALERTMANAGER_URL", n.AlertmanagerURL}, {"CONSOLE_URL", n.ConsoleURL},
	} {
		if u.value == "" {
			continue
		}
		p, err := url.Parse(u.value)
		switch {
		case err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "":
			// The value itself may be a secret: never repeat it.
			add(u.name, "is not an http(s) URL")
		case strict && p.Scheme == "http" && u.name != "ALERTMANAGER_URL":
			add(u.name, "must be https in %s", c.Environment)
		}
	}
	for _, s := range []struct {
		name  string
		value *string
	}{
		{"SLACK_MIN_SEVERITY", &n.SlackMinSeverity}, {"ALERT_WEBHOOK_MIN_SEVERITY", &n.WebhookMinSeverity},
	} {
		switch *s.value {
		case "":
			*s.value = "warning"
		case "warning", "critical":
		default:
			add(s.name, "is %q; want warning or critical", *s.value)
		}
	}
	if n.WebhookURL != "" && len(n.WebhookSecret) < 16 {
		add("ALERT_WEBHOOK_SECRET", "is required with ALERT_WEBHOOK_URL (at least 16 characters)")
	}
	if v := strings.TrimSpace(getenv("ALERT_REPEAT_INTERVAL")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			add("ALERT_REPEAT_INTERVAL", "is %q; want a duration of at least 1m, e.g. 4h", v)
		} else {
			n.RepeatInterval = d
		}
	}
	if n.Any() && n.ConsoleURL == "" && c.Environment == Production {
		add("CONSOLE_URL", "is required when a notification target is set (links in notifications)")
	}
	c.Notify = n
	return errs
}
