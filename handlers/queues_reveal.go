package handlers

import (
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/qstash"
)

// revealWindow is how long one audited reveal of a dead letter's content
// covers the same operator opening it again.
const revealWindow = 10 * time.Minute

// reveals remembers, in memory, whose reveal of which dead letter was
// audited when, so that each is audited once per operator and message per
// revealWindow (per console instance). The zero value is ready.
type reveals struct {
	mu     sync.Mutex
	at     map[revealKey]time.Time
	pruned time.Time
}

// revealKey is one operator and one dead letter.
type revealKey struct {
	operator int64
	region   string
	id       string
}

// claim reports whether a reveal at now must be audited, and if so takes
// it: the same reveal is not audited again within revealWindow unless the
// claim is released.
func (r *reveals) claim(k revealKey, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = map[revealKey]time.Time{}
	}
	if now.Sub(r.pruned) >= time.Minute {
		for key, at := range r.at {
			if now.Sub(at) >= revealWindow {
				delete(r.at, key)
			}
		}
		r.pruned = now
	}
	if at, ok := r.at[k]; ok && now.Sub(at) < revealWindow {
		return false
	}
	r.at[k] = now
	return true
}

// release gives back a claim whose audit event was not written.
func (r *reveals) release(k revealKey, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at[k].Equal(at) {
		delete(r.at, k)
	}
}

// audit records that the signed-in operator is shown the headers and
// bodies of m (full: whole bodies), unless that was recorded within
// revealWindow. It returns an error when the event could not be written:
// the content must not be shown then.
func (r *reveals) audit(h *Queues, c echo.Context, region string, m qstash.Message, full bool) error {
	s := CurrentSession(c)
	if s == nil {
		return nil // routes need a session; nothing to attribute otherwise
	}
	k, now := revealKey{operator: s.Account.ID, region: region, id: m.DLQID}, time.Now()
	if !r.claim(k, now) {
		return nil
	}
	target := m.MessageID
	if target == "" {
		target = "dlq:" + m.DLQID
	}
	err := h.Record(c, audit.Entry{Action: "dlq.message.view", Target: target, Result: audit.Success,
		Details: map[string]any{"region": region, "dlq_id": m.DLQID, "queue": m.QueueName,
			"url": audit.RedactValue("url", m.URL), "full_body": full}})
	if err != nil {
		r.release(k, now)
	}
	return err
}
