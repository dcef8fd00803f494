package web_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/web"
)

// observed is one request Observe was told about.
type observed struct {
	method, route string
	status        int
}

// TestObserveAndNoMetricsOnPublicPort checks that every answered request
// is reported with its route pattern, never its raw path, and that the
// public server does not serve /metrics to anyone, signed in or not.
func TestObserveAndNoMetricsOnPublicPort(t *testing.T) {
	var mu sync.Mutex
	var got []observed
	h := newHarness(t, func(d *web.Deps) {
		d.Observe = func(method, route string, status int, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, observed{method, route, status})
		}
	})
	anon := h.client()
	admin := h.operator("admin@atum.io", auth.Admin)
	for _, c := range []*http.Client{anon, admin} {
		for _, p := range []string{"/metrics", "/metrics/", "/static/../metrics"} {
			resp := h.get(c, p)
			b := body(resp)
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusSeeOther {
				t.Errorf("GET %s on the public port: %d; want 404 (or the sign-in redirect)", p, resp.StatusCode)
			}
			for _, leak := range []string{"atum_http_request_duration_seconds", "go_goroutines", "# TYPE"} {
				if strings.Contains(b, leak) {
					t.Errorf("GET %s on the public port serves metrics (%q)", p, leak)
				}
			}
		}
	}
	body(h.get(anon, "/healthz"))
	body(h.get(admin, "/queues/dlq/does-not-exist"))
	body(h.get(anon, "/no/such/page/12345"))

	mu.Lock()
	defer mu.Unlock()
	want := []observed{{"GET", "/healthz", 200}, {"POST", "/login", http.StatusSeeOther}}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("Observe was not told of %+v; got %+v", w, got)
		}
	}
	var dlq bool
	for _, o := range got {
		if o.route == "/queues/dlq/:id" {
			dlq = true
		}
		if strings.Contains(o.route, "12345") || strings.Contains(o.route, "does-not-exist") {
			t.Errorf("a raw path reached the route label: %+v", o)
		}
		if o.status < 100 {
			t.Errorf("no status observed: %+v", o)
		}
	}
	t.Logf("observed: %+v", got)
	if !dlq {
		t.Errorf("the route pattern /queues/dlq/:id was not observed; got %+v", got)
	}
}
