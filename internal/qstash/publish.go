package qstash

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Publish is one message to publish with our own call, body as raw bytes
// (the SDK takes a string body, so it cannot send every body as it was).
type Publish struct {
	// Destination is the URL QStash delivers to.
	Destination string
	// Queue, when set, enqueues the message into that queue
	// (POST /v2/enqueue/{queue}/{destination}); else it is published
	// (POST /v2/publish/{destination}).
	Queue string
	// Method is the method QStash delivers with (Upstash-Method; QStash
	// uses POST when it is empty).
	Method string
	// ContentType is the body's Content-Type.
	ContentType string
	// Forward holds the headers QStash passes on to the destination, each
	// sent as Upstash-Forward-<name> with every value.
	Forward http.Header
	// Body is sent byte for byte.
	Body []byte
	// Retries is the number of delivery retries (Upstash-Retries); nil
	// leaves QStash's default.
	Retries *int
	// Callback and FailureCallback are the message's callback URLs ("" for
	// none).
	Callback, FailureCallback string
	// Labels are the message's labels (Upstash-Label).
	Labels []string
	// DeduplicationID makes QStash accept a second publish with the same
	// id within its deduplication window without delivering it again.
	DeduplicationID string
}

// Published is QStash's answer to a publish.
type Published struct {
	// MessageID is the new message's id, or the earlier one's when
	// Deduplicated.
	MessageID string
	// Deduplicated is set when QStash had already accepted a message with
	// the same deduplication id (HTTP 202): it delivers nothing new.
	Deduplicated bool
}

// ErrUnpublishable says a message cannot be published as it is (no or a
// malformed destination, queue name, header or deduplication id); nothing
// was sent.
var ErrUnpublishable = errors.New("qstash: message cannot be published as archived")

// queueNameRE is what QStash accepts as a queue name.
var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// nonForwarded are the headers of an archived message that QStash set
// itself on delivery, or that belong to one HTTP connection: they are not
// the message's, and are not forwarded again. Content-Type is sent as
// the publish's own Content-Type.
var nonForwarded = map[string]bool{
	"Upstash-Message-Id": true, "Upstash-Signature": true, "Upstash-Retried": true, "Upstash-Caller-Ip": true,
	"Upstash-Region": true, "Upstash-Schedule-Id": true, "Upstash-Topic-Name": true,
	"Content-Type": true, "Content-Length": true, "Host": true, "Connection": true, "Keep-Alive": true,
	"Proxy-Connection": true, "Transfer-Encoding": true, "Te": true, "Trailer": true, "Upgrade": true,
}

// RepublishOf returns the publish that sends an archived dead letter again
// as it was first published: its body bytes, method, content type and
// forwarded headers, into its queue when it had one, with its retries,
// callbacks and labels. A delay is not applied again (the message was due
// long ago); flow-control settings stay in the archive. A message of a URL
// group goes to its own endpoint, not to the group (which would send it
// to every endpoint again).
func RepublishOf(m Message) (Publish, error) {
	if m.URL == "" {
		return Publish{}, fmt.Errorf("%w: message %s has no destination", ErrUnpublishable, m.DLQID)
	}
	body, err := m.BodyBytes()
	if err != nil {
		return Publish{}, fmt.Errorf("%w: %w", ErrUnpublishable, err)
	}
	retries := m.MaxRetries
	p := Publish{Destination: m.URL, Queue: m.QueueName, Method: m.Method, Body: body, Retries: &retries,
		Callback: m.Callback, FailureCallback: m.FailureCallback, Forward: http.Header{}}
	p.Labels = m.Labels
	if len(p.Labels) == 0 && m.Label != "" {
		p.Labels = []string{m.Label}
	}
	names := make([]string, 0, len(m.Header))
	for k := range m.Header {
		names = append(names, k)
	}
	slices.Sort(names) // one order however the map iterates
	for _, k := range names {
		vs := m.Header[k]
		name := http.CanonicalHeaderKey(k)
		switch {
		case len(vs) == 0:
		case name == "Content-Type":
			p.ContentType = vs[0]
		case !nonForwarded[name]:
			p.Forward[name] = append(p.Forward[name], vs...)
		}
	}
	return p, nil
}

