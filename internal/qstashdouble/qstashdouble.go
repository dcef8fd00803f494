// Package qstashdouble is an in-process test double of the Upstash QStash
// REST API v2: queues, publish/enqueue with real delivery and retries, the
// dead-letter queue (list, get, delete, bulk delete, retry), logs/events,
// bearer auth, burst rate limits and failure injection. Tests and the demo
// use it because QStash itself cannot run locally.
package qstashdouble

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Options configures a Server.
type Options struct {
	// Token is required: requests carry "Authorization: Bearer <token>" or
	// ?qstash_token=<token>; anything else gets 401.
	Token string
	// ReadOnlyToken, when set, is accepted for reads (GET); any other
	// call with it gets 403, as QStash's read-only token.
	ReadOnlyToken string
	// Latency is added to every API request.
	Latency time.Duration
	// RateLimit is the requests/second allowed on management endpoints
	// (everything but publish and enqueue); 0 means unlimited.
	RateLimit int
	// MaxRetries is the number of delivery attempts after the first before
	// a message goes to the DLQ (default 3; negative means 0).
	MaxRetries int
	// RetryDelay is the pause between delivery attempts (default 20ms).
	RetryDelay time.Duration
	// DedupWindow is how long a deduplication id is remembered (default
	// 10 minutes, as QStash).
	DedupWindow time.Duration
}

// DLQMessage is a dead letter as the API returns it.
type DLQMessage struct {
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
	Labels             []string            `json:"labels,omitempty"`
	ResponseStatus     int                 `json:"responseStatus,omitempty"`
	ResponseHeader     map[string][]string `json:"responseHeader,omitempty"`
	ResponseBody       string              `json:"responseBody,omitempty"`
	ResponseBodyBase64 string              `json:"responseBodyBase64,omitempty"`
}

// Request is one API request the double received.
type Request struct {
	Method string     // HTTP method
	Path   string     // path exactly as received ("/v2/dlq/" differs from "/v2/dlq")
	Query  url.Values // query parameters
	Body   string     // request body
	Status int        // status answered
	At     time.Time  // arrival time
	// ReadOnly is set when the call carried the read-only token.
	ReadOnly bool
	// Upstash holds the request's Upstash-* headers (never its token).
	Upstash http.Header
}

// logEntry is one state change of a message (GET /v2/logs, /v2/events).
type logEntry struct {
	seq            int64
	Time           int64  `json:"time"`
	MessageID      string `json:"messageId"`
	State          string `json:"state"`
	Error          string `json:"error,omitempty"`
	ResponseStatus int    `json:"responseStatus,omitempty"`
	URL            string `json:"url"`
	QueueName      string `json:"queueName,omitempty"`
	// Labels are the message's labels (the label filter matches them).
	Labels []string `json:"labels,omitempty"`
}

// queue is one queue; held are messages waiting while it is paused.
type queue struct {
	Name        string `json:"name"`
	CreatedAt   int64  `json:"createdAt"`
	UpdatedAt   int64  `json:"updatedAt"`
	Parallelism int    `json:"parallelism"`
	Paused      bool   `json:"paused"`
	Lag         int64  `json:"lag"`
	held        []*message
}

// message is a published message on its way to its destination.
type message struct {
	id, url, method, queue, topic, callerIP string
	header                                  http.Header
	body                                    []byte
	retries                                 int
	labels                                  []string
	callback, failureCallback               string
}

// Server is the QStash double. All methods are safe for concurrent use.
type Server struct {
	mu        sync.Mutex
	opts      Options
	reqs      []*Request
	dangerous []*Request
	dlq       []*DLQMessage // sorted by id
	seq       int64
	queues    map[string]*queue
	logs      []logEntry
	delivered int
	failN     int
	failCode  int
	rlSec     int64
	rlCount   int
	closed    bool
	published []*Publication
	dedup     map[string]dedupEntry
	storm     storm
	refused   []string
	schedules map[string]*Schedule

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	client *http.Client
	tr     *http.Transport
	srv    *http.Server
}

// New returns a Server configured by o.
func New(o Options) *Server {
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 20 * time.Millisecond
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = 10 * time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &Server{opts: o, queues: map[string]*queue{}, dedup: map[string]dedupEntry{}, ctx: ctx, cancel: cancel, tr: tr,
		client: &http.Client{Timeout: 5 * time.Second, Transport: tr}}
}

