package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/web"
)

// Bad bytes, control characters and over-long values are a clear 400
// that names the value and the limit, audited, and never reach Postgres.
func TestBadInputIsRefusedWith400(t *testing.T) {
	h := newHarness(t)
	h.seedPlatform()
	admin := h.operator("admin@atum.io", auth.Admin)
	long := strings.Repeat("a", web.MaxQueryValueBytes+1)
	cases := []struct{ path, want string }{
		{"/accounts?q=%ff%fe", "not valid UTF-8"},
		{"/accounts?q=" + long, fmt.Sprintf("at most %d", web.MaxQueryValueBytes)},
		{"/accounts?q=rish%00", "NUL"},
		{"/accounts/users/%ff", "not valid UTF-8"},
		{"/audit?operator=%ff", "not valid UTF-8"},
		{"/audit.csv?target=x%01y", "control character"},
		{"/queues?cursor=%0a", "control character"},
		{"/fleet/machines/%00", "NUL"},
	}
	for _, tc := range cases {
		resp := h.get(admin, tc.path)
		b := body(resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, tc.want) {
			t.Errorf("GET %.60s: %d, want 400 saying %q\n%.300s", tc.path, resp.StatusCode, tc.want, b)
		}
	}
	if n := len(h.events("request.refused")); n != len(cases) {
		t.Errorf("%d refusals audited, want %d", n, len(cases))
	}
	for _, e := range h.events("request.refused") {
		if strings.Contains(e.DetailsJSON, long[:50]) || strings.Contains(e.DetailsJSON, "rish") {
			t.Errorf("a refused value reached the audit log: %s", e.DetailsJSON)
		}
	}
	// A NUL in the sign-in email is refused the same way, and nobody is
	// signed in.
	resp := h.post(h.client(), "/login", url.Values{"email": {"a\x00@atum.io"}, "password": {"x"}})
	if b := body(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "NUL") {
		t.Errorf("NUL in the login email: %d %.200s", resp.StatusCode, b)
	}
	// A search is an email at most: longer is refused with the limit, and
	// audited, not silently ignored.
	if resp := h.get(admin, "/accounts?q="+strings.Repeat("b", 200)); resp.StatusCode != http.StatusOK {
		t.Errorf("a 200-byte search: %d", resp.StatusCode)
	}
	resp = h.get(admin, "/accounts?q="+strings.Repeat("b", 400))
	if b := body(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "at most 320") {
		t.Errorf("a 400-byte search: %d", resp.StatusCode)
	}
	if ev := h.events("account.search"); len(ev) == 0 || ev[0].Result != "failure" {
		t.Errorf("the refused search was not audited: %+v", ev)
	}
}

func TestHEADWorksWhereGETDoes(t *testing.T) {
	h := newHarness(t)
	viewer := h.operator("v@atum.io", auth.Viewer)
	for _, tc := range []struct {
		c    *http.Client
		path string
		want int
	}{{h.client(), "/healthz", 200}, {h.client(), "/login", 200}, {viewer, "/", 200}, {viewer, "/cache", 200},
		{h.client(), "/", http.StatusSeeOther}, {viewer, "/operators", http.StatusForbidden}} {
		req, _ := http.NewRequest(http.MethodHead, h.ts.URL+tc.path, nil)
		resp, err := tc.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if b := body(resp); resp.StatusCode != tc.want || b != "" {
			t.Errorf("HEAD %s: %d with %d bytes, want %d and no body", tc.path, resp.StatusCode, len(b), tc.want)
		}
	}
}

// The console makes its own request ids; a client cannot plant one in
// the audit log.
func TestRequestIDsAreTheConsoles(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.CreateOperator(context.Background(), "r@atum.io", auth.Viewer, password, false); err != nil {
		t.Fatal(err)
	}
	resp := h.post(h.client(), "/login", url.Values{"email": {"r@atum.io"}, "password": {password}}, "X-Request-Id", "forged-id")
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if id == "forged-id" || !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(id) {
		t.Fatalf("response request id %q", id)
	}
	ev := h.events("login")
	if len(ev) != 1 || ev[0].RequestID != id {
		t.Fatalf("audited request id %q, want the console's %q", ev[0].RequestID, id)
	}
}

func TestFailedLookupsAreAudited(t *testing.T) {
	h := newHarness(t)
	h.seedPlatform()
	sup := h.operator("s@atum.io", auth.Support)
	if resp := h.get(sup, "/accounts/users/00000000-0000-0000-0000-000000000000"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown user: %d", resp.StatusCode)
	}
	if resp := h.get(sup, "/accounts/tenants/not-an-id"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bad tenant id: %d", resp.StatusCode)
	}
	ev := h.events("account.view")
	if len(ev) != 2 || ev[0].Result != "failure" || ev[1].Result != "failure" {
		t.Fatalf("failed lookups audited as %+v", ev)
	}
}

// While the console's database is gone, the sign-in form still renders,
// a session checked earlier still opens read-only pages (marked), and
// every write is a 503 naming the database.
func TestDatabaseGoneKeepsReadOnlyPages(t *testing.T) {
	h := newHarness(t)
	c := h.operator("o@atum.io", auth.Operator)
	if resp := h.get(c, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d", resp.StatusCode)
	}
	h.pool.Close()
	// Within web.SessionFresh of its check a session opens pages unchecked.
	time.Sleep(web.SessionFresh)
	start := time.Now()
	if resp := h.get(h.client(), "/login"); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in form without the database: %d", resp.StatusCode)
	}
	resp := h.get(c, "/")
	if b := body(resp); resp.StatusCode != http.StatusOK || !strings.Contains(b, `data-testid="degraded"`) {
		t.Fatalf("overview on a remembered session: %d\n%.500s", resp.StatusCode, b)
	}
	resp = h.post(c, "/switches/SUSPEND_REDIS", url.Values{"enabled": {"true"}, "reason": {"x"}, "confirm": {"SUSPEND_REDIS"}})
	if b := body(resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "database") {
		t.Fatalf("a write without the database: %d\n%.300s", resp.StatusCode, b)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("three requests took %s without the database", d)
	}
}

// A flood of wrong sign-ins from one address is answered mostly without
// hashing, and a real person signing in from elsewhere gets in.
func TestSignInFloodSparesOthers(t *testing.T) {
	h := newHarness(t, behindFly)
	if _, err := h.store.CreateOperator(context.Background(), "real@atum.io", auth.Admin, password, false); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"email": {fmt.Sprintf("nobody%d@atum.io", i)}, "password": {"guess"}}
			req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Fly-Client-IP", "203.0.113.7")
			resp, err := h.clientFrom(proxyAddr).Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusUnauthorized] > auth.MaxAddressFailures || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests]+
		statuses[http.StatusServiceUnavailable] != 100 {
		t.Fatalf("100 wrong sign-ins from one address: %v; want at most %d checked, the rest refused", statuses, auth.MaxAddressFailures)
	}
	resp := h.post(h.clientFrom(proxyAddr), "/login", url.Values{"email": {"real@atum.io"}, "password": {password}}, "Fly-Client-IP", "198.51.100.9")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the real person from another address: %d %s", resp.StatusCode, body(resp))
	}
	// Refusals are audited once per address and reason, not 100 times.
	if n := len(h.events("login")); n > auth.MaxAddressFailures+5 {
		t.Errorf("%d sign-in events for the flood", n)
	}
}
