package qstashdouble

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"
)

const tok = "test-token"

type env struct {
	t    *testing.T
	s    *Server
	base string
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	o.Token = tok
	s := New(o)
	base, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &env{t: t, s: s, base: base}
}

// do sends an authenticated request and decodes a JSON answer into out.
func (e *env) do(method, path, body string, hdr map[string]string, out any) (int, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, resp.Header
}

type page struct {
	Messages []DLQMessage `json:"messages"`
	Cursor   *string      `json:"cursor"`
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestAuth(t *testing.T) {
	e := newEnv(t, Options{})
	resp, err := http.Get(e.base + "/v2/dlq")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 401 || body["error"] == "" {
		t.Fatalf("got %d %v", resp.StatusCode, body)
	}
	resp, err = http.Get(e.base + "/v2/dlq?qstash_token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("query token: %d", resp.StatusCode)
	}
}

func TestCountDefaultsTo100(t *testing.T) {
	e := newEnv(t, Options{})
	for range 150 {
		e.s.AddDLQ(DLQMessage{URL: "http://x/a"})
	}
	for q, want := range map[string]int{"/v2/dlq": 100, "/v2/dlq?count=0": 100, "/v2/dlq?count=-3": 100, "/v2/dlq?count=7": 7, "/v2/dlq?count=500": 100} {
		var p page
		if st, _ := e.do("GET", q, "", nil, &p); st != 200 || len(p.Messages) != want {
			t.Errorf("%s: %d, %d messages; want %d", q, st, len(p.Messages), want)
		}
	}
}

func TestPaging(t *testing.T) {
	e := newEnv(t, Options{})
	for i := 0; i < 250; i++ {
		e.s.AddDLQ(DLQMessage{URL: "http://x/a"})
	}
	var seen []string
	cursor, pages := "", 0
	for {
		var p page
		q := "/v2/dlq?count=500"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		if st, _ := e.do("GET", q, "", nil, &p); st != 200 {
			t.Fatal(st)
		}
		pages++
		for _, m := range p.Messages {
			seen = append(seen, m.DLQID)
		}
		if p.Cursor == nil {
			break
		}
		cursor = *p.Cursor
		if pages == 1 { // additions and removals must not disturb the cursor
			e.s.RemoveDLQ(seen[0])
		}
	}
	if pages != 3 || len(seen) != 250 {
		t.Fatalf("pages %d, items %d", pages, len(seen))
	}
	ids := e.s.DLQIDs()
	if seen[1] != ids[0] || seen[249] != ids[248] {
		t.Fatal("order not oldest first")
	}
}

func TestFilters(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddDLQ(DLQMessage{URL: "u1", QueueName: "q1", Labels: []string{"a"}, ResponseStatus: 500, CreatedAt: 1000})
	e.s.AddDLQ(DLQMessage{URL: "u2", QueueName: "q1", Labels: []string{"b"}, ResponseStatus: 404, CreatedAt: 2000})
	e.s.AddDLQ(DLQMessage{URL: "u3", QueueName: "q2", Labels: []string{"a", "c"}, ResponseStatus: 500, CreatedAt: 3000})
	for q, want := range map[string]int{
		"url=u1&url=u2":                   2,
		"url=u1,u3":                       2,
		"label=a&queueName=q1":            1,
		"responseStatus=500,404&label=b":  1,
		"fromDate=2000&toDate=3000":       2,
		"fromDate=1000&toDate=1000":       1,
		"queueName=q2&fromDate=1&bogus=1": 1,
		"label=zzz":                       0,
	} {
		var p page
		if st, _ := e.do("GET", "/v2/dlq?"+q, "", nil, &p); st != 200 || len(p.Messages) != want || p.Cursor != nil {
			t.Errorf("%s: status %d, got %d want %d", q, st, len(p.Messages), want)
		}
	}
}

func TestBulkDeleteByIDs(t *testing.T) {
	e := newEnv(t, Options{})
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, e.s.AddDLQ(DLQMessage{URL: "u"}))
	}
	var out map[string]any
	st, _ := e.do("DELETE", "/v2/dlq?dlqIds="+ids[0]+"&dlqIds[]="+ids[1]+"&dlqIds=missing-1", "", nil, &out)
	if st != 200 || out["deleted"] != 2.0 {
		t.Fatalf("%d %v", st, out)
	}
	st, _ = e.do("DELETE", "/v2/dlq", `{"dlqIds":["`+ids[2]+`","`+ids[3]+`"]}`, nil, &out)
	if st != 200 || out["deleted"] != 2.0 || e.s.DLQCount() != 2 || len(e.s.DangerousCalls()) != 0 {
		t.Fatalf("%d %v count %d", st, out, e.s.DLQCount())
	}
	if got := e.s.DLQIDs(); got[0] != ids[4] || got[1] != ids[5] {
		t.Fatalf("wrong survivors %v", got)
	}
}

