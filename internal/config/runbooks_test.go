package config

import (
	"maps"
	"strings"
	"testing"
)

func TestAlertRunbookURLs(t *testing.T) {
	base := func(v string) map[string]string {
		return map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "ALERT_RUNBOOK_URLS": v}
	}
	c, err := load(base(""))
	if err != nil || len(c.AlertRunbookURLs) != 0 {
		t.Fatalf("unset: %v, %v; want none", c, err)
	}
	c, err = load(base(" fleet.crash-loop=https://wiki.atum.io/runbooks/crash-loop , connections.waiting=https://wiki.atum.io/db#waiting,"))
	want := map[string]string{"fleet.crash-loop": "https://wiki.atum.io/runbooks/crash-loop", "connections.waiting": "https://wiki.atum.io/db#waiting"}
	if err != nil || !maps.Equal(c.AlertRunbookURLs, want) {
		t.Fatalf("good pairs: %v, %v", c, err)
	}
	for _, tc := range []struct{ name, value, want string }{
		{"http refused", "fleet.crash-loop=http://wiki.atum.io/crash", "must use https"},
		{"not a URL", "fleet.crash-loop=wiki.atum.io/crash", "not an absolute URL"},
		{"bad URL", "fleet.crash-loop=https://%zz", "not an absolute URL"},
		{"credentials", "fleet.crash-loop=https://me:pw@wiki.atum.io/", "no credentials"},
		{"javascript", "fleet.crash-loop=javascript:alert(1)", "not an absolute URL"},
		{"no equals", "fleet.crash-loop https://wiki.atum.io/", "want rule=https://"},
		{"no rule", "=https://wiki.atum.io/", "want rule=https://"},
		{"no URL", "fleet.crash-loop=", "want rule=https://"},
		{"unknown rule", "fleet.crashloop=https://wiki.atum.io/", `"fleet.crashloop", which the console does not raise`},
		{"twice", "switch.on=https://a.atum.io/,switch.on=https://b.atum.io/", "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(base(tc.value))
			if err == nil || !strings.Contains(err.Error(), "ALERT_RUNBOOK_URLS") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%q: %v; want an error naming ALERT_RUNBOOK_URLS with %q", tc.value, err, tc.want)
			}
			if strings.Contains(err.Error(), ":pw@") {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}
}
