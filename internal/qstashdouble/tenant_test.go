package qstashdouble

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// The logs are filtered by label, as QStash's (one value, several
// comma-separated, or repeated), and each entry carries its message's
// labels.
func TestLogsFilterByTenantLabel(t *testing.T) {
	e := newEnv(t, Options{MaxRetries: -1, RetryDelay: time.Millisecond})
	good := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer good.Close()
	ids := map[string]string{}
	for _, label := range []string{"tenant-acme", "tenant-globex", ""} {
		var out map[string]string
		hdr := map[string]string{}
		if label != "" {
			hdr["Upstash-Label"] = label + ",billing"
		}
		if st, _ := e.do("POST", "/v2/publish/"+good.URL+"/hook", "{}", hdr, &out); st != http.StatusCreated {
			t.Fatalf("publish %q: %d", label, st)
		}
		ids[label] = out["messageId"]
	}
	waitFor(t, "delivery", func() bool { return e.s.Delivered() == 3 })
	type logs struct {
		Logs []struct {
			MessageID string   `json:"messageId"`
			State     string   `json:"state"`
			Labels    []string `json:"labels"`
		} `json:"logs"`
	}
	var acme logs
	e.do("GET", "/v2/logs?label=tenant-acme", "", nil, &acme)
	if len(acme.Logs) != 3 { // CREATED, ACTIVE, DELIVERED
		t.Fatalf("acme's logs: %+v", acme.Logs)
	}
	for _, l := range acme.Logs {
		if l.MessageID != ids["tenant-acme"] || !slices.Equal(l.Labels, []string{"tenant-acme", "billing"}) {
			t.Fatalf("an entry not of acme's message, or without its labels: %+v", l)
		}
	}
	for _, q := range []string{"label=tenant-acme,tenant-globex", "label=tenant-acme&label=tenant-globex", "label=billing"} {
		var both logs
		e.do("GET", "/v2/logs?"+q, "", nil, &both)
		seen := map[string]bool{}
		for _, l := range both.Logs {
			seen[l.MessageID] = true
		}
		if len(both.Logs) != 6 || !seen[ids["tenant-acme"]] || !seen[ids["tenant-globex"]] || seen[ids[""]] {
			t.Fatalf("%s: %+v", q, both.Logs)
		}
	}
	var none logs
	e.do("GET", "/v2/logs?label=tenant-initech", "", nil, &none)
	if len(none.Logs) != 0 {
		t.Fatalf("a label nobody carries matched %+v", none.Logs)
	}
}
