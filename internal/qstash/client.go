package qstash

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	sdk "github.com/upstash/qstash-go"
)

// Client reaches one QStash region. It wraps qstash-go v1.0.0 so that every
// call has a deadline and the caller's context, the HTTP status and the
// Burst-RateLimit-* headers reach our code, an empty token is an error and
// not a panic, the SDK's own QSTASH_URL lookup cannot send a call to
// another host, and every ID is checked before a call (an empty ID would
// turn a single delete into a bulk one). What the SDK lacks (DLQ listing
// with every filter, bulk delete by explicit IDs in the documented query
// form, retry, logs) is done with small calls of our own.
type Client struct {
	// Region names the region ("eu", "us").
	Region string
	base   *url.URL
	token  string
	// readToken is the read-only token used for reads (token when none).
	readToken string
	timeout   time.Duration
	// envBase is QSTASH_URL as the SDK will read it.
	envBase string

	calls atomic.Int64
	rate  atomic.Pointer[RateInfo]
}

// RateInfo is the last Burst-RateLimit-* state QStash reported.
type RateInfo struct {
	Limit     int
	Remaining int
	Reset     time.Time
	At        time.Time
}

// APIError is a QStash answer with an HTTP error status.
type APIError struct {
	Status  int
	Message string
	// RetryAfter is how long to wait before retrying a 429.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("qstash: HTTP %d: %s", e.Status, e.Message)
}

// Errors callers compare with errors.Is.
var (
	ErrNotFound  = errors.New("qstash: not found (already gone)")
	ErrInvalidID = errors.New("qstash: invalid id")
)

// Is makes a 404 APIError match ErrNotFound.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// IsRateLimited reports whether err is a 429, and how long to wait.
func IsRateLimited(err error) (time.Duration, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
		return ae.RetryAfter, true
	}
	return 0, false
}

// NewClient returns a client for one region. An empty token or a
// malformed base URL is an error.
func NewClient(region, baseURL, token string, timeout time.Duration) (*Client, error) {
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("qstash: no token configured for region " + region)
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("qstash: base URL for region %s is not an http(s) URL", region)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Client{Region: region, base: u, token: token, readToken: token, timeout: timeout,
		envBase: strings.TrimRight(os.Getenv("QSTASH_URL"), "/")}, nil
}

// WithReadOnlyToken makes every read (queues, dead letters, logs) use a
// QStash read-only token, so only the write path holds the full token's
// power; an empty token keeps the full one. Call it before first use.
func (c *Client) WithReadOnlyToken(token string) *Client {
	if strings.TrimSpace(token) != "" {
		c.readToken = token
	}
	return c
}

// BaseURL is the region's base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// Calls counts the API requests this client sent.
func (c *Client) Calls() int64 { return c.calls.Load() }

// Rate returns the last rate-limit state seen, or nil.
func (c *Client) Rate() *RateInfo { return c.rate.Load() }

// idRE is what a DLQ or message id may look like: no slash, no query, no
// empty string.
var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// CheckID fails with ErrInvalidID unless id is non-empty and well-formed.
func CheckID(id string) error {
	if !idRE.MatchString(id) || strings.Contains(id, "..") {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// resourcePath matches the paths where an empty id segment would turn a
// call on one resource into a call on all of them.
var resourcePath = regexp.MustCompile(`^/v2/(dlq|messages|queues|schedules|topics)(/|$)`)

// call is one API call's outcome as the transport saw it.
type call struct {
	status int
	header http.Header
}

// transport gives every SDK or own request the caller's context and a
// deadline, refuses any host but the configured one (rewriting the SDK's
// QSTASH_URL base to ours), counts calls and records status and rate
// limits.
type transport struct {
	c    *Client
	ctx  context.Context
	last *call
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	want := t.c.base
	switch {
	case u.Scheme == want.Scheme && u.Host == want.Host:
	case t.c.envBase != "" && strings.HasPrefix(u.String(), t.c.envBase+"/"):
		// The SDK prefers QSTASH_URL from the environment over the URL it
		// was given: put the call back on this region's host.
		rest := strings.TrimPrefix(u.String(), t.c.envBase)
		nu, err := url.Parse(want.String() + rest)
		if err != nil {
			return nil, err
		}
		u = *nu
	default:
		return nil, fmt.Errorf("qstash: refusing a request to %s (region %s is %s)", u.Host, t.c.Region, want.Host)
	}
	if p := strings.TrimPrefix(u.Path, want.Path); resourcePath.MatchString(p) && (strings.HasSuffix(p, "/") || strings.Contains(p, "//")) {
		// "/v2/dlq/" is the bulk endpoint: never reach it by accident.
		return nil, fmt.Errorf("%w: empty path segment in %s", ErrInvalidID, p)
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.c.timeout)
	r := req.Clone(ctx)
	r.URL = &u
	r.Host = u.Host
	t.c.calls.Add(1)
	countCall(t.ctx)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	t.last.status, t.last.header = resp.StatusCode, resp.Header
	if lim := resp.Header.Get("Burst-RateLimit-Limit"); lim != "" {
		ri := &RateInfo{At: time.Now()}
		ri.Limit, _ = strconv.Atoi(lim)
		ri.Remaining, _ = strconv.Atoi(resp.Header.Get("Burst-RateLimit-Remaining"))
		if s, err := strconv.ParseInt(resp.Header.Get("Burst-RateLimit-Reset"), 10, 64); err == nil {
			ri.Reset = time.Unix(s, 0)
		}
		t.c.rate.Store(ri)
	}
	return resp, nil
}

// cancelBody ends the call's deadline once the body is closed (the SDK
// reads to EOF but never closes: EOF ends it too).
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.cancel()
	}
	return n, err
}

