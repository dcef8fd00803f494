// Package memo shares reads among the viewers of one console instance:
// what every viewer of a screen would read alike (the live instances, a
// page of the timeline, the open alerts) is read once per short TTL and
// per key, concurrent viewers waiting for the one read in flight. Writes
// made through this instance forget what they change, so its own
// operators see their change at once; other instances' changes show
// within the TTL.
package memo

import (
	"context"
	"sync"
	"time"
)

// maxKeys bounds the keys kept: expired ones are dropped first, then all.
const maxKeys = 1000

// Cache keeps the result of read per key for TTL. Errors are shared with
// the callers waiting for the same read, never kept. The zero value keeps
// results for DefaultTTL; New sets another TTL.
type Cache[K comparable, V any] struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[K]*entry[V]
	// pruned is when values too old to serve were last dropped.
	pruned time.Time
}

type entry[V any] struct {
	done chan struct{}
	at   time.Time
	v    V
	err  error
	// refreshing is set while a background read replaces this value.
	refreshing bool
}

// atOr is when the value was read; zero for a missing entry.
func (e *entry[V]) atOr() time.Time {
	if e == nil {
		return time.Time{}
	}
	return e.at
}

// refresh reads key afresh for stale entry e and keeps the value unless
// a Forget dropped e meanwhile; a failed read leaves e to expire.
func (c *Cache[K, V]) refresh(ctx context.Context, key K, e *entry[V], read func(context.Context) (V, error)) {
	rctx, cancel := readContext(ctx)
	defer cancel()
	v, err := read(rctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[key] != e {
		return
	}
	if err != nil {
		e.refreshing = false
		return
	}
	done := make(chan struct{})
	close(done)
	c.entries[key] = &entry[V]{done: done, at: time.Now(), v: v}
}

// DefaultTTL is the TTL of a zero Cache: one second.
const DefaultTTL = time.Second

// New returns a cache keeping each result for ttl.
func New[K comparable, V any](ttl time.Duration) *Cache[K, V] {
	return &Cache[K, V]{ttl: ttl, entries: map[K]*entry[V]{}}
}

// Get returns key's value read at most TTL ago, or reads it now; callers
// asking for key while a read is in flight wait for it (or for their own
// ctx). A value older than TTL is still given, for at most another TTL,
// while one caller reads it afresh in the background: viewers never all
// wait on a refresh. After Forget, everyone waits for the new read.
func (c *Cache[K, V]) Get(ctx context.Context, key K, read func(context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[K]*entry[V]{}
	}
	if c.ttl == 0 {
		c.ttl = DefaultTTL
	}
	e, ok := c.entries[key]
	if ok && e.at.IsZero() {
		c.mu.Unlock()
		return c.wait(ctx, e)
	}
	age := time.Since(e.atOr())
	if ok && age < c.ttl {
		c.mu.Unlock()
		return e.v, nil
	}
	if ok && age < 2*c.ttl {
		start := !e.refreshing
		e.refreshing = true
		c.mu.Unlock()
		if start {
			go c.refresh(ctx, key, e, read)
		}
		return e.v, nil
	}
	// Keys that change every second (a view worded at its second) would
	// otherwise pile up to maxKeys: values past serving go every 2 TTL.
	if len(c.entries) >= maxKeys || time.Since(c.pruned) >= 2*c.ttl {
		c.pruneLocked()
	}
	e = &entry[V]{done: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()

	// The read belongs to every waiter: it is not cut short when the
	// first caller gives up, but it has the first caller's deadline, and
	// every caller, the first too, stops waiting at its own.
	go func() {
		rctx, cancel := readContext(ctx)
		defer cancel()
		v, err := read(rctx)
		c.mu.Lock()
		e.v, e.err, e.at = v, err, time.Now()
		if err != nil && c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
		close(e.done)
	}()
	return c.wait(ctx, e)
}

// maxRead bounds a shared read started without a deadline.
const maxRead = 5 * time.Second

// readContext is the context of a shared read started by a caller with
// ctx: not cancelled with it, but ending at its deadline (else maxRead).
func readContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := maxRead
	if dl, ok := ctx.Deadline(); ok {
		d = time.Until(dl)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

func (c *Cache[K, V]) wait(ctx context.Context, e *entry[V]) (V, error) {
	select {
	case <-e.done:
		return e.v, e.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// pruneLocked drops the values too old to serve, and every value if that
// leaves maxKeys or more; reads in flight stay.
func (c *Cache[K, V]) pruneLocked() {
	c.pruned = time.Now()
	for k, e := range c.entries {
		if !e.at.IsZero() && time.Since(e.at) >= 2*c.ttl {
			delete(c.entries, k)
		}
	}
	if len(c.entries) >= maxKeys {
		for k, e := range c.entries {
			if !e.at.IsZero() {
				delete(c.entries, k)
			}
		}
	}
}

// Forget drops every value kept and every read in flight (its waiters
// still get it): the next Get reads again, after the change that called
// Forget.
func (c *Cache[K, V]) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
