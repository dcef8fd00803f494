// Package fly reads the Fly.io Machines API: the platform's machines,
// their events and configuration, and the names of its secrets. It never
// changes anything: a deploy would overwrite whatever the console set, and
// the kill switches live in Postgres.
package fly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is the public Machines API.
const DefaultBaseURL = "https://api.machines.dev"

// maxBody bounds how much of one answer is read.
const maxBody = 16 << 20

// Client calls the Machines API for one app with a bearer token. Every call
// has a deadline and waits its turn under Fly's documented rate limits (1
// request per second per action and identifier, bursts of 3; Get Machine
// 5 per second, bursts of 10; the client keeps 10 % and one burst call
// under them), and after a 429 it sends nothing for that action until
// Fly's Retry-After has passed.
type Client struct {
	base, app, token string
	hc               *http.Client
	timeout          time.Duration
	limits           *limiter
}

// NewClient returns a client for app at baseURL ("" for the public API).
func NewClient(baseURL, app, token string, timeout time.Duration) (*Client, error) {
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("fly: no API token")
	}
	if app == "" || !validID(app) {
		return nil, fmt.Errorf("fly: invalid app name %q", app)
	}
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("fly: invalid API URL")
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), app: app, token: token, timeout: timeout,
		hc: &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // never resend the token elsewhere
		}},
		limits: newLimiter()}, nil
}

// App is the app the client reads.
func (c *Client) App() string { return c.app }

// Machines lists the app's machines with their configuration and recent
// events.
func (c *Client) Machines(ctx context.Context) ([]Machine, error) {
	var ms []Machine
	err := c.get(ctx, "list machines", action{"list", c.app, 1, 3}, "/machines", &ms)
	return ms, err
}

// Machine returns one machine.
func (c *Client) Machine(ctx context.Context, id string) (Machine, error) {
	var m Machine
	if !validID(id) {
		return m, fmt.Errorf("fly: invalid machine id %q", id)
	}
	err := c.get(ctx, "get machine", action{"get", id, 5, 10}, "/machines/"+id, &m)
	return m, err
}

// Events returns a machine's event log, newest first.
func (c *Client) Events(ctx context.Context, id string) ([]Event, error) {
	var es []Event
	if !validID(id) {
		return nil, fmt.Errorf("fly: invalid machine id %q", id)
	}
	err := c.get(ctx, "machine events", action{"events", id, 1, 3}, "/machines/"+id+"/events", &es)
	return es, err
}

// Secrets returns the names and digests of the app's secrets. It never
// asks for values: the request carries no query at all.
func (c *Client) Secrets(ctx context.Context) ([]Secret, error) {
	var r struct {
		Secrets []Secret `json:"secrets"`
	}
	err := c.get(ctx, "list secrets", action{"secrets", c.app, 1, 3}, "/secrets", &r)
	return r.Secrets, err
}

// Error is a failed call: the HTTP status (0 when none came back), Fly's
// message and, after a 429, how long to wait.
type Error struct {
	Op         string
	Status     int
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := "fly: " + e.Op
	if e.Status != 0 {
		s += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// IsRateLimited reports whether err is Fly's 429, and how long to wait.
func IsRateLimited(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusTooManyRequests {
		return e.RetryAfter, true
	}
	return 0, false
}

func (c *Client) get(ctx context.Context, op string, a action, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.limits.wait(ctx, a); err != nil {
		return &Error{Op: op, Message: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/apps/"+c.app+path, nil)
	if err != nil {
		return &Error{Op: op, Message: "bad request"}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return &Error{Op: op, Message: c.scrub(transportMessage(err))}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &Error{Op: op, Status: resp.StatusCode, Message: c.scrub(transportMessage(err))}
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Op: op, Status: resp.StatusCode, Message: c.scrub(errorMessage(body))}
		if resp.StatusCode == http.StatusTooManyRequests {
			e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
			c.limits.block(a, e.RetryAfter)
		}
		return e
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &Error{Op: op, Status: resp.StatusCode, Message: "unexpected answer: " + c.scrub(err.Error())}
	}
	return nil
}

// scrub removes the token from text bound for an error.
func (c *Client) scrub(s string) string {
	if len(c.token) >= 4 {
		s = strings.ReplaceAll(s, c.token, "xxxxx")
	}
	return s
}

// transportMessage shortens a transport error to what an operator needs.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return "timed out"
	}
	return err.Error()
}

// errorMessage reads Fly's {"error": "..."} or the first 200 bytes of text.
func errorMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		body = []byte(e.Error)
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(body), "?"))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// retryAfter reads a Retry-After header (seconds or HTTP date); 1 s when
// missing, capped at 5 min.
func retryAfter(h string) time.Duration {
	d := time.Second
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = time.Until(t)
	}
	return min(max(d, time.Second), 5*time.Minute)
}

// validID accepts Fly app names and machine ids: letters, digits, - and _.
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// action is one rate-limited Machines API action on one identifier (an
// app or a machine) with Fly's documented rate per second and burst.
type action struct {
	name, id    string
	rate, burst float64
}

// Margins under Fly's limits, so network jitter never turns a call that
// was on time here into a 429 there.
const (
	rateMargin  = 0.9
	burstMargin = 1
)

// limiter is a token bucket per action and identifier.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens  float64
	last    time.Time
	blocked time.Time
}

func newLimiter() *limiter { return &limiter{buckets: map[string]*bucket{}} }

// wait takes a token for a, sleeping until one is free; it fails at once
// when the wait would outlast ctx's deadline.
func (l *limiter) wait(ctx context.Context, a action) error {
	for {
		d := l.reserve(a)
		if d <= 0 {
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return fmt.Errorf("rate limit: next %s call allowed in %s, after the deadline", a.name, d.Round(time.Millisecond))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// reserve takes a token now and returns 0, or returns how long to wait.
func (l *limiter) reserve(a action) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := a.name + "/" + a.id
	b, ok := l.buckets[key]
	now := time.Now()
	rate, burst := a.rate*rateMargin, a.burst-burstMargin
	if !ok {
		b = &bucket{tokens: burst, last: now}
		l.buckets[key] = b
	}
	if now.Before(b.blocked) {
		return b.blocked.Sub(now) + time.Millisecond
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// block holds back a after a 429 for d, and empties its bucket.
func (l *limiter) block(a action, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := a.name + "/" + a.id
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{}
		l.buckets[key] = b
	}
	// One call may go out once Retry-After has passed.
	b.tokens, b.last, b.blocked = 1, time.Now().Add(d), time.Now().Add(d)
}
