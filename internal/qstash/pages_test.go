package qstash_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
)

func TestPatiently(t *testing.T) {
	limited := func(wait time.Duration) error {
		return &qstash.APIError{Status: http.StatusTooManyRequests, Message: "Too many requests", RetryAfter: wait}
	}
	calls := 0
	once := func(first error) func(context.Context) error {
		calls = 0
		return func(context.Context) error {
			calls++
			if calls == 1 {
				return first
			}
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	start := time.Now()
	if err := qstash.Patiently(ctx, 100*time.Millisecond, once(limited(150*time.Millisecond))); err != nil || calls != 2 ||
		time.Since(start) < 150*time.Millisecond {
		t.Fatalf("a 429 that fits: %v after %d calls, %v", err, calls, time.Since(start))
	}
	start = time.Now()
	if err := qstash.Patiently(ctx, 100*time.Millisecond, once(limited(5*time.Second))); err == nil || calls != 1 ||
		time.Since(start) > 50*time.Millisecond {
		t.Fatalf("a 429 longer than the budget: %v after %d calls, %v", err, calls, time.Since(start))
	}
	if err := qstash.Patiently(ctx, 900*time.Millisecond, once(limited(200*time.Millisecond))); err == nil || calls != 1 {
		t.Fatalf("a 429 that leaves no reserve: %v after %d calls", err, calls)
	}
	if err := qstash.Patiently(context.Background(), 0, once(limited(time.Millisecond))); err == nil || calls != 1 {
		t.Fatalf("no deadline, no wait: %v after %d calls", err, calls)
	}
	boom := errors.New("boom")
	if err := qstash.Patiently(ctx, 0, once(boom)); !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("another error: %v after %d calls", err, calls)
	}
}

// TestPageCacheKeepsLastGoodCopies: a listed page's last good copy
// (without headers and bodies) and a read dead letter's (whole) survive
// an invalidation and a 429, expire after Keep, and a dead letter found
// gone loses its copy.
func TestPageCacheKeepsLastGoodCopies(t *testing.T) {
	d, c := double(t, qstashdouble.Options{})
	id := d.AddDLQ(qstashdouble.DLQMessage{URL: "http://127.0.0.1:1/a", QueueName: "billing", Body: "customer data",
		Header: map[string][]string{"Authorization": {"Bearer x"}}})
	pc := &qstash.PageCache{TTL: time.Minute, Keep: 300 * time.Millisecond}
	ctx := context.Background()
	f := qstash.Filter{Queue: "billing"}
	if _, _, ok := pc.LastGood(c, f, "", 50); ok {
		t.Fatal("a copy before any listing")
	}
	if _, err := pc.List(ctx, c, f, "", 50); err != nil {
		t.Fatal(err)
	}
	pc.Invalidate("eu")
	d.FailNext(1, http.StatusTooManyRequests)
	if _, err := pc.List(ctx, c, f, "", 50); err == nil {
		t.Fatal("the 429 was not returned")
	}
	p, at, ok := pc.LastGood(c, f, "", 50)
	if !ok || len(p.Messages) != 1 || p.Messages[0].DLQID != id || time.Since(at) > time.Second {
		t.Fatalf("last good page = %+v %v %v", p, at, ok)
	}
	if m := p.Messages[0]; m.Body != "" || m.Header != nil || m.URL == "" {
		t.Fatalf("the page's copy keeps what the list never shows: %+v", m)
	}
	if _, _, ok := pc.LastGood(c, qstash.Filter{}, "", 50); ok {
		t.Fatal("another filter's copy")
	}

	if _, err := pc.Message(ctx, c, id); err != nil {
		t.Fatal(err)
	}
	if m, _, ok := pc.LastGoodMessage(c, id); !ok || m.Body != "customer data" {
		t.Fatalf("last good dead letter = %+v %v", m, ok)
	}
	time.Sleep(350 * time.Millisecond)
	if _, _, ok := pc.LastGood(c, f, "", 50); ok {
		t.Fatal("a page copy outlived Keep")
	}
	if _, _, ok := pc.LastGoodMessage(c, id); ok {
		t.Fatal("a dead letter's copy outlived Keep")
	}

	if _, err := pc.Message(ctx, c, id); err != nil {
		t.Fatal(err)
	}
	d.RemoveDLQ(id)
	if _, err := pc.Message(ctx, c, id); !errors.Is(err, qstash.ErrNotFound) {
		t.Fatalf("gone: %v", err)
	}
	if _, _, ok := pc.LastGoodMessage(c, id); ok {
		t.Fatal("a gone dead letter keeps its copy")
	}

	var none *qstash.PageCache
	if _, _, ok := none.LastGood(c, f, "", 50); ok {
		t.Fatal("a nil cache keeps copies")
	}
	if _, err := none.Message(ctx, c, id); !errors.Is(err, qstash.ErrNotFound) {
		t.Fatalf("nil cache read: %v", err)
	}
	none.Forget("eu", id)
}
