package qstash_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
)

// retryCalls returns the dead-letter ids every retry request named, and
// fails on a retry that named none (a filter-only call) or more than 100.
func retryCalls(t *testing.T, d *qstashdouble.Server) (ids []string, calls []qstashdouble.Request) {
	t.Helper()
	for _, r := range d.Requests() {
		switch {
		case r.Method != http.MethodPost || !strings.HasPrefix(r.Path, "/v2/dlq/retry"):
			continue
		case r.Path == "/v2/dlq/retry" && (len(r.Query["dlqIds"]) == 0 || len(r.Query["dlqIds"]) > 100):
			t.Fatalf("bulk retry with %d ids: %+v", len(r.Query["dlqIds"]), r)
		case r.Path == "/v2/dlq/retry":
			ids = append(ids, r.Query["dlqIds"]...)
		default:
			ids = append(ids, strings.TrimPrefix(r.Path, "/v2/dlq/retry/"))
		}
		calls = append(calls, r)
	}
	return ids, calls
}

// TestBulkRetryNeverTouchesAMessageOutsideTheFrozenSet: 250 dead letters
// of a queue are frozen; 10 of them go before the run; 60 more arrive in
// the same queue and 40 in another afterwards. The run retries exactly
// the 240 left, counts the 10 as gone, sends the override with every
// call, and leaves the 100 others where they are.
func TestBulkRetryNeverTouchesAMessageOutsideTheFrozenSet(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	frozen := fill(d, 250, "billing")
	id, err := p.PreviewKind(ctx, qstash.KindRetry, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	later := append(fill(d, 60, "billing"), fill(d, 40, "emails")...)
	for _, gone := range frozen[:10] {
		d.RemoveDLQ(gone)
	}
	d.ResetRequests()
	overrides, err := qstash.ParseOverrides(map[string]string{"Upstash-Retries": "0"})
	if err != nil {
		t.Fatal(err)
	}
	e := audit.Entry{Operator: "op@atum.io", Action: "dlq.bulk_retry.confirm", Target: qstash.Target(qstash.KindRetry, id), Result: audit.Intent}
	if state, err := p.ConfirmWith(ctx, id, e, qstash.ConfirmOptions{Overrides: overrides}); err != nil || state != qstash.Running {
		t.Fatalf("confirm: %s %v", state, err)
	}
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	pi, err := p.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if pi.State != qstash.Done || pi.Retried != 240 || pi.Gone != 10 || pi.Failed != 0 || pi.Deleted != 0 || pi.Pending != 0 {
		t.Fatalf("retry = %+v", pi)
	}
	if pi.Overrides["Upstash-Retries"] != "0" {
		t.Fatalf("overrides kept: %v", pi.Overrides)
	}
	named, calls := retryCalls(t, d)
	for _, n := range named {
		if !slices.Contains(frozen, n) {
			t.Fatalf("a retry named %s, outside the frozen set", n)
		}
	}
	for _, r := range calls {
		if r.Upstash.Get("Upstash-Retries") != "0" {
			t.Fatalf("a retry call without the override: %+v", r)
		}
	}
	left := d.DLQIDs()
	for _, l := range later {
		if !slices.Contains(left, l) {
			t.Fatalf("dead letter %s, outside the frozen set, is no longer in the queue", l)
		}
	}
	for _, f := range frozen {
		if slices.Contains(left, f) {
			t.Fatalf("frozen dead letter %s is still in the queue", f)
		}
	}
	if pi.APICalls != len(calls) {
		t.Fatalf("API calls %d, the double saw %d", pi.APICalls, len(calls))
	}
	assertSafe(t, d)
}

// TestBulkRetryAfterACrashSendsNothingTwice: a run that sent a chunk and
// crashed before recording it leaves the chunk "sent"; the resumed run
// finds those dead letters gone (they were retried) and retries the rest,
// one by one only for the chunk QStash answered 404 for.
func TestBulkRetryAfterACrashSendsNothingTwice(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	frozen := fill(d, 150, "billing")
	id, err := p.PreviewKind(ctx, qstash.KindRetry, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	// The crashed run: the first 30 were retried, and recorded as sent only.
	for _, f := range frozen[:30] {
		if _, err := c.RetryDLQ(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Pool.Exec(ctx, `UPDATE ops.dlq_purge_items SET state = 'sent' WHERE purge_id = $1 AND dlq_id = ANY($2)`, id, frozen[:30]); err != nil {
		t.Fatal(err)
	}
	d.ResetRequests()
	e := audit.Entry{Operator: "op@atum.io", Action: "dlq.bulk_retry.confirm", Result: audit.Intent}
	if _, err := p.ConfirmWith(ctx, id, e, qstash.ConfirmOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	pi, _ := p.Get(ctx, id)
	if pi.State != qstash.Done || pi.Retried != 120 || pi.Gone != 30 {
		t.Fatalf("retry = %+v", pi)
	}
	named, _ := retryCalls(t, d)
	seen := map[string]int{}
	for _, n := range named {
		seen[n]++
	}
	for _, f := range frozen[30:] {
		if seen[f] == 0 {
			t.Fatalf("%s was never retried", f)
		}
	}
	left := d.DLQIDs() // retried messages that fail again come back with new ids
	for _, f := range frozen {
		if slices.Contains(left, f) {
			t.Fatalf("frozen dead letter %s is still in the queue", f)
		}
	}
}

// TestBulkRetryPausesInA429StormAndResumes: more 429s in a row than the
// bound pause the retry with the reason; resuming finishes it, each dead
// letter retried once.
func TestBulkRetryPausesInA429StormAndResumes(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	fill(d, 220, "billing")
	id, err := p.PreviewKind(ctx, qstash.KindRetry, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConfirmWith(ctx, id, audit.Entry{Operator: "op@atum.io", Action: "dlq.bulk_retry.confirm", Result: audit.Intent}, qstash.ConfirmOptions{}); err != nil {
		t.Fatal(err)
	}
	d.FailNext(5, http.StatusTooManyRequests)
	if err := p.Run(ctx, id); err == nil {
		t.Fatal("the storm did not pause the retry")
	}
	pi, _ := p.Get(ctx, id)
	if pi.State != qstash.Paused || !strings.Contains(pi.Note, "rate limited") || pi.Retried != 0 {
		t.Fatalf("after the storm: %+v", pi)
	}
	if err := p.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	if pi, _ = p.Get(ctx, id); pi.State != qstash.Done || pi.Retried != 220 || pi.Gone != 0 {
		t.Fatalf("after resuming: %+v", pi)
	}
}

// TestBulkRetryRecordsRefusals: QStash refusing some dead letters (400)
// or missing some (404) makes the chunk go one by one: the refused ones
// fail with the reason, the missing are gone, the others are retried.
func TestBulkRetryRecordsRefusals(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	ids := fill(d, 6, "billing")
	d.AddDLQ(qstashdouble.DLQMessage{URL: "http://127.0.0.1:9/refused/1", Method: "POST", QueueName: "billing", Body: "{}"})
	id, err := p.PreviewKind(ctx, qstash.KindRetry, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	d.RemoveDLQ(ids[0])
	d.RefuseDestinations("/refused/")
	if _, err := p.ConfirmWith(ctx, id, audit.Entry{Operator: "op@atum.io", Action: "dlq.bulk_retry.confirm", Result: audit.Intent}, qstash.ConfirmOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	pi, _ := p.Get(ctx, id)
	if pi.State != qstash.Done || pi.Gone != 1 || pi.Retried != 5 || pi.Failed != 1 {
		t.Fatalf("retry = %+v", pi)
	}
	fails, err := p.Failures(ctx, id, 10)
	if err != nil || len(fails) != 1 || !strings.Contains(fails[0].Error, "HTTP 400") || !strings.Contains(fails[0].Error, "refused") {
		t.Fatalf("failures: %+v %v", fails, err)
	}
	if !slices.Contains(d.DLQIDs(), fails[0].DLQID) {
		t.Fatalf("the refused dead letter %s left the queue", fails[0].DLQID)
	}
}

// TestTwoPersonApproval: a request waits; its requester cannot approve it;
// another operator can; an unapproved request expires, audited.
func TestTwoPersonApproval(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	fill(d, 20, "billing")
	id, err := p.Preview(ctx, "eu", qstash.Filter{Queue: "billing"}, nil, "alice@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	alice := audit.Entry{OperatorID: 1, Operator: "alice@atum.io", Action: "dlq.purge.request", Target: qstash.Target(qstash.KindPurge, id), Result: audit.Success}
	state, err := p.ConfirmWith(ctx, id, alice, qstash.ConfirmOptions{Approval: time.Hour})
	if err != nil || state != qstash.AwaitingApproval {
		t.Fatalf("request: %s %v", state, err)
	}
	if err := p.Run(ctx, id); !errors.Is(err, qstash.ErrWrongState) {
		t.Fatalf("an unapproved purge ran: %v", err)
	}
	if d.DLQCount() != 20 {
		t.Fatal("a request deleted something")
	}
	alice.Action, alice.Result = "dlq.purge.approve", audit.Intent
	if err := p.Approve(ctx, id, alice); !errors.Is(err, qstash.ErrOwnRequest) {
		t.Fatalf("the requester approved: %v", err)
	}
	sameEmail := audit.Entry{OperatorID: 7, Operator: "ALICE@atum.io", Action: "dlq.purge.approve", Result: audit.Intent}
	if err := p.Approve(ctx, id, sameEmail); !errors.Is(err, qstash.ErrOwnRequest) {
		t.Fatalf("the requester approved under another id: %v", err)
	}
	if waiting, err := p.Awaiting(ctx); err != nil || len(waiting) != 1 || waiting[0].ID != id {
		t.Fatalf("awaiting: %+v %v", waiting, err)
	}
	bob := audit.Entry{OperatorID: 2, Operator: "bob@atum.io", Action: "dlq.purge.approve", Target: qstash.Target(qstash.KindPurge, id), Result: audit.Intent}
	if err := p.Approve(ctx, id, bob); err != nil {
		t.Fatal(err)
	}
	if err := p.Approve(ctx, id, bob); !errors.Is(err, qstash.ErrWrongState) {
		t.Fatalf("approved twice: %v", err)
	}
	o := <-p.Start(ctx, id, bob)
	if !o.Ran || o.Info.State != qstash.Done || o.Info.Deleted != 20 || o.Info.ApprovedBy != "bob@atum.io" || o.Info.ConfirmedBy != "alice@atum.io" {
		t.Fatalf("approved purge: %+v", o)
	}
	evs, err := audit.New(p.Pool).List(ctx, audit.Filter{Action: qstash.ActionResult, Target: qstash.Target(qstash.KindPurge, id)})
	if err != nil || len(evs) != 1 || evs[0].Operator != "bob@atum.io" || !strings.Contains(string(evs[0].DetailsJSON), `"approved_by": "bob@atum.io"`) {
		t.Fatalf("result audit: %+v %v", evs, err)
	}

	// An unapproved request expires, and says so in the audit log.
	id2, err := p.PreviewKind(ctx, qstash.KindRetry, "eu", qstash.Filter{Queue: "billing"}, nil, "alice@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConfirmWith(ctx, id2, alice, qstash.ConfirmOptions{Approval: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := p.Approve(ctx, id2, bob); !errors.Is(err, qstash.ErrExpired) {
		t.Fatalf("an expired request was approved: %v", err)
	}
	if pi, _ := p.Get(ctx, id2); pi.State != qstash.Expired {
		t.Fatalf("expired request: %+v", pi)
	}
	evs, err = audit.New(p.Pool).List(ctx, audit.Filter{Action: "dlq.bulk_retry.expire", Target: qstash.Target(qstash.KindRetry, id2)})
	if err != nil || len(evs) != 1 || evs[0].Result != audit.Failure || evs[0].Operator != "alice@atum.io" {
		t.Fatalf("expiry audit: %+v %v", evs, err)
	}

	// A request is rejected by another operator, or withdrawn.
	id3, _ := p.Preview(ctx, "eu", qstash.Filter{Queue: "billing"}, nil, "alice@atum.io")
	if _, err := p.ConfirmWith(ctx, id3, alice, qstash.ConfirmOptions{Approval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	bob.Action, bob.Result, bob.Reason = "dlq.purge.reject", audit.Success, "wrong filter"
	if err := p.Reject(ctx, id3, bob); err != nil {
		t.Fatal(err)
	}
	if err := p.Approve(ctx, id3, audit.Entry{OperatorID: 3, Operator: "carol@atum.io"}); !errors.Is(err, qstash.ErrWrongState) {
		t.Fatalf("a rejected request was approved: %v", err)
	}
	if pi, _ := p.Get(ctx, id3); pi.State != qstash.Rejected || pi.RejectedBy != "bob@atum.io" || pi.Note != "wrong filter" {
		t.Fatalf("rejected: %+v", pi)
	}
}

func TestApprovalPolicy(t *testing.T) {
	pol := qstash.ApprovalPolicy{Kinds: []string{qstash.KindPurge}, Above: 1000, Expiry: time.Hour}
	for _, tc := range []struct {
		kind  string
		count int
		want  bool
	}{{qstash.KindPurge, 1000, false}, {qstash.KindPurge, 1001, true}, {qstash.KindRetry, 5000, false}} {
		if got := pol.Needs(tc.kind, tc.count); got != tc.want {
			t.Errorf("Needs(%s, %d) = %v", tc.kind, tc.count, got)
		}
	}
	if got := pol.Describe(); got != "purges of more than 1000 messages need a second operator's approval within 1h" {
		t.Errorf("Describe = %q", got)
	}
	every := qstash.ApprovalPolicy{Kinds: []string{qstash.KindPurge, qstash.KindRetry}, Expiry: 90 * time.Minute}
	if got := every.Describe(); got != "all purges and bulk retries need a second operator's approval within 1h30m" {
		t.Errorf("Describe = %q", got)
	}
	if !every.Needs(qstash.KindRetry, 1) || (qstash.ApprovalPolicy{}).Needs(qstash.KindPurge, 1e6) {
		t.Fatal("Above 0 must cover every action, the zero policy none")
	}
}

func TestParseOverrides(t *testing.T) {
	good := map[string]string{"Upstash-Retries": "0", "upstash-delay": "10m", "Upstash-Retry-Delay": "pow(2, retried) * 1000", "Upstash-Timeout": "30s"}
	h, err := qstash.ParseOverrides(good)
	if err != nil || h.Get("Upstash-Delay") != "10m" || len(h) != 4 {
		t.Fatalf("good overrides: %v %v", h, err)
	}
	for _, bad := range []map[string]string{
		{"Upstash-Retries": "101"}, {"Upstash-Retries": "-1"}, {"Upstash-Delay": "10 minutes"},
		{"Upstash-Retry-Delay": "1; DROP"}, {"Upstash-Forward-Authorization": "Bearer x"}, {"Upstash-Method": "DELETE"},
		{"Upstash-Retries": "1\r\nX-Evil: 1"},
	} {
		if _, err := qstash.ParseOverrides(bad); err == nil {
			t.Errorf("ParseOverrides(%v) passed", bad)
		}
	}
}

// TestArchivePrunedAfterItsRetention: the copies of a purge finished
// longer ago than the retention are dropped (its ids and counts stay), an
// old preview is discarded, and the purge can no longer be undone.
func TestArchivePrunedAfterItsRetention(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	fill(d, 5, "billing")
	old, err := p.Preview(ctx, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	if pi := run(t, p, old); pi.State != qstash.Done {
		t.Fatalf("purge: %+v", pi)
	}
	fill(d, 3, "emails")
	stale, _ := p.Preview(ctx, "eu", qstash.Filter{Queue: "emails"}, nil, "op@atum.io")
	fresh, _ := p.Preview(ctx, "eu", qstash.Filter{Queue: "emails"}, nil, "op@atum.io")
	if _, err := p.Pool.Exec(ctx, `UPDATE ops.dlq_purges SET finished_at = now() - interval '31 days', created_at = now() - interval '31 days'
		WHERE id = ANY($1)`, []int64{old, stale}); err != nil {
		t.Fatal(err)
	}
	n, err := p.PruneArchive(ctx, 30*24*time.Hour)
	if err != nil || n != 8 {
		t.Fatalf("pruned %d copies, %v", n, err)
	}
	pi, _ := p.Get(ctx, old)
	if !pi.ArchivePruned || pi.Deleted != 5 || pi.Total != 5 {
		t.Fatalf("pruned purge: %+v", pi)
	}
	sample, _ := p.Sample(ctx, old, 10)
	if len(sample) != 5 || sample[0].Body != "" || sample[0].URL != "" || sample[0].DLQID == "" {
		t.Fatalf("the copies were kept: %+v", sample)
	}
	if _, err := p.Undo(ctx, old); !errors.Is(err, qstash.ErrArchivePruned) {
		t.Fatalf("undo of a pruned purge: %v", err)
	}
	if pi, _ := p.Get(ctx, stale); pi.State != qstash.Discarded {
		t.Fatalf("old preview: %+v", pi)
	}
	if pi, _ := p.Get(ctx, fresh); pi.State != qstash.Previewed || pi.ArchivePruned {
		t.Fatalf("fresh preview: %+v", pi)
	}
	if n, err := p.PruneArchive(ctx, 30*24*time.Hour); err != nil || n != 0 {
		t.Fatalf("second prune: %d %v", n, err)
	}
}

// retry10000 retries 10,000 frozen dead letters at 20 ms of latency per
// call and returns its figures; its calls must stay within one per 100.
func retry10000(t testing.TB) string {
	d, c := double(t, qstashdouble.Options{})
	p := purger(t, c)
	ctx := context.Background()
	const n = 10000
	fill(d, n, "billing")
	d.SetLatency(20 * time.Millisecond)
	id, err := p.PreviewKind(ctx, qstash.KindRetry, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConfirmWith(ctx, id, audit.Entry{Operator: "op@atum.io", Action: "dlq.bulk_retry.confirm", Result: audit.Intent},
		qstash.ConfirmOptions{}); err != nil {
		t.Fatal(err)
	}
	d.ResetRequests()
	start := time.Now()
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	pi, _ := p.Get(ctx, id)
	calls := len(d.Requests())
	if pi.Retried != n || calls > n/100 || pi.APICalls != calls {
		t.Fatalf("retried %d with %d calls (counted %d)", pi.Retried, calls, pi.APICalls)
	}
	return fmt.Sprintf("bulk retry of %d at 20 ms latency: %d API calls, %s", n, calls, took.Round(time.Millisecond))
}

func TestBulkRetryCallBudget(t *testing.T) { t.Log(retry10000(t)) }

// BenchmarkRetry10000 reports the calls and wall time of a 10,000-message
// bulk retry at 20 ms latency.
func BenchmarkRetry10000(b *testing.B) {
	for range b.N {
		b.Log(retry10000(b))
	}
}