// request returns the path and headers of p's call, or ErrUnpublishable.
func (p Publish) request() (string, http.Header, error) {
	u, err := url.Parse(p.Destination)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, fmt.Errorf("%w: destination is not an http(s) URL", ErrUnpublishable)
	}
	path := "/v2/publish/" + p.Destination
	if p.Queue != "" {
		if !queueNameRE.MatchString(p.Queue) {
			return "", nil, fmt.Errorf("%w: queue name %q", ErrUnpublishable, p.Queue)
		}
		path = "/v2/enqueue/" + p.Queue + "/" + p.Destination
	}
	h := http.Header{}
	set := func(name, value string) error {
		if !httpguts.ValidHeaderFieldValue(value) {
			return fmt.Errorf("%w: header %s has a value HTTP cannot carry", ErrUnpublishable, name)
		}
		h[name] = append(h[name], value)
		return nil
	}
	var errs []error
	if p.Method != "" {
		errs = append(errs, set("Upstash-Method", p.Method))
	}
	if p.ContentType != "" {
		errs = append(errs, set("Content-Type", p.ContentType))
	}
	for name, vs := range p.Forward {
		if !httpguts.ValidHeaderFieldName(name) {
			return "", nil, fmt.Errorf("%w: header name %q", ErrUnpublishable, name)
		}
		for _, v := range vs {
			errs = append(errs, set("Upstash-Forward-"+name, v))
		}
	}
	if p.Retries != nil {
		if *p.Retries < 0 {
			return "", nil, fmt.Errorf("%w: %d retries", ErrUnpublishable, *p.Retries)
		}
		h.Set("Upstash-Retries", strconv.Itoa(*p.Retries))
	}
	for name, cb := range map[string]string{"Upstash-Callback": p.Callback, "Upstash-Failure-Callback": p.FailureCallback} {
		if cb == "" {
			continue
		}
		if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return "", nil, fmt.Errorf("%w: %s is not an http(s) URL", ErrUnpublishable, name)
		}
		errs = append(errs, set(name, cb))
	}
	if len(p.Labels) > 0 {
		errs = append(errs, set("Upstash-Label", strings.Join(p.Labels, ",")))
	}
	if d := p.DeduplicationID; d != "" {
		if strings.Contains(d, ":") { // QStash refuses it
			return "", nil, fmt.Errorf("%w: deduplication id %q has a colon", ErrUnpublishable, d)
		}
		errs = append(errs, set("Upstash-Deduplication-Id", d))
	}
	if err := errors.Join(errs...); err != nil {
		return "", nil, err
	}
	return path, h, nil
}

// Publish publishes (or, with a Queue, enqueues) p with its body's exact
// bytes. A message that cannot be sent as it is fails with
// ErrUnpublishable before any call.
func (c *Client) Publish(ctx context.Context, p Publish) (Published, error) {
	path, h, err := p.request()
	if err != nil {
		return Published{}, err
	}
	if _, err := url.Parse(c.base.String() + path); err != nil {
		return Published{}, fmt.Errorf("%w: destination does not fit in a request path", ErrUnpublishable)
	}
	body := p.Body
	if body == nil {
		body = []byte{}
	}
	var out struct {
		MessageID    string `json:"messageId"`
		Deduplicated bool   `json:"deduplicated"`
	}
	status, err := c.send(ctx, http.MethodPost, path, nil, h, body, &out)
	if err != nil {
		return Published{}, err
	}
	return Published{MessageID: out.MessageID, Deduplicated: out.Deduplicated || status == http.StatusAccepted}, nil
}