// Start listens on addr (e.g. "127.0.0.1:0"), serves in the background and
// returns the base URL.
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return "", fmt.Errorf("qstashdouble: closed")
	}
	s.srv = srv
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the server, abandons pending deliveries and waits for every
// goroutine the double started.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	s.cancel()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	s.wg.Wait()
	s.tr.CloseIdleConnections()
	return err
}

// Handler returns the API handler (for httptest.NewServer).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// --- test hooks ---

// Requests returns every API request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyReqs(s.reqs)
}

// ResetRequests forgets the recorded requests and dangerous calls.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.reqs, s.dangerous = nil, nil
	s.mu.Unlock()
}

// DangerousCalls returns the bulk DLQ calls that ran without ids (filter or
// delete-all/retry-all paths).
func (s *Server) DangerousCalls() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyReqs(s.dangerous)
}

func copyReqs(in []*Request) []Request {
	out := make([]Request, len(in))
	for i, r := range in {
		out[i] = *r
	}
	return out
}

// AddDLQ stores a dead letter, filling DLQID, MessageID, CreatedAt and
// Method when empty, and returns its dlqId. A Body that is not UTF-8 is
// kept as BodyBase64, as QStash sends it.
func (s *Server) AddDLQ(m DLQMessage) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addDLQ(&m)
}

func (s *Server) addDLQ(m *DLQMessage) string {
	if !utf8.ValidString(m.Body) { // QStash sends such a body as bodyBase64
		m.Body, m.BodyBase64 = "", base64.StdEncoding.EncodeToString([]byte(m.Body))
	}
	if m.CreatedAt == 0 {
		m.CreatedAt = time.Now().UnixMilli()
	}
	if m.DLQID == "" {
		s.seq++
		m.DLQID = fmt.Sprintf("%d-%d", m.CreatedAt, s.seq)
	}
	if m.MessageID == "" {
		m.MessageID = newMsgID()
	}
	if m.Method == "" {
		m.Method = http.MethodPost
	}
	i := sort.Search(len(s.dlq), func(i int) bool { return idLess(m.DLQID, s.dlq[i].DLQID) })
	s.dlq = append(s.dlq, nil)
	copy(s.dlq[i+1:], s.dlq[i:])
	s.dlq[i] = m
	return m.DLQID
}

// DLQIDs returns the dlqIds stored, oldest first.
func (s *Server) DLQIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(s.dlq))
	for i, m := range s.dlq {
		ids[i] = m.DLQID
	}
	return ids
}

// DLQCount returns the number of dead letters stored.
func (s *Server) DLQCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.dlq)
}

// RemoveDLQ drops a dead letter behind the client's back (as retention
// would) and reports whether it existed.
func (s *Server) RemoveDLQ(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeDLQ(id) != nil
}

// SetLatency changes the latency added to every API request.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.opts.Latency = d
	s.mu.Unlock()
}

// SetRateLimit changes the management-endpoint limit (0 = unlimited).
func (s *Server) SetRateLimit(rps int) {
	s.mu.Lock()
	s.opts.RateLimit, s.rlCount = rps, 0
	s.mu.Unlock()
}

// FailNext makes the next n API requests answer status: 429 carries the
// Burst-RateLimit-* headers, other statuses a non-JSON text body.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	s.failN, s.failCode = n, status
	s.mu.Unlock()
}

// Delivered returns the number of messages delivered with a 2xx.
func (s *Server) Delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered
}

