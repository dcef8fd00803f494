// Package qstash reaches Upstash QStash: queues, the dead-letter queue,
// retries and a safe purge of dead letters (see Client and Purger).
package qstash

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Queue is one queue and its depth.
type Queue struct {
	Name        string    `json:"name"`
	Lag         int64     `json:"lag"`
	Parallelism int       `json:"parallelism"`
	Paused      bool      `json:"paused"`
	Updated     time.Time `json:"updated"`
}

// Queues lists every queue (through the SDK).
func (c *Client) Queues(ctx context.Context) ([]Queue, error) {
	s, last := c.sdkFor(ctx, true)
	qs, err := s.Queues().List()
	if err != nil {
		return nil, c.wrap(err, last)
	}
	out := make([]Queue, 0, len(qs))
	for _, q := range qs {
		out = append(out, Queue{Name: q.Name, Lag: q.Lag, Parallelism: q.Parallelism, Paused: q.IsPaused, Updated: time.UnixMilli(q.UpdatedAt)})
	}
	return out, nil
}

// Message is a dead letter with every documented field.
type Message struct {
	DLQID              string              `json:"dlqId"`
	MessageID          string              `json:"messageId"`
	URL                string              `json:"url"`
	TopicName          string              `json:"topicName,omitempty"`
	Method             string              `json:"method"`
	Header             map[string][]string `json:"header,omitempty"`
	Body               string              `json:"body,omitempty"`
	BodyBase64         string              `json:"bodyBase64,omitempty"`
	MaxRetries         int                 `json:"maxRetries"`
	NotBefore          int64               `json:"notBefore,omitempty"`
	CreatedAt          int64               `json:"createdAt"`
	Callback           string              `json:"callback,omitempty"`
	FailureCallback    string              `json:"failureCallback,omitempty"`
	QueueName          string              `json:"queueName,omitempty"`
	ScheduleID         string              `json:"scheduleId,omitempty"`
	CallerIP           string              `json:"callerIP,omitempty"`
	Label              string              `json:"label,omitempty"`
	Labels             []string            `json:"labels,omitempty"`
	FlowControlKey     string              `json:"flowControlKey,omitempty"`
	Rate               int                 `json:"rate,omitempty"`
	Period             int                 `json:"period,omitempty"`
	Parallelism        int                 `json:"parallelism,omitempty"`
	ResponseStatus     int                 `json:"responseStatus,omitempty"`
	ResponseHeader     map[string][]string `json:"responseHeader,omitempty"`
	ResponseBody       string              `json:"responseBody,omitempty"`
	ResponseBodyBase64 string              `json:"responseBodyBase64,omitempty"`
}

// RawBody returns the message body's bytes, decoding base64 (the text of
// bodyBase64 itself when it does not decode; BodyBytes says so).
func (m Message) RawBody() []byte {
	b, _ := m.BodyBytes()
	return b
}

// BodyBytes returns the message body's exact bytes: bodyBase64 decoded
// when QStash sent the body that way (it is not UTF-8), else body. A
// bodyBase64 that does not decode is an error, never a guess.
func (m Message) BodyBytes() ([]byte, error) {
	if m.BodyBase64 == "" {
		return []byte(m.Body), nil
	}
	b, err := base64.StdEncoding.DecodeString(m.BodyBase64)
	if err != nil {
		return []byte(m.BodyBase64), fmt.Errorf("qstash: message %s: bodyBase64 does not decode: %w", m.DLQID, err)
	}
	return b, nil
}

// Filter selects dead letters with the API's filters.
type Filter struct {
	URL            string
	Queue          string
	Schedule       string
	ResponseStatus int
	Label          string
	From, To       time.Time
}

// Values returns the filter as query parameters.
func (f Filter) Values() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("url", f.URL)
	set("queueName", f.Queue)
	set("scheduleId", f.Schedule)
	set("label", f.Label)
	if f.ResponseStatus != 0 {
		q.Set("responseStatus", strconv.Itoa(f.ResponseStatus))
	}
	if !f.From.IsZero() {
		q.Set("fromDate", strconv.FormatInt(f.From.UnixMilli(), 10))
	}
	if !f.To.IsZero() {
		q.Set("toDate", strconv.FormatInt(f.To.UnixMilli(), 10))
	}
	return q
}

// Page is one page of dead letters and the cursor to the next ("" at the end).
type Page struct {
	Messages []Message `json:"messages"`
	Cursor   string    `json:"cursor,omitempty"`
}

