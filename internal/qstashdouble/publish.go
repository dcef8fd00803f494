package qstashdouble

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Publication is one publish or enqueue the double accepted, as received.
type Publication struct {
	MessageID   string
	Destination string
	// Queue is the queue of an enqueue ("" for a publish).
	Queue string
	// Method is Upstash-Method as sent ("" when absent: QStash uses POST).
	Method string
	// Header holds the forwarded headers (Upstash-Forward-* without the
	// prefix) and Content-Type: what the destination gets.
	Header http.Header
	// Body is the request body, byte for byte.
	Body []byte
	// Retries is Upstash-Retries; RetriesSet says whether it was sent.
	Retries    int
	RetriesSet bool
	// Callback and FailureCallback are Upstash-Callback and
	// Upstash-Failure-Callback.
	Callback, FailureCallback string
	Labels                    []string
	// DeduplicationID is Upstash-Deduplication-Id as sent.
	DeduplicationID string
	// Deduplicated is set when the id (or, with content-based
	// deduplication, the content) was seen within the deduplication
	// window: accepted with 202 and the earlier message id, not delivered.
	Deduplicated bool
	// Config holds the call's other Upstash-* headers (Upstash-Delay,
	// Upstash-Not-Before, …).
	Config http.Header
	At     time.Time
}

// dedupEntry is a deduplication id QStash remembers: the message it named.
type dedupEntry struct {
	id string
	at time.Time
}

// storm is a switchable 429 storm (see StartStorm).
type storm struct {
	active, pending bool
	left            int
	retryAfter      time.Duration
}

// methods are the Upstash-Method values QStash accepts.
var methods = map[string]bool{http.MethodGet: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true}

// Published returns every publish and enqueue accepted, in order (those
// deduplicated included, marked).
func (s *Server) Published() []Publication {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Publication, len(s.published))
	for i, p := range s.published {
		out[i] = *p
		out[i].Header, out[i].Config = p.Header.Clone(), p.Config.Clone()
		out[i].Body, out[i].Labels = slices.Clone(p.Body), slices.Clone(p.Labels)
	}
	return out
}

// ResetPublished forgets the recorded publications (not the
// deduplication ids).
func (s *Server) ResetPublished() {
	s.mu.Lock()
	s.published = nil
	s.mu.Unlock()
}

// SetPaused pauses or resumes a queue, creating it: a paused queue accepts
// enqueues and delivers nothing until resumed.
func (s *Server) SetPaused(name string, paused bool) {
	s.mu.Lock()
	s.setPaused(s.queue(name), paused)
	s.mu.Unlock()
}

// RefuseDestinations makes publishes and enqueues to a destination that
// contains one of parts fail with 400, as QStash refuses a destination it
// will not call; no parts refuses none.
func (s *Server) RefuseDestinations(parts ...string) {
	s.mu.Lock()
	s.refused = slices.Clone(parts)
	s.mu.Unlock()
}

// StartStorm starts a 429 storm once after more publish or enqueue requests
// have gone through (at once when after <= 0): every API request then
// answers 429 with Retry-After (whole seconds of retryAfter) and the
// Burst-RateLimit-* headers, until StopStorm.
func (s *Server) StartStorm(after int, retryAfter time.Duration) {
	s.mu.Lock()
	s.storm = storm{active: after <= 0, pending: after > 0, left: after, retryAfter: retryAfter}
	s.mu.Unlock()
}

// StopStorm ends a storm, or one about to start.
func (s *Server) StopStorm() {
	s.mu.Lock()
	s.storm = storm{}
	s.mu.Unlock()
}