func TestDangerousDelete(t *testing.T) {
	e := newEnv(t, Options{})
	for i := 0; i < 150; i++ {
		e.s.AddDLQ(DLQMessage{URL: "u", Labels: []string{"x"}})
	}
	e.s.AddDLQ(DLQMessage{URL: "other"})
	var out map[string]any
	if st, _ := e.do("DELETE", "/v2/dlq?labeel=x", "", nil, &out); st != 400 || e.s.DLQCount() != 151 {
		t.Fatalf("unknown filter: %d", st)
	}
	st, _ := e.do("DELETE", "/v2/dlq?label=x", "", nil, &out)
	if st != 200 || out["deleted"] != 100.0 || out["cursor"] == nil || e.s.DLQCount() != 51 {
		t.Fatalf("%d %v %d", st, out, e.s.DLQCount())
	}
	cur, _ := out["cursor"].(string)
	out = nil
	st, _ = e.do("DELETE", "/v2/dlq?label=x&cursor="+url.QueryEscape(cur), "", nil, &out)
	if st != 200 || out["deleted"] != 50.0 || out["cursor"] != nil || e.s.DLQCount() != 1 {
		t.Fatalf("%d %v %d", st, out, e.s.DLQCount())
	}
	st, _ = e.do("DELETE", "/v2/dlq/", "", nil, &out)
	d := e.s.DangerousCalls()
	if st != 200 || e.s.DLQCount() != 0 || len(d) != 3 || d[2].Path != "/v2/dlq/" || d[0].Query.Get("label") != "x" {
		t.Fatalf("%d %+v", st, d)
	}
}

func TestGetDeleteRetry(t *testing.T) {
	e := newEnv(t, Options{MaxRetries: -1})
	id := e.s.AddDLQ(DLQMessage{URL: "http://127.0.0.1:1/x", Body: "hi"})
	var m DLQMessage
	if st, _ := e.do("GET", "/v2/dlq/"+id, "", nil, &m); st != 200 || m.Body != "hi" || m.DLQID != id {
		t.Fatalf("%d %+v", st, m)
	}
	var out map[string]string
	if st, _ := e.do("POST", "/v2/dlq/retry/"+id, "", nil, &out); st != 201 || !strings.HasPrefix(out["messageId"], "msg_") {
		t.Fatalf("retry %d %v", st, out)
	}
	if st, _ := e.do("GET", "/v2/dlq/"+id, "", nil, nil); st != 404 {
		t.Fatalf("after retry %d", st)
	}
	if st, _ := e.do("POST", "/v2/dlq/retry/"+id, "", nil, nil); st != 404 {
		t.Fatalf("retry gone %d", st)
	}
	waitFor(t, "re-failure", func() bool { return e.s.DLQCount() == 1 })
	nid := e.s.DLQIDs()[0]
	if nid == id {
		t.Fatal("same id after re-failure")
	}
	if st, _ := e.do("DELETE", "/v2/dlq/"+nid, "", nil, nil); st != 200 {
		t.Fatalf("delete %d", st)
	}
	if st, _ := e.do("DELETE", "/v2/dlq/"+nid, "", nil, nil); st != 404 {
		t.Fatalf("delete again %d", st)
	}
}

func TestPublishDelivery(t *testing.T) {
	e := newEnv(t, Options{MaxRetries: 2, RetryDelay: time.Millisecond})
	hits := make(chan http.Header, 10)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.Header
		w.Header().Set("X-Why", "broken")
		w.WriteHeader(503)
		_, _ = w.Write([]byte("down"))
	}))
	defer bad.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer good.Close()
	binary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte{0xff, 0xfe})
	}))
	defer binary.Close()

	var out map[string]string
	st, _ := e.do("POST", "/v2/publish/"+bad.URL+"/hook", "payload",
		map[string]string{"Upstash-Forward-X-Api": "k", "Upstash-Label": "lab", "Upstash-Method": "PUT"}, &out)
	if st != 201 || out["messageId"] == "" {
		t.Fatalf("%d %v", st, out)
	}
	waitFor(t, "dlq", func() bool { return e.s.DLQCount() == 1 })
	if len(hits) != 3 || (<-hits).Get("X-Api") != "k" {
		t.Fatalf("attempts %d", len(hits))
	}
	var m DLQMessage
	e.do("GET", "/v2/dlq/"+e.s.DLQIDs()[0], "", nil, &m)
	if m.ResponseStatus != 503 || m.ResponseBody != "down" || m.Body != "payload" || m.Method != "PUT" ||
		m.URL != bad.URL+"/hook" || m.Labels[0] != "lab" || m.ResponseHeader["X-Why"][0] != "broken" || m.MessageID != out["messageId"] {
		t.Fatalf("%+v", m)
	}
	var logs struct {
		Logs []struct{ State string } `json:"logs"`
	}
	e.do("GET", "/v2/logs?messageId="+m.MessageID+"&state=FAILED,CREATED", "", nil, &logs)
	if len(logs.Logs) != 2 || logs.Logs[0].State != "FAILED" {
		t.Fatalf("%+v", logs)
	}

	e.do("POST", "/v2/publish/"+good.URL, "", nil, nil)
	waitFor(t, "delivery", func() bool { return e.s.Delivered() == 1 })

	e.do("POST", "/v2/publish/"+binary.URL, "", map[string]string{"Upstash-Retries": "0"}, nil)
	waitFor(t, "binary dlq", func() bool { return e.s.DLQCount() == 2 })
	var p page
	e.do("GET", "/v2/dlq?url="+url.QueryEscape(binary.URL), "", nil, &p)
	if len(p.Messages) != 1 || p.Messages[0].ResponseBodyBase64 != "//4=" || p.Messages[0].ResponseBody != "" {
		t.Fatalf("%+v", p.Messages)
	}
}