// MaxPage is the API's largest page.
const MaxPage = 100

// ListDLQ returns one page of dead letters matching f (our own call: the
// SDK has no label filter and drops fields).
func (c *Client) ListDLQ(ctx context.Context, f Filter, cursor string, count int) (Page, error) {
	q := f.Values()
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if count <= 0 || count > MaxPage {
		count = MaxPage
	}
	q.Set("count", strconv.Itoa(count))
	var p Page
	err := c.do(ctx, http.MethodGet, "/v2/dlq", q, &p)
	return p, err
}

// GetDLQ returns one dead letter; ErrNotFound when it is gone.
func (c *Client) GetDLQ(ctx context.Context, id string) (Message, error) {
	if err := CheckID(id); err != nil {
		return Message{}, err
	}
	var m Message
	err := c.do(ctx, http.MethodGet, "/v2/dlq/"+id, nil, &m)
	return m, err
}

// DeleteDLQ deletes one dead letter (through the SDK, after checking the
// id); ErrNotFound when it was already gone.
func (c *Client) DeleteDLQ(ctx context.Context, id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	s, last := c.sdkFor(ctx, false)
	return c.wrap(s.Dlq().Delete(id), last)
}

// DeleteDLQByIDs deletes exactly ids (1 to 100 well-formed ids) with the
// documented dlqIds query parameter, never the SDK's JSON body: a server
// that ignored the body would see a filter-less call and delete whatever
// comes first. It returns how many were deleted; the rest were gone.
func (c *Client) DeleteDLQByIDs(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 || len(ids) > MaxPage {
		return 0, fmt.Errorf("%w: a bulk delete takes 1 to %d ids, not %d", ErrInvalidID, MaxPage, len(ids))
	}
	q := url.Values{}
	for _, id := range ids {
		if err := CheckID(id); err != nil {
			return 0, err
		}
		q.Add("dlqIds", id)
	}
	var out struct {
		Deleted int `json:"deleted"`
	}
	err := c.do(ctx, http.MethodDelete, "/v2/dlq", q, &out)
	return out.Deleted, err
}

// LogEntry is one state change of a message.
type LogEntry struct {
	Time           int64  `json:"time"`
	MessageID      string `json:"messageId"`
	State          string `json:"state"`
	Error          string `json:"error,omitempty"`
	ResponseStatus int    `json:"responseStatus,omitempty"`
	URL            string `json:"url,omitempty"`
	QueueName      string `json:"queueName,omitempty"`
	// Labels are the message's labels; Label is QStash's deprecated
	// single label.
	Labels []string `json:"labels,omitempty"`
	Label  string   `json:"label,omitempty"`
}

// LogPage is one page of log entries, newest first, and the cursor to
// the next ("" at the end).
type LogPage struct {
	Logs   []LogEntry `json:"logs"`
	Cursor string     `json:"cursor,omitempty"`
}

// Logs returns the log of one message as QStash lists it, newest first
// (our own call).
func (c *Client) Logs(ctx context.Context, messageID string) ([]LogEntry, error) {
	if err := CheckID(messageID); err != nil {
		return nil, err
	}
	var out struct {
		Logs []LogEntry `json:"logs"`
	}
	err := c.do(ctx, http.MethodGet, "/v2/logs", url.Values{"messageId": {messageID}, "count": {"100"}}, &out)
	return out.Logs, err
}

// LogsByLabel returns one page of the log entries of the messages that
// carry label, newest first (our own call: the SDK has no label filter).
// A label QStash would not accept is refused before anything is sent;
// count is 1 to MaxPage (else MaxPage).
func (c *Client) LogsByLabel(ctx context.Context, label, cursor string, count int) (LogPage, error) {
	if err := CheckLabel(label); err != nil {
		return LogPage{}, err
	}
	if count <= 0 || count > MaxPage {
		count = MaxPage
	}
	q := url.Values{"label": {label}, "count": {strconv.Itoa(count)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p LogPage
	err := c.do(ctx, http.MethodGet, "/v2/logs", q, &p)
	return p, err
}

// Republish publishes a copy of an archived dead letter, byte for byte,
// to its original destination, into its original queue when it had one
// (see RepublishOf), with dedupID as its deduplication id ("" for none).
func (c *Client) Republish(ctx context.Context, m Message, dedupID string) (Published, error) {
	p, err := RepublishOf(m)
	if err != nil {
		return Published{}, err
	}
	p.DeduplicationID = dedupID
	return c.Publish(ctx, p)
}
