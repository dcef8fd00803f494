package config

import (
	"strings"
	"testing"
	"time"
)

func TestNotifyConfig(t *testing.T) {
	hook := "https://hooks.slack.com/services/T0/B0/SECRETTOKEN"
	base := map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := load(with("SLACK_WEBHOOK_URL", hook, "CONSOLE_URL", "https://ops.example.com/",
		"ALERT_WEBHOOK_URL", "https://hooks.example.com/atum", "ALERT_WEBHOOK_SECRET", "0123456789abcdef0123",
		"ALERT_WEBHOOK_MIN_SEVERITY", "critical", "ALERT_REPEAT_INTERVAL", "2h", "ALERTMANAGER_URL", "http://am.internal:9093/"))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notify
	if !n.Any() || n.ConsoleURL != "https://ops.example.com" || n.SlackMinSeverity != "warning" || n.WebhookMinSeverity != "critical" ||
		n.RepeatInterval != 2*time.Hour || n.AlertmanagerURL != "http://am.internal:9093" {
		t.Fatalf("%+v", n)
	}
	if c, _ := load(base); c.Notify.Any() || c.Notify.RepeatInterval != 4*time.Hour {
		t.Fatalf("defaults: %+v", c.Notify)
	}
	for _, tc := range []struct {
		vars    map[string]string
		wantVar string
	}{
		{with("SLACK_WEBHOOK_URL", hook), "CONSOLE_URL"},
		{with("SLACK_WEBHOOK_URL", "hooks.slack.com/SECRETTOKEN", "CONSOLE_URL", "https://ops.example.com"), "SLACK_WEBHOOK_URL"},
		{with("SLACK_WEBHOOK_URL", "http://hooks.slack.com/SECRETTOKEN", "CONSOLE_URL", "https://ops.example.com"), "SLACK_WEBHOOK_URL"},
		{with("SLACK_WEBHOOK_URL", hook, "CONSOLE_URL", "https://ops.example.com", "SLACK_MIN_SEVERITY", "info"), "SLACK_MIN_SEVERITY"},
		{with("ALERT_WEBHOOK_URL", "https://hooks.example.com/SECRETTOKEN", "CONSOLE_URL", "https://ops.example.com"), "ALERT_WEBHOOK_SECRET"},
		{with("ALERT_REPEAT_INTERVAL", "10s"), "ALERT_REPEAT_INTERVAL"},
	} {
		_, err := load(tc.vars)
		if err == nil || !strings.Contains(err.Error(), tc.wantVar) {
			t.Errorf("%v: error %v; want one naming %s", tc.vars, err, tc.wantVar)
		}
		if err != nil && strings.Contains(err.Error(), "SECRETTOKEN") {
			t.Errorf("the error repeats a secret: %v", err)
		}
	}
	// Outside production a target may go without CONSOLE_URL.
	if _, err := load(map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": prodDB,
		"ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook", "ALERT_WEBHOOK_SECRET": "0123456789abcdef"}); err != nil {
		t.Fatal(err)
	}
}
