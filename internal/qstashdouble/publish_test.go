package qstashdouble

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawPublish posts a raw body with headers (several values allowed).
func (e *env) rawPublish(path string, body []byte, h http.Header) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if h != nil {
		req.Header = h.Clone()
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestPublishRecordsRawBodiesAndHeaders: a binary body, forwarded headers
// with several values, retries, callbacks and the destination's query
// reach the record and the destination exactly.
func TestPublishRecordsRawBodiesAndHeaders(t *testing.T) {
	e := newEnv(t, Options{})
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	defer dest.Close()
	body := []byte{0xff, 0x00, 0xfe, 'a', 0x80}
	h := http.Header{"Upstash-Forward-X-Multi": {"one", "two"}, "Content-Type": {"application/octet-stream"}, "Upstash-Method": {"PUT"},
		"Upstash-Retries": {"0"}, "Upstash-Callback": {dest.URL + "/cb"}, "Upstash-Deduplication-Id": {"purge-1-2"}, "Upstash-Delay": {"10s"}}
	if st, out := e.rawPublish("/v2/publish/"+dest.URL+"/x?b=2&a=a%2F1", body, h); st != 201 || out["messageId"] == "" {
		t.Fatalf("publish: %d %v", st, out)
	}
	pubs := e.s.Published()
	if len(pubs) != 1 {
		t.Fatalf("%d publications", len(pubs))
	}
	p := pubs[0]
	if p.Destination != dest.URL+"/x?b=2&a=a%2F1" || p.Method != "PUT" || !bytes.Equal(p.Body, body) || !p.RetriesSet || p.Retries != 0 ||
		p.Callback != dest.URL+"/cb" || p.DeduplicationID != "purge-1-2" || p.Deduplicated || p.Queue != "" ||
		strings.Join(p.Header["X-Multi"], ",") != "one,two" || p.Header.Get("Content-Type") != "application/octet-stream" ||
		p.Config.Get("Upstash-Delay") != "10s" {
		t.Fatalf("publication = %+v", p)
	}
	waitFor(t, "delivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	if r := got[0]; r.Method != "PUT" || r.RequestURI != "/x?b=2&a=a%2F1" || !bytes.Equal(bodies[0], body) || strings.Join(r.Header["X-Multi"], ",") != "one,two" {
		t.Fatalf("delivered %s %s %q %v", r.Method, r.RequestURI, bodies[0], r.Header)
	}
}

// TestDeduplicationAndStrictHeaders: a repeated deduplication id within
// the window is accepted (202, the first id) and not delivered; a colon in
// an id, an unknown method and a refused destination get 400.
func TestDeduplicationAndStrictHeaders(t *testing.T) {
	e := newEnv(t, Options{DedupWindow: 200 * time.Millisecond})
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer dest.Close()
	dedup := http.Header{"Upstash-Deduplication-Id": {"purge-1-x"}}
	st1, first := e.rawPublish("/v2/publish/"+dest.URL, []byte("a"), dedup)
	st2, again := e.rawPublish("/v2/publish/"+dest.URL, []byte("a"), dedup)
	if st1 != 201 || st2 != 202 || again["messageId"] != first["messageId"] || again["deduplicated"] != true {
		t.Fatalf("dedup: %d %v, %d %v", st1, first, st2, again)
	}
	waitFor(t, "delivery", func() bool { return e.s.Delivered() == 1 })
	time.Sleep(250 * time.Millisecond) // past the window: a new message
	if st, _ := e.rawPublish("/v2/publish/"+dest.URL, []byte("a"), dedup); st != 201 {
		t.Fatalf("after the window: %d", st)
	}
	cb := http.Header{"Upstash-Content-Based-Deduplication": {"true"}}
	if st1, _ := e.rawPublish("/v2/enqueue/q1/"+dest.URL, []byte("same"), cb); st1 != 201 {
		t.Fatal(st1)
	}
	if st2, _ := e.rawPublish("/v2/enqueue/q1/"+dest.URL, []byte("same"), cb); st2 != 202 {
		t.Fatalf("content-based duplicate: %d", st2)
	}
	e.s.RefuseDestinations("/refused")
	for name, h := range map[string]http.Header{
		"colon":   {"Upstash-Deduplication-Id": {"purge:1"}},
		"method":  {"Upstash-Method": {"TRACE"}},
		"retries": {"Upstash-Retries": {"-1"}},
	} {
		if st, out := e.rawPublish("/v2/publish/"+dest.URL, nil, h); st != 400 || out["error"] == "" {
			t.Errorf("%s: %d %v", name, st, out)
		}
	}
	if st, _ := e.rawPublish("/v2/publish/"+dest.URL+"/refused/1", nil, nil); st != 400 {
		t.Errorf("refused destination: %d", st)
	}
	pubs := e.s.Published()
	if len(pubs) != 5 || !pubs[1].Deduplicated || pubs[2].Deduplicated || !pubs[4].Deduplicated || pubs[4].Queue != "q1" {
		t.Fatalf("publications = %+v", pubs)
	}
}

// TestBinaryDeadLettersAndPausedEnqueues: a dead letter added with a body
// that is not UTF-8 is listed as bodyBase64; an enqueue into a paused
// queue is held until SetPaused resumes it.
func TestBinaryDeadLettersAndPausedEnqueues(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddDLQ(DLQMessage{URL: "http://x/a", Body: string([]byte{0xff, 0x01})})
	var p page
	e.do("GET", "/v2/dlq", "", nil, &p)
	if len(p.Messages) != 1 || p.Messages[0].Body != "" || p.Messages[0].BodyBase64 != "/wE=" {
		t.Fatalf("%+v", p.Messages)
	}
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer dest.Close()
	e.s.SetPaused("held", true)
	if st, _ := e.rawPublish("/v2/enqueue/held/"+dest.URL, []byte("b"), nil); st != 201 {
		t.Fatal(st)
	}
	time.Sleep(20 * time.Millisecond)
	if e.s.Delivered() != 0 {
		t.Fatal("a paused queue delivered")
	}
	e.s.SetPaused("held", false)
	waitFor(t, "delivery", func() bool { return e.s.Delivered() == 1 })
	if st, _ := e.do("POST", "/v2/queues/bad name/pause", "", nil, nil); st != 400 {
		t.Fatalf("pause of an invalid name: %d", st)
	}
}

// TestStorm: a storm starts after the given publishes, answers every
// request 429 with Retry-After, and stops when switched off.
func TestStorm(t *testing.T) {
	e := newEnv(t, Options{})
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer dest.Close()
	e.s.StartStorm(2, 2*time.Second)
	for i, want := range []int{201, 201, 429, 429} {
		if st, _ := e.rawPublish("/v2/publish/"+dest.URL, nil, nil); st != want {
			t.Fatalf("publish %d: %d, want %d", i, st, want)
		}
	}
	st, h := e.do("GET", "/v2/queues", "", nil, nil)
	if st != 429 || h.Get("Retry-After") != "2" || h.Get("Burst-RateLimit-Reset") == "" {
		t.Fatalf("in the storm: %d %v", st, h)
	}
	e.s.StopStorm()
	if st, _ := e.rawPublish("/v2/publish/"+dest.URL, nil, nil); st != 201 {
		t.Fatalf("after the storm: %d", st)
	}
}
