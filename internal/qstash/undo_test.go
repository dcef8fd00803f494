package qstash_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/internal/testenv"
)

// delivery is one request the double made to a destination.
type delivery struct {
	method, uri string
	header      http.Header
	body        []byte
}

// receiver is the destination of republished messages: it answers 200
// and keeps what it got.
type receiver struct {
	url string
	mu  sync.Mutex
	got []delivery
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), body: b})
		rc.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// waitDeliveries waits until the receiver has n deliveries, and a moment
// more to catch any extra one.
func (rc *receiver) waitDeliveries(t *testing.T, n int) []delivery {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() bool { return len(rc.deliveries()) >= n }, "%d deliveries", n)
	time.Sleep(50 * time.Millisecond)
	got := rc.deliveries()
	if len(got) != n {
		t.Fatalf("%d deliveries, want %d", len(got), n)
	}
	return got
}

const pausedQueue = "paused-q"

// archived is dead letter i of a bad deploy: methods, forwarded headers
// (one with two values), QStash's own headers, retries, callbacks, a
// delay; one in ten with a binary body, three in ten from a queue.
func archived(dest string, i int) qstashdouble.DLQMessage {
	m := qstashdouble.DLQMessage{
		URL:    fmt.Sprintf("%s/hooks/%d?tenant=t%d&sig=a%%2Fb", dest, i, i%7),
		Method: []string{"POST", "PUT", "PATCH", "DELETE", "GET"}[i%5],
		Header: map[string][]string{"Content-Type": {"application/json"}, "X-Tenant": {fmt.Sprintf("t%d", i%7)},
			"X-Multi": {"one", "two"}, "Upstash-Message-Id": {"msg_old"}, "Upstash-Retried": {"3"}, "Upstash-Signature": {"sig"},
			"Upstash-Caller-Ip": {"10.0.0.1"}, "Upstash-Region": {"EU-CENTRAL-1"}},
		Body: fmt.Sprintf(`{"n":%d,"text":"héllo ✓"}`, i), MaxRetries: i % 6, Labels: []string{"deploy-42"},
		NotBefore: time.Now().Add(time.Hour).UnixMilli(), ResponseStatus: 500,
	}
	if i%10 == 3 {
		b := make([]byte, 64+i%50)
		r := rand.New(rand.NewPCG(uint64(i), 7))
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		b[0], b[len(b)-1] = 0xff, 0x00 // never UTF-8
		m.Body, m.Header["Content-Type"] = string(b), []string{"application/octet-stream"}
	}
	if i%10 >= 5 && i%10 <= 7 {
		m.QueueName = pausedQueue
	}
	if i%4 == 0 {
		m.Callback, m.FailureCallback = dest+"/cb", dest+"/failed"
	}
	return m
}

// fillArchived stores n archived dead letters and returns them by URL.
func fillArchived(d *qstashdouble.Server, dest string, n int) map[string]qstashdouble.DLQMessage {
	out := map[string]qstashdouble.DLQMessage{}
	for i := range n {
		m := archived(dest, i)
		d.AddDLQ(m)
		out[m.URL] = m
	}
	return out
}

