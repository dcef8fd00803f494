package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
)

// TestStartUpResumesAndAuditsAnInterruptedPurge: a purge confirmed just
// before a crash is finished when the console starts again, and its
// result is audited once, as the operator who confirmed it.
func TestStartUpResumesAndAuditsAnInterruptedPurge(t *testing.T) {
	t.Parallel()
	qs := qstashdouble.New(qstashdouble.Options{Token: qstashToken})
	qsURL, err := qs.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qs.Close() })
	for i := range 120 {
		qs.AddDLQ(qstashdouble.DLQMessage{URL: fmt.Sprintf("https://api.atum.example/hooks/%d", i), QueueName: "billing", ResponseStatus: 500})
	}
	dbURL := testenv.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := store.Open(ctx, dbURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	c, err := qstash.NewClient("eu", qsURL, qstashToken, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := &qstash.Purger{Pool: pool, Clients: map[string]*qstash.Client{"eu": c}, Log: slog.Default()}
	id, err := p.Preview(ctx, "eu", qstash.Filter{Queue: "billing"}, nil, "op@atum.io")
	if err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("purge:%d", id)
	if err := p.Confirm(ctx, id, audit.Entry{Operator: "op@atum.io", Role: "operator", Action: "dlq.purge.confirm", Target: target, Result: audit.Intent}); err != nil {
		t.Fatal(err)
	}
	// The console stopped here; it starts again.
	startConsole(t, dbURL, map[string]string{"QSTASH_URL": qsURL, "QSTASH_TOKEN": qstashToken})
	var results []audit.Event
	testenv.Eventually(t, 20*time.Second, func() bool {
		results, err = audit.New(pool).List(ctx, audit.Filter{Action: qstash.ActionResult, Target: target})
		return err == nil && len(results) > 0
	}, "the resumed purge's result was never audited")
	time.Sleep(200 * time.Millisecond) // a second event would be a bug
	results, _ = audit.New(pool).List(ctx, audit.Filter{Action: qstash.ActionResult, Target: target})
	if len(results) != 1 || results[0].Operator != "op@atum.io" || results[0].Result != audit.Success ||
		!strings.Contains(results[0].DetailsJSON, `"deleted": 120`) || !strings.Contains(results[0].DetailsJSON, `"resumed_at_startup": true`) {
		t.Fatalf("result audit = %+v", results)
	}
	if pi, err := p.Get(ctx, id); err != nil || pi.State != qstash.Done || qs.DLQCount() != 0 {
		t.Fatalf("after the start-up: %+v, %v, %d left", pi, err, qs.DLQCount())
	}
}
