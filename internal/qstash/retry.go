package qstash

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"

	"github.com/jackc/pgx/v5"
)

// Kinds of bulk action on frozen dead letters: both are previewed, frozen,
// confirmed (and approved when the policy asks), run in chunks of explicit
// ids and resumed the same way.
const (
	KindPurge = "purge"
	KindRetry = "retry"
)

// overrideRules are the publish configuration headers a retry may set for
// the messages it sends again (the API lets a retry override any of the
// original's settings; these are the ones an operator needs), each with
// what its value may be.
var overrideRules = map[string]*regexp.Regexp{
	// Retries of the new message, 0 to 100.
	"Upstash-Retries": regexp.MustCompile(`^(?:[0-9]|[1-9][0-9]|100)$`),
	// A delay before the first delivery: 1 to 7 digits and a unit.
	"Upstash-Delay": regexp.MustCompile(`^[0-9]{1,7}[smhd]$`),
	// The delay between retries, an expression of the variable retried.
	"Upstash-Retry-Delay": regexp.MustCompile(`^[A-Za-z0-9 +\-*/().,^]{1,200}$`),
	// How long QStash waits for the destination: a number of seconds or
	// a duration.
	"Upstash-Timeout": regexp.MustCompile(`^[0-9]{1,5}[smh]?$`),
}