// purgeAll previews and runs a purge of the label's dead letters.
func purgeAll(t *testing.T, p *qstash.Purger, label string) int64 {
	t.Helper()
	id, err := p.Preview(context.Background(), "eu", qstash.Filter{Label: label}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	if pi := run(t, p, id); pi.State != qstash.Done {
		t.Fatalf("purge = %+v", pi)
	}
	return id
}

// forwarded is what the destination must get of m's headers.
func forwarded(m qstashdouble.DLQMessage) http.Header {
	h := http.Header{}
	for k, vs := range m.Header {
		if !strings.HasPrefix(k, "Upstash-") {
			h[k] = vs
		}
	}
	return h
}

// deliveredOnce checks that each deduplication id was taken once (any
// repeat was deduplicated) and returns the first publication of each.
func deliveredOnce(t *testing.T, pubs []qstashdouble.Publication) map[string]qstashdouble.Publication {
	t.Helper()
	first := map[string]qstashdouble.Publication{}
	for _, pb := range pubs {
		if pb.DeduplicationID == "" || strings.Contains(pb.DeduplicationID, ":") {
			t.Fatalf("publication without a valid deduplication id: %q", pb.DeduplicationID)
		}
		_, seen := first[pb.DeduplicationID]
		if seen != pb.Deduplicated {
			t.Fatalf("%s: taken again (or a first publish deduplicated): seen %v, deduplicated %v", pb.DeduplicationID, seen, pb.Deduplicated)
		}
		if !seen {
			first[pb.DeduplicationID] = pb
		}
	}
	return first
}

// TestUndoRestoresEveryMessageExactly purges 1,000 dead letters (100 with
// binary bodies, 300 from a paused queue) and undoes the purge: every one
// is republished byte for byte, with its method, forwarded headers,
// retries and callbacks, the 300 into their queue; a second undo sends
// nothing.
func TestUndoRestoresEveryMessageExactly(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	rc := newReceiver(t)
	ctx := context.Background()
	want := fillArchived(d, rc.url, 1000)
	fill(d, 50, "emails") // not purged
	id := purgeAll(t, p, "deploy-42")
	if d.DLQCount() != 50 {
		t.Fatalf("%d dead letters left, want 50", d.DLQCount())
	}
	d.SetPaused(pausedQueue, true)
	d.ResetRequests()
	start := time.Now()
	res, err := p.Undo(ctx, id)
	took := time.Since(start)
	if err != nil || res.Republished != 1000 || res.Failed != 0 || res.Remaining != 0 || res.Deduplicated != 0 || res.APICalls != 1000 {
		t.Fatalf("undo = %+v, %v", res, err)
	}
	t.Logf("undo of 1,000 messages: %s, %d API calls", took.Round(time.Millisecond), res.APICalls)
	pubs := d.Published()
	first := deliveredOnce(t, pubs)
	if len(pubs) != 1000 || len(first) != 1000 {
		t.Fatalf("%d publications of %d ids, want 1000", len(pubs), len(first))
	}
	queued, binary := 0, 0
	for _, pb := range pubs {
		m, ok := want[pb.Destination]
		if !ok {
			t.Fatalf("published to %q, not an archived destination", pb.Destination)
		}
		raw := []byte(m.Body)
		if m.BodyBase64 != "" || pb.Header.Get("Content-Type") == "application/octet-stream" {
			binary++
		}
		if pb.Queue != m.QueueName || pb.Method != m.Method || !bytes.Equal(pb.Body, raw) || !pb.RetriesSet || pb.Retries != m.MaxRetries ||
			pb.Callback != m.Callback || pb.FailureCallback != m.FailureCallback || !slices.Equal(pb.Labels, m.Labels) {
			t.Fatalf("%s republished as %+v", m.URL, pb)
		}
		if fmt.Sprint(pb.Header) != fmt.Sprint(forwarded(m)) {
			t.Fatalf("%s headers %v, want %v", m.URL, pb.Header, forwarded(m))
		}
		if len(pb.Config) != 0 {
			t.Fatalf("%s sent with %v (a delay must not be applied again)", m.URL, pb.Config)
		}
		if pb.Queue != "" {
			queued++
		}
	}
	if queued != 300 || binary != 100 {
		t.Fatalf("%d enqueued (want 300), %d binary (want 100)", queued, binary)
	}
	if pi, _ := p.Get(ctx, id); pi.State != qstash.Undone || pi.Republished != 1000 || pi.UndoAPICalls != 1000 {
		t.Fatalf("after undo: %+v", pi)
	}
	// What reaches the destinations: 700 now, the 300 once their queue
	// resumes, each once and as first sent.
	rc.waitDeliveries(t, 700)
	d.SetPaused(pausedQueue, false)
	got := rc.waitDeliveries(t, 1000)
	seen := map[string]bool{}
	for _, g := range got {
		m, ok := want[rc.url+g.uri]
		if !ok || seen[g.uri] {
			t.Fatalf("unexpected or repeated delivery to %s", g.uri)
		}
		seen[g.uri] = true
		if g.method != m.Method || !bytes.Equal(g.body, []byte(m.Body)) {
			t.Fatalf("%s delivered as %s with %d bytes", g.uri, g.method, len(g.body))
		}
		for k, vs := range forwarded(m) {
			if !slices.Equal(g.header[k], vs) {
				t.Fatalf("%s delivered with %s = %v, want %v", g.uri, k, g.header[k], vs)
			}
		}
	}
	// A second undo sends nothing.
	d.ResetRequests()
	res, err = p.Undo(ctx, id)
	if err != nil || res.Republished != 0 || res.AlreadyRepublished != 1000 || res.APICalls != 0 || len(d.Requests()) != 0 {
		t.Fatalf("second undo = %+v, %v, %d requests", res, err, len(d.Requests()))
	}
}

// TestUndoStopsInA429StormAndResumes: a storm stops the undo (resumable);
// a destination QStash refuses is reported and skipped while the rest go
// on; later undos finish; nothing is delivered twice.
func TestUndoStopsInA429StormAndResumes(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	rc := newReceiver(t)
	ctx := context.Background()
	for i := range 200 {
		m := qstashdouble.DLQMessage{URL: fmt.Sprintf("%s/ok/%d", rc.url, i), Body: fmt.Sprintf("m%d", i), Labels: []string{"deploy-7"}, MaxRetries: 1}
		if i%40 == 10 {
			m.URL = fmt.Sprintf("%s/refused/%d", rc.url, i)
		}
		d.AddDLQ(m)
	}
	id := purgeAll(t, p, "deploy-7")
	d.RefuseDestinations("/refused/")
	d.StartStorm(80, 0)
	res, err := p.Undo(ctx, id)
	var stopped *qstash.UndoStopped
	if _, limited := qstash.IsRateLimited(err); !errors.As(err, &stopped) || !limited {
		t.Fatalf("the storm did not stop the undo: %v", err)
	}
	if res.Republished+res.Failed != 80 || res.Failed != 2 || res.Remaining != 120 || len(res.Failures) != 2 ||
		!strings.Contains(res.Failures[0], "HTTP 400: destination refused") {
		t.Fatalf("undo in the storm = %+v", res)
	}
	if pi, _ := p.Get(ctx, id); pi.State != qstash.Done || !strings.Contains(pi.Note, "120 remaining") {
		t.Fatalf("after the storm: %+v", pi)
	}
	d.StopStorm()
	res, err = p.Undo(ctx, id)
	if err != nil || res.AlreadyRepublished != 78 || res.Republished != 117 || res.Failed != 5 || res.Remaining != 0 {
		t.Fatalf("undo after the storm = %+v, %v", res, err)
	}
	if pi, _ := p.Get(ctx, id); pi.State != qstash.Done {
		t.Fatalf("undone with 5 refused: %+v", pi)
	}
	d.RefuseDestinations()
	res, err = p.Undo(ctx, id)
	if err != nil || res.Republished != 5 || res.Failed != 0 || res.AlreadyRepublished != 195 {
		t.Fatalf("undo of the refused ones = %+v, %v", res, err)
	}
	if pi, _ := p.Get(ctx, id); pi.State != qstash.Undone || pi.Republished != 200 || pi.Note != "" {
		t.Fatalf("after the last undo: %+v", pi)
	}
	if first := deliveredOnce(t, d.Published()); len(first) != 200 {
		t.Fatalf("%d messages taken, want 200", len(first))
	}
	rc.waitDeliveries(t, 200)
}

// TestUndoAfterACrashBetweenPublishAndRecord: messages published but not
// recorded (a crash) are sent again with the same deduplication id and
// delivered once; one whose attempt is older than the window is not sent.
func TestUndoAfterACrashBetweenPublishAndRecord(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	rc := newReceiver(t)
	ctx := context.Background()
	for i := range 50 {
		d.AddDLQ(qstashdouble.DLQMessage{URL: fmt.Sprintf("%s/c/%d", rc.url, i), Body: fmt.Sprintf("m%d", i), Labels: []string{"crash"}})
	}
	id := purgeAll(t, p, "crash")
	if res, err := p.Undo(ctx, id); err != nil || res.Republished != 50 {
		t.Fatalf("undo = %+v, %v", res, err)
	}
	rc.waitDeliveries(t, 50)
	// As a crash after the publish and before the record leaves them.
	if _, err := p.Pool.Exec(ctx, `
		UPDATE ops.dlq_purge_items SET state = 'done', republished_at = NULL, undo_message_id = '',
		       undo_attempted_at = now() - CASE WHEN seq = 10 THEN interval '20 minutes' ELSE interval '2 minutes' END
		WHERE purge_id = $1 AND seq <= 10`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Pool.Exec(ctx, `UPDATE ops.dlq_purges SET state = 'done' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	res, err := p.Undo(ctx, id)
	if err != nil || res.Republished != 10 || res.Deduplicated != 10 || res.Uncertain != 1 || res.AlreadyRepublished != 39 || res.Remaining != 0 {
		t.Fatalf("undo after the crash = %+v, %v", res, err)
	}
	if pi, _ := p.Get(ctx, id); pi.State != qstash.Done || !strings.Contains(pi.Note, "1 uncertain") {
		t.Fatalf("an uncertain message left the purge %+v", pi)
	}
	if first := deliveredOnce(t, d.Published()); len(first) != 50 || len(d.Published()) != 60 {
		t.Fatalf("%d taken of %d publications, want 50 of 60", len(first), len(d.Published()))
	}
	rc.waitDeliveries(t, 50)
}

// TestCallCountsAreThePurgesOwn: another user of the same Client calling
// all along does not add to a purge's or an undo's API calls.
func TestCallCountsAreThePurgesOwn(t *testing.T) {
	d, c := double(t, qstashdouble.Options{Latency: time.Millisecond})
	p := purger(t, c)
	rc := newReceiver(t)
	ctx := context.Background()
	for i := range 300 {
		d.AddDLQ(qstashdouble.DLQMessage{URL: fmt.Sprintf("%s/n/%d", rc.url, i), Labels: []string{"count"}})
	}
	id, err := p.Preview(ctx, "eu", qstash.Filter{Label: "count"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	others := func() func() int {
		stop, n := make(chan struct{}), 0
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = c.Queues(ctx) // the queue sampler, say
				n++
			}
		})
		return func() int { close(stop); wg.Wait(); return n }
	}
	calls := func(prefix string) int {
		n := 0
		for _, r := range d.Requests() {
			if r.Method != http.MethodGet && strings.HasPrefix(r.Path, prefix) {
				n++
			}
		}
		return n
	}
	d.ResetRequests()
	done := others()
	pi := run(t, p, id)
	if n := done(); n < 10 || pi.APICalls != calls("/v2/dlq") || pi.APICalls != 3 {
		t.Fatalf("purge counted %d calls; it made %d deletes while others made %d", pi.APICalls, calls("/v2/dlq"), n)
	}
	d.ResetRequests()
	done = others()
	res, err := p.Undo(ctx, id)
	if n := done(); err != nil || n < 10 || res.APICalls != calls("/v2/publish/") || res.APICalls != 300 {
		t.Fatalf("undo counted %d calls (%v); it made %d publishes while others made %d", res.APICalls, err, calls("/v2/publish/"), n)
	}
	if pi, _ := p.Get(ctx, id); pi.APICalls != 3 || pi.UndoAPICalls != 300 {
		t.Fatalf("recorded calls: %+v", pi)
	}
}

// TestResumeInterruptedAuditsOnce: the start-up resume finishes a purge a
// crash left running and audits its result once, as the operator who
// confirmed it; two runners started at once audit once.
func TestResumeInterruptedAuditsOnce(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	fill(d, 150, "billing")
	fill(d, 120, "emails")
	confirm := func(queue string) int64 {
		id, err := p.Preview(ctx, "eu", qstash.Filter{Queue: queue}, nil, "op@atum.io")
		if err != nil {
			t.Fatal(err)
		}
		e := audit.Entry{Operator: "op@atum.io", Role: "operator", Action: "dlq.purge.confirm", Target: fmt.Sprintf("purge:%d", id), Result: audit.Intent}
		if err := p.Confirm(ctx, id, e); err != nil {
			t.Fatal(err)
		}
		return id
	}
	results := func(id int64) []audit.Event {
		evs, err := audit.New(p.Pool).List(ctx, audit.Filter{Action: qstash.ActionResult, Target: fmt.Sprintf("purge:%d", id)})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	id := confirm("billing") // and the console crashed before running it
	outs, err := p.ResumeInterrupted(ctx)
	if err != nil || len(outs) != 1 || !outs[0].Ran || outs[0].Info.State != qstash.Done || outs[0].Info.Deleted != 150 {
		t.Fatalf("resume = %+v, %v", outs, err)
	}
	evs := results(id)
	if len(evs) != 1 || evs[0].Operator != "op@atum.io" || evs[0].Result != audit.Success ||
		!strings.Contains(evs[0].DetailsJSON, `"resumed_at_startup": true`) || !strings.Contains(evs[0].DetailsJSON, `"deleted": 150`) ||
		!strings.Contains(evs[0].DetailsJSON, `"api_calls": 2`) {
		t.Fatalf("result audit = %+v", evs)
	}
	if outs, err := p.ResumeInterrupted(ctx); err != nil || len(outs) != 0 || len(results(id)) != 1 {
		t.Fatalf("a second resume: %+v, %v, %d results", outs, err, len(results(id)))
	}
	id = confirm("emails")
	actor := audit.Entry{Operator: "op@atum.io", Role: "operator"}
	a, b := p.Start(ctx, id, actor), p.Start(ctx, id, actor)
	oa, ob := <-a, <-b
	if oa.Ran == ob.Ran || len(results(id)) != 1 || d.DLQCount() != 0 {
		t.Fatalf("two runners: ran %v and %v, %d results, %d left", oa.Ran, ob.Ran, len(results(id)), d.DLQCount())
	}
}
