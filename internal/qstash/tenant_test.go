package qstash_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/internal/testenv"
)

func TestTenantLabelAndSlugRules(t *testing.T) {
	if l, err := qstash.TenantLabel("acme_2-eu"); err != nil || l != "tenant-acme_2-eu" {
		t.Fatalf("TenantLabel(acme_2-eu) = %q, %v", l, err)
	}
	if l, err := qstash.TenantLabel(strings.Repeat("a", 63)); err != nil || len(l) != 70 {
		t.Fatalf("a 63-character slug: %q, %v", l, err)
	}
	for _, slug := range []string{"", "ACME", "-acme", "_acme", "a b", "a/b", "..", ".", "a.b", "a,b", "acme\x00",
		"ümlaut", "<script>", strings.Repeat("a", 64)} {
		if _, err := qstash.TenantLabel(slug); !errors.Is(err, qstash.ErrInvalidLabel) {
			t.Errorf("TenantLabel(%q) = %v", slug, err)
		}
	}
	for _, ok := range []string{"a", "tenant-acme", "A.b_c-9", strings.Repeat("x", 100)} {
		if err := qstash.CheckLabel(ok); err != nil {
			t.Errorf("CheckLabel(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a,b", "a b", "a&label=b", "a\n", "ü", strings.Repeat("x", 101)} {
		if err := qstash.CheckLabel(bad); !errors.Is(err, qstash.ErrInvalidLabel) {
			t.Errorf("CheckLabel(%q) = %v", bad, err)
		}
	}
}

// The forwarded tenant header is matched with or without QStash's
// Upstash-Forward- prefix, in any case, and only with the exact slug.
func TestForTenantMatchesBothHeaderForms(t *testing.T) {
	for _, tc := range []struct {
		header map[string][]string
		want   bool
	}{
		{map[string][]string{"X-Atum-Tenant": {"acme"}}, true},
		{map[string][]string{"Upstash-Forward-X-Atum-Tenant": {"acme"}}, true},
		{map[string][]string{"x-atum-tenant": {" acme "}}, true},
		{map[string][]string{"X-Atum-Tenant": {"globex", "acme"}}, true},
		{map[string][]string{"X-Atum-Tenant": {"acme-corp"}}, false},
		{map[string][]string{"X-Atum-Tenant": {"ACME"}}, false},
		{map[string][]string{"X-Other": {"acme"}}, false},
		{map[string][]string{"Upstash-Forward-X-Atum-Tenants": {"acme"}}, false},
		{nil, false},
	} {
		if got := qstash.ForTenant(qstash.Message{Header: tc.header}, "acme"); got != tc.want {
			t.Errorf("ForTenant(%v) = %v", tc.header, got)
		}
	}
	if !qstash.HasLabel(qstash.Message{Label: "tenant-acme"}, "tenant-acme") ||
		!qstash.HasLabel(qstash.Message{Labels: []string{"x", "tenant-acme"}}, "tenant-acme") ||
		qstash.HasLabel(qstash.Message{Labels: []string{"tenant-acme-corp"}}, "tenant-acme") {
		t.Fatal("HasLabel")
	}
}

// LogsByLabel sends the label filter on /v2/logs and pages with the
// cursor; a label QStash would not accept is refused before any call.
func TestLogsByTenantLabel(t *testing.T) {
	d, c := double(t, qstashdouble.Options{MaxRetries: -1, RetryDelay: time.Millisecond})
	ctx := context.Background()
	for _, bad := range []string{"", "tenant-acme,tenant-globex", "tenant-acme&label=x", "tenant acme"} {
		if _, err := c.LogsByLabel(ctx, bad, "", 10); !errors.Is(err, qstash.ErrInvalidLabel) {
			t.Errorf("LogsByLabel(%q) = %v", bad, err)
		}
	}
	if n := len(d.Requests()); n != 0 {
		t.Fatalf("%d calls sent for refused labels", n)
	}
	dest := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer dest.Close()
	mine := map[string]bool{}
	for i, labels := range [][]string{{"tenant-acme"}, {"tenant-globex"}, {"billing", "tenant-acme"}} {
		p, err := c.Publish(ctx, qstash.Publish{Destination: dest.URL + "/hook", Body: []byte("{}"), Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		if i != 1 {
			mine[p.MessageID] = true
		}
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return d.Delivered() == 3 }, "the messages were not delivered")
	d.ResetRequests()
	p, err := c.LogsByLabel(ctx, "tenant-acme", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Logs) != 6 || p.Cursor != "" { // CREATED, ACTIVE, DELIVERED of two messages
		t.Fatalf("acme's logs: %+v", p)
	}
	for _, l := range p.Logs {
		if !mine[l.MessageID] || !qstash.HasLabel(qstash.Message{Labels: l.Labels}, "tenant-acme") || l.URL != dest.URL+"/hook" {
			t.Fatalf("an entry not of acme's messages: %+v", l)
		}
	}
	if r := d.Requests(); len(r) != 1 || r[0].Path != "/v2/logs" || r[0].Query.Get("label") != "tenant-acme" || r[0].Query.Get("count") != "100" {
		t.Fatalf("requests %+v", r)
	}
	first, err := c.LogsByLabel(ctx, "tenant-acme", "", 4)
	if err != nil || len(first.Logs) != 4 || first.Cursor == "" {
		t.Fatalf("first page: %+v, %v", first, err)
	}
	rest, err := c.LogsByLabel(ctx, "tenant-acme", first.Cursor, 4)
	if err != nil || len(rest.Logs) != 2 || rest.Cursor != "" || rest.Logs[0].Time > first.Logs[3].Time {
		t.Fatalf("second page: %+v, %v", rest, err)
	}
}

// ScanNewest reads the newest creation windows first, though the double
// (as QStash may) lists the oldest dead letters first, stops at its page
// bound, says what it covered, and returns what it read with an error.
func TestScanNewestTenantDeadLetters(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	now := time.Now()
	add := func(n int, age time.Duration, header map[string][]string) {
		for range n {
			d.AddDLQ(qstashdouble.DLQMessage{URL: "https://api.example/x", CreatedAt: now.Add(-age).UnixMilli(), Header: header})
		}
	}
	acme := map[string][]string{"X-Atum-Tenant": {"acme"}}
	add(248, 72*time.Hour, nil)
	add(2, 72*time.Hour, acme)
	add(27, 10*time.Minute, nil)
	add(3, 10*time.Minute, acme)
	keep := func(m qstash.Message) bool { return qstash.ForTenant(m, "acme") }
	ctx := context.Background()

	s, err := qstash.ScanNewest(ctx, c.ListDLQ, now, 2, keep)
	if err != nil {
		t.Fatal(err)
	}
	// The last hour (30, one page), then the day before (none): two pages.
	if s.Pages != 2 || s.Scanned != 30 || len(s.Matches) != 3 || s.Complete || s.Covered != 30 || !s.Since.Equal(now.Add(-24*time.Hour)) {
		t.Fatalf("two pages: %+v", s)
	}
	s, err = qstash.ScanNewest(ctx, c.ListDLQ, now, 4, keep)
	if err != nil || s.Pages != 4 || s.Scanned != 230 || len(s.Matches) != 3 || s.Covered != 30 || s.Complete {
		t.Fatalf("four pages: %+v, %v", s, err)
	}
	s, err = qstash.ScanNewest(ctx, c.ListDLQ, now, 6, keep)
	if err != nil || s.Scanned != 280 || len(s.Matches) != 5 || !s.Complete || s.Covered != 280 {
		t.Fatalf("six pages: %+v, %v", s, err)
	}
	for _, r := range d.Requests() {
		if r.Path != "/v2/dlq" || r.Method != http.MethodGet || r.Query.Get("count") != "100" {
			t.Fatalf("unexpected call %+v", r)
		}
	}
	if q := d.Requests()[0].Query; q.Get("fromDate") == "" || q.Get("toDate") != "" {
		t.Fatalf("the first page is not the last hour: %v", q)
	}
	calls := 0
	failThird := func(ctx context.Context, f qstash.Filter, cursor string, count int) (qstash.Page, error) {
		if calls++; calls == 3 {
			d.FailNext(1, http.StatusServiceUnavailable)
		}
		return c.ListDLQ(ctx, f, cursor, count)
	}
	s, err = qstash.ScanNewest(ctx, failThird, now, 5, keep)
	var ae *qstash.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || s.Pages != 2 || s.Scanned != 30 || len(s.Matches) != 3 {
		t.Fatalf("QStash failing on the third page: %+v, %v", s, err)
	}
}

// A tenant scan's pages are shared among viewers like the list's, but no
// last good copy of them is kept (they would push out the list's).
func TestTenantScanPagesAreSharedButNotCopied(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	d.AddDLQ(qstashdouble.DLQMessage{URL: "https://api.example/x"})
	pc := &qstash.PageCache{TTL: time.Minute}
	ctx := context.Background()
	f := qstash.Filter{From: time.Now().Add(-time.Hour)}
	for range 3 {
		if p, err := pc.ListForScan(ctx, c, f, "", qstash.MaxPage); err != nil || len(p.Messages) != 1 {
			t.Fatalf("scan page: %+v, %v", p, err)
		}
	}
	if n := len(d.Requests()); n != 1 {
		t.Fatalf("%d calls for one shared page", n)
	}
	if _, _, ok := pc.LastGood(c, f, "", qstash.MaxPage); ok {
		t.Fatal("a scan page was kept as a last good copy")
	}
	if _, err := pc.List(ctx, c, qstash.Filter{}, "", qstash.MaxPage); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := pc.LastGood(c, qstash.Filter{}, "", qstash.MaxPage); !ok {
		t.Fatal("a listed page was not kept as a last good copy")
	}
}
