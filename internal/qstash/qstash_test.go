package qstash_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

const token = "test-token"

func double(t testing.TB, o qstashdouble.Options) (*qstashdouble.Server, *qstash.Client) {
	t.Helper()
	o.Token = token
	d := qstashdouble.New(o)
	base, err := d.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := qstash.NewClient("eu", base, token, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

// assertSafe proves from the double's request log that no filter-only,
// empty-id or oversized bulk call was ever sent.
func assertSafe(t *testing.T, d *qstashdouble.Server) {
	t.Helper()
	if dc := d.DangerousCalls(); len(dc) > 0 {
		t.Fatalf("dangerous calls reached QStash: %+v", dc)
	}
	for _, r := range d.Requests() {
		if r.Method != http.MethodDelete {
			continue
		}
		if r.Path == "/v2/dlq" && (len(r.Query["dlqIds"]) == 0 || len(r.Query["dlqIds"]) > 100) {
			t.Fatalf("bulk delete with %d ids: %+v", len(r.Query["dlqIds"]), r)
		}
		if strings.HasSuffix(r.Path, "/") {
			t.Fatalf("delete with an empty id: %+v", r)
		}
	}
}

func TestClientGuards(t *testing.T) {
	if _, err := qstash.NewClient("eu", "https://qstash.example", "", time.Second); err == nil {
		t.Fatal("an empty token was accepted")
	}
	if _, err := qstash.NewClient("eu", "qstash.example", "t", time.Second); err == nil {
		t.Fatal("a base URL without scheme was accepted")
	}
	for _, id := range []string{"", "../x", "a/b", "a?b=1", " 1", "1700000000000-0/"} {
		if qstash.CheckID(id) == nil {
			t.Errorf("CheckID(%q) passed", id)
		}
	}
	if qstash.CheckID("1700000000000-12") != nil {
		t.Error("a real DLQ id was refused")
	}
	d, c := double(t, qstashdouble.Options{})
	ctx := context.Background()
	if _, err := c.DeleteDLQByIDs(ctx, nil); !errors.Is(err, qstash.ErrInvalidID) {
		t.Fatalf("empty bulk delete: %v", err)
	}
	if err := c.DeleteDLQ(ctx, ""); !errors.Is(err, qstash.ErrInvalidID) {
		t.Fatalf("empty single delete: %v", err)
	}
	if _, err := c.RetryDLQ(ctx, ""); !errors.Is(err, qstash.ErrInvalidID) {
		t.Fatalf("empty retry: %v", err)
	}
	if len(d.Requests()) != 0 {
		t.Fatalf("refused calls reached QStash: %+v", d.Requests())
	}
}

// TestSDKEnvironmentCannotRedirectCalls: qstash-go prefers QSTASH_URL from
// the environment over the URL it is given; the wrapper keeps every call
// on the configured region.
func TestSDKEnvironmentCannotRedirectCalls(t *testing.T) {
	t.Setenv("QSTASH_URL", "http://127.0.0.1:1")
	d, c := double(t, qstashdouble.Options{})
	id := d.AddDLQ(qstashdouble.DLQMessage{URL: "http://127.0.0.1:9/hook", Method: "POST"})
	if _, err := c.Queues(context.Background()); err != nil {
		t.Fatalf("SDK call with QSTASH_URL set elsewhere: %v", err)
	}
	if err := c.DeleteDLQ(context.Background(), id); err != nil {
		t.Fatalf("SDK delete: %v", err)
	}
	if d.DLQCount() != 0 {
		t.Fatal("the delete went elsewhere")
	}
}

func TestStatusRateLimitsAndDeadlines(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	ctx := context.Background()
	if _, err := c.GetDLQ(ctx, "1-0"); !errors.Is(err, qstash.ErrNotFound) {
		t.Fatalf("missing message: %v", err)
	}
	if err := c.DeleteDLQ(ctx, "1-0"); !errors.Is(err, qstash.ErrNotFound) {
		t.Fatalf("SDK delete of a missing message: %v (the status must reach our code)", err)
	}
	d.FailNext(1, http.StatusTooManyRequests)
	_, err := c.Queues(ctx)
	if wait, limited := qstash.IsRateLimited(err); !limited || wait <= 0 || wait > time.Minute {
		t.Fatalf("429 through the SDK: %v (wait %s)", err, wait)
	}
	if ri := c.Rate(); ri == nil || ri.Limit == 0 {
		t.Fatalf("rate limit headers not recorded: %+v", ri)
	}
	d.FailNext(1, http.StatusServiceUnavailable)
	var ae *qstash.APIError
	if _, err := c.ListDLQ(ctx, qstash.Filter{}, "", 10); !errors.As(err, &ae) || ae.Status != 503 {
		t.Fatalf("503 with a non-JSON body: %v", err)
	}
	slow, err := qstash.NewClient("eu", strings.TrimSuffix(c.BaseURL(), "/"), token, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	d.SetLatency(time.Second)
	start := time.Now()
	if _, err := slow.Queues(ctx); err == nil || time.Since(start) > 700*time.Millisecond {
		t.Fatalf("deadline not applied: %v after %s", err, time.Since(start))
	}
}

func purger(t testing.TB, c *qstash.Client) *qstash.Purger {
	pool, _ := testenv.MigratedPool(t)
	return &qstash.Purger{Pool: pool, Clients: map[string]*qstash.Client{"eu": c}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxRateWaits: 3}
}

func fill(d *qstashdouble.Server, n int, queue string) []string {
	ids := make([]string, 0, n)
	for i := range n {
		ids = append(ids, d.AddDLQ(qstashdouble.DLQMessage{URL: fmt.Sprintf("http://127.0.0.1:9/%s/%d", queue, i), Method: "POST",
			QueueName: queue, Body: fmt.Sprintf(`{"n":%d}`, i), ResponseStatus: 500}))
	}
	return ids
}

func run(t *testing.T, p *qstash.Purger, id int64) qstash.PurgeInfo {
	t.Helper()
	ctx := context.Background()
	if err := p.Confirm(ctx, id, audit.Entry{Operator: "op@atum.io", Action: "dlq.purge.confirm", Result: audit.Intent}); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	pi, err := p.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return pi
}

// TestPurgeDeletesExactlyTheFrozenSet: 1,000 of 5,000 dead letters match;
// 50 more arrive after the preview; exactly the 1,000 go.
func TestPurgeDeletesExactlyTheFrozenSet(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	fill(d, 2000, "emails")
	billing := fill(d, 1000, "billing")
	fill(d, 2000, "webhooks")
	id, err := p.Preview(ctx, "eu", qstash.Filter{Queue: "billing"}, map[string]string{"queue": "billing"}, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	late := fill(d, 50, "billing") // arrive after the preview
	pi, err := p.Get(ctx, id)
	if err != nil || pi.Total != 1000 || pi.State != qstash.Previewed {
		t.Fatalf("preview = %+v, %v", pi, err)
	}
	if d.DLQCount() != 5050 {
		t.Fatal("the preview deleted something")
	}
	pi = run(t, p, id)
	if pi.State != qstash.Done || pi.Deleted != 1000 || pi.Gone != 0 || pi.Pending != 0 {
		t.Fatalf("result = %+v", pi)
	}
	left := map[string]bool{}
	for _, id := range d.DLQIDs() {
		left[id] = true
	}
	if len(left) != 4050 {
		t.Fatalf("%d dead letters left, want 4050", len(left))
	}
	for _, id := range billing {
		if left[id] {
			t.Fatalf("frozen %s survived", id)
		}
	}
	for _, id := range late {
		if !left[id] {
			t.Fatalf("%s arrived after the preview and was deleted", id)
		}
	}
	assertSafe(t, d)
}

func TestPurgeCountsAlreadyGoneAndSurvivesA429Storm(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	ids := fill(d, 450, "billing")
	id, err := p.Preview(ctx, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range ids[:30] { // retention took them before the purge ran
		d.RemoveDLQ(gone)
	}
	if err := p.Confirm(ctx, id, audit.Entry{Operator: "op@atum.io", Action: "dlq.purge.confirm", Result: audit.Intent}); err != nil {
		t.Fatal(err)
	}
	d.FailNext(5, http.StatusTooManyRequests) // more than MaxRateWaits in a row: the purge pauses
	if err := p.Run(ctx, id); err == nil {
		t.Fatal("the storm did not pause the purge")
	}
	pi, _ := p.Get(ctx, id)
	if pi.State != qstash.Paused || !strings.Contains(pi.Note, "rate limited") {
		t.Fatalf("after the storm: %+v", pi)
	}
	if err := p.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	pi, _ = p.Get(ctx, id)
	if pi.State != qstash.Done || pi.Deleted != 420 || pi.Gone != 30 || d.DLQCount() != 0 {
		t.Fatalf("result = %+v, %d left", pi, d.DLQCount())
	}
	assertSafe(t, d)
	// Undo skips the chunk in which 30 were already gone: which 70 of its
	// 100 the purge deleted is unknown, and none may be delivered twice.
	if res, err := p.Undo(ctx, id); err != nil || res.Republished != 350 {
		t.Fatalf("undo republished %d (%v), want the 350 of the clean chunks", res.Republished, err)
	}
}

// TestPurgeResumesAfterACrash: a crash left one chunk "sent" (QStash had
// deleted half of it) and the purge "running"; the next run finishes from
// the recorded state and deletes nothing outside the frozen set.
func TestPurgeResumesAfterACrash(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	frozen := fill(d, 300, "billing")
	others := fill(d, 100, "emails")
	id, err := p.Preview(ctx, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Confirm(ctx, id, audit.Entry{Operator: "op@atum.io", Action: "dlq.purge.confirm", Result: audit.Intent}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Pool.Exec(ctx, `UPDATE ops.dlq_purge_items SET state = 'sent' WHERE purge_id = $1 AND seq < 100`, id); err != nil {
		t.Fatal(err)
	}
	for _, gone := range frozen[:50] { // the crashed request had reached QStash
		d.RemoveDLQ(gone)
	}
	interrupted, err := p.Interrupted(ctx)
	if err != nil || len(interrupted) != 1 || interrupted[0] != id {
		t.Fatalf("interrupted = %v, %v", interrupted, err)
	}
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	pi, _ := p.Get(ctx, id)
	if pi.State != qstash.Done || pi.Deleted+pi.Gone != 300 || pi.Gone != 50 {
		t.Fatalf("result = %+v", pi)
	}
	if d.DLQCount() != len(others) {
		t.Fatalf("%d left, want the %d others", d.DLQCount(), len(others))
	}
	assertSafe(t, d)
}

func TestUndoRepublishesTheArchive(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	fill(d, 120, "billing")
	id, err := p.Preview(ctx, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	run(t, p, id)
	d.ResetRequests()
	res, err := p.Undo(ctx, id)
	if err != nil || res.Republished != 120 || res.APICalls != 120 {
		t.Fatalf("undo = %+v, %v", res, err)
	}
	published := 0
	for _, r := range d.Requests() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/v2/enqueue/billing/http://127.0.0.1:9/billing/") {
			published++
		}
	}
	if published != 120 {
		t.Fatalf("%d enqueues to the original queue and destinations, want 120", published)
	}
	pi, _ := p.Get(ctx, id)
	if pi.State != qstash.Undone || pi.Republished != 120 {
		t.Fatalf("after undo: %+v", pi)
	}
	if res, err := p.Undo(ctx, id); err != nil || res.Republished != 0 || res.AlreadyRepublished != 120 {
		t.Fatalf("second undo = %+v (%v)", res, err)
	}
}

// TestPurgeCallBudget purges 10,000 dead letters with 20 ms of latency at
// the double: at most 2 × ceil(N/100) + pages API calls.
func TestPurgeCallBudget(t *testing.T) {
	figures := purge10000(t)
	t.Log(figures)
}

func purge10000(t testing.TB) string {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	const n = 10000
	fill(d, n, "billing")
	d.SetLatency(20 * time.Millisecond)
	d.ResetRequests()
	start := time.Now()
	id, err := p.Preview(ctx, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	pages := len(d.Requests())
	preview := time.Since(start)
	if err := p.Confirm(ctx, id, audit.Entry{Operator: "op@atum.io", Action: "dlq.purge.confirm", Result: audit.Intent}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	purge := time.Since(start)
	calls := len(d.Requests())
	budget := 2*((n+99)/100) + pages
	if calls > budget || d.DLQCount() != 0 {
		t.Fatalf("%d calls (budget %d), %d left", calls, budget, d.DLQCount())
	}
	return fmt.Sprintf("purge of %d at 20 ms latency: %d API calls (%d list pages + %d deletes; budget %d), preview %s, deletion %s",
		n, calls, pages, calls-pages, budget, preview.Round(time.Millisecond), purge.Round(time.Millisecond))
}

// BenchmarkPurge10000 reports the calls and wall time of a 10,000-message
// purge at 20 ms latency.
func BenchmarkPurge10000(b *testing.B) {
	for range b.N {
		b.Log(purge10000(b))
	}
}

// TestReadOnlyTokenForReads: with a read-only token configured, every read
// carries it and every write carries the full token; a client that only
// has the read-only token cannot delete anything (403).
func TestReadOnlyTokenForReads(t *testing.T) {
	d, full := double(t, qstashdouble.Options{ReadOnlyToken: "ro-token"})
	c, err := qstash.NewClient("eu", full.BaseURL(), token, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.WithReadOnlyToken("ro-token")
	ctx := context.Background()
	ids := []string{
		d.AddDLQ(qstashdouble.DLQMessage{URL: "http://127.0.0.1:1/a", Method: "POST", Body: "{}"}),
		d.AddDLQ(qstashdouble.DLQMessage{URL: "http://127.0.0.1:1/b", Method: "POST", Body: "{}"}),
		d.AddDLQ(qstashdouble.DLQMessage{URL: "http://127.0.0.1:1/c", Method: "POST", Body: "{}"}),
	}
	if _, err := c.Queues(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := c.ListDLQ(ctx, qstash.Filter{}, "", 0); err != nil || len(p.Messages) != 3 {
		t.Fatalf("list: %d, %v", len(p.Messages), err)
	}
	m, err := c.GetDLQ(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logs(ctx, m.MessageID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RetryDLQ(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteDLQ(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Republish(ctx, m, "purge-1-"+m.DLQID); err != nil {
		t.Fatal(err)
	}
	reads, writes := 0, 0
	for _, r := range d.Requests() {
		if (r.Method == http.MethodGet) != r.ReadOnly {
			t.Errorf("%s %s carried the %s token", r.Method, r.Path, map[bool]string{true: "read-only", false: "full"}[r.ReadOnly])
		}
		if r.ReadOnly {
			reads++
		} else {
			writes++
		}
	}
	if reads != 4 || writes != 3 {
		t.Fatalf("%d reads and %d writes, want 4 and 3", reads, writes)
	}
	ro, err := qstash.NewClient("eu", full.BaseURL(), "ro-token", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ae *qstash.APIError
	if err := ro.DeleteDLQ(ctx, ids[2]); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("delete with the read-only token: %v", err)
	}
	if _, err := c.GetDLQ(ctx, ids[2]); err != nil {
		t.Fatalf("the refused delete removed the message: %v", err)
	}
}

// TestPageCacheSharesPagesAmongViewers: 50 viewers of one page make one
// call; another filter is its own page; after the TTL or an invalidation
// the page is listed again; a failure is not kept.
func TestPageCacheSharesPagesAmongViewers(t *testing.T) {
	d, c := double(t, qstashdouble.Options{Latency: 50 * time.Millisecond})
	for range 3 {
		d.AddDLQ(qstashdouble.DLQMessage{URL: "http://127.0.0.1:1/a", QueueName: "billing"})
	}
	pc := &qstash.PageCache{TTL: 300 * time.Millisecond}
	ctx := context.Background()
	lists := func() int {
		n := 0
		for _, r := range d.Requests() {
			if r.Method == http.MethodGet && r.Path == "/v2/dlq" {
				n++
			}
		}
		return n
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, err := pc.List(ctx, c, qstash.Filter{}, "", 50); err != nil || len(p.Messages) != 3 {
				t.Errorf("shared page: %d, %v", len(p.Messages), err)
			}
		}()
	}
	wg.Wait()
	if n := lists(); n != 1 {
		t.Fatalf("50 viewers made %d calls", n)
	}
	if _, err := pc.List(ctx, c, qstash.Filter{Queue: "billing"}, "", 50); err != nil || lists() != 2 {
		t.Fatalf("another filter: %v, %d calls", err, lists())
	}
	pc.Invalidate("eu")
	if _, err := pc.List(ctx, c, qstash.Filter{}, "", 50); err != nil || lists() != 3 {
		t.Fatalf("after invalidation: %v, %d calls", err, lists())
	}
	time.Sleep(350 * time.Millisecond)
	d.FailNext(1, http.StatusTooManyRequests)
	if _, err := pc.List(ctx, c, qstash.Filter{}, "", 50); err == nil {
		t.Fatal("the 429 was not returned")
	}
	if _, err := pc.List(ctx, c, qstash.Filter{}, "", 50); err != nil || lists() != 5 {
		t.Fatalf("after a failure the page is listed again: %v, %d calls", err, lists())
	}
}
