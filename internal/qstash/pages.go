package qstash

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/atum/ops-console/internal/memo"
)

// PageCache shares dead-letter pages among the people looking at them: one
// page (region, filter, cursor, size) is listed at most once per TTL
// however many viewers there are, and viewers asking while it is being
// listed wait for that one call. It also keeps the last good copy of each
// page and of each dead letter read through it for Keep, to be shown with
// its age while QStash refuses (a 429). A nil PageCache lists every time
// and keeps nothing.
type PageCache struct {
	TTL time.Duration
	// Keep is how long a last good copy is kept (0: DefaultKeep).
	Keep time.Duration

	mu    sync.Mutex
	pages map[string]*cachedPage
	good  copies[Page]
	msgs  copies[Message]
	// logs keeps each message's logs for a second: viewers of one message
	// share one call. labelLogs and schedules do the same for a label's
	// newest log entries and a region's schedules.
	logs      memo.Cache[string, []LogEntry]
	labelLogs memo.Cache[string, LogPage]
	schedules memo.Cache[string, []Schedule]
}

// DefaultKeep is how long last good copies are kept when Keep is 0.
const DefaultKeep = 5 * time.Minute

// Bounds of the last good copies: list pages are kept without headers
// and bodies (the list shows neither), so only dead letters read one by
// one count towards maxCopiedBytes.
const (
	maxCopiedPages    = 200
	maxCopiedMessages = 200
	maxCopiedBytes    = 16 << 20
)

type cachedPage struct {
	region string
	// keepCopy keeps the page as its last good copy once listed.
	keepCopy bool
	done     chan struct{}
	at       time.Time
	page     Page
	err      error
}

// List returns the page, listed now or at most TTL ago. Failures are shared
// with those waiting for the same call but not kept.
func (pc *PageCache) List(ctx context.Context, c *Client, f Filter, cursor string, count int) (Page, error) {
	return pc.list(ctx, c, f, cursor, count, true)
}

// ListForScan is List for a page a scan reads once (its filter names a
// time window that soon moves on): shared among viewers the same way, but
// no last good copy of it is kept, so that scans do not push out the
// copies List keeps.
func (pc *PageCache) ListForScan(ctx context.Context, c *Client, f Filter, cursor string, count int) (Page, error) {
	return pc.list(ctx, c, f, cursor, count, false)
}