func (b *cancelBody) Close() error {
	b.cancel()
	return b.ReadCloser.Close()
}

// sdkFor returns an SDK client bound to ctx for one call (with the
// read-only token for a read), and the record of what the call saw.
func (c *Client) sdkFor(ctx context.Context, read bool) (*sdk.Client, *call) {
	last := &call{}
	hc := &http.Client{Transport: &transport{c: c, ctx: ctx, last: last}}
	return sdk.NewClientWith(sdk.Options{Url: c.base.String(), Token: c.tokenFor(read), Client: hc}), last
}

// tokenFor is the token of a read or of a write.
func (c *Client) tokenFor(read bool) string {
	if read {
		return c.readToken
	}
	return c.token
}

// wrap turns an SDK error into an *APIError when the call got an HTTP
// error status (the SDK hides it).
func (c *Client) wrap(err error, last *call) error {
	if err == nil {
		return nil
	}
	if last.status >= 400 {
		return c.apiError(last.status, last.header, err.Error())
	}
	return fmt.Errorf("qstash: %w", err)
}

func (c *Client) apiError(status int, h http.Header, msg string) *APIError {
	e := &APIError{Status: status, Message: msg}
	if status == http.StatusTooManyRequests {
		e.RetryAfter = retryAfter(h, time.Now())
	}
	return e
}

// retryAfter is how long a 429 asks to wait: its Retry-After (seconds or
// an HTTP date), else until its Burst-RateLimit-Reset, else a second.
// Waits of a minute or more (a daily limit) count as a second: the caller
// bounds how many waits it makes.
func retryAfter(h http.Header, now time.Time) time.Duration {
	d := time.Duration(-1)
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			d = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			d = max(t.Sub(now), 0)
		}
	} else if s, err := strconv.ParseInt(h.Get("Burst-RateLimit-Reset"), 10, 64); err == nil {
		d = time.Unix(s, 0).Sub(now)
	}
	if d < 0 || d >= time.Minute {
		return time.Second
	}
	return d
}

// do sends one request of our own and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, out any) error {
	_, err := c.send(ctx, method, path, q, nil, nil, out)
	return err
}

// send sends one request of our own with header and body (nil for none),
// decodes a JSON answer into out and returns the HTTP status. A GET
// carries the read-only token, anything else the full one.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, header http.Header, body []byte, out any) (int, error) {
	u := c.base.String() + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, fmt.Errorf("qstash: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+c.tokenFor(method == http.MethodGet))
	last := &call{}
	resp, err := (&http.Client{Transport: &transport{c: c, ctx: ctx, last: last}}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("qstash: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("qstash: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(answer))
		if json.Unmarshal(answer, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 300 {
			msg = strings.ToValidUTF8(msg[:300], "")
		}
		return resp.StatusCode, c.apiError(resp.StatusCode, resp.Header, msg)
	}
	if out == nil || len(answer) == 0 {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return resp.StatusCode, fmt.Errorf("qstash: %s %s: unexpected answer: %w", method, path, err)
	}
	return resp.StatusCode, nil
}