func TestPausedQueueLag(t *testing.T) {
	e := newEnv(t, Options{})
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer good.Close()
	if st, _ := e.do("POST", "/v2/queues", `{"queueName":"jobs","parallelism":1,"paused":true}`, nil, nil); st != 200 {
		t.Fatal(st)
	}
	for i := 0; i < 3; i++ {
		if st, _ := e.do("POST", "/v2/enqueue/jobs/"+good.URL+"/x", "b", nil, nil); st != 201 {
			t.Fatal(st)
		}
	}
	lag := func() (int64, bool) {
		var qs []struct {
			Name   string `json:"name"`
			Lag    int64  `json:"lag"`
			Paused bool   `json:"paused"`
		}
		e.do("GET", "/v2/queues", "", nil, &qs)
		return qs[0].Lag, qs[0].Paused
	}
	time.Sleep(20 * time.Millisecond) // a paused queue delivers nothing meanwhile
	if l, p := lag(); l != 3 || !p || e.s.Delivered() != 0 {
		t.Fatalf("lag %d paused %v", l, p)
	}
	e.do("POST", "/v2/queues/jobs/resume", "", nil, nil)
	waitFor(t, "drain", func() bool { return e.s.Delivered() == 3 })
	if l, p := lag(); l != 0 || p {
		t.Fatalf("lag %d paused %v", l, p)
	}
}

func TestRateLimitAndFailNext(t *testing.T) {
	e := newEnv(t, Options{RateLimit: 2})
	check := func(h http.Header) {
		t.Helper()
		if h.Get("Burst-RateLimit-Limit") == "" || h.Get("Burst-RateLimit-Remaining") != "0" || h.Get("Burst-RateLimit-Reset") == "" {
			t.Fatalf("headers %v", h)
		}
	}
	// The limit counts per wall-clock second: three calls must fall into
	// one second. A busy machine may spread them over two, which proves
	// nothing (each answer's reset says its second), so try again then.
	var last int
	var h http.Header
	var body map[string]string
	for attempt := 1; ; attempt++ {
		for time.Now().Nanosecond() > 700e6 { // start early in a second
			time.Sleep(10 * time.Millisecond)
		}
		e.s.ResetRequests()
		resets := map[string]bool{}
		for i := 0; i < 3; i++ {
			body = nil
			last, h = e.do("GET", "/v2/dlq/none", "", nil, &body)
			resets[h.Get("Burst-RateLimit-Reset")] = true
		}
		if len(resets) == 1 {
			break
		}
		if attempt == 10 {
			t.Fatal("three calls never fell into one second")
		}
		time.Sleep(time.Second) // a fresh window
	}
	if last != 429 || body["error"] != "Too many requests" {
		t.Fatalf("%d %v", last, body)
	}
	check(h)
	e.s.SetRateLimit(0)
	e.s.FailNext(1, 429)
	st, h := e.do("GET", "/v2/dlq", "", nil, nil)
	if st != 429 {
		t.Fatal(st)
	}
	check(h)
	e.s.FailNext(1, 503)
	req, _ := http.NewRequest("GET", e.base+"/v2/dlq", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "upstream connect error") || json.Valid(b) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if st, _ := e.do("GET", "/v2/dlq", "", nil, nil); st != 200 {
		t.Fatal(st)
	}
	reqs := e.s.Requests()
	if len(reqs) != 6 || reqs[5].Status != 200 || reqs[4].Status != 503 {
		t.Fatalf("%+v", reqs)
	}
}

func TestCloseNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	s := New(Options{Token: tok, RetryDelay: time.Hour})
	base, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+"/v2/publish/http://127.0.0.1:1/x", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goroutines", func() bool { return runtime.NumGoroutine() <= before })
}