func (pc *PageCache) list(ctx context.Context, c *Client, f Filter, cursor string, count int, keepCopy bool) (Page, error) {
	if pc == nil {
		return c.ListDLQ(ctx, f, cursor, count)
	}
	key := pageKey(c, f, cursor, count)
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
		p = &cachedPage{region: c.Region, keepCopy: keepCopy, done: make(chan struct{})}
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

func pageKey(c *Client, f Filter, cursor string, count int) string {
	return c.Region + "?" + f.Values().Encode() + "&cursor=" + cursor + "&count=" + strconv.Itoa(count)
}

// fill lists one page for everyone waiting on p; a failure is not kept,
// a success is also kept as the page's last good copy.
func (pc *PageCache) fill(ctx context.Context, key string, p *cachedPage, c *Client, f Filter, cursor string, count int) {
	page, err := c.ListDLQ(ctx, f, cursor, count)
	pc.mu.Lock()
	p.page, p.err, p.at = page, err, time.Now()
	if err != nil && pc.pages[key] == p {
		delete(pc.pages, key)
	}
	if err == nil && p.keepCopy {
		pc.good.put(key, listCopy(page), p.at, pc.keep(), maxCopiedPages, 0)
	}
	pc.mu.Unlock()
	close(p.done)
}

// listCopy is page without what the list never shows (headers, bodies),
// so that keeping it costs little.
func listCopy(page Page) Page {
	out := Page{Cursor: page.Cursor, Messages: make([]Message, len(page.Messages))}
	for i, m := range page.Messages {
		m.Header, m.Body, m.BodyBase64 = nil, "", ""
		m.ResponseHeader, m.ResponseBody, m.ResponseBodyBase64 = nil, "", ""
		out.Messages[i] = m
	}
	return out
}

// LastGood returns the last good copy of a page (without headers and
// bodies) and when it was listed, if one is kept.
func (pc *PageCache) LastGood(c *Client, f Filter, cursor string, count int) (Page, time.Time, bool) {
	if pc == nil {
		return Page{}, time.Time{}, false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.good.get(pageKey(c, f, cursor, count), pc.keep())
}

// Message reads one dead letter and keeps it as its last good copy;
// ErrNotFound (a dead letter that is gone) drops the copy.
func (pc *PageCache) Message(ctx context.Context, c *Client, id string) (Message, error) {
	m, err := c.GetDLQ(ctx, id)
	if pc == nil {
		return m, err
	}
	key := c.Region + "/" + id
	pc.mu.Lock()
	defer pc.mu.Unlock()
	switch {
	case err == nil:
		pc.msgs.put(key, m, time.Now(), pc.keep(), maxCopiedMessages, messageBytes(m))
	case errors.Is(err, ErrNotFound):
		pc.msgs.drop(key)
	}
	return m, err
}

// Logs returns the logs of message id, read once a second however many
// people look at it.
func (pc *PageCache) Logs(ctx context.Context, c *Client, id string) ([]LogEntry, error) {
	if pc == nil {
		return c.Logs(ctx, id)
	}
	return pc.logs.Get(ctx, c.Region+"/"+id, func(ctx context.Context) ([]LogEntry, error) { return c.Logs(ctx, id) })
}

// LabelLogs returns the newest page of the log entries of label's
// messages, read once a second however many people look.
func (pc *PageCache) LabelLogs(ctx context.Context, c *Client, label string) (LogPage, error) {
	read := func(ctx context.Context) (LogPage, error) { return c.LogsByLabel(ctx, label, "", MaxPage) }
	if pc == nil {
		return read(ctx)
	}
	return pc.labelLogs.Get(ctx, c.Region+"/"+label, read)
}

// Schedules returns region c's schedules, listed once a second however
// many people look; ForgetSchedules drops them after a change.
func (pc *PageCache) Schedules(ctx context.Context, c *Client) ([]Schedule, error) {
	if pc == nil {
		return c.Schedules(ctx)
	}
	return pc.schedules.Get(ctx, c.Region, c.Schedules)
}

// ForgetSchedules drops the schedules read, so that the operator who
// changed one sees the change at once.
func (pc *PageCache) ForgetSchedules() {
	if pc != nil {
		pc.schedules.Forget()
	}
}

// LastGoodMessage returns the last good copy of a dead letter and when it
// was read, if one is kept.
func (pc *PageCache) LastGoodMessage(c *Client, id string) (Message, time.Time, bool) {
	if pc == nil {
		return Message{}, time.Time{}, false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.msgs.get(c.Region+"/"+id, pc.keep())
}

// Forget drops the last good copy of a dead letter this console retried
// or deleted.
func (pc *PageCache) Forget(region, id string) {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.msgs.drop(region + "/" + id)
}

func messageBytes(m Message) int {
	n := len(m.Body) + len(m.BodyBase64) + len(m.ResponseBody) + len(m.ResponseBodyBase64) + len(m.URL) + 512
	for _, h := range []map[string][]string{m.Header, m.ResponseHeader} {
		for k, vs := range h {
			for _, v := range vs {
				n += len(k) + len(v)
			}
		}
	}
	return n
}

func (pc *PageCache) keep() time.Duration {
	if pc.Keep > 0 {
		return pc.Keep
	}
	return DefaultKeep
}

// Invalidate forgets a region's pages, after this console changed its DLQ.
// Last good copies stay: they are only shown with their age, when QStash
// refuses.
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
