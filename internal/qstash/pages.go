package qstash

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// PageCache shares dead-letter pages among the people looking at them: one
// page (region, filter, cursor, size) is listed at most once per TTL
// however many viewers there are, and viewers asking while it is being
// listed wait for that one call. A nil PageCache lists every time.
type PageCache struct {
	TTL time.Duration

	mu    sync.Mutex
	pages map[string]*cachedPage
}

type cachedPage struct {
	region string
	done   chan struct{}
	at     time.Time
	page   Page
	err    error
}

// List returns the page, listed now or at most TTL ago. Failures are shared
// with those waiting for the same call but not kept.
func (pc *PageCache) List(ctx context.Context, c *Client, f Filter, cursor string, count int) (Page, error) {
	if pc == nil {
		return c.ListDLQ(ctx, f, cursor, count)
	}
	key := c.Region + "?" + f.Values().Encode() + "&cursor=" + cursor + "&count=" + strconv.Itoa(count)
	pc.mu.Lock()
	if pc.pages == nil {
		pc.pages = map[string]*cachedPage{}
	}
	now := time.Now()
	for k, p := range pc.pages {
		if !p.at.IsZero() && now.Sub(p.at) >= pc.TTL {
			delete(pc.pages, k)
		}
	}
	p, ok := pc.pages[key]
	if !ok {
		p = &cachedPage{region: c.Region, done: make(chan struct{})}
		pc.pages[key] = p
		// The call outlives the viewers who leave (their own deadlines end
		// their wait, not the call, so a slow QStash is listed once); the
		// client's own deadline still bounds it.
		go pc.fill(context.WithoutCancel(ctx), key, p, c, f, cursor, count)
	}
	pc.mu.Unlock()
	select {
	case <-p.done:
		return p.page, p.err
	case <-ctx.Done():
		return Page{}, ctx.Err()
	}
}

// fill lists one page for everyone waiting on p; a failure is not kept.
func (pc *PageCache) fill(ctx context.Context, key string, p *cachedPage, c *Client, f Filter, cursor string, count int) {
	page, err := c.ListDLQ(ctx, f, cursor, count)
	pc.mu.Lock()
	p.page, p.err, p.at = page, err, time.Now()
	if err != nil && pc.pages[key] == p {
		delete(pc.pages, key)
	}
	pc.mu.Unlock()
	close(p.done)
}

// Invalidate forgets a region's pages, after this console changed its DLQ.
func (pc *PageCache) Invalidate(region string) {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for k, p := range pc.pages {
		if p.region == region {
			delete(pc.pages, k)
		}
	}
}
