package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/testenv"
)

// A dead letter's page shows its lifecycle from QStash's logs: created,
// delivered with an error, retried, failed, with the destination's status.
func TestDeadLetterPageShowsItsLifecycle(t *testing.T) {
	h := newHarness(t)
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusBadGateway)
	}))
	defer dest.Close()
	req, _ := http.NewRequest(http.MethodPost, h.qsURL+"/v2/publish/"+dest.URL+"/hook", strings.NewReader(`{"n":1}`))
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("publish to the double: %v %v", resp, err)
	}
	resp.Body.Close()
	c, _ := qstash.NewClient("eu", h.qsURL, "test-token", 5*time.Second)
	var dlqID string
	testenv.Eventually(t, 10*time.Second, func() bool {
		p, err := c.ListDLQ(context.Background(), qstash.Filter{}, "", 10)
		if err != nil || len(p.Messages) == 0 {
			return false
		}
		dlqID = p.Messages[0].DLQID
		return true
	}, "the message never reached the dead-letter queue")
	for _, role := range []auth.Role{auth.Viewer, auth.Support} {
		b := body(h.get(h.operator(string(role)+"@atum.io", role), "/queues/dlq/"+dlqID+"?region=eu"))
		states := regexp.MustCompile(`<td><strong>([A-Z]+)</strong></td>`).FindAllStringSubmatch(b, -1)
		var got []string
		for _, s := range states {
			got = append(got, s[1])
		}
		if strings.Join(got, ",") != "CREATED,ACTIVE,ERROR,RETRY,ACTIVE,ERROR,FAILED" {
			t.Errorf("%s: lifecycle %v", role, got)
		}
		if !strings.Contains(b, "502") {
			t.Errorf("%s: the lifecycle does not show the destination's status", role)
		}
	}
}
