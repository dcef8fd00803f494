package memo

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent viewers share one read; after the TTL, or a Forget, the
// next one reads again; errors are not kept.
func TestCache(t *testing.T) {
	c := New[string, int](time.Hour)
	var reads atomic.Int32
	release := make(chan struct{})
	read := func(context.Context) (int, error) {
		<-release
		return int(reads.Add(1)), nil
	}
	var wg sync.WaitGroup
	got := make([]int, 20)
	for i := range got {
		wg.Go(func() { got[i], _ = c.Get(context.Background(), "k", read) })
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	for i, v := range got {
		if v != 1 {
			t.Fatalf("viewer %d got %d; want the one shared read", i, v)
		}
	}
	if v, _ := c.Get(context.Background(), "k", read); v != 1 || reads.Load() != 1 {
		t.Fatalf("within the TTL: %d, %d reads", v, reads.Load())
	}
	if v, _ := c.Get(context.Background(), "other", read); v != 2 {
		t.Fatalf("another key shared a read: %d", v)
	}
	c.Forget()
	if v, _ := c.Get(context.Background(), "k", read); v != 3 {
		t.Fatalf("after Forget: %d; want a new read", v)
	}

	short := New[string, int](10 * time.Millisecond)
	var n atomic.Int32
	count := func(context.Context) (int, error) { return int(n.Add(1)), nil }
	short.Get(context.Background(), "k", count)
	time.Sleep(25 * time.Millisecond)
	if v, _ := short.Get(context.Background(), "k", count); v != 2 {
		t.Fatalf("after twice the TTL: %d; want a new read", v)
	}

	fail := errors.New("database down")
	calls := 0
	bad := func(context.Context) (int, error) { calls++; return 0, fail }
	if _, err := short.Get(context.Background(), "e", bad); !errors.Is(err, fail) {
		t.Fatal(err)
	}
	if _, err := short.Get(context.Background(), "e", bad); !errors.Is(err, fail) || calls != 2 {
		t.Fatalf("an error was kept: %d calls", calls)
	}
}

// A Forget during a read makes the next viewer read again rather than
// join the read that began before the change.
func TestForgetDuringRead(t *testing.T) {
	c := New[string, string](time.Hour)
	started, release := make(chan struct{}), make(chan struct{})
	go c.Get(context.Background(), "k", func(context.Context) (string, error) {
		close(started)
		<-release
		return "before the change", nil
	})
	<-started
	c.Forget()
	v, _ := c.Get(context.Background(), "k", func(context.Context) (string, error) { return "after the change", nil })
	close(release)
	if v != "after the change" {
		t.Fatalf("got %q", v)
	}
}

// A viewer that gives up stops waiting; the read goes on for the others.
func TestWaiterGivesUp(t *testing.T) {
	c := New[string, int](time.Hour)
	release := make(chan struct{})
	go c.Get(context.Background(), "k", func(context.Context) (int, error) { <-release; return 7, nil })
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Get(ctx, "k", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter: %v", err)
	}
	close(release)
	time.Sleep(20 * time.Millisecond)
	if v, err := c.Get(context.Background(), "k", nil); v != 7 || err != nil {
		t.Fatalf("after the read: %d, %v", v, err)
	}
}

// Past the TTL (but within twice it) a viewer gets the value at once
// while one background read replaces it.
func TestStaleWhileRefreshing(t *testing.T) {
	c := New[string, int](50 * time.Millisecond)
	var reads atomic.Int32
	release := make(chan struct{})
	read := func(context.Context) (int, error) {
		n := int(reads.Add(1))
		if n > 1 {
			<-release
		}
		return n, nil
	}
	c.Get(context.Background(), "k", read)
	time.Sleep(60 * time.Millisecond)
	for range 5 {
		if v, _ := c.Get(context.Background(), "k", read); v != 1 {
			t.Fatalf("a stale viewer got %d; want the old value at once", v)
		}
	}
	close(release)
	time.Sleep(20 * time.Millisecond)
	if v, _ := c.Get(context.Background(), "k", read); v != 2 || reads.Load() != 2 {
		t.Fatalf("after the refresh: %d, %d reads; want 2 and one refresh", v, reads.Load())
	}
}

// A read that hangs (a stalled database) holds no caller past its own
// deadline, the first one included, and ends at the first caller's.
func TestHangingRead(t *testing.T) {
	c := New[string, int](time.Hour)
	ended := make(chan error, 1)
	hang := func(ctx context.Context) (int, error) {
		<-ctx.Done()
		ended <- ctx.Err()
		return 0, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Get(ctx, "k", hang); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("first caller: %v after %s", err, time.Since(start))
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the read ended with %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the read outlived the first caller's deadline")
	}
}

// A zero Cache shares reads for DefaultTTL.
func TestZeroCache(t *testing.T) {
	var c Cache[string, int]
	n := 0
	read := func(context.Context) (int, error) { n++; return n, nil }
	c.Get(context.Background(), "k", read)
	if v, _ := c.Get(context.Background(), "k", read); v != 1 || c.ttl != DefaultTTL {
		t.Fatalf("second read: %d (ttl %s); want the first one shared", v, c.ttl)
	}
}

// Keys that change every TTL (a view worded at its second) do not pile
// up: values too old to serve are dropped as new keys come.
func TestPassingKeysAreDropped(t *testing.T) {
	c := New[int, int](10 * time.Millisecond)
	read := func(context.Context) (int, error) { return 1, nil }
	for i := range 200 {
		if _, err := c.Get(context.Background(), i, read); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	// 200 keys over at least 200 ms: those older than 2 TTL (20 ms) go.
	if n > 40 {
		t.Fatalf("%d of 200 passing keys kept; want only those younger than 2 TTL", n)
	}
}