// --- HTTP plumbing ---

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(c int) {
	if w.status == 0 {
		w.status = c
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) burstHeaders(w http.ResponseWriter, limit, remaining int, reset int64) {
	h := w.Header()
	h.Set("Burst-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("Burst-RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	h.Set("Burst-RateLimit-Reset", strconv.FormatInt(reset, 10))
}

func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	rec := &Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body), At: time.Now(), Upstash: http.Header{}}
	for k, vs := range r.Header {
		if strings.HasPrefix(k, "Upstash-") {
			rec.Upstash[k] = slices.Clone(vs)
		}
	}
	w := &statusWriter{ResponseWriter: rw}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	lat := s.opts.Latency
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		rec.Status = max(w.status, http.StatusOK)
		s.mu.Unlock()
	}()
	if lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.ctx.Done():
		}
		t.Stop()
	}
	p := r.URL.Path
	operational := strings.HasPrefix(p, "/v2/publish/") || strings.HasPrefix(p, "/v2/enqueue/")
	now := time.Now()
	s.mu.Lock()
	if s.stormHits(operational) {
		ra := s.storm.retryAfter
		s.mu.Unlock()
		s.burstHeaders(w, 100, 0, now.Unix()+1)
		w.Header().Set("Retry-After", strconv.Itoa(int(ra/time.Second)))
		writeErr(w, http.StatusTooManyRequests, "Too many requests")
		return
	}
	if s.failN > 0 {
		s.failN--
		code, lim := s.failCode, s.opts.RateLimit
		s.mu.Unlock()
		if code == http.StatusTooManyRequests {
			s.burstHeaders(w, max(lim, 100), 0, now.Unix()+1)
			writeErr(w, code, "Too many requests")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "upstream connect error or disconnect/reset before headers")
		return
	}
	carries := func(tok string) bool {
		return tok != "" && (r.Header.Get("Authorization") == "Bearer "+tok || r.URL.Query().Get("qstash_token") == tok)
	}
	rec.ReadOnly = carries(s.opts.ReadOnlyToken)
	authOK := carries(s.opts.Token) || rec.ReadOnly
	if authOK && !operational && s.opts.RateLimit > 0 {
		if sec := now.Unix(); sec != s.rlSec {
			s.rlSec, s.rlCount = sec, 0
		}
		s.rlCount++
		lim, n := s.opts.RateLimit, s.rlCount
		s.mu.Unlock()
		s.burstHeaders(w, lim, lim-n, now.Unix()+1)
		if n > lim {
			writeErr(w, http.StatusTooManyRequests, "Too many requests")
			return
		}
	} else {
		s.mu.Unlock()
	}
	if !authOK {
		writeErr(w, http.StatusUnauthorized, "Unauthorized: missing or invalid token")
		return
	}
	if rec.ReadOnly && r.Method != http.MethodGet {
		writeErr(w, http.StatusForbidden, "this token is read-only")
		return
	}
	s.route(w, r, rec, body)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, rec *Request, body []byte) {
	p, m := r.URL.Path, r.Method
	need := func(method string) bool {
		if m != method {
			writeErr(w, http.StatusMethodNotAllowed, "method not allowed")
			return false
		}
		return true
	}
	raw := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/v2/publish/"):
		if need(http.MethodPost) {
			s.publish(w, r, "", strings.TrimPrefix(raw, "/v2/publish/"), body)
		}
	case strings.HasPrefix(p, "/v2/enqueue/"):
		rest := strings.TrimPrefix(raw, "/v2/enqueue/")
		name, dest, _ := strings.Cut(rest, "/")
		if need(http.MethodPost) {
			s.publish(w, r, name, dest, body)
		}
	case p == "/v2/queues":
		switch m {
		case http.MethodGet:
			s.listQueues(w)
		case http.MethodPost:
			s.upsertQueue(w, body)
		default:
			need(http.MethodGet)
		}
	case strings.HasPrefix(p, "/v2/queues/"):
		s.queueOp(w, m, strings.Split(strings.TrimPrefix(p, "/v2/queues/"), "/"))
	case p == "/v2/dlq" || p == "/v2/dlq/":
		switch m {
		case http.MethodGet:
			s.listDLQ(w, r.URL.Query())
		case http.MethodDelete:
			s.bulkDelete(w, r.URL.Query(), rec, body)
		default:
			need(http.MethodGet)
		}
	case p == "/v2/dlq/retry" || p == "/v2/dlq/retry/":
		if need(http.MethodPost) {
			s.bulkRetry(w, r, rec, body)
		}
	case strings.HasPrefix(p, "/v2/dlq/retry/"):
		if need(http.MethodPost) {
			s.retryOne(w, r, strings.TrimPrefix(p, "/v2/dlq/retry/"))
		}
	case strings.HasPrefix(p, "/v2/dlq/"):
		s.dlqOne(w, m, strings.TrimPrefix(p, "/v2/dlq/"))
	case p == "/v2/schedules":
		if need(http.MethodGet) {
			s.listSchedules(w)
		}
	case strings.HasPrefix(p, "/v2/schedules/"):
		s.scheduleOp(w, m, strings.TrimPrefix(p, "/v2/schedules/"))
	case p == "/v2/logs" || p == "/v2/events":
		if need(http.MethodGet) {
			s.listLogs(w, r.URL.Query(), strings.TrimPrefix(p, "/v2/"))
		}
	default:
		writeErr(w, http.StatusNotFound, "not found")
	}
}