// stormHits reports whether a request meets the storm, counting a publish
// down towards a pending one. Caller holds s.mu.
func (s *Server) stormHits(operational bool) bool {
	if s.storm.active {
		return true
	}
	if s.storm.pending && operational {
		if s.storm.left--; s.storm.left <= 0 {
			s.storm.active, s.storm.pending = true, false
		}
	}
	return false
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request, qname, dest string, body []byte) {
	if strings.HasPrefix(dest, "http:/") && !strings.HasPrefix(dest, "http://") {
		dest = "http://" + dest[len("http:/"):]
	} else if strings.HasPrefix(dest, "https:/") && !strings.HasPrefix(dest, "https://") {
		dest = "https://" + dest[len("https:/"):]
	}
	if q := destQuery(r.URL.RawQuery); q != "" {
		dest += "?" + q
	}
	u, err := url.Parse(dest)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		writeErr(w, http.StatusBadRequest, "invalid destination url")
		return
	}
	if qname != "" && !queueName.MatchString(qname) {
		writeErr(w, http.StatusBadRequest, "invalid queue name")
		return
	}
	pub, msg := readPublication(r, dest, qname, body)
	if msg != "" {
		writeErr(w, http.StatusBadRequest, msg)
		return
	}
	m := &message{id: newMsgID(), url: dest, method: pub.Method, queue: qname, header: pub.Header.Clone(), body: body,
		retries: s.opts.MaxRetries, labels: pub.Labels, callback: pub.Callback, failureCallback: pub.FailureCallback}
	if m.method == "" {
		m.method = http.MethodPost
	}
	if pub.RetriesSet {
		m.retries = pub.Retries
	}
	m.callerIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	key := pub.DeduplicationID
	if key == "" && strings.EqualFold(r.Header.Get("Upstash-Content-Based-Deduplication"), "true") {
		key = contentKey(pub)
	}
	s.mu.Lock()
	for _, part := range s.refused {
		if strings.Contains(dest, part) {
			s.mu.Unlock()
			writeErr(w, http.StatusBadRequest, "destination refused: "+dest)
			return
		}
	}
	if e, ok := s.dedup[key]; ok && key != "" && pub.At.Sub(e.at) < s.opts.DedupWindow {
		pub.MessageID, pub.Deduplicated = e.id, true
		s.published = append(s.published, pub)
		s.mu.Unlock()
		writeJSON(w, http.StatusAccepted, map[string]any{"messageId": e.id, "deduplicated": true})
		return
	}
	if key != "" {
		s.dedup[key] = dedupEntry{id: m.id, at: pub.At}
	}
	pub.MessageID = m.id
	s.published = append(s.published, pub)
	s.logf(m, "CREATED", "", 0)
	s.dispatch(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]string{"messageId": m.id})
}

// readPublication reads a publish's headers as QStash does; a non-empty
// message says why it is refused (400).
func readPublication(r *http.Request, dest, qname string, body []byte) (*Publication, string) {
	h := r.Header
	pub := &Publication{Destination: dest, Queue: qname, Method: h.Get("Upstash-Method"), Header: http.Header{}, Body: body,
		Callback: h.Get("Upstash-Callback"), FailureCallback: h.Get("Upstash-Failure-Callback"),
		DeduplicationID: h.Get("Upstash-Deduplication-Id"), Labels: splitVals(h.Values("Upstash-Label")), Config: http.Header{},
		At: time.Now()}
	if pub.Method != "" && !methods[pub.Method] {
		return nil, "invalid Upstash-Method: " + pub.Method
	}
	if v := h.Get("Upstash-Retries"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, "invalid Upstash-Retries"
		}
		pub.Retries, pub.RetriesSet = n, true
	}
	if strings.Contains(pub.DeduplicationID, ":") {
		return nil, "DeduplicationId cannot contain ':'"
	}
	for _, cb := range []string{pub.Callback, pub.FailureCallback} {
		if u, err := url.Parse(cb); cb != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			return nil, "invalid callback url"
		}
	}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if f, ok := strings.CutPrefix(lk, "upstash-forward-"); ok && f != "" {
			pub.Header[http.CanonicalHeaderKey(f)] = slices.Clone(vs)
			continue
		}
		switch lk {
		case "upstash-method", "upstash-retries", "upstash-callback", "upstash-failure-callback", "upstash-deduplication-id", "upstash-label":
		default:
			if strings.HasPrefix(lk, "upstash-") {
				pub.Config[k] = slices.Clone(vs)
			}
		}
	}
	if ct := h.Get("Content-Type"); ct != "" {
		pub.Header.Set("Content-Type", ct)
	}
	return pub, ""
}

// contentKey is the deduplication key of content-based deduplication: the
// destination, the body and the headers the destination gets.
func contentKey(p *Publication) string {
	sum := sha256.New()
	sum.Write([]byte(p.Destination + "\n"))
	names := make([]string, 0, len(p.Header))
	for k := range p.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		sum.Write([]byte(k + ": " + strings.Join(p.Header[k], "\x00") + "\n"))
	}
	sum.Write(p.Body)
	return "content:" + hex.EncodeToString(sum.Sum(nil))
}

// destQuery is the destination's query as sent (order and escapes kept),
// without the qstash_token that authenticates the call.
func destQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var keep []string
	for _, part := range strings.Split(raw, "&") {
		if k, _, _ := strings.Cut(part, "="); k != "qstash_token" {
			keep = append(keep, part)
		}
	}
	return strings.Join(keep, "&")
}
