package qstash

import (
	"context"
	"sync/atomic"
)

// CallCounter counts the API requests sent with a context it is attached
// to (WithCallCounter), and only those: one operation's calls, not those
// other users of the same Client make at the same time. A nil counter
// counts nothing.
type CallCounter struct {
	n atomic.Int64
}

// Calls returns the requests counted so far.
func (cc *CallCounter) Calls() int64 {
	if cc == nil {
		return 0
	}
	return cc.n.Load()
}

// callCounters is the chain of counters a context carries, innermost first.
type callCounters struct {
	cc   *CallCounter
	next *callCounters
}

type callCountersKey struct{}

// WithCallCounter returns ctx with cc attached: every API request a Client
// sends with the returned context (or one derived from it) adds one to cc,
// and to the counters ctx already carried.
func WithCallCounter(ctx context.Context, cc *CallCounter) context.Context {
	if cc == nil {
		return ctx
	}
	next, _ := ctx.Value(callCountersKey{}).(*callCounters)
	return context.WithValue(ctx, callCountersKey{}, &callCounters{cc: cc, next: next})
}

// countCall adds one to every counter ctx carries.
func countCall(ctx context.Context) {
	for c, _ := ctx.Value(callCountersKey{}).(*callCounters); c != nil; c = c.next {
		c.cc.n.Add(1)
	}
}