// --- queues and publishing ---

var queueName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func (s *Server) listQueues(w http.ResponseWriter) {
	s.mu.Lock()
	out := make([]queue, 0, len(s.queues))
	for _, q := range s.queues {
		out = append(out, *q)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) upsertQueue(w http.ResponseWriter, body []byte) {
	var in struct {
		QueueName   string `json:"queueName"`
		Parallelism int    `json:"parallelism"`
		Paused      bool   `json:"paused"`
	}
	if err := json.Unmarshal(body, &in); err != nil || !queueName.MatchString(in.QueueName) {
		writeErr(w, http.StatusBadRequest, "invalid queue name or body")
		return
	}
	s.mu.Lock()
	q := s.queue(in.QueueName)
	q.Parallelism = max(in.Parallelism, 1)
	s.setPaused(q, in.Paused)
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *Server) queueOp(w http.ResponseWriter, m string, parts []string) {
	if !queueName.MatchString(parts[0]) {
		writeErr(w, http.StatusBadRequest, "Queue name is invalid. Queue names can only contain alphanumeric characters, hyphens, periods, and underscores.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[parts[0]]
	if !ok {
		writeErr(w, http.StatusNotFound, "queue not found")
		return
	}
	switch {
	case len(parts) == 1 && m == http.MethodGet:
		writeJSON(w, http.StatusOK, q)
	case len(parts) == 1 && m == http.MethodDelete:
		delete(s.queues, q.Name)
		w.WriteHeader(http.StatusOK)
	case len(parts) == 2 && m == http.MethodPost && (parts[1] == "pause" || parts[1] == "resume"):
		s.setPaused(q, parts[1] == "pause")
		w.WriteHeader(http.StatusOK)
	default:
		writeErr(w, http.StatusNotFound, "not found")
	}
}

// queue returns the named queue, creating it. Caller holds s.mu.
func (s *Server) queue(name string) *queue {
	q, ok := s.queues[name]
	if !ok {
		now := time.Now().UnixMilli()
		q = &queue{Name: name, CreatedAt: now, UpdatedAt: now, Parallelism: 1}
		s.queues[name] = q
	}
	return q
}

// setPaused pauses or resumes q, releasing held messages. Caller holds s.mu.
func (s *Server) setPaused(q *queue, paused bool) {
	q.Paused, q.UpdatedAt = paused, time.Now().UnixMilli()
	if !paused {
		held := q.held
		q.held = nil
		for _, m := range held {
			s.start(m)
		}
	}
}

// dispatch holds m in its paused queue or starts delivering. Caller holds s.mu.
func (s *Server) dispatch(m *message) {
	if m.queue != "" {
		q := s.queue(m.queue)
		q.Lag++
		if q.Paused {
			q.held = append(q.held, m)
			return
		}
	}
	s.start(m)
}

// start delivers m in a goroutine unless closed. Caller holds s.mu.
func (s *Server) start(m *message) {
	if s.closed {
		return
	}
	s.wg.Add(1)
	go s.deliver(m)
}

func (s *Server) deliver(m *message) {
	defer s.wg.Done()
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		s.logf(m, "ACTIVE", "", 0)
		s.mu.Unlock()
		status, hdr, rbody, err := s.send(m, attempt)
		if s.ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if err == nil && status/100 == 2 {
			s.delivered++
			s.done(m)
			s.logf(m, "DELIVERED", "", status)
			s.mu.Unlock()
			return
		}
		msg := fmt.Sprintf("endpoint returned %d", status)
		if err != nil {
			msg = err.Error()
		}
		s.logf(m, "ERROR", msg, status)
		if attempt >= m.retries {
			s.done(m)
			d := &DLQMessage{MessageID: m.id, URL: m.url, TopicName: m.topic, Method: m.method, Header: m.header,
				MaxRetries: m.retries, QueueName: m.queue, CallerIP: m.callerIP, Labels: m.labels,
				Callback: m.callback, FailureCallback: m.failureCallback, ResponseStatus: status, ResponseHeader: hdr}
			d.Body, d.BodyBase64 = encode(m.body)
			d.ResponseBody, d.ResponseBodyBase64 = encode(rbody)
			s.addDLQ(d)
			s.logf(m, "FAILED", msg, status)
			s.mu.Unlock()
			return
		}
		s.logf(m, "RETRY", msg, status)
		delay := s.opts.RetryDelay
		s.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
	}
}

// done takes m off its queue's lag. Caller holds s.mu.
func (s *Server) done(m *message) {
	if q, ok := s.queues[m.queue]; ok && q.Lag > 0 {
		q.Lag--
	}
}

func (s *Server) send(m *message, attempt int) (int, map[string][]string, []byte, error) {
	req, err := http.NewRequestWithContext(s.ctx, m.method, m.url, bytes.NewReader(m.body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, vs := range m.header {
		req.Header[k] = vs
	}
	req.Header.Set("Upstash-Message-Id", m.id)
	req.Header.Set("Upstash-Retried", strconv.Itoa(attempt))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, b, nil
}

func encode(b []byte) (text, b64 string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

// logf records a state change. Caller holds s.mu.
func (s *Server) logf(m *message, state, errText string, status int) {
	s.seq++
	s.logs = append(s.logs, logEntry{seq: s.seq, Time: time.Now().UnixMilli(), MessageID: m.id, State: state,
		Error: errText, ResponseStatus: status, URL: m.url, QueueName: m.queue, Labels: m.labels})
}

func newMsgID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}

// --- DLQ ---

// filter is a parsed set of DLQ/log filters: OR within a field, AND across.
type filter struct {
	fields   map[string][]string
	from, to int64 // 0 = unbounded
}

var filterKeys = map[string]bool{"messageId": true, "url": true, "topicName": true, "scheduleId": true,
	"queueName": true, "responseStatus": true, "callerIp": true, "label": true, "flowControlKey": true}

var metaKeys = map[string]bool{"cursor": true, "count": true, "qstash_token": true, "dlqIds": true, "dlqIds[]": true}

func splitVals(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// parseFilter reads the filters of q; strict rejects unknown parameters.
func parseFilter(q url.Values, strict bool) (filter, error) {
	f := filter{fields: map[string][]string{}}
	for k, vs := range q {
		switch {
		case filterKeys[k]:
			if v := splitVals(vs); len(v) > 0 {
				f.fields[k] = v
			}
		case k == "fromDate" || k == "toDate":
			n, err := strconv.ParseInt(q.Get(k), 10, 64)
			if err != nil {
				return f, fmt.Errorf("invalid %s", k)
			}
			if k == "fromDate" {
				f.from = n
			} else {
				f.to = n
			}
		case metaKeys[k]:
		case strict:
			return f, fmt.Errorf("unknown filter: %s", k)
		}
	}
	return f, nil
}

func (f filter) empty() bool { return len(f.fields) == 0 && f.from == 0 && f.to == 0 }

func (f filter) match(m *DLQMessage) bool {
	if (f.from != 0 && m.CreatedAt < f.from) || (f.to != 0 && m.CreatedAt > f.to) {
		return false
	}
	for k, want := range f.fields {
		var have []string
		switch k {
		case "messageId":
			have = []string{m.MessageID}
		case "url":
			have = []string{m.URL}
		case "topicName":
			have = []string{m.TopicName}
		case "scheduleId":
			have = []string{m.ScheduleID}
		case "queueName":
			have = []string{m.QueueName}
		case "responseStatus":
			have = []string{strconv.Itoa(m.ResponseStatus)}
		case "callerIp":
			have = []string{m.CallerIP}
		case "label":
			have = m.Labels
		}
		if !anyIn(have, want) {
			return false
		}
	}
	return true
}

func anyIn(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// idLess orders dlqIds "<unixms>-<seq>" numerically, others as strings.
func idLess(a, b string) bool {
	am, as, aok := splitID(a)
	bm, bs, bok := splitID(b)
	if aok && bok {
		return am < bm || (am == bm && as < bs)
	}
	return a < b
}

func splitID(id string) (int64, int64, bool) {
	l, r, ok := strings.Cut(id, "-")
	a, e1 := strconv.ParseInt(l, 10, 64)
	b, e2 := strconv.ParseInt(r, 10, 64)
	return a, b, ok && e1 == nil && e2 == nil
}

func parseCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 {
		return "", fmt.Errorf("invalid cursor")
	}
	return string(b), nil
}

// parseCount reads count: default and maximum 100 (a missing, zero or
// unreadable count means the default).
func parseCount(q url.Values) int {
	n, err := strconv.Atoi(q.Get("count"))
	if err != nil || n <= 0 || n > 100 {
		return 100
	}
	return n
}

// selectDLQ returns up to count matches after the cursor id and whether
// more match. Caller holds s.mu.
func (s *Server) selectDLQ(f filter, after string, count int) ([]*DLQMessage, bool) {
	var out []*DLQMessage
	for _, m := range s.dlq {
		if (after != "" && !idLess(after, m.DLQID)) || !f.match(m) {
			continue
		}
		if len(out) == count {
			return out, true
		}
		out = append(out, m)
	}
	return out, false
}

// takeDLQ removes and returns a dead letter. Caller holds s.mu.
func (s *Server) takeDLQ(id string) *DLQMessage {
	for i, m := range s.dlq {
		if m.DLQID == id {
			s.dlq = append(s.dlq[:i], s.dlq[i+1:]...)
			return m
		}
	}
	return nil
}

// prepare parses filter, cursor and count, answering 400 on error.
func prepare(w http.ResponseWriter, q url.Values, strict bool) (filter, string, int, bool) {
	f, err := parseFilter(q, strict)
	if err == nil {
		var after string
		if after, err = parseCursor(q.Get("cursor")); err == nil {
			return f, after, parseCount(q), true
		}
	}
	writeErr(w, http.StatusBadRequest, err.Error())
	return f, "", 0, false
}

func (s *Server) listDLQ(w http.ResponseWriter, q url.Values) {
	f, after, count, ok := prepare(w, q, false)
	if !ok {
		return
	}
	s.mu.Lock()
	sel, more := s.selectDLQ(f, after, count)
	out := struct {
		Messages []DLQMessage `json:"messages"`
		Cursor   string       `json:"cursor,omitempty"`
	}{Messages: make([]DLQMessage, len(sel))}
	for i, m := range sel {
		out.Messages[i] = *m
	}
	s.mu.Unlock()
	if more {
		out.Cursor = base64.RawURLEncoding.EncodeToString([]byte(sel[len(sel)-1].DLQID))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) dlqOne(w http.ResponseWriter, method, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch method {
	case http.MethodGet:
		for _, m := range s.dlq {
			if m.DLQID == id {
				writeJSON(w, http.StatusOK, m)
				return
			}
		}
	case http.MethodDelete:
		if s.takeDLQ(id) != nil {
			w.WriteHeader(http.StatusOK)
			return
		}
	default:
		writeErr(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	writeErr(w, http.StatusNotFound, "dlq message not found")
}

// bodyIDs returns the ids given as dlqIds / dlqIds[] params or a JSON body.
func bodyIDs(q url.Values, body []byte) ([]string, error) {
	ids := splitVals(append(q["dlqIds"], q["dlqIds[]"]...))
	if len(bytes.TrimSpace(body)) > 0 {
		var in struct {
			DLQIDs []string `json:"dlqIds"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, fmt.Errorf("invalid json body")
		}
		ids = append(ids, splitVals(in.DLQIDs)...)
	}
	sort.Strings(ids)
	return slices.Compact(ids), nil
}

func (s *Server) bulkDelete(w http.ResponseWriter, q url.Values, rec *Request, body []byte) {
	ids, err := bodyIDs(q, body)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(ids) > 0 {
		s.mu.Lock()
		n := 0
		for _, id := range ids {
			if s.takeDLQ(id) != nil {
				n++
			}
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]int{"deleted": n})
		return
	}
	f, after, count, ok := prepare(w, q, true)
	if !ok {
		return
	}
	s.mu.Lock()
	s.dangerous = append(s.dangerous, rec)
	sel, more := s.selectDLQ(f, after, count)
	for _, m := range sel {
		s.takeDLQ(m.DLQID)
	}
	s.mu.Unlock()
	out := map[string]any{"deleted": len(sel)}
	if more {
		out["cursor"] = base64.RawURLEncoding.EncodeToString([]byte(sel[len(sel)-1].DLQID))
	}
	writeJSON(w, http.StatusOK, out)
}

// redeliver turns a dead letter back into a message, applying override
// headers. Caller holds s.mu.
func (s *Server) redeliver(d *DLQMessage, r *http.Request) string {
	m := &message{id: newMsgID(), url: d.URL, method: d.Method, queue: d.QueueName, topic: d.TopicName,
		callerIP: d.CallerIP, header: http.Header(d.Header).Clone(), retries: d.MaxRetries, labels: d.Labels,
		callback: d.Callback, failureCallback: d.FailureCallback}
	if m.header == nil {
		m.header = http.Header{}
	}
	m.body = []byte(d.Body)
	if d.BodyBase64 != "" {
		m.body, _ = base64.StdEncoding.DecodeString(d.BodyBase64)
	}
	if v := r.Header.Get("Upstash-Method"); v != "" {
		m.method = v
	}
	if n, err := strconv.Atoi(r.Header.Get("Upstash-Retries")); err == nil && n >= 0 {
		m.retries = n
	}
	s.logf(m, "CREATED", "", 0)
	s.dispatch(m)
	return m.id
}

// dlqByID finds a dead letter without taking it. Caller holds s.mu.
func (s *Server) dlqByID(id string) (*DLQMessage, bool) {
	for _, m := range s.dlq {
		if m.DLQID == id {
			return m, true
		}
	}
	return nil, false
}

// refuses reports whether dest is refused (RefuseDestinations). Caller
// holds s.mu.
func (s *Server) refuses(dest string) bool {
	for _, part := range s.refused {
		if part != "" && strings.Contains(dest, part) {
			return true
		}
	}
	return false
}

func (s *Server) retryOne(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	if d, ok := s.dlqByID(id); ok && s.refuses(d.URL) {
		s.mu.Unlock()
		writeErr(w, http.StatusBadRequest, "destination refused: "+d.URL)
		return
	}
	d := s.takeDLQ(id)
	if d == nil {
		s.mu.Unlock()
		writeErr(w, http.StatusNotFound, "dlq message not found")
		return
	}
	mid := s.redeliver(d, r)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]string{"messageId": mid})
}

func (s *Server) bulkRetry(w http.ResponseWriter, r *http.Request, rec *Request, body []byte) {
	q := r.URL.Query()
	ids, err := bodyIDs(q, body)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	type resp struct {
		MessageID string `json:"messageId"`
	}
	out := struct {
		Responses []resp `json:"responses"`
		Cursor    string `json:"cursor,omitempty"`
	}{Responses: []resp{}}
	if len(ids) > 0 {
		s.mu.Lock()
		var found []*DLQMessage
		for _, m := range s.dlq {
			if anyIn([]string{m.DLQID}, ids) {
				found = append(found, m)
			}
		}
		if len(found) < len(ids) {
			s.mu.Unlock()
			writeErr(w, http.StatusNotFound, "some messages were not found")
			return
		}
		for _, d := range found {
			if s.refuses(d.URL) {
				s.mu.Unlock()
				writeErr(w, http.StatusBadRequest, "destination refused: "+d.URL)
				return
			}
		}
		for _, d := range found {
			s.takeDLQ(d.DLQID)
			out.Responses = append(out.Responses, resp{s.redeliver(d, r)})
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, out)
		return
	}
	f, after, count, ok := prepare(w, q, true)
	if !ok {
		return
	}
	s.mu.Lock()
	s.dangerous = append(s.dangerous, rec)
	sel, more := s.selectDLQ(f, after, count)
	for _, d := range sel {
		s.takeDLQ(d.DLQID)
		out.Responses = append(out.Responses, resp{s.redeliver(d, r)})
	}
	s.mu.Unlock()
	if more {
		out.Cursor = base64.RawURLEncoding.EncodeToString([]byte(sel[len(sel)-1].DLQID))
	}
	writeJSON(w, http.StatusCreated, out)
}

// --- logs ---

func (s *Server) listLogs(w http.ResponseWriter, q url.Values, key string) {
	ids, states, labels := splitVals(q["messageId"]), splitVals(q["state"]), splitVals(q["label"])
	before := int64(-1)
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "invalid cursor")
			return
		}
		before = n
	}
	count := parseCount(q)
	out := map[string]any{}
	list := []logEntry{}
	s.mu.Lock()
	for i := len(s.logs) - 1; i >= 0; i-- { // newest first
		e := s.logs[i]
		if (before >= 0 && e.seq >= before) || (len(ids) > 0 && !anyIn([]string{e.MessageID}, ids)) ||
			(len(states) > 0 && !anyIn([]string{e.State}, states)) || (len(labels) > 0 && !anyIn(e.Labels, labels)) {
			continue
		}
		if len(list) == count {
			out["cursor"] = strconv.FormatInt(list[len(list)-1].seq, 10)
			break
		}
		list = append(list, e)
	}
	s.mu.Unlock()
	out[key] = list
	writeJSON(w, http.StatusOK, out)
}