// OverrideNames lists the headers a retry may override, sorted.
func OverrideNames() []string {
	names := make([]string, 0, len(overrideRules))
	for k := range overrideRules {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ParseOverrides checks the headers a retry should override (name →
// value; empty values are dropped) and returns them as a header. A name it
// does not know or a value out of its form is an error naming it.
func ParseOverrides(in map[string]string) (http.Header, error) {
	h := http.Header{}
	for name, v := range in {
		if v == "" {
			continue
		}
		rule, ok := overrideRules[http.CanonicalHeaderKey(name)]
		if !ok {
			return nil, fmt.Errorf("%s cannot be overridden on a retry", clipID(name))
		}
		if !rule.MatchString(v) {
			return nil, fmt.Errorf("%s: %q is not a valid value", http.CanonicalHeaderKey(name), clipID(v))
		}
		h.Set(name, v)
	}
	return h, nil
}

// RetryDLQ sends one dead letter again (our own call: the SDK has no
// retry) and returns the new message id.
func (c *Client) RetryDLQ(ctx context.Context, id string) (string, error) {
	return c.RetryDLQWith(ctx, id, nil)
}

// RetryDLQWith is RetryDLQ with publish configuration headers that
// override the original message's (ParseOverrides).
func (c *Client) RetryDLQWith(ctx context.Context, id string, overrides http.Header) (string, error) {
	if err := CheckID(id); err != nil {
		return "", err
	}
	var out struct {
		MessageID string `json:"messageId"`
	}
	_, err := c.send(ctx, http.MethodPost, "/v2/dlq/retry/"+id, nil, overrides, nil, &out)
	return out.MessageID, err
}

// RetryDLQByIDs sends exactly ids (1 to 100 well-formed ids) again with
// the documented dlqIds query parameter, never a filter, with optional
// override headers, and returns the new message ids. QStash answers 404
// (ErrNotFound) when some of them are no longer dead letters.
func (c *Client) RetryDLQByIDs(ctx context.Context, ids []string, overrides http.Header) ([]string, error) {
	if len(ids) == 0 || len(ids) > MaxPage {
		return nil, fmt.Errorf("%w: a bulk retry takes 1 to %d ids, not %d", ErrInvalidID, MaxPage, len(ids))
	}
	q := url.Values{}
	for _, id := range ids {
		if err := CheckID(id); err != nil {
			return nil, err
		}
		q.Add("dlqIds", id)
	}
	var out struct {
		Responses []struct {
			MessageID string `json:"messageId"`
		} `json:"responses"`
	}
	if _, err := c.send(ctx, http.MethodPost, "/v2/dlq/retry", q, overrides, nil, &out); err != nil {
		return nil, err
	}
	mids := make([]string, 0, len(out.Responses))
	for _, r := range out.Responses {
		mids = append(mids, r.MessageID)
	}
	return mids, nil
}

// itemOutcome is what became of one frozen id in a retry.
type itemOutcome struct {
	state     string // "retried", "gone" or "failed"
	messageID string
	err       string
}

// retryChunk sends a chunk of frozen ids again: one bulk call by explicit
// ids, and when QStash answers that some are gone (404) or refuses the
// call (400), each id on its own so that every one's fate is known. 429s are waited out up to maxWaits in a
// row. A refusal of one id (4xx) fails that id and the rest go on; an
// error that says nothing about the ids (5xx, unreachable, the waits
// exhausted) stops the chunk, returning what is known so far: ids without
// an outcome are sent again on resume, where one already sent is gone.
func (p *Purger) retryChunk(ctx context.Context, c *Client, ids []string, h http.Header, maxWaits int) (chunkResult, error) {
	out := make(map[string]itemOutcome, len(ids))
	var mids []string
	err := patient(ctx, maxWaits, func() error {
		var err error
		mids, err = c.RetryDLQByIDs(ctx, ids, h)
		return err
	})
	switch {
	case err == nil:
		for i, id := range ids {
			o := itemOutcome{state: "retried"}
			if len(mids) == len(ids) && len(ids) == 1 {
				o.messageID = mids[i] // the only pairing the API promises
			}
			out[id] = o
		}
		return tally(out), nil
	case !isolates(err):
		return tally(out), err
	}
	for _, id := range ids {
		var mid string
		err := patient(ctx, maxWaits, func() error {
			var err error
			mid, err = c.RetryDLQWith(ctx, id, h)
			return err
		})
		var ae *APIError
		switch {
		case err == nil:
			out[id] = itemOutcome{state: "retried", messageID: mid}
		case errors.Is(err, ErrNotFound):
			out[id] = itemOutcome{state: "gone"}
		case errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusTooManyRequests:
			out[id] = itemOutcome{state: "failed", err: reasonOf(err)}
		default:
			return tally(out), err
		}
	}
	return tally(out), nil
}

// tally counts a retry chunk's outcomes.
func tally(items map[string]itemOutcome) chunkResult {
	res := chunkResult{items: items}
	for _, o := range items {
		switch o.state {
		case "retried":
			res.retried++
		case "gone":
			res.gone++
		case "failed":
			res.failed++
		}
	}
	return res
}

// isolates reports whether a bulk retry's error is about some of its ids
// (404: some are gone; 400: some are refused), so that retrying each id
// alone tells which.
func isolates(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusBadRequest)
}

// patient calls call, waiting out up to maxWaits 429s in a row; after
// those it gives up with an error that is no longer a 429.
func patient(ctx context.Context, maxWaits int, call func() error) error {
	for waits := 0; ; waits++ {
		err := call()
		d, limited := IsRateLimited(err)
		if !limited {
			return err
		}
		if waits >= maxWaits {
			return fmt.Errorf("still rate limited after %d waits (%s)", waits, reasonOf(err))
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
}

// Failure is a dead letter a retry could not send again, and why.
type Failure struct {
	DLQID string
	Error string
}

// Failures lists up to n dead letters of a retry that failed, in frozen
// order.
func (p *Purger) Failures(ctx context.Context, id int64, n int) ([]Failure, error) {
	rows, err := p.Pool.Query(ctx, `SELECT dlq_id, error FROM ops.dlq_purge_items WHERE purge_id = $1 AND state = 'failed'
		ORDER BY seq LIMIT $2`, id, n)
	if err != nil {
		return nil, fmt.Errorf("qstash: failures: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Failure, error) {
		var f Failure
		return f, r.Scan(&f.DLQID, &f.Error)
	})
}
